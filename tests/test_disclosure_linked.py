"""Secondary suppression across linked tables, proved by an attacker who uses them all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from soteria_eval.disclosure import SUPPRESSED, DisclosureError, linked_exposed, protect_linked
from soteria_eval.panels.attrition import attrition_tables, raw_funnel

SUBS = ("domestic_abuse", "non_recent", "victim_age_band")


def _table_relations(n_rows: int, n_cols: int) -> np.ndarray:
    """A rows x cols table whose row and column totals are known cells (placed after it)."""
    n = n_rows * n_cols
    rel = np.zeros((n_rows + n_cols, n + n_rows + n_cols))
    for i in range(n_rows):
        rel[i, [i * n_cols + j for j in range(n_cols)]] = 1
        rel[i, n + i] = -1
    for j in range(n_cols):
        rel[n_rows + j, [i * n_cols + j for i in range(n_rows)]] = 1
        rel[n_rows + j, n + n_rows + j] = -1
    return rel


def test_one_small_cell_in_a_table_with_totals_needs_three_complements() -> None:
    cells = np.array([[4, 20, 30], [15, 40, 25], [12, 11, 60]], dtype=float)
    values = np.r_[cells.ravel(), cells.sum(axis=1), cells.sum(axis=0)]
    rel = _table_relations(3, 3)
    keep = np.r_[np.zeros(9, dtype=bool), np.ones(6, dtype=bool)]
    primary = np.r_[cells.ravel() < 10, np.zeros(6, dtype=bool)]
    assert linked_exposed(values, primary, rel, method="linear")[0]
    assert linked_exposed(values, primary, rel, method="lp")[0]
    s = protect_linked(values, primary, rel, keep=keep)
    assert s[:9].sum() == 4 and s[0]  # a rectangle: the least any pattern can do
    assert not linked_exposed(values, s, rel).any()
    assert not s[9:].any()  # known totals are never suppressed


def test_a_cell_equal_to_a_known_total_cannot_be_protected() -> None:
    values = np.array([5.0, 0.0, 5.0])
    rel = np.array([[1.0, 1.0, -1.0]])
    with pytest.raises(DisclosureError, match="cannot be protected"):
        protect_linked(
            values, np.array([True, False, False]), rel, keep=np.array([False, False, True])
        )


def _attack(tables: dict[str, pd.DataFrame], national: pd.DataFrame) -> pd.DataFrame:
    """Bound every suppressed cell from the published tables and known national totals.

    Written independently of the suppression code: unknowns are the [c] cells; equations
    are (1) a subgroup table's values add up to the all-cases cell of the same group, year
    and stage, and (2) the groups of the all-cases table add up to the national total.
    Returns the suppressed cells with the range a reader can narrow each to.
    """
    cells = []
    for name, t in tables.items():
        cells.append(t.assign(table=name)[["table", "group", "year", "value", "stage", "cases"]])
    c = pd.concat(cells, ignore_index=True)
    hidden = c["cases"].astype(str) == SUPPRESSED
    known = pd.to_numeric(c["cases"].where(~hidden), errors="coerce").fillna(0.0).to_numpy()
    unknown = np.flatnonzero(hidden.to_numpy())
    col = {int(i): k for k, i in enumerate(unknown)}
    rows, rhs = [], []

    def equation(parts: np.ndarray, total_cell: int | None, total_value: float | None) -> None:
        a = np.zeros(len(unknown))
        b = 0.0 if total_value is None else float(total_value)
        for p in parts:
            if p in col:
                a[col[p]] += 1
            else:
                b -= known[p]
        if total_cell is not None:
            if total_cell in col:
                a[col[total_cell]] -= 1
            else:
                b += known[total_cell]
        if np.any(a):
            rows.append(a)
            rhs.append(b)

    all_rows = c[c["table"] == "all"]
    index = {
        (r.group, r.year, r.stage): i
        for i, r in zip(all_rows.index, all_rows.itertuples(), strict=True)
    }
    for (_, g, y, st), part in c[c["table"] != "all"].groupby(["table", "group", "year", "stage"]):
        equation(part.index.to_numpy(), index[(g, y, st)], None)
    for (y, st), part in all_rows.groupby(["year", "stage"]):
        equation(part.index.to_numpy(), None, national.loc[(y, st)])
    a_eq, b_eq = np.array(rows), np.array(rhs)
    out = []
    for k, cell in enumerate(unknown):
        obj = np.zeros(len(unknown))
        obj[k] = 1
        lo = linprog(obj, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
        hi = linprog(-obj, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
        assert lo.status == 0, "the published tables contradict the national totals"
        out.append((int(cell), lo.fun, -hi.fun if hi.status == 0 else np.inf))
    return pd.DataFrame(out, columns=["cell", "low", "high"])


@pytest.fixture(scope="module")
def linked(small_data: Path) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    from soteria_eval.data import load_rollout
    from soteria_eval.pipeline.inputs import InputData

    rollout = load_rollout()
    cases = InputData(small_data, rollout, True).cases()
    tables = attrition_tables(cases, rollout, SUBS)
    raw = raw_funnel(cases, rollout)
    national = raw.groupby(["year", "stage"])["cases"].sum()
    return tables, national


def test_no_suppressed_attrition_cell_is_recoverable_across_tables(
    linked: tuple[dict[str, pd.DataFrame], pd.DataFrame],
) -> None:
    tables, national = linked
    hidden = sum(int((t["cases"] == SUPPRESSED).sum()) for t in tables.values())
    assert hidden > 50  # 5%-scale data: plenty to protect
    bounds = _attack(tables, national)
    assert len(bounds) == hidden
    narrow = bounds[bounds["high"] - bounds["low"] < 1]
    assert narrow.empty, narrow.head()
    for name, t in tables.items():
        shown = pd.to_numeric(t["cases"].where(t["cases"] != SUPPRESSED), errors="coerce")
        assert not ((shown > 0) & (shown < 10)).any(), name


def test_separately_suppressed_tables_would_leak(
    linked: tuple[dict[str, pd.DataFrame], pd.DataFrame], small_data: Path
) -> None:
    """The attack is real: suppressing each table alone (the old way) exposes cells."""
    from soteria_eval.data import load_rollout
    from soteria_eval.panels.attrition import attrition_funnel
    from soteria_eval.pipeline.inputs import InputData

    _, national = linked
    rollout = load_rollout()
    cases = InputData(small_data, rollout, True).cases()
    alone = {"all": attrition_funnel(cases, rollout)}
    for sub in SUBS:
        alone[sub] = attrition_funnel(cases, rollout, subgroup=sub)
    bounds = _attack(alone, national)
    assert (bounds["high"] - bounds["low"] < 1).any()
