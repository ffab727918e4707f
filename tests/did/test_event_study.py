"""TWFE event study against R (lm with dummies, sandwich 3.0.2) and known truth."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from soteria_eval.did import event_study, pretrend_test
from soteria_eval.linear_model import FewClustersWarning
from tests.conftest import REPO

REF = REPO / "tests" / "reference"
R = json.loads((REF / "event_study.json").read_text())


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    d = pd.read_csv(REF / "twfe_panel.csv")
    first = {u: 9 for u in range(1, 6)} | {u: 12 for u in range(6, 9)}
    return d.assign(g=d["unit"].map(first).fillna(0))


def test_matches_r_lm_with_binned_endpoints(panel: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        res = event_study(
            panel,
            outcome="y",
            unit="unit",
            time="time",
            cohort="g",
            leads=3,
            lags=3,
            covariates=["x"],
        )
    terms = ["event -3", "event -2", "event +0", "event +1", "event +2", "event +3"]
    np.testing.assert_allclose(res.params.loc[terms], R["estimate"], rtol=1e-9)
    np.testing.assert_allclose(res.std_errors.loc[terms], R["std_error"], rtol=1e-8)
    f, q, df2, p = pretrend_test(res)
    assert q == 2 and df2 == 42 and f == pytest.approx(R["pretrend_F"], rel=1e-8)
    assert 0 < p < 1


def test_known_truth_and_flat_pretrends() -> None:
    rng = np.random.default_rng(0)
    n, periods = 60, np.arange(1, 13)
    g = np.where(np.arange(n) < 30, 7, 0)
    rows = []
    for i in range(n):
        a = rng.normal()
        for t in periods:
            e = t - g[i]
            eff = 0.5 * (e + 1) if g[i] and e >= 0 else 0.0
            rows.append((i, t, g[i], a + 0.1 * t + eff + rng.normal(scale=0.3)))
    d = pd.DataFrame(rows, columns=["id", "t", "g", "y"])
    res = event_study(
        d, outcome="y", unit="id", time="t", cohort="g", leads=4, lags=3, bin_endpoints=False
    )
    for e in range(0, 4):
        assert res.params[f"event +{e}"] == pytest.approx(
            0.5 * (e + 1), abs=4 * res.std_errors[f"event +{e}"]
        )
    assert pretrend_test(res)[3] > 0.01
    # Treated periods outside [-4, +3] (event times -6, -5, +4, +5) are dropped, not binned.
    assert res.n_dropped == 30 * 4


def test_bad_options(panel: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="reference 5 must lie"):
        event_study(panel, outcome="y", unit="unit", time="time", cohort="g", reference=5)
    with pytest.raises(ValueError, match="leads must be"):
        event_study(panel, outcome="y", unit="unit", time="time", cohort="g", leads=0)
