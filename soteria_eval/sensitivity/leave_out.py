"""Leave-one-out, placebo-date and comparison-group sensitivity for any estimator.

Each function re-runs an estimator — any callable from a data frame to a results object
with a ``tidy()`` table (TWFE, Callaway–Sant'Anna aggregates, PPML...) — on altered data
and collects one row per run:

* :func:`leave_one_out` drops one unit, or one CPS Area with all its forces, at a time: a
  result driven by a single pathfinder shows up as one row far from the rest;
* :func:`placebo_dates` keeps only the periods before the programme and pretends it
  started ``k`` periods earlier: the estimates should be close to zero;
* :func:`comparison_sensitivity` re-estimates with and without units flagged as exposed
  controls (forces that shared a CPS Area with a pathfinder).

Every function returns a tidy table (``run, dropped, n_units, term, estimate, std_error,
ci_lower, ci_upper``) and the rows can be drawn with
:func:`~soteria_eval.plotting.estimate_plot` (``label="run"``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

Estimator = Callable[[pd.DataFrame], Any]
COLUMNS = ("run", "dropped", "n_units", "term", "estimate", "std_error", "ci_lower", "ci_upper")


def _row(res: Any, term: str, run: str, dropped: str, n_units: int) -> dict[str, Any]:
    t = res.tidy().set_index("term")
    if term not in t.index:
        raise ValueError(f"term {term!r} not in the estimator's results: {list(t.index)}")
    r = t.loc[term]
    return {
        "run": run,
        "dropped": dropped,
        "n_units": n_units,
        "term": term,
        "estimate": float(r["estimate"]),
        "std_error": float(r["std_error"]),
        "ci_lower": float(r["ci_lower"]),
        "ci_upper": float(r["ci_upper"]),
    }


def leave_one_out(
    data: pd.DataFrame,
    estimator: Estimator,
    *,
    unit: str,
    term: str,
    group: str | None = None,
    only: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """Re-estimate leaving out one unit (or one ``group``, e.g. a CPS Area) at a time.

    Parameters
    ----------
    estimator : callable
        Data frame to results (with ``tidy()``).
    unit : str
        Unit column (counted in ``n_units``).
    term : str
        The reported term.
    group : str, optional
        Drop every row of one value of this column at a time (default: ``unit``).
    only : sequence, optional
        Drop only these values (e.g. the pathfinder forces); default every value.

    Returns
    -------
    pandas.DataFrame
        The full-sample row first (``dropped == "none"``), then one row per dropped value.
    """
    col = group or unit
    for c in (unit, col):
        if c not in data:
            raise ValueError(f"column {c!r} not in data")
    values = list(pd.unique(data[col])) if only is None else list(only)
    unknown = [v for v in values if v not in set(data[col])]
    if unknown:
        raise ValueError(f"value(s) {unknown} not found in column {col!r}")
    rows = [_row(estimator(data), term, "full sample", "none", int(data[unit].nunique()))]
    for v in values:
        sub = data[data[col] != v]
        rows.append(_row(estimator(sub), term, f"without {v}", str(v), int(sub[unit].nunique())))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def placebo_dates(
    data: pd.DataFrame,
    estimator: Callable[[pd.DataFrame, int], Any],
    *,
    unit: str,
    time: str,
    first_treated: int,
    shifts: Sequence[int],
    term: str,
) -> pd.DataFrame:
    """Pretend the programme started ``k`` periods early, on pre-programme data only.

    ``estimator(data, start)`` receives the data restricted to periods before
    ``first_treated`` and the placebo start ``first_treated - k``; it must build its own
    treatment from ``start``. Each ``k`` must leave at least one period on both sides.
    """
    if time not in data or unit not in data:
        raise ValueError(f"column(s) {time!r} or {unit!r} not in data")
    pre = data[data[time] < first_treated]
    periods = np.sort(pre[time].unique())
    rows = []
    for k in shifts:
        start = first_treated - k
        if k < 1 or start <= periods[0]:
            raise ValueError(
                f"shift {k} puts the placebo start at {start}, outside the pre-period "
                f"({periods[0]} to {periods[-1]})"
            )
        rows.append(
            _row(
                estimator(pre, start),
                term,
                f"placebo start {start}",
                "none",
                int(pre[unit].nunique()),
            )
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def comparison_sensitivity(
    data: pd.DataFrame,
    estimator: Estimator,
    *,
    unit: str,
    exposed: str,
    term: str,
) -> pd.DataFrame:
    """Re-estimate with every comparison unit, then without the exposed ones.

    ``exposed`` is a boolean unit-level column (true for comparison units that shared a
    CPS Area with a pathfinder).
    """
    if exposed not in data:
        raise ValueError(f"column {exposed!r} not in data")
    flag = data[exposed].astype(bool)
    keep = data[~flag]
    return pd.DataFrame(
        [
            _row(estimator(data), term, "all comparison units", "none", int(data[unit].nunique())),
            _row(
                estimator(keep),
                term,
                "without exposed comparison units",
                f"{int(data.loc[flag, unit].nunique())} exposed units",
                int(keep[unit].nunique()),
            ),
        ],
        columns=list(COLUMNS),
    )


__all__ = ["comparison_sensitivity", "leave_one_out", "placebo_dates"]
