r"""Sun and Abraham (2021) interaction-weighted event study.

A two-way fixed-effects regression with one dummy per cohort *and* relative period,

.. math:: y_{it} = \alpha_i + \lambda_t + \sum_{g}\sum_{e \ne -1} \delta_{g,e}\, 1[G_i = g]\, 1[t - g = e] + \varepsilon_{it},

estimated against a clean control cohort (never treated, or the last-treated cohort with
its treated periods dropped), gives cohort-specific effects free of the contamination that
biases the plain event study. They are averaged per relative period with weights equal to
each cohort's share of the observations at that period (as R ``fixest::sunab``); standard
errors by the delta method from the cluster-robust covariance of the
:math:`\delta_{g,e}`, treating the weights as fixed.

Reference: Sun, L. and Abraham, S. (2021). Estimating dynamic treatment effects in event
studies with heterogeneous treatment effects. *Journal of Econometrics* 225(2), 175–199.
"""

from __future__ import annotations

import warnings
from typing import Literal, get_args

import numpy as np
import pandas as pd

from soteria_eval.linear_model import fit_absorbed
from soteria_eval.results import Results

Control = Literal["never_treated", "last_treated"]


def sun_abraham(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    control: Control = "never_treated",
    cluster: str | None = None,
    vcov: str = "CR1",
    fe_dof: str = "full",
) -> Results:
    r"""Estimate the interaction-weighted event study (see the module docstring).

    ``fe_dof="nested"`` leaves fixed effects nested in the clusters out of CR1's
    small-sample factor, as R ``fixest`` does by default.

    Returns
    -------
    Results
        Terms ``event -k`` ... ``event +k`` and ``overall`` (the average over post-treatment
        cells weighted by observations); ``info["cohort_effects"]`` holds the
        :math:`\\delta_{g,e}`.
    """
    if control not in get_args(Control):
        raise ValueError(f"control must be one of {get_args(Control)}, got {control!r}")
    d = data.copy()
    g = pd.to_numeric(d[cohort], errors="coerce").fillna(0).to_numpy(dtype=float)
    t = pd.to_numeric(d[time], errors="coerce").to_numpy(dtype=float)
    cohorts = np.sort(np.unique(g[g > 0]))
    if control == "never_treated":
        if not (g == 0).any():
            raise ValueError(
                "control='never_treated' needs never-treated units; use 'last_treated'"
            )
    else:
        last = cohorts[-1]
        d.loc[(g == last) & (t >= last), outcome] = np.nan  # its treated periods are dropped
        cohorts = cohorts[:-1]
        if len(cohorts) == 0:
            raise ValueError(
                "only one cohort: nothing left to compare with the last-treated cohort"
            )
    regs: dict[str, pd.Series] = {}
    for c in cohorts:
        e = np.where(g == c, t - c, np.nan)
        for ev in np.unique(e[~np.isnan(e)]):
            if ev == -1:
                continue
            regs[f"{c:g}|{ev:+g}"] = pd.Series(((g == c) & (e == ev)).astype(float), index=d.index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_absorbed(d, outcome=outcome, regressors=regs, absorb=(unit, time), cluster=cluster or unit, vcov=vcov, fe_dof=fe_dof,
                           estimator="Sun–Abraham cohort-by-period regression")  # fmt: skip
    names = list(fit.params.index)
    rel = np.array([float(n.split("|")[1]) for n in names])
    counts = {
        n: float(regs[n].iloc[fit.rows].sum()) if fit.rows is not None else float(regs[n].sum())
        for n in names
    }
    w_obs = np.array([counts[n] for n in names])
    events = np.unique(rel)
    agg = np.zeros((len(events) + 1, len(names)))
    labels = []
    for i, ev in enumerate(events):
        sel = rel == ev
        agg[i, sel] = w_obs[sel] / w_obs[sel].sum()
        labels.append(f"event {ev:+g}")
    post = rel >= 0
    agg[-1, post] = w_obs[post] / w_obs[post].sum()
    labels.append("overall")
    b = agg @ fit.params.to_numpy()
    v = agg @ fit.cov.to_numpy() @ agg.T
    idx = pd.Index(labels)
    return Results(
        params=pd.Series(b, index=idx),
        cov=pd.DataFrame(v, index=idx, columns=idx),
        df=pd.Series(float(fit.df.iloc[0]), index=idx),
        inference=fit.inference,
        estimator=f"Sun–Abraham interaction-weighted event study (control: {control.replace('_', ' ')})",
        nobs=fit.nobs,
        n_dropped=fit.n_dropped,
        info={**fit.info, "control": control, "cohort_effects": fit.params.copy()},
    )
