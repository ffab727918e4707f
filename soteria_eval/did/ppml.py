r"""Poisson pseudo-maximum-likelihood (PPML) with absorbed fixed effects and an offset.

.. math:: E[y_{it} \mid \cdot] = \exp(\alpha_i + \lambda_t + \beta D_{it} + \log n_{it})

For counts (charges, referrals) the natural effect is a rate ratio, :math:`\exp(\beta)`;
zeros are kept (unlike a log-linear model), and the estimator is consistent whenever the
conditional mean is right, whatever the distribution (Santos Silva and Tenreyro 2006). It
is fitted by iteratively reweighted least squares, absorbing the fixed effects at each
step with weights :math:`\mu` (Correia, Guimarães and Zylkin 2020). Units whose outcome is
zero in every period carry no information for :math:`\beta` and are dropped (counted).
Standard errors are cluster-robust with the small-sample factor
:math:`G/(G-1)\cdot(N-1)/(N-K)`, :math:`K` counting the fixed effects, as
``statsmodels`` GLM uses for a model with dummies.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from soteria_eval._linalg import Absorber, collinear_columns
from soteria_eval.linear_model import FEW_CLUSTERS, FewClustersWarning, LinearResults, codes_of


def ppml(
    data: pd.DataFrame,
    *,
    outcome: str,
    treatment: str,
    unit: str,
    time: str,
    covariates: Sequence[str] = (),
    exposure: str | None = None,
    cluster: str | None = None,
    tol: float = 1e-10,
    max_iter: int = 200,
) -> LinearResults:
    """Fit a PPML two-way fixed-effects model (see the module docstring).

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel.
    outcome : str
        Non-negative count.
    treatment, unit, time : str
        Column names.
    covariates : sequence of str
        Other regressors.
    exposure : str, optional
        Positive exposure (e.g. population, recorded offences); ``log(exposure)`` is the
        offset, so effects are on the rate.
    cluster : str, optional
        Cluster column (default: ``unit``).

    Returns
    -------
    LinearResults
        Coefficients on the log scale; ``info["rate_ratios"]`` holds ``exp`` of the
        estimates and their 95% intervals.
    """
    cl = cluster or unit
    cols = [outcome, treatment, unit, time, *covariates] + ([exposure] if exposure else []) + [cl]
    missing = [c for c in dict.fromkeys(cols) if c not in data]
    if missing:
        raise ValueError(f"column(s) not in data: {missing}")
    d = data[list(dict.fromkeys(cols))]
    y_all = pd.to_numeric(d[outcome], errors="coerce")
    if (y_all < 0).any():
        raise ValueError(f"{outcome!r} has negative values; PPML needs counts (>= 0)")
    complete = d.notna().all(axis=1)
    if exposure:
        expo = pd.to_numeric(d[exposure], errors="coerce")
        if (expo[complete] <= 0).any():
            raise ValueError(f"exposure {exposure!r} must be positive")
    # Units (or periods) whose outcome is always zero are perfectly predicted: drop them.
    pos = y_all.where(complete, 0).gt(0)
    keep = complete & pos.groupby(d[unit]).transform("any") & pos.groupby(d[time]).transform("any")
    n_dropped = int((~keep).sum())
    used = d.loc[keep]
    y = used[outcome].to_numpy(dtype=float)
    names = [treatment, *covariates]
    x = used[names].to_numpy(dtype=float)
    offset = np.log(used[exposure].to_numpy(dtype=float)) if exposure else np.zeros(len(y))
    codes = [codes_of(used[unit]), codes_of(used[time])]
    mu = np.full_like(y, max(y.mean(), 1e-3))
    eta = np.log(mu)
    dev_old = np.inf
    beta = np.zeros(x.shape[1])
    for _ in range(max_iter):
        z = eta - offset + (y - mu) / mu
        absorber = Absorber.build(codes, mu)
        zt = absorber.demean(z)
        xt = absorber.demean(x)
        sw = np.sqrt(mu)
        beta = np.asarray(
            np.linalg.lstsq(xt * sw[:, None], zt * sw, rcond=None)[0], dtype=np.float64
        )
        resid = zt - xt @ beta
        eta = z - resid + offset
        mu = np.exp(eta)
        with np.errstate(divide="ignore", invalid="ignore"):
            dev = 2 * np.sum(np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu))
        if abs(dev - dev_old) / (0.1 + abs(dev)) < tol:
            break
        dev_old = dev
    else:  # pragma: no cover
        raise RuntimeError("PPML did not converge")
    absorber = Absorber.build(codes, mu)
    xt = absorber.demean(x)
    bad = collinear_columns(xt * np.sqrt(mu)[:, None], names)
    if bad:
        raise ValueError(f"regressor(s) {bad} are collinear with the fixed effects")
    hess = xt.T @ (xt * mu[:, None])
    bread = np.linalg.inv(hess)
    cl_codes = codes_of(used[cl])
    g = int(cl_codes.max()) + 1
    scores = np.zeros((g, x.shape[1]))
    np.add.at(scores, cl_codes, xt * (y - mu)[:, None])
    n, k = x.shape
    k_fe = absorber.dof()
    adj = g / (g - 1) * (n - 1) / (n - k - k_fe)
    cov = bread @ (scores.T @ scores) @ bread * adj
    if g < FEW_CLUSTERS:
        warnings.warn(
            f"only {g} clusters: cluster-robust tests over-reject", FewClustersWarning, stacklevel=2
        )
    idx = pd.Index(names)
    ever = used.groupby(unit)[treatment].max()
    res = LinearResults(
        params=pd.Series(beta, index=idx),
        cov=pd.DataFrame(cov, index=idx, columns=idx),
        df=pd.Series(float(g - 1), index=idx),
        inference=f"cluster-robust (CR1), t({g - 1}) by {cl}",
        estimator="PPML two-way fixed effects (Poisson pseudo-likelihood)",
        nobs=n,
        n_dropped=n_dropped,
        info={"outcome": outcome, "exposure": exposure, "cluster": cl, "n_clusters": g, "vcov": "CR1",
              "n_units": int(ever.size), "n_treated": int((ever > 0).sum()), "n_periods": int(used[time].nunique())},
    )  # fmt: skip
    t = res.tidy()
    rr = pd.DataFrame(
        {
            "rate_ratio": np.exp(t["estimate"]),
            "ci_lower": np.exp(t["ci_lower"]),
            "ci_upper": np.exp(t["ci_upper"]),
        }
    ).set_index(t["term"])
    return replace(res, info={**res.info, "rate_ratios": rr})
