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


# --- Repeated cross-sections (and unbalanced panels treated as such) --------------------
#
# Each function takes the rows of one comparison stacked over its two periods: outcome
# ``y``, ``post`` (1 in the later period), the treated indicator ``d`` and covariates
# ``x`` (without a constant), and returns the ATT and a per-row influence function
# (Sant'Anna and Zhao 2020, section 3; DRDID's ``reg_did_rc``, ``std_ipw_did_rc`` and
# ``drdid_rc``). Controls with a propensity score at or above ``PS_TRIM`` get zero weight,
# as in DRDID.

#: Controls whose propensity score reaches this level are trimmed (DRDID's default).
PS_TRIM = 0.995


def _ols_parts(z: Floats, y: Floats, mask: Floats) -> tuple[Floats, Floats]:
    """Fitted values of a least-squares fit on the ``mask`` rows, and its asymptotic linear representation."""
    n = y.size
    coef = _ols(z, y, mask)
    fitted = z @ coef
    xpx_inv = np.linalg.inv((z * mask[:, None]).T @ z / n)
    lin = ((mask * (y - fitted))[:, None] * z) @ xpx_inv
    return fitted, lin


def _cells(d: Floats, post: Floats) -> tuple[Floats, Floats, Floats, Floats]:
    return d * (1 - post), d * post, (1 - d) * (1 - post), (1 - d) * post


def reg_did_rc(y: Floats, post: Floats, d: Floats, x: Floats) -> tuple[float, Floats]:
    """Outcome-regression DiD for repeated cross-sections, with its influence function."""
    n = y.size
    z = np.column_stack([np.ones(n), x])
    t_pre, t_post, c_pre, c_post = _cells(d, post)
    if min(t_pre.sum(), t_post.sum(), c_pre.sum(), c_post.sum()) == 0:
        raise ValueError(
            "a treated or comparison cell has no observation in one of the two periods"
        )
    fit_pre, lin_pre = _ols_parts(z, y, c_pre)
    fit_post, lin_post = _ols_parts(z, y, c_post)
    eta_pre = np.mean(t_pre * y) / np.mean(t_pre)
    eta_post = np.mean(t_post * y) / np.mean(t_post)
    cont = d * (fit_post - fit_pre)
    eta_c = np.mean(cont) / np.mean(d)
    inf_pre = (t_pre * y - t_pre * eta_pre) / np.mean(t_pre)
    inf_post = (t_post * y - t_post * eta_post) / np.mean(t_post)
    moment = np.mean(d[:, None] * z, axis=0)
    inf_c = (cont - d * eta_c + (lin_post - lin_pre) @ moment) / np.mean(d)
    return float(eta_post - eta_pre - eta_c), inf_post - inf_pre - inf_c


def _propensity_rc(d: Floats, x: Floats) -> tuple[Floats, Floats, Floats, Floats]:
    p, hinv, z = _propensity(d, x)
    keep = np.where(d == 1, 1.0, (p < PS_TRIM).astype(float))
    lin_ps = ((d - p)[:, None] * z) @ hinv
    return p, keep, z, lin_ps


def ipw_did_rc(y: Floats, post: Floats, d: Floats, x: Floats) -> tuple[float, Floats]:
    """Standardised IPW DiD for repeated cross-sections (Abadie 2005), with trimming."""
    p, keep, z, lin_ps = _propensity_rc(d, x)
    t_pre, t_post, c_pre, c_post = (keep * c for c in _cells(d, post))
    odds = p / (1 - p)
    c_pre, c_post = c_pre * odds, c_post * odds
    parts = []
    for w in (t_pre, t_post, c_pre, c_post):
        m = np.mean(w * y) / np.mean(w)
        parts.append((m, (w * y - w * m) / np.mean(w)))
    (a_tp, i_tp), (a_tq, i_tq), (a_cp, i_cp), (a_cq, i_cq) = parts
    m2_pre = np.mean((c_pre * (y - a_cp))[:, None] * z, axis=0) / np.mean(c_pre)
    m2_post = np.mean((c_post * (y - a_cq))[:, None] * z, axis=0) / np.mean(c_post)
    inf_c = (i_cq - i_cp) + lin_ps @ (m2_post - m2_pre)
    return float((a_tq - a_tp) - (a_cq - a_cp)), (i_tq - i_tp) - inf_c


def dr_did_rc(y: Floats, post: Floats, d: Floats, x: Floats) -> tuple[float, Floats]:
    """Locally efficient doubly robust DiD for repeated cross-sections (Sant'Anna and Zhao 2020)."""
    p, keep, z, lin_ps = _propensity_rc(d, x)
    t_pre0, t_post0, c_pre0, c_post0 = _cells(d, post)
    fc_pre, lc_pre = _ols_parts(z, y, c_pre0)
    fc_post, lc_post = _ols_parts(z, y, c_post0)
    ft_pre, lt_pre = _ols_parts(z, y, t_pre0)
    ft_post, lt_post = _ols_parts(z, y, t_post0)
    fc = post * fc_post + (1 - post) * fc_pre
    odds = p / (1 - p)
    w_tp, w_tq = keep * t_pre0, keep * t_post0
    w_cp, w_cq = keep * c_pre0 * odds, keep * c_post0 * odds
    w_d, w_d1, w_d0 = keep * d, keep * d * post, keep * d * (1 - post)
    r = y - fc

    def hajek(w: Floats, v: Floats) -> tuple[float, Floats]:
        m = float(np.mean(w * v) / np.mean(w))
        return m, (w * v - w * m) / np.mean(w)

    a_tp, i_tp = hajek(w_tp, r)
    a_tq, i_tq = hajek(w_tq, r)
    a_cp, i_cp = hajek(w_cp, r)
    a_cq, i_cq = hajek(w_cq, r)
    a_dq, i_dq = hajek(w_d, ft_post - fc_post)
    a_d1, i_d1 = hajek(w_d1, ft_post - fc_post)
    a_dp, i_dp = hajek(w_d, ft_pre - fc_pre)
    a_d0, i_d0 = hajek(w_d0, ft_pre - fc_pre)
    att = (a_tq - a_tp) - (a_cq - a_cp) + (a_dq - a_d1) - (a_dp - a_d0)

    def mean_z(w: Floats) -> Floats:
        out: Floats = np.mean(w[:, None] * z, axis=0) / np.mean(w)
        return out

    inf_treat_or = lc_pre @ mean_z(w_tp) - lc_post @ mean_z(w_tq)
    m2_pre = np.mean((w_cp * (r - a_cp))[:, None] * z, axis=0) / np.mean(w_cp)
    m2_post = np.mean((w_cq * (r - a_cq))[:, None] * z, axis=0) / np.mean(w_cq)
    inf_cont_ps = lin_ps @ (m2_post - m2_pre)
    inf_cont_or = lc_pre @ mean_z(w_cp) - lc_post @ mean_z(w_cq)
    inf_eff = (i_dq - i_d1) - (i_dp - i_d0)
    mom_post = np.mean((w_d[:, None] / np.mean(w_d) - w_d1[:, None] / np.mean(w_d1)) * z, axis=0)
    mom_pre = np.mean((w_d[:, None] / np.mean(w_d) - w_d0[:, None] / np.mean(w_d0)) * z, axis=0)
    inf_or = (lt_post - lc_post) @ mom_post - (lt_pre - lc_pre) @ mom_pre
    inf_treat = i_tq - i_tp + inf_treat_or
    inf_cont = i_cq - i_cp + inf_cont_ps + inf_cont_or
    return float(att), inf_treat - inf_cont + inf_eff + inf_or


ESTIMATORS_RC = {"reg": reg_did_rc, "ipw": ipw_did_rc, "dr": dr_did_rc}
