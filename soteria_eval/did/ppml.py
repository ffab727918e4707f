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
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from soteria_eval._linalg import Absorber, collinear_columns
from soteria_eval.covariance import canonical_fe_dof, nested_levels
from soteria_eval.linear_model import FEW_CLUSTERS, FewClustersWarning, LinearResults, codes_of


@dataclass(frozen=True)
class _Prepared:
    used: pd.DataFrame
    y: np.ndarray
    x: np.ndarray
    offset: np.ndarray
    codes: list[np.ndarray]
    names: list[str]
    n_dropped: int


def _prepare(
    data: pd.DataFrame,
    outcome: str,
    treatment: str,
    unit: str,
    time: str,
    covariates: Sequence[str],
    exposure: str | None,
    cl: str,
) -> _Prepared:
    """Check the inputs and drop incomplete rows and all-zero units or periods."""
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
    return _Prepared(used, y, x, offset, codes, names, n_dropped)


def _irls(
    y: np.ndarray,
    x: np.ndarray,
    offset: np.ndarray,
    codes: list[np.ndarray],
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray]:
    """IRLS for Poisson with absorbed fixed effects; returns ``beta`` and the fitted mean."""
    mu = np.full_like(y, max(y.mean(), 1e-3))
    eta = np.log(mu)
    dev_old = np.inf
    beta = np.zeros(x.shape[1])
    for _ in range(max_iter):
        z = eta - offset + (y - mu) / mu
        absorber = Absorber.build(codes, mu)
        zt = absorber.demean(z)
        sw = np.sqrt(mu)
        if x.shape[1]:
            xt = absorber.demean(x)
            beta = np.asarray(
                np.linalg.lstsq(xt * sw[:, None], zt * sw, rcond=None)[0], dtype=np.float64
            )
            resid = zt - xt @ beta
        else:
            resid = zt
        eta = z - resid + offset
        mu = np.exp(eta)
        with np.errstate(divide="ignore", invalid="ignore"):
            dev = 2 * np.sum(np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu))
        if abs(dev - dev_old) / (0.1 + abs(dev)) < tol:
            break
        dev_old = dev
    else:  # pragma: no cover
        raise RuntimeError("PPML did not converge")
    return beta, mu


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
    fe_dof: str = "full",
) -> LinearResults:
    r"""Fit a PPML two-way fixed-effects model (see the module docstring).

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
    fe_dof : {"full", "nested", "lm", "fixest"}
        Parameters counted in the CR1 small-sample factor
        :math:`\frac{G}{G-1}\frac{n-1}{n-K}`: ``"full"`` counts every fixed effect, as a
        Poisson GLM with dummies does (statsmodels); ``"nested"`` leaves out the levels of
        a fixed effect nested in the clusters but one, as R ``fixest::fepois`` does by
        default (``ssc(fixef.K = "nested")``): :math:`K = K_{full} - \sum_f (L_f - 1)`.
        ``"lm"`` and ``"fixest"`` are aliases of ``"full"`` and ``"nested"``.

    Returns
    -------
    LinearResults
        Coefficients on the log scale; ``info["rate_ratios"]`` holds ``exp`` of the
        estimates and their 95% intervals.
    """
    fe_dof = canonical_fe_dof(fe_dof)
    cl = cluster or unit
    prep = _prepare(data, outcome, treatment, unit, time, covariates, exposure, cl)
    used, y, x, offset, codes, names, n_dropped = (
        prep.used,
        prep.y,
        prep.x,
        prep.offset,
        prep.codes,
        prep.names,
        prep.n_dropped,
    )
    beta, mu = _irls(y, x, offset, codes, tol, max_iter)
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
    if fe_dof == "nested":
        k_fe -= nested_levels(codes, cl_codes, k_fe)
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
              "fe_dof": fe_dof, "df_k": int(k + k_fe),
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


def _restricted_scores(
    prep: _Prepared, j: int, b0: float, clusters: np.ndarray, tol: float, max_iter: int
) -> np.ndarray:
    """Cluster sums of the efficient score for coefficient ``j`` at the fit with beta_j = b0."""
    others = np.delete(prep.x, j, axis=1)
    offset = prep.offset + b0 * prep.x[:, j]
    _, mu = _irls(prep.y, others, offset, prep.codes, tol, max_iter)
    xt = Absorber.build(prep.codes, mu).demean(prep.x)
    hess = xt.T @ (xt * mu[:, None])
    a = np.linalg.solve(hess, np.eye(len(hess))[j])
    g = int(clusters.max()) + 1
    c = np.zeros(g)
    np.add.at(c, clusters, (xt @ a) * (prep.y - mu))
    return c


def ppml_score_bootstrap(
    data: pd.DataFrame,
    *,
    outcome: str,
    treatment: str,
    unit: str,
    time: str,
    covariates: Sequence[str] = (),
    exposure: str | None = None,
    cluster: str | None = None,
    n_boot: int = 9999,
    weights: str = "webb",
    seed: int = 0,
    alpha: float = 0.05,
    conf_int: bool = True,
    tol: float = 1e-10,
    max_iter: int = 200,
) -> LinearResults:
    r"""PPML fit whose treatment p-value and interval come from a score cluster bootstrap.

    The restricted score bootstrap of Kline and Santos (2012): refit with
    :math:`\beta_D = b_0` imposed, take each cluster's efficient score for
    :math:`\beta_D`, :math:`c_g = \sum_{i \in g} a'\tilde x_i (y_i - \tilde\mu_i)` with
    :math:`a = \tilde H^{-1} e_D`, and compare :math:`T = \sum_g c_g / \sqrt{\sum_g c_g^2}`
    with :math:`T^*_b = \sum_g v_{bg} c_g / \sqrt{\sum_g v_{bg}^2 c_g^2}`, all draws in one
    matrix product and no refit per draw. The interval inverts the test (a restricted refit
    per trial value of :math:`b_0`). Like WCR, it keeps its size with few clusters, but
    not with very few treated clusters.

    References
    ----------
    Kline, P. and Santos, A. (2012). A score based approach to wild bootstrap inference.
    *Journal of Econometric Methods* 1(1).
    """
    from soteria_eval.inference.wild import _invert, draw_weights

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        res = ppml(
            data, outcome=outcome, treatment=treatment, unit=unit, time=time,
            covariates=covariates, exposure=exposure, cluster=cluster, tol=tol, max_iter=max_iter,
        )  # fmt: skip
    cl = cluster or unit
    prep = _prepare(data, outcome, treatment, unit, time, covariates, exposure, cl)
    clusters = codes_of(prep.used[cl])
    g = int(clusters.max()) + 1
    v, enumerated = draw_weights(weights, n_boot, g, np.random.default_rng(seed))

    def pvalue(b0: float) -> float:
        c = _restricted_scores(prep, 0, b0, clusters, tol, max_iter)
        t0 = c.sum() / np.sqrt(np.sum(c**2))
        with np.errstate(invalid="ignore", divide="ignore"):
            tb = (v @ c) / np.sqrt((v**2) @ (c**2))
        return float(np.mean(np.abs(tb) >= abs(t0) * (1 - 1e-12)))

    beta = float(res.params[treatment])
    se = float(res.std_errors[treatment])
    p = pvalue(0.0)
    lo = hi = float("nan")
    if conf_int:
        lo, hi = _invert(pvalue, beta, se, alpha)
    label = (
        f"score cluster bootstrap (restricted, {weights}, {len(v)} draws"
        f"{', enumerated' if enumerated else ''}) by {cl}"
    )
    overrides = {
        **res.overrides,
        treatment: {"p_value": p, "ci_lower": lo, "ci_upper": hi, "inference": label},
    }
    info = {
        **res.info,
        "score_bootstrap": {"p_value": p, "ci_lower": lo, "ci_upper": hi, "n_boot": len(v),
                            "enumerated": enumerated, "weights": weights, "seed": seed},
    }  # fmt: skip
    rr = res.info["rate_ratios"].copy()
    rr.loc[treatment, ["ci_lower", "ci_upper"]] = np.exp([lo, hi])
    info["rate_ratios"] = rr
    return replace(res, overrides=overrides, info=info)
