r"""Effects by rollout phase from Callaway–Sant'Anna group-time effects.

The ATT of phase :math:`p` is the average effect over the treated unit-periods of the
units of that phase:

.. math::

    \theta_p = \frac{\sum_{g \in G_p} n_g T_g \, \theta(g)}{\sum_{g \in G_p} n_g T_g},

where :math:`G_p` are the cohorts (first treated periods) of phase-:math:`p` units,
:math:`n_g` the units of cohort :math:`g`, :math:`T_g` its post-treatment periods in the
data and :math:`\theta(g)` the cohort's average effect (``aggregate("group")``; Callaway
and Sant'Anna 2021, eq. 3.10). Its variance is :math:`w' V w` with :math:`V` the
covariance of the cohort effects; the weights are taken as fixed (exact when a phase is
one cohort, as in the Soteria rollout). Unlike two-way fixed effects with one indicator
per phase, no already-treated unit serves as a control for a later phase.

Reference: Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with
multiple time periods. *Journal of Econometrics* 225(2), 200–230.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from soteria_eval.did.callaway_santanna import AggregatedResults, CallawaySantAnnaResults


def phase_att(
    results: CallawaySantAnnaResults,
    frame: pd.DataFrame,
    phase: object,
    *,
    phase_col: str = "phase",
) -> AggregatedResults:
    """Return the ATT of one rollout phase (one term, ``"ATT phase <p>"``).

    Parameters
    ----------
    results : CallawaySantAnnaResults
        Group-time effects estimated on ``frame``.
    frame : pandas.DataFrame
        The data the results were estimated on, with the unit, cohort and ``phase_col``
        columns.
    phase : object
        The phase whose units are averaged.

    Raises
    ------
    ValueError
        No cohort of the estimated effects belongs to the phase.
    """
    from dataclasses import replace

    s = results.settings
    unit, cohort = s["unit"], s["cohort"]
    per_unit = frame.drop_duplicates(unit).set_index(unit)
    labels = s.get("period_labels") or ()
    cohorts = per_unit.loc[per_unit[phase_col] == phase, cohort]
    if labels:  # the results numbered the periods: number the cohorts the same way
        pos = {v: i + 1 for i, v in enumerate(labels)}
        cohorts = cohorts.astype(str).map(pos)
    cohorts = pd.to_numeric(cohorts, errors="coerce")
    grp = results.aggregate("group")
    have = {float(t.split()[1]): t for t in grp.params.index if t.startswith("cohort ")}
    chosen = sorted({float(c) for c in cohorts.dropna() if float(c) in have})
    if not chosen:
        raise ValueError(f"no estimated cohort belongs to phase {phase!r}")
    post = results.att_gt.assign(post=results.att_gt["time"] >= results.att_gt["cohort"])
    t_post = post[post["post"]].groupby("cohort")["time"].nunique()
    n_units = pd.Series(results.unit_cohort).value_counts()
    w = np.array([n_units.get(g, 0) * t_post.get(g, 0) for g in chosen], dtype=float)
    w = w / w.sum()
    terms = [have[g] for g in chosen]
    theta = grp.params[terms].to_numpy(dtype=float)
    v = grp.cov.loc[terms, terms].to_numpy(dtype=float)
    name = f"ATT phase {phase}"
    idx = pd.Index([name])
    influence = (
        None
        if grp.influence is None
        else grp.influence[:, [list(grp.params.index).index(t) for t in terms]] @ w[:, None]
    )
    return replace(
        grp,
        params=pd.Series([float(w @ theta)], index=idx),
        cov=pd.DataFrame([[float(w @ v @ w)]], index=idx, columns=idx),
        df=pd.Series(np.inf, index=idx),
        estimator=f"Callaway–Sant'Anna (phase {phase}: {len(chosen)} cohort(s))",
        info={**grp.info, "aggregation": "phase", "phase": phase, "cohorts": tuple(chosen)},
        influence=influence,
    )
