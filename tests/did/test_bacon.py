"""Goodman-Bacon decomposition: weights sum to one and reproduce the TWFE estimate exactly."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from soteria_eval.did import bacon_decomposition, twfe
from soteria_eval.linear_model import FewClustersWarning


def staggered(seed: int, never: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n, t = 40, 12
    first = rng.choice([4, 7, 9] + ([99] if never else []), size=n)
    rows = []
    for i in range(n):
        a = rng.normal()
        for s in range(t):
            d = int(s >= first[i])
            rows.append((i, s, d, a + 0.1 * s + d * (1 + 0.3 * (s - first[i])) + rng.normal()))
    return pd.DataFrame(rows, columns=["u", "t", "D", "y"])


@pytest.mark.parametrize(("seed", "never"), [(1, True), (2, True), (3, False)])
def test_weights_sum_to_one_and_reproduce_twfe(seed: int, never: bool) -> None:
    d = staggered(seed, never)
    dec = bacon_decomposition(d, outcome="y", unit="u", time="t", treatment="D")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        beta = twfe(d, outcome="y", treatment="D", unit="u", time="t").params["D"]
    assert dec["weight"].sum() == pytest.approx(1.0, abs=1e-10)
    assert dec.attrs["twfe"] == pytest.approx(beta, abs=1e-10)
    assert (dec["weight"] >= 0).all()
    forbidden = dec[dec["type"].str.startswith("later vs earlier")]
    assert len(forbidden) == 3 and forbidden["weight"].sum() > 0


def test_rejects_always_treated_and_switching() -> None:
    d = staggered(1)
    bad = d.copy()
    bad.loc[bad["u"] == 0, "D"] = 1
    with pytest.raises(ValueError, match="always treated"):
        bacon_decomposition(bad, outcome="y", unit="u", time="t", treatment="D")
    off = d.copy()
    off.loc[(off["u"] == 1) & (off["t"] == 11), "D"] = (
        1 - off.loc[(off["u"] == 1) & (off["t"] == 11), "D"]
    )
    off.loc[(off["u"] == 1) & (off["t"] == 10), "D"] = 1
    with pytest.raises(ValueError, match="absorbing"):
        bacon_decomposition(off, outcome="y", unit="u", time="t", treatment="D")
