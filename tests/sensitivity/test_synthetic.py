"""Synthetic control and synthetic DiD against diff-diff 3.13.0 (``make_synth_fixtures.py``)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from soteria_eval.sensitivity.synthetic import (
    simplex_least_squares,
    synthetic_control,
    synthetic_did,
)
from tests.conftest import REPO

REF = REPO / "tests" / "reference"
R = json.loads((REF / "synth_fixtures.json").read_text())


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return pd.read_csv(REF / "data" / "synth_panel.csv")


def test_synthetic_control_matches_diff_diff(panel: pd.DataFrame) -> None:
    sc = synthetic_control(
        panel[~panel["unit"].isin([1, 2])], outcome="y", unit="unit", time="time",
        treated_unit=0, start=R["start"],
    )  # fmt: skip
    ref = pd.Series(R["sc_weights"])
    ref.index = ref.index.astype(int)
    np.testing.assert_allclose(sc.weights.reindex(ref.index).fillna(0), ref, atol=1e-8)
    assert sc.average_effect == pytest.approx(R["sc_att"], rel=1e-8)
    p = sc.placebos
    assert len(p) == 28 and p["treated"].sum() == 1
    mine = p.loc[p["treated"], "ratio"].iloc[0]
    assert sc.p_value == pytest.approx((p["ratio"] >= mine).mean())
    assert list(sc.tidy().columns) == [
        "unit", "estimate", "pre_rmspe", "ratio", "p_value", "n_placebos", "inference",
    ]  # fmt: skip
    fig = sc.plot(title="unit 0")
    assert len(fig.axes) == 2


def test_simplex_solution_satisfies_kkt() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, 12)), rng.normal(size=20)
    w = simplex_least_squares(a, b)
    grad = 2 * (a.T @ (a @ w - b))
    active = w > 1e-8
    mu = grad[active].mean()
    # Stationarity on the support, and no profitable direction off it.
    np.testing.assert_allclose(grad[active], mu, atol=1e-10)
    assert (grad[~active] >= mu - 1e-10).all()
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()


def test_synthetic_did_matches_diff_diff(panel: pd.DataFrame) -> None:
    sd = synthetic_did(
        panel, outcome="y", unit="unit", time="time", treated_units=[0, 1, 2],
        start=R["start"], n_placebo=100, seed=1,
    )  # fmt: skip
    # diff-diff (as R synthdid) stops its Frank–Wolfe iterations early; we solve exactly.
    assert sd.estimate == pytest.approx(R["sdid_att"], rel=1e-4)
    uw = pd.Series(R["sdid_unit_weights"])
    uw.index = uw.index.astype(int)
    np.testing.assert_allclose(sd.unit_weights.reindex(uw.index), uw, atol=5e-4)
    tw = pd.Series(R["sdid_time_weights"])
    tw.index = tw.index.astype(int)
    np.testing.assert_allclose(sd.time_weights.reindex(tw.index), tw, atol=5e-4)
    row = sd.tidy().iloc[0]
    assert row["std_error"] > 0 and row["ci_lower"] < 2.0 < row["ci_upper"]
    # The path's post-minus-pre gap, time-weighted, is the estimate.
    p = sd.path
    gap = p["treated"] - p["synthetic"]
    assert gap[p["post"]].mean() == pytest.approx(sd.estimate, rel=1e-8)
    assert len(sd.plot().axes) == 2


def test_bad_input(panel: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="balanced panel"):
        synthetic_control(
            panel.iloc[1:], outcome="y", unit="unit", time="time", treated_unit=0, start=16
        )
    with pytest.raises(ValueError, match="not in column"):
        synthetic_control(panel, outcome="y", unit="unit", time="time", treated_unit=99, start=16)
    with pytest.raises(ValueError, match="two pre-periods"):
        synthetic_control(panel, outcome="y", unit="unit", time="time", treated_unit=0, start=1)
    with pytest.raises(ValueError, match="more control units"):
        synthetic_did(
            panel[panel["unit"] < 6], outcome="y", unit="unit", time="time",
            treated_units=[0, 1, 2], start=16,
        )  # fmt: skip
