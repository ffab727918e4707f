r"""Borusyak, Jaravel and Spiess (2024) imputation estimator.

1. Fit unit and period fixed effects (and covariates) on the *untreated* observations
   only: :math:`y_{it} = \alpha_i + \lambda_t + X_{it}'\beta + \varepsilon_{it}` for
   :math:`D_{it} = 0`.
2. Impute each treated observation's untreated outcome, :math:`\hat y_{it}(0)`, and take
   :math:`\hat\tau_{it} = y_{it} - \hat y_{it}(0)`.
3. Average the :math:`\hat\tau_{it}` with the estimand's weights: all treated
   observations equally (``overall``), or by event time (``event +e``).

Every estimate is a linear function of the outcomes, :math:`\hat\tau_w = \sum v_{it}
y_{it}`; standard errors use the conservative clustered variance of BJS (Theorem 3),
:math:`\sum_i (\sum_t v_{it}\tilde\varepsilon_{it})^2`, with treated residuals centred on
the average effect of their cohort and event time.

Reference: Borusyak, K., Jaravel, X. and Spiess, J. (2024). Revisiting event-study
designs: robust and efficient estimation. *Review of Economic Studies* 91(6), 3253–3285.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from soteria_eval.covariance import canonical_fe_dof, nested_levels
from soteria_eval.linear_model import codes_of
from soteria_eval.results import Results


def imputation_did(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    covariates: Sequence[str] = (),
    horizons: Sequence[int] | None = None,
    cluster: str | None = None,
    fe_dof: str | None = None,
    unit_trends: bool = False,
) -> Results:
    r"""Estimate the imputation DiD (see the module docstring).

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel (balanced or not).
    outcome, unit, time : str
        Columns; ``time`` holds integer periods.
    cohort : str
        First treated period; 0 or missing for never-treated units.
    covariates : sequence of str
        Time-varying controls (estimated on untreated observations).
    horizons : sequence of int, optional
        Event times to report (default: every post-treatment event time).
    cluster : str, optional
        Cluster column (default: ``unit``).
    fe_dof : {None, "full", "nested", "lm", "fixest"}
        Small-sample factor. ``None`` (default): none, BJS's Theorem 3 variance exactly,
        as diff-diff computes it (checked to 1e-6 on ``mpdta``). The values of
        the linear models (same names, same meaning) multiply the variance by CR1's
        :math:`\frac{G}{G-1}\frac{n-1}{n-K}`, with :math:`n` the observations used and
        :math:`K` the imputation model's parameters (unit and period effects, covariates):
        all of them (``"full"``, alias ``"lm"``), or without the levels of a fixed effect
        nested in the clusters but one (``"nested"``, alias ``"fixest"``). No reference
        package scales BJS's variance; the option puts the estimate beside a linear model
        fitted with the same convention.
    unit_trends : bool
        Add a linear time trend of each unit's own to the untreated model,
        :math:`y_{it} = \alpha_i + \gamma_i t + \lambda_t + \varepsilon_{it}` (BJS 2024,
        section 4.3): each treated unit's pre-start trend is extrapolated, so a linear
        trend that differs between treated and untreated units does not bias the estimate.
        Every treated unit needs at least two untreated periods. The price is variance:
        the extrapolation error grows with the distance from the start.

    Returns
    -------
    Results
        Terms ``overall`` and ``event +e``; normal-based inference.
    """
    cols = [outcome, unit, time, cohort, *covariates] + ([cluster] if cluster else [])
    missing = [c for c in dict.fromkeys(cols) if c not in data]
    if missing:
        raise ValueError(f"column(s) not in data: {missing}")
    d = data[list(dict.fromkeys(cols))].copy()
    complete = d[[outcome, time, *covariates]].notna().all(axis=1)
    n_dropped = int((~complete).sum())
    d = d[complete].reset_index(drop=True)
    g = pd.to_numeric(d[cohort], errors="coerce").fillna(0).to_numpy(dtype=float)
    t = d[time].to_numpy(dtype=float)
    treated = (g > 0) & (t >= g)
    if not treated.any():
        raise ValueError("no treated observations")
    y = d[outcome].to_numpy(dtype=float)
    ui, ti = codes_of(d[unit]), codes_of(d[time])
    n_u, n_t = int(ui.max()) + 1, int(ti.max()) + 1
    untreated_units = np.bincount(ui[~treated], minlength=n_u) > 0
    if not untreated_units[ui[treated]].all():
        raise ValueError(
            "some treated units have no untreated period: their unit effect cannot be imputed"
        )
    if unit_trends:
        n_pre = np.bincount(ui[~treated], minlength=n_u)
        if (n_pre[ui[treated]] < 2).any():
            raise ValueError(
                "unit_trends=True: some treated units have fewer than two untreated periods, "
                "so their own trend cannot be estimated"
            )
    untreated_periods = np.bincount(ti[~treated], minlength=n_t) > 0
    if not untreated_periods[ti[treated]].all():
        raise ValueError(
            "some treated periods have no untreated observation (e.g. after everyone is treated): nothing to impute from"
        )
    n = len(y)
    # Design z = [unit dummies, period dummies (first dropped), covariates].
    rows = np.arange(n)
    # Period effects without the first period's (and, with unit trends, the second's: a
    # common linear trend is then absorbed by the unit trends).
    n_ref = 2 if unit_trends else 1
    keep_t = ti >= n_ref
    z = sp.hstack(
        [
            sp.csr_matrix((np.ones(n), (rows, ui)), shape=(n, n_u)),
            sp.csr_matrix(
                (np.ones(keep_t.sum()), (rows[keep_t], ti[keep_t] - n_ref)),
                shape=(n, n_t - n_ref),
            ),
            sp.csr_matrix(d[list(covariates)].to_numpy(dtype=float))
            if covariates
            else sp.csr_matrix((n, 0)),
            # Unit trends: t centred on the panel's middle period (conditioning).
            sp.csr_matrix((t - 0.5 * (t.min() + t.max()), (rows, ui)), shape=(n, n_u))
            if unit_trends
            else sp.csr_matrix((n, 0)),
        ]
    ).tocsr()
    z0, z1 = z[~treated], z[treated]
    gram = (z0.T @ z0).tocsc()
    coef = spsolve(gram, z0.T @ y[~treated])
    y0_hat = z @ coef
    tau = y[treated] - y0_hat[treated]
    e = (t - g)[treated]
    events = (
        np.unique(e)
        if horizons is None
        else np.array([h for h in horizons if np.any(e == h)], dtype=float)
    )
    weight_sets = [("overall", np.full(tau.size, 1.0 / tau.size))]
    for ev in events:
        w = (e == ev).astype(float)
        weight_sets.append((f"event {int(ev):+d}", w / w.sum()))
    wmat = np.column_stack([w for _, w in weight_sets])  # treated obs × estimands
    # v for untreated observations: -Z0 (Z0'Z0)^-1 Z1' w, for every estimand at once.
    rhs = z1.T @ wmat
    sol = spsolve(gram, sp.csc_matrix(rhs))
    sol = sol.toarray() if sp.issparse(sol) else np.asarray(sol).reshape(gram.shape[0], -1)
    v0 = -(z0 @ sol)
    # Residuals: untreated from the FE fit; treated centred on their cohort-by-event mean.
    eps = np.empty(n)
    eps[~treated] = y[~treated] - y0_hat[~treated]
    cell = pd.Series(tau).groupby([g[treated], e]).transform("mean").to_numpy()
    eps[treated] = tau - cell
    cl = codes_of(d[cluster or unit])
    n_cl = int(cl.max()) + 1
    v = np.zeros((n, wmat.shape[1]))
    v[treated] = wmat
    v[~treated] = v0
    scores = np.zeros((n_cl, wmat.shape[1]))
    np.add.at(scores, cl, v * eps[:, None])
    cov = scores.T @ scores
    ssc_note = ""
    if fe_dof is not None:
        mode = canonical_fe_dof(fe_dof)
        k = n_u + n_t - n_ref + len(covariates) + (n_u if unit_trends else 0)
        if mode == "nested":
            k -= nested_levels([ui, ti], cl, n_u + n_t - n_ref)
        cov = cov * (n_cl / (n_cl - 1) * (n - 1) / (n - k))
        ssc_note = f", small-sample factor (fe_dof={fe_dof!r}, K={k})"
    est = wmat.T @ tau
    idx = pd.Index([name for name, _ in weight_sets])
    return Results(
        params=pd.Series(est, index=idx),
        cov=pd.DataFrame(cov, index=idx, columns=idx),
        df=pd.Series(np.inf, index=idx),
        inference=f"conservative clustered variance (BJS 2024) by {cluster or unit}{ssc_note}",
        estimator="Imputation DiD (Borusyak, Jaravel and Spiess)"
        + (", unit-specific linear trends" if unit_trends else ""),
        nobs=n,
        n_dropped=n_dropped,
        info={
            "n_treated_obs": int(treated.sum()),
            "n_clusters": n_cl,
            "fe_dof": fe_dof,
            "n_treated": int(np.unique(ui[treated]).size),
            "unit_trends": unit_trends,
        },
    )
