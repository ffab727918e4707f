r"""Known-truth Monte Carlo for segmented regression: bias and interval coverage.

Series are simulated as

.. math:: y_t = \beta_0 + \beta_1 t + \delta 1(t \ge t_0) + \gamma (t - t_0)_+ + u_t,
          \quad u_t = \phi u_{t-1} + \varepsilon_t,\ \varepsilon_t \sim N(0, \sigma^2)

(stationary start), every replication at once. OLS fits (classical and Newey–West) share
one design, so all replications are fitted in one solve; GLS fits estimate the AR
parameter per replication.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy import signal, stats

from soteria_eval._options import check_option
from soteria_eval.its.covariance import default_lag, gls_ar1, newey_west_many

StudyErrors = Literal["hac", "ols", "ar1"]


def simulate_ar1_series(
    n_periods: int,
    n_reps: int,
    *,
    at: int,
    level: float,
    slope: float,
    phi: float,
    sigma: float = 1.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate ``n_reps`` series (columns) with known level and slope changes at ``at``.

    Returns
    -------
    design, y
        The true segmented design ``(n, 4)`` (intercept, time, level, slope) and ``y`` of
        shape ``(n, n_reps)``.
    """
    if not -1 < phi < 1:
        raise ValueError(f"phi must lie in (-1, 1) for a stationary series, got {phi}")
    if not 2 < at < n_periods - 1:
        raise ValueError(f"the interruption at {at} must fall inside the {n_periods} periods")
    rng = np.random.default_rng(seed)
    eps = rng.normal(scale=sigma, size=(n_periods, n_reps))
    eps[0] /= np.sqrt(1 - phi**2)
    u = signal.lfilter([1.0], [1.0, -phi], eps, axis=0)
    t = np.arange(n_periods, dtype=float)
    x = np.c_[np.ones(n_periods), t, t >= at, np.where(t >= at, t - at, 0.0)]
    y = x @ np.array([10.0, 0.1, level, slope])[:, None] + u
    return x, y


def its_coverage(
    *,
    n_periods: int = 96,
    at: int = 60,
    level: float = 2.0,
    slope: float = 0.05,
    phi: float = 0.5,
    n_reps: int = 1000,
    errors: Sequence[StudyErrors] = ("hac", "ols", "ar1"),
    alpha: float = 0.05,
    seed: int = 0,
) -> pd.DataFrame:
    r"""Bias, RMSE and interval coverage of the level and slope changes by error model.

    Returns
    -------
    pandas.DataFrame
        ``errors, term, truth, mean_estimate, bias, rmse, mean_std_error, sd_estimate,
        coverage, coverage_mc_se, n_reps`` (Monte Carlo SE of a coverage
        :math:`\sqrt{c(1-c)/R}`).
    """
    for e in errors:
        check_option("errors", e, StudyErrors)
    x, y = simulate_ar1_series(
        n_periods, n_reps, at=at, level=level, slope=slope, phi=phi, seed=seed
    )
    n, p = x.shape
    truth = np.array([level, slope])
    rows = []
    for kind in errors:
        if kind == "ar1":
            est, se = np.empty((n_reps, 2)), np.empty((n_reps, 2))
            for r in range(n_reps):
                beta, cov, _, _ = gls_ar1(x, y[:, r])
                est[r], se[r] = beta[2:], np.sqrt(np.diag(cov)[2:])
        else:
            bread = np.linalg.inv(x.T @ x)
            beta = bread @ x.T @ y
            resid = y - x @ beta
            if kind == "hac":
                covs = newey_west_many(x, resid, bread, default_lag(n))
                se = np.sqrt(np.diagonal(covs, axis1=1, axis2=2)[:, 2:])
            else:
                s2 = (resid**2).sum(axis=0) / (n - p)
                se = np.sqrt(s2[:, None] * np.diag(bread)[None, 2:])
            est = beta[2:].T
        crit = stats.t.ppf(1 - alpha / 2, n - p)
        covered = np.abs(est - truth) <= crit * se
        for j, term in enumerate(("level", "slope")):
            c = float(covered[:, j].mean())
            rows.append(
                {
                    "errors": kind,
                    "term": term,
                    "truth": truth[j],
                    "mean_estimate": float(est[:, j].mean()),
                    "bias": float(est[:, j].mean() - truth[j]),
                    "rmse": float(np.sqrt(((est[:, j] - truth[j]) ** 2).mean())),
                    "mean_std_error": float(se[:, j].mean()),
                    "sd_estimate": float(est[:, j].std(ddof=1)),
                    "coverage": c,
                    "coverage_mc_se": float(np.sqrt(c * (1 - c) / n_reps)),
                    "n_reps": n_reps,
                }
            )
    return pd.DataFrame(rows)


__all__ = ["its_coverage", "simulate_ar1_series"]
