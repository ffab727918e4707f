"""Romano–Wolf step-down: a hand-worked case, limiting cases, and the wild-bootstrap wrapper."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from soteria_eval.did import twfe
from soteria_eval.inference import romano_wolf, wild_cluster_bootstrap, wild_romano_wolf
from soteria_eval.inference.multiplicity import adjust_pvalues
from soteria_eval.linear_model import FewClustersWarning
from tests.conftest import REPO


def test_hand_worked_case() -> None:
    # Ordered by |t|: H3 (3.0), H1 (2.5), H2 (1.0).
    # Step 1: max over all rows = [2.8, 2.6, 1.5, 3.5] >= 3.0 -> 1/4.
    # Step 2: max over {H1, H2} = [1.2, 2.6, 1.5, 0.3] >= 2.5 -> 1/4 (monotone: 1/4).
    # Step 3: {H2} = [1.2, 0.1, 1.5, 0.3] >= 1.0 -> 2/4.
    t = np.array([2.5, -1.0, 3.0])
    tb = np.array([[0.5, 1.2, 2.8], [2.6, 0.1, 0.3], [1.1, 1.5, 0.2], [0.2, 0.3, -3.5]])
    np.testing.assert_allclose(romano_wolf(t, tb), [0.25, 0.5, 0.25])


def test_limiting_cases() -> None:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((20_000, 1))
    # One hypothesis: the bootstrap p-value itself.
    assert romano_wolf([1.96], z)[0] == pytest.approx(np.mean(np.abs(z) >= 1.96))
    # Perfectly dependent statistics: no penalty for testing several.
    t = np.array([2.2, 1.5, 0.4])
    same = np.repeat(z, 3, axis=1)
    single = [np.mean(np.abs(z[:, 0]) >= v) for v in t]
    np.testing.assert_allclose(romano_wolf(t, same), np.maximum.accumulate(single))
    # Independent statistics: close to Holm with exact (Sidak) steps, never below raw.
    ind = rng.standard_normal((20_000, 3))
    raw = np.array([np.mean(np.abs(ind[:, 0]) >= v) for v in t])
    sidak = 1 - (1 - np.sort(raw)) ** np.arange(3, 0, -1)
    np.testing.assert_allclose(romano_wolf(t, ind), np.maximum.accumulate(sidak), atol=0.01)
    assert (romano_wolf(t, ind) <= adjust_pvalues(raw, "holm") + 0.01).all()
    with pytest.raises(ValueError, match="shape"):
        romano_wolf(t, ind[:, :2])


def test_wild_romano_wolf_shares_draws_across_models() -> None:
    d = pd.read_csv(REPO / "tests" / "reference" / "twfe_panel.csv")
    rng = np.random.default_rng(0)
    models = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        for k in range(4):
            dd = d.assign(y=d["y"] + rng.normal(size=len(d)) * (k + 1) + (k == 0) * 0.5 * d["D"])
            models[f"m{k}"] = twfe(dd, outcome="y", treatment="D", unit="unit", time="time")
        out = wild_romano_wolf(models, "D", n_boot=999, seed=1)
        singles = [
            wild_cluster_bootstrap(m, "D", n_boot=999, seed=1, conf_int=False).info["wild"]["D"][
                "p_value"
            ]
            for m in models.values()
        ]
    np.testing.assert_allclose(out["p_value"], singles)
    assert (out["p_value_romano_wolf"] >= out["p_value"] - 1e-12).all()
    assert list(out.columns) == [
        "model",
        "estimate",
        "t_stat",
        "p_value",
        "p_value_romano_wolf",
        "n_boot",
    ]
