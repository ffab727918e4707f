"""Sun–Abraham: equals the event study with one cohort; recovers heterogeneous dynamic effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from soteria_eval.did import event_study, sun_abraham


def data(cohorts: list[int], seed: int = 0, heterogeneous: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n, t = 90, 12
    g = rng.choice(cohorts, size=n)
    rows = []
    for i in range(n):
        a = rng.normal()
        for s in range(1, t + 1):
            e = s - g[i]
            slope = (0.5 if g[i] == 5 else 0.1) if heterogeneous else 0.3
            eff = (1.0 + slope * e) if g[i] and e >= 0 else 0.0
            rows.append((i, s, g[i], a + 0.05 * s + eff + rng.normal(scale=0.3)))
    return pd.DataFrame(rows, columns=["id", "t", "g", "y"])


def test_single_cohort_equals_event_study() -> None:
    d = data([0, 6])
    sa = sun_abraham(d, outcome="y", unit="id", time="t", cohort="g")
    es = event_study(
        d, outcome="y", unit="id", time="t", cohort="g", leads=5, lags=6, bin_endpoints=False
    )
    common = [t for t in es.params.index]
    np.testing.assert_allclose(sa.params.loc[common], es.params.loc[common], rtol=1e-10)
    np.testing.assert_allclose(sa.std_errors.loc[common], es.std_errors.loc[common], rtol=1e-10)


def test_recovers_cohort_weighted_dynamic_effects() -> None:
    d = data([0, 5, 8])
    sa = sun_abraham(d, outcome="y", unit="id", time="t", cohort="g")
    share5 = (d.drop_duplicates("id")["g"] == 5).sum() / d.drop_duplicates("id")["g"].isin(
        [5, 8]
    ).sum()
    for e in (0, 1, 2):
        truth = share5 * (1 + 0.5 * e) + (1 - share5) * (1 + 0.1 * e)
        assert sa.params[f"event {e:+d}"] == pytest.approx(
            truth, abs=4 * sa.std_errors[f"event {e:+d}"]
        )
    assert abs(sa.params["event -2"]) < 4 * sa.std_errors["event -2"]
    last = sun_abraham(d, outcome="y", unit="id", time="t", cohort="g", control="last_treated")
    assert "event +0" in last.params.index
    with pytest.raises(ValueError, match="control must be one of"):
        sun_abraham(d, outcome="y", unit="id", time="t", cohort="g", control="everyone")  # type: ignore[arg-type]
