r"""Two-way fixed-effects event study with leads, lags and binned endpoints.

.. math:: y_{it} = \alpha_i + \lambda_t + \sum_{e \ne r} \beta_e 1[t - G_i = e] + \varepsilon_{it}

Event time :math:`e = t - G_i` counts periods since unit :math:`i`'s first treated period
:math:`G_i`; never-treated units have no event dummies. The reference period :math:`r`
(default :math:`-1`) is omitted. With ``bin_endpoints=True`` the end dummies absorb every
earlier (later) event time, as in Schmidheiny and Siegloch (2023); otherwise treated
observations outside the window are dropped and counted. The leads give a check of parallel
pre-trends (:func:`pretrend_test`); under staggered adoption with heterogeneous effects the
lags are contaminated by other cohorts' effects (Sun and Abraham 2021) — compare with the
Callaway–Sant'Anna event study.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from soteria_eval.linear_model import LinearResults, fit_absorbed


def event_term(e: int) -> str:
    """Name of the event-time coefficient, e.g. ``event -2`` or ``event +0``."""
    return f"event {e:+d}"


def event_study(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    leads: int = 4,
    lags: int = 4,
    reference: int = -1,
    bin_endpoints: bool = True,
    covariates: Sequence[str] = (),
    cluster: str | None = None,
    vcov: str = "CR1",
    weights: str | None = None,
    fe_dof: str = "full",
) -> LinearResults:
    """Estimate a TWFE event study (see the module docstring).

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel.
    outcome, unit, time : str
        Column names; ``time`` holds integer periods.
    cohort : str
        First treated period; 0 or missing for never-treated units.
    leads, lags : int
        Event times from ``-leads`` to ``+lags`` get their own coefficient.
    reference : int
        The omitted event time (must lie inside the window).
    bin_endpoints : bool
        Bin event times beyond the window into the end coefficients (else drop them).
    covariates, cluster, vcov, weights, fe_dof
        As in :func:`soteria_eval.did.twfe` (clustering defaults to ``unit``).

    Returns
    -------
    LinearResults
        Terms ``event -leads`` ... ``event +lags`` without the reference.
    """
    if leads < 1 or lags < 0:
        raise ValueError(f"leads must be >= 1 and lags >= 0, got {leads}, {lags}")
    if not -leads <= reference <= lags:
        raise ValueError(f"reference {reference} must lie in the window [-{leads}, {lags}]")
    missing = [c for c in (outcome, unit, time, cohort, *covariates) if c not in data]
    if missing:
        raise ValueError(f"column(s) not in data: {missing}")
    d = data.copy()
    g = pd.to_numeric(d[cohort], errors="coerce").fillna(0).to_numpy(dtype=float)
    t = pd.to_numeric(d[time], errors="coerce").to_numpy(dtype=float)
    treated = g > 0
    e = np.where(treated, t - g, np.nan)
    outside = treated & ((e < -leads) | (e > lags))
    if bin_endpoints:
        e = np.where(treated, np.clip(e, -leads, lags), np.nan)
    else:
        d.loc[outside, outcome] = np.nan  # dropped and counted by the fit
    regs = {}
    for k in range(-leads, lags + 1):
        if k == reference:
            continue
        regs[event_term(k)] = pd.Series((e == k).astype(float), index=d.index)
    for c in covariates:
        regs[c] = d[c]
    ever = d.assign(_g=g).groupby(unit)["_g"].max()
    return fit_absorbed(
        d,
        outcome=outcome,
        regressors=regs,
        absorb=(unit, time),
        weights=weights,
        cluster=cluster or unit,
        vcov=vcov,
        fe_dof=fe_dof,
        estimator="Two-way fixed-effects event study",
        info={
            "n_units": int(ever.size),
            "n_treated": int((ever > 0).sum()),
            "n_periods": int(d[time].nunique()),
            "reference": reference,
            "leads": leads,
            "lags": lags,
            "bin_endpoints": bin_endpoints,
        },
    )


def pretrend_test(
    res: LinearResults, terms: Sequence[str] | None = None
) -> tuple[float, int, float, float]:
    """Joint Wald test that the pre-treatment (lead) coefficients are all zero.

    Returns ``(F, q, df_denominator, p_value)`` with ``F = b'V^{-1}b / q`` referred to
    F(q, G-1) for cluster-robust covariances (to the chi-squared otherwise).
    """
    if terms is None:
        terms = [t for t in res.params.index if str(t).startswith("event -")]
    if not terms:
        raise ValueError("no lead coefficients to test")
    b = res.params.loc[list(terms)].to_numpy()
    v = res.cov.loc[list(terms), list(terms)].to_numpy()
    q = len(terms)
    f = float(b @ np.linalg.solve(v, b)) / q
    g = res.info.get("n_clusters")
    if g:
        df2 = float(g - 1)
        return f, q, df2, float(stats.f.sf(f, q, df2))
    return f, q, float("inf"), float(stats.chi2.sf(f * q, q))
