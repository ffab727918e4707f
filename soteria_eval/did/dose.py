r"""Difference-in-differences with a continuous treatment dose, from clean comparisons only.

Some of the programme's measures exist only per CPS Area (judges' directions complied
with on time; trials that go ahead as listed), and an Area is partly treated: its
*dose* is the share of its forces (or caseload) in the programme, which rises as its
forces join. :func:`stacked_dose_did` estimates the effect of a unit of dose (going from
no pathfinder to a fully treated Area) without the comparisons that make two-way fixed
effects unreliable under staggered adoption (Goodman-Bacon 2021): an already-treated unit
is never a control.

For every *cohort* :math:`g` (the first period with a positive dose) and every later
period :math:`t \ge g`, a clean 2x2 block holds the cohort's units and the units still
untreated at :math:`t` (dose 0 up to and including :math:`t`), with the outcome's change
from the cohort's base period :math:`g-1`:

.. math::

   \Delta Y_{it}^{(g)} = Y_{it} - Y_{i,g-1}
   = \alpha_{gt} + \beta\, d_{it} + \varepsilon_{it}^{(g)},

(or, with ``base="pre_mean"``, the change from the unit's mean over the periods before
:math:`g`), where :math:`d_{it}` is the unit's dose at :math:`t` (0 for the controls) and
:math:`\alpha_{gt}` a fixed effect of the block. The blocks are stacked and fitted by
least squares with the block effects absorbed (stacked DiD: Cengiz, Dube, Lindner and
Zipperer 2019; Wing, Freedman and Hollingsworth 2024). Standard errors are clustered by
unit, since a unit appears in several blocks.

Under parallel trends in the untreated outcome and an effect that is linear in the dose
and zero at zero dose, :math:`\beta` is the effect of a full dose. When the effect is
not linear, :math:`\beta` is a variance-weighted average of the slopes between the doses
present in each block (the average causal response of Callaway, Goodman-Bacon and
Sant'Anna 2024, with their warning that dose groups may also differ in their response).

References
----------
Callaway, B., Goodman-Bacon, A. and Sant'Anna, P. H. C. (2024). Difference-in-differences
with a continuous treatment. NBER Working Paper 32117.

Cengiz, D., Dube, A., Lindner, A. and Zipperer, B. (2019). The effect of minimum wages on
low-wage jobs. *Quarterly Journal of Economics* 134(3), 1405–1454.

Wing, C., Freedman, S. M. and Hollingsworth, A. (2024). Stacked difference-in-differences.
NBER Working Paper 32054.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Literal

import numpy as np
import pandas as pd

from soteria_eval._options import check_option
from soteria_eval.linear_model import LinearResults, fit_absorbed

#: Reference period of each change: the period before the start, or the pre-period mean.
DoseBase = Literal["previous", "pre_mean"]


def dose_blocks(
    data: pd.DataFrame, *, outcome: str, dose: str, unit: str, time: str, base: str = "previous"
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Build the stacked clean 2x2 blocks of :func:`stacked_dose_did`.

    ``base`` is the reference of each change: ``"previous"`` (the period before the
    cohort's start) or ``"pre_mean"`` (the unit's mean over every period before it).

    Returns
    -------
    tuple of (pandas.DataFrame, dict)
        The blocks (``block, unit, cohort, period, dy, dose``) and counts: ``n_blocks``,
        ``n_rows`` and ``n_dropped`` (unit-periods of a block left out because the outcome
        is missing at the period or at the block's base period).
    """
    for col in (outcome, dose, unit, time):
        if col not in data.columns:
            raise KeyError(f"column {col!r} is not in the data")
    dup = data.duplicated([unit, time])
    if dup.any():
        first = data.loc[dup, [unit, time]].iloc[0]
        u, t = (v.item() if isinstance(v, np.generic) else v for v in (first[unit], first[time]))
        raise ValueError(
            f"more than one row for {unit}={u!r}, {time}={t!r} (row {int(np.flatnonzero(dup)[0])}): "
            "the panel must have one row per unit and period"
        )
    check_option("base", base, DoseBase)
    d = data[dose].to_numpy(dtype=float)
    if np.isnan(d).any():
        raise ValueError(f"column {dose!r} has missing values: every unit-period needs a dose")
    if (d < 0).any():
        raise ValueError(f"column {dose!r} has negative values: a dose is a share, 0 or more")
    y_w = data.pivot(index=unit, columns=time, values=outcome).sort_index(axis=1)
    d_w = data.pivot(index=unit, columns=time, values=dose).reindex_like(y_w)
    if d_w.isna().any().any():
        raise ValueError(f"every unit needs a row in every period of {time!r}")
    y = y_w.to_numpy(dtype=float)
    dm = d_w.to_numpy(dtype=float)
    t_n = dm.shape[1]
    on = dm > 0
    if (on[:, :-1] & ~on[:, 1:]).any():
        raise ValueError(
            f"column {dose!r} falls back to 0 after being positive: the design needs treatment "
            "that, once started, stays on (its dose may change)"
        )
    cohort = np.where(on.any(axis=1), on.argmax(axis=1), t_n)  # t_n: untreated throughout
    blocks = []
    dropped = 0
    for g in np.unique(cohort[cohort < t_n]):
        if g == 0:
            continue  # treated from the first period: no base period
        members = np.flatnonzero(cohort == g)
        if base == "pre_mean":
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a unit with no pre-period value
                ref = np.nanmean(y[:, :g], axis=1)
        else:
            ref = y[:, g - 1]
        for t in range(g, t_n):
            controls = np.flatnonzero(cohort > t)
            if not len(controls):
                continue
            rows = np.concatenate([members, controls])
            dy = y[rows, t] - ref[rows]
            ok = np.isfinite(dy)
            dropped += int((~ok).sum())
            blocks.append(
                pd.DataFrame(
                    {
                        "block": f"{y_w.columns[g]}|{y_w.columns[t]}",
                        "unit": y_w.index[rows[ok]],
                        "cohort": y_w.columns[g],
                        "period": y_w.columns[t],
                        "dy": dy[ok],
                        "dose": dm[rows[ok], t],
                    }
                )
            )
    if not blocks:
        raise ValueError(
            "no clean comparison: the design needs a unit starting after the first period "
            "and a unit still untreated then"
        )
    out = pd.concat(blocks, ignore_index=True)
    return out, {"n_blocks": len(blocks), "n_rows": len(out), "n_dropped": dropped}


def stacked_dose_did(
    data: pd.DataFrame,
    *,
    outcome: str,
    dose: str,
    unit: str,
    time: str,
    base: str = "previous",
    vcov: str = "CR2",
    fe_dof: str = "full",
) -> LinearResults:
    r"""Effect of a full dose from stacked clean comparisons (see the module docstring).

    .. math:: Y_{it} - Y_{i,g-1} = \alpha_{gt} + \beta\, d_{it} + \varepsilon_{it}^{(g)}

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel, one row per unit and period, every unit in every period.
    outcome, dose, unit, time : str
        Column names. ``dose`` is 0 before a unit's start and positive from it on (a
        treated share in (0, 1] is the usual dose); ``time`` sorts in time order.
    base : {"previous", "pre_mean"}
        Reference of each change: the period before the cohort's start (as
        Callaway–Sant'Anna's short differences), or each unit's mean over all periods
        before it, which averages out period noise when there are many pre-periods (the
        comparison then rests on parallel trends over the whole pre-period, as the
        imputation estimator's does).
    vcov : {"CR2", "CR1", "CR0"}
        Covariance clustered by unit (CR2 with Satterthwaite df is the default: a few
        units carry the dose).
    fe_dof : {"full", "nested", "lm", "fixest"}
        Fixed-effect degrees of freedom in CR1's small-sample factor.

    Returns
    -------
    LinearResults
        Term ``dose``; ``info`` holds ``n_blocks``, ``n_rows`` and ``n_dropped`` (block
        rows left out for a missing outcome), which ``n_dropped`` of the results also
        counts: nothing is left out silently.

    References
    ----------
    Callaway, Goodman-Bacon and Sant'Anna (2024); Wing, Freedman and Hollingsworth (2024).
    """
    stacked, counts = dose_blocks(data, outcome=outcome, dose=dose, unit=unit, time=time, base=base)
    if stacked["dose"].nunique() < 2:
        raise ValueError("the blocks hold a single dose: the slope is not identified")
    res = fit_absorbed(
        stacked,
        outcome="dy",
        regressors={"dose": "dose"},
        absorb=("block",),
        cluster="unit",
        vcov=vcov,
        fe_dof=fe_dof,
        estimator="Stacked DiD on a continuous dose",
        info={**counts, "base": base},
    )
    # rows left out: block rows without an outcome (the fit itself drops none)
    return dataclasses.replace(res, n_dropped=res.n_dropped + counts["n_dropped"])


__all__ = ["dose_blocks", "stacked_dose_did"]
