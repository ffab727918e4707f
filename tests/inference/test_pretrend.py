"""The randomization pre-trend test against a brute-force event study (explicit dummies)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from soteria_eval.inference.pretrend import pretrend_randomization_test

N, T = 24, 14
COHORT = np.where(np.arange(N) < 4, 8, np.where(np.arange(N) < 9, 11, 0))


def _panel(seed: int, trend: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(N), T)
    t = np.tile(np.arange(1, T + 1), N)
    d = pd.DataFrame({"u": u, "t": t, "g": COHORT[u]})
    treated = (d["g"] > 0).to_numpy()
    d["y"] = (
        rng.normal(size=N)[u] + rng.normal(size=len(d)) * (1 + u % 3)
        + 0.5 * ((d["t"] >= d["g"]) & treated) + trend * t * treated
    )  # fmt: skip
    return d


def _brute_wald(
    d: pd.DataFrame, cohort_of: np.ndarray, leads: int = 8, linear: bool = False
) -> tuple[float, np.ndarray]:
    """Lead average and CR1 Wald by explicit unit, period and event-time dummies."""
    g = cohort_of[d["u"].to_numpy()]
    t = d["t"].to_numpy()
    cols = [
        (c, e) for c in sorted(set(cohort_of) - {0}) for e in range(1 - c, T + 1 - c) if e != -1
    ]
    x = np.column_stack([((g == c) & (t - g == e)).astype(float) for c, e in cols])
    fe_u = pd.get_dummies(d["u"]).to_numpy(float)
    fe_t = pd.get_dummies(d["t"]).to_numpy(float)[:, 1:]
    z = np.hstack([x, fe_u, fe_t])
    y = d["y"].to_numpy()
    zz_inv = np.linalg.pinv(z.T @ z)
    coef = zz_inv @ z.T @ y
    e_hat = y - z @ coef
    meat = np.zeros((z.shape[1], z.shape[1]))
    for i in range(N):
        s = z[d["u"].to_numpy() == i].T @ e_hat[d["u"].to_numpy() == i]
        meat += np.outer(s, s)
    n_obs = len(y)
    ssc = N / (N - 1) * (n_obs - 1) / (n_obs - z.shape[1])
    v = ssc * zz_inv @ meat @ zz_inv
    size = {c: int((cohort_of == c).sum()) for c in set(cohort_of)}
    lead_e = [e for e in range(-leads, -1) if any(ce == e for _, ce in cols)]
    lam = np.zeros((len(lead_e), z.shape[1]))
    for j, e in enumerate(lead_e):
        ks = [k for k, (c, ce) in enumerate(cols) if ce == e]
        w = np.array([size[cols[k][0]] for k in ks], dtype=float)
        lam[j, ks] = w / w.sum()
    if linear:  # the least-squares slope of the leads on event time
        x_e = np.array(lead_e, dtype=float) - np.mean(lead_e)
        lam = (x_e / (x_e @ x_e))[None, :] @ lam
    theta = lam @ coef
    return float(theta @ np.linalg.pinv(lam @ v @ lam.T) @ theta), theta


def test_leads_and_statistic_equal_the_explicit_event_study() -> None:
    d = _panel(1)
    r = pretrend_randomization_test(d, outcome="y", unit="u", time="t", cohort="g", n_draws=99)
    w, theta = _brute_wald(d, COHORT)
    np.testing.assert_allclose(r.leads["estimate"], theta, rtol=1e-9, atol=1e-12)
    assert r.statistic == pytest.approx(w, rel=1e-8)
    assert r.df == 7 and list(r.leads["event_time"]) == list(range(-8, -1))
    assert r.n_units == N and r.n_assignments == 100


def test_linear_contrast_is_the_slope_of_the_leads() -> None:
    d = _panel(6, trend=0.2)
    r = pretrend_randomization_test(
        d, outcome="y", unit="u", time="t", cohort="g", n_draws=49, contrast="linear"
    )
    w, slope = _brute_wald(d, COHORT, linear=True)
    assert r.df == 1 and r.leads["event_time"].tolist() == ["slope"]
    assert r.leads["estimate"].iloc[0] == pytest.approx(slope[0], rel=1e-9)
    assert r.statistic == pytest.approx(w, rel=1e-8)
    with pytest.raises(ValueError, match="contrast must be"):
        pretrend_randomization_test(d, outcome="y", unit="u", time="t", cohort="g", contrast="x")


def test_p_value_equals_refitting_each_assignment() -> None:
    d = _panel(2)
    r = pretrend_randomization_test(
        d, outcome="y", unit="u", time="t", cohort="g", n_draws=40, seed=3
    )
    start = np.where(COHORT > 0, COHORT - 1, -1)
    uniq, code = np.unique(start, return_inverse=True)
    draws = np.random.default_rng(3).permuted(np.tile(code, (40, 1)), axis=1)
    cohort_values = np.where(uniq >= 0, uniq + 1, 0)
    w0, _ = _brute_wald(d, COHORT)
    ws = [_brute_wald(d, cohort_values[a])[0] for a in draws]
    assert r.p_value == pytest.approx((1 + np.sum(np.array(ws) >= w0 * (1 - 1e-12))) / 41)


def test_a_differential_trend_is_detected_and_bad_inputs_refused() -> None:
    r = pretrend_randomization_test(_panel(4, trend=0.6), outcome="y", unit="u", time="t",
                                    cohort="g", n_draws=199)  # fmt: skip
    assert r.p_value < 0.05
    d = _panel(5)
    with pytest.raises(ValueError, match="never-treated"):
        pretrend_randomization_test(d.assign(g=np.where(d["g"] == 0, 8, d["g"])), outcome="y",
                                    unit="u", time="t", cohort="g")  # fmt: skip
    gap = d.drop(index=3)
    r = pretrend_randomization_test(gap, outcome="y", unit="u", time="t", cohort="g", n_draws=19)
    assert r.n_left_out == 1 and r.n_units == N - 1


@pytest.mark.validate
def test_size_under_random_assignment_is_nominal() -> None:
    """Random adoption, no effect before it: rejections at 5% within Monte Carlo error."""
    rng = np.random.default_rng(11)
    p = []
    for rep in range(300):
        d = _panel(100 + rep)
        perm = rng.permutation(N)
        d["g"] = COHORT[perm][d["u"]]
        p.append(pretrend_randomization_test(d, outcome="y", unit="u", time="t", cohort="g",
                                             n_draws=199, seed=rep).p_value)  # fmt: skip
    rate = np.mean(np.array(p) <= 0.05)
    assert abs(rate - 0.05) < 3 * np.sqrt(0.05 * 0.95 / 300)
