"""Two-period DiD estimators with influence functions (Sant'Anna and Zhao 2020).

Each function takes, for the units of one comparison (a cohort and its controls), the
change in outcome ``dy``, the treated indicator ``d`` and covariates ``x`` (without a
constant), and returns the ATT and its influence function ``psi`` (one value per unit,
mean zero, scaled so that ``Var(att) ≈ mean(psi²) / n``). Without covariates the three
estimators coincide with the difference of mean changes.

References
----------
Sant'Anna, P. H. C. and Zhao, J. (2020). Doubly robust difference-in-differences
estimators. *Journal of Econometrics* 219(1), 101–122. The formulas follow the R package
DRDID (``reg_did_panel``, ``std_ipw_did_panel``, ``drdid_panel``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]

#: Propensity scores are capped here, as in DRDID.
PS_CAP = 1 - 1e-6


class PropensityError(ValueError):
    """Estimated propensity scores are (nearly) 0 or 1: no overlap."""


def _ols(x: Floats, y: Floats, w: Floats) -> Floats:
    xtwx = x.T @ (x * w[:, None])
    coef = np.asarray(np.linalg.solve(xtwx, x.T @ (w * y)), dtype=np.float64)
    return coef


def logit(x: Floats, d: Floats, max_iter: int = 100, tol: float = 1e-10) -> tuple[Floats, Floats]:
    """Fit a logit by Newton–Raphson; return fitted probabilities and ``(X'WX/n)^-1``."""
    n, k = x.shape
    beta = np.zeros(k)
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        w = p * (1 - p)
        hess = x.T @ (x * w[:, None])
        step = np.linalg.solve(hess, x.T @ (d - p))
        beta += step
        if np.max(np.abs(step)) < tol:
            break
    p = 1.0 / (1.0 + np.exp(-(x @ beta)))
    w = p * (1 - p)
    hinv: Floats = np.linalg.inv(x.T @ (x * w[:, None]) / n)
    return p, hinv


def reg_did(dy: Floats, d: Floats, x: Floats) -> tuple[float, Floats]:
    """Outcome-regression DiD (Heckman, Ichimura and Todd 1997) with its influence function."""
    n = dy.size
    z = np.column_stack([np.ones(n), x])
    ctrl = 1.0 - d
    coef = _ols(z, dy, ctrl)
    fitted = z @ coef
    w_t, w_c = d, d
    eta_t = np.mean(w_t * dy) / np.mean(w_t)
    eta_c = np.mean(w_c * fitted) / np.mean(w_c)
    xpx_inv = np.linalg.inv((z * ctrl[:, None]).T @ z / n)
    lin_ols = ((ctrl * (dy - fitted))[:, None] * z) @ xpx_inv
    inf_t = (w_t * dy - w_t * eta_t) / np.mean(w_t)
    inf_c1 = w_c * fitted - w_c * eta_c
    inf_c2 = lin_ols @ np.mean(w_c[:, None] * z, axis=0)
    psi = inf_t - (inf_c1 + inf_c2) / np.mean(w_c)
    return float(eta_t - eta_c), psi


def _propensity(d: Floats, x: Floats) -> tuple[Floats, Floats, Floats]:
    n = d.size
    z = np.column_stack([np.ones(n), x])
    try:
        with np.errstate(over="ignore"):
            p, hinv = logit(z, d)
    except np.linalg.LinAlgError as exc:
        raise PropensityError(
            "the propensity-score logit does not converge: the covariates separate the cohort "
            "from its controls (no overlap); drop or coarsen covariates, or use method='reg'"
        ) from exc
    if np.any(p[d == 0] >= PS_CAP) or np.any(p[d == 1] <= 1 - PS_CAP):
        raise PropensityError(
            "estimated propensity scores reach 0 or 1 (no overlap between the cohort and its "
            "controls); drop or coarsen covariates, or use method='reg'"
        )
    return np.minimum(p, PS_CAP), hinv, z


def ipw_did(dy: Floats, d: Floats, x: Floats) -> tuple[float, Floats]:
    """Standardised (Hájek) inverse-probability-weighted DiD (Abadie 2005)."""
    p, hinv, z = _propensity(d, x)
    w_t = d
    w_c = p * (1 - d) / (1 - p)
    eta_t = np.mean(w_t * dy) / np.mean(w_t)
    eta_c = np.mean(w_c * dy) / np.mean(w_c)
    lin_ps = ((d - p)[:, None] * z) @ hinv
    inf_t = (w_t * dy - w_t * eta_t) / np.mean(w_t)
    inf_c1 = w_c * dy - w_c * eta_c
    inf_c2 = lin_ps @ np.mean((w_c * (dy - eta_c))[:, None] * z, axis=0)
    psi = inf_t - (inf_c1 + inf_c2) / np.mean(w_c)
    return float(eta_t - eta_c), psi


def dr_did(dy: Floats, d: Floats, x: Floats) -> tuple[float, Floats]:
    """Locally efficient doubly robust DiD (Sant'Anna and Zhao 2020, panel data)."""
    n = dy.size
    p, hinv, z = _propensity(d, x)
    ctrl = 1.0 - d
    coef = _ols(z, dy, ctrl)
    fitted = z @ coef
    w_t = d
    w_c = p * ctrl / (1 - p)
    res = dy - fitted
    eta_t = np.mean(w_t * res) / np.mean(w_t)
    eta_c = np.mean(w_c * res) / np.mean(w_c)
    xpx_inv = np.linalg.inv((z * ctrl[:, None]).T @ z / n)
    lin_ols = ((ctrl * res)[:, None] * z) @ xpx_inv
    lin_ps = ((d - p)[:, None] * z) @ hinv
    inf_t1 = w_t * res - w_t * eta_t
    inf_t2 = lin_ols @ np.mean(w_t[:, None] * z, axis=0)
    inf_t = (inf_t1 - inf_t2) / np.mean(w_t)
    inf_c1 = w_c * res - w_c * eta_c
    inf_c2 = lin_ps @ np.mean((w_c * (res - eta_c))[:, None] * z, axis=0)
    inf_c3 = lin_ols @ np.mean(w_c[:, None] * z, axis=0)
    psi = inf_t - (inf_c1 + inf_c2 - inf_c3) / np.mean(w_c)
    return float(eta_t - eta_c), psi


ESTIMATORS = {"reg": reg_did, "ipw": ipw_did, "dr": dr_did}
