"""Known-truth Monte Carlo for TWFE (slow: run by `make validate`)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from soteria_eval.did import twfe
from soteria_eval.linear_model import FewClustersWarning

pytestmark = pytest.mark.validate


def simulate(
    rng: np.random.Generator,
    n_units: int = 14,
    n_treated: int = 5,
    n_periods: int = 40,
    effect: float = 0.5,
    rho: float = 0.5,
) -> pd.DataFrame:
    e = np.zeros((n_units, n_periods))
    shocks = rng.normal(size=(n_units, n_periods)) * (1 + np.arange(n_units) % 3)[:, None]
    for t in range(n_periods):
        e[:, t] = (rho * e[:, t - 1] if t else 0) + shocks[:, t]
    d = np.zeros((n_units, n_periods))
    d[:n_treated, n_periods // 2 :] = 1
    y = rng.normal(size=n_units)[:, None] + 0.05 * np.arange(n_periods) + effect * d + e
    return pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n_units), n_periods),
            "time": np.tile(np.arange(n_periods), n_units),
            "D": d.ravel(),
            "y": y.ravel(),
        }
    )


def test_twfe_unbiased_and_cr2_covers_better_than_cr1() -> None:
    rng = np.random.default_rng(12345)
    est, cover1, cover2 = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        for _ in range(400):
            d = simulate(rng)
            r1 = twfe(d, outcome="y", treatment="D", unit="unit", time="time")
            r2 = r1.with_vcov("CR2")
            est.append(r1.params["D"])
            for r, acc in ((r1, cover1), (r2, cover2)):
                ci = r.conf_int().loc["D"]
                acc.append(ci["ci_lower"] <= 0.5 <= ci["ci_upper"])
    assert abs(np.mean(est) - 0.5) < 4 * np.std(est) / np.sqrt(len(est))
    assert np.mean(cover2) >= np.mean(cover1)
    assert 0.85 <= np.mean(cover2) <= 0.99
