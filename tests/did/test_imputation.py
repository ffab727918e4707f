"""Imputation DiD: equals the 2x2 DiD in the canonical case; recovers staggered dynamic effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from soteria_eval.did import did_means, imputation_did


def staggered(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n, t = 300, 10
    coh = rng.choice([0, 4, 6, 8], size=n, p=[0.3, 0.25, 0.25, 0.2])
    rows = []
    for i in range(n):
        a = rng.normal()
        for s in range(1, t + 1):
            e = s - coh[i]
            eff = (1 + 0.5 * e) if coh[i] and e >= 0 else 0.0
            rows.append((i, s, coh[i], a + 0.2 * s + eff + rng.normal(scale=0.5)))
    return pd.DataFrame(rows, columns=["id", "t", "g", "y"])


def test_two_by_two_equals_difference_in_means() -> None:
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"id": np.repeat(np.arange(40), 2), "t": np.tile([1, 2], 40)})
    d["g"] = np.where(d["id"] < 15, 2, 0)
    d["y"] = rng.normal(size=len(d)) + 0.7 * ((d["g"] == 2) & (d["t"] == 2))
    r = imputation_did(d, outcome="y", unit="id", time="t", cohort="g")
    m = did_means(d.assign(tr=d["g"] > 0, post=d["t"] == 2), outcome="y", treated="tr", post="post")
    assert r.params["overall"] == pytest.approx(m.attrs["did"], abs=1e-10)


def test_recovers_dynamic_effects() -> None:
    r = imputation_did(staggered(), outcome="y", unit="id", time="t", cohort="g")
    for e in range(0, 5):
        assert r.params[f"event +{e}"] == pytest.approx(
            1 + 0.5 * e, abs=4 * r.std_errors[f"event +{e}"]
        )
    assert (r.std_errors > 0).all()


def test_no_untreated_comparison_is_an_error() -> None:
    d = staggered()
    d = d[d["g"] > 0]  # no never-treated units: the last cohort's treated periods cannot be imputed
    with pytest.raises(ValueError, match="no untreated observation"):
        imputation_did(d, outcome="y", unit="id", time="t", cohort="g")


def test_fe_dof_scales_the_variance_by_cr1s_factor() -> None:
    """Same names and meaning as the linear models: G/(G-1) (n-1)/(n-K) on BJS's variance."""
    d = staggered()
    d["area"] = d["id"] % 30  # 30 clusters; each unit sits in one of them
    base = imputation_did(d, outcome="y", unit="id", time="t", cohort="g", cluster="area")
    n, g = len(d), 30
    n_units, n_periods = d["id"].nunique(), d["t"].nunique()
    k_full = n_units + n_periods - 1
    k_nested = k_full - (n_units - 1)  # unit effects nested in the clusters keep one level
    for fe_dof, k in (("full", k_full), ("lm", k_full), ("nested", k_nested), ("fixest", k_nested)):
        r = imputation_did(
            d, outcome="y", unit="id", time="t", cohort="g", cluster="area", fe_dof=fe_dof
        )
        factor = g / (g - 1) * (n - 1) / (n - k)
        np.testing.assert_allclose(r.params, base.params, rtol=0, atol=0)
        np.testing.assert_allclose(r.cov.to_numpy(), base.cov.to_numpy() * factor, rtol=1e-12)
        assert f"K={k}" in r.inference
    with pytest.raises(ValueError, match="fe_dof"):
        imputation_did(d, outcome="y", unit="id", time="t", cohort="g", fe_dof="stata")


def trending(seed: int = 5, noise: float = 0.0) -> pd.DataFrame:
    """Staggered panel whose treated units follow trends of their own, plus an effect 1 + 0.5 e."""
    rng = np.random.default_rng(seed)
    n, t = 120, 12
    coh = rng.choice([0, 6, 8], size=n, p=[0.5, 0.25, 0.25])
    slope = np.where(coh > 0, 0.3, 0.0) + rng.normal(scale=0.05, size=n)
    lam = rng.normal(size=t + 1)
    rows = []
    for i in range(n):
        a = rng.normal()
        for s in range(1, t + 1):
            e = s - coh[i]
            eff = (1 + 0.5 * e) if coh[i] and e >= 0 else 0.0
            rows.append((i, s, coh[i], a + slope[i] * s + lam[s] + eff + noise * rng.normal()))
    return pd.DataFrame(rows, columns=["id", "t", "g", "y"])


def test_unit_trends_remove_a_differential_linear_trend_exactly() -> None:
    d = trending()
    treated = d[(d["g"] > 0) & (d["t"] >= d["g"])]
    truth = (1 + 0.5 * (treated["t"] - treated["g"])).mean()
    with_trends = imputation_did(d, outcome="y", unit="id", time="t", cohort="g", unit_trends=True)
    assert with_trends.params["overall"] == pytest.approx(truth, abs=1e-9)
    for e in range(0, 5):
        assert with_trends.params[f"event +{e}"] == pytest.approx(1 + 0.5 * e, abs=1e-9)
    # Without the trends the treated units' extra 0.3 a period reads as effect.
    plain = imputation_did(d, outcome="y", unit="id", time="t", cohort="g")
    assert plain.params["overall"] > truth + 0.5
    assert "unit-specific linear trends" in with_trends.estimator
    assert with_trends.info["n_treated"] == int((d.groupby("id")["g"].first() > 0).sum())


def test_unit_trends_variance_is_bjs_theorem_3_on_the_dense_projection() -> None:
    """The same conservative variance, computed here from a dense least-squares projection."""
    d = trending(noise=0.4)
    r = imputation_did(d, outcome="y", unit="id", time="t", cohort="g", unit_trends=True)
    g, t, y = d["g"].to_numpy(), d["t"].to_numpy(float), d["y"].to_numpy()
    tr = (g > 0) & (t >= g)
    units, periods = np.sort(d["id"].unique()), np.sort(d["t"].unique())
    z = np.column_stack(
        [(d["id"].to_numpy()[:, None] == units).astype(float),
         (t[:, None] == periods[2:]).astype(float),  # a common trend: two periods dropped
         (d["id"].to_numpy()[:, None] == units) * (t - 0.5 * (t.min() + t.max()))[:, None]]
    )  # fmt: skip
    z0, z1 = z[~tr], z[tr]
    coef, *_ = np.linalg.lstsq(z0, y[~tr], rcond=None)
    tau = y[tr] - z1 @ coef
    w = np.full(tr.sum(), 1 / tr.sum())
    v = np.zeros(len(y))
    v[tr] = w
    v[~tr] = -z0 @ np.linalg.solve(z0.T @ z0, z1.T @ w)
    eps = np.empty(len(y))
    eps[~tr] = y[~tr] - z0 @ coef
    cell = pd.Series(tau).groupby([g[tr], (t - g)[tr]]).transform("mean").to_numpy()
    eps[tr] = tau - cell
    scores = pd.Series(v * eps).groupby(d["id"].to_numpy()).sum().to_numpy()
    assert r.params["overall"] == pytest.approx(tau.mean(), abs=1e-10)
    assert r.std_errors["overall"] == pytest.approx(np.sqrt(scores @ scores), rel=1e-8)


def test_unit_trends_need_two_untreated_periods() -> None:
    d = trending()
    d = d[~((d["g"] == 6) & (d["t"] < 5))]  # cohort 6 keeps one untreated period
    with pytest.raises(ValueError, match="fewer than two untreated periods"):
        imputation_did(d, outcome="y", unit="id", time="t", cohort="g", unit_trends=True)
