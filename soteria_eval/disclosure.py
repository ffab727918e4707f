"""Statistical disclosure control for published tables.

Cells with a count under the threshold (10 by default) are suppressed and shown as
``[c]`` (the Government Statistical Service symbol for confidential). Secondary
suppression then hides further cells so that a suppressed cell cannot be recovered by
subtraction from a row or column total: every row and column of a table with totals that
has exactly one suppressed cell gets its next smallest cell suppressed too, repeatedly
until none has. Rates and means whose denominator is suppressed are suppressed as well.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

SUPPRESSED = "[c]"
DEFAULT_THRESHOLD = 10


class DisclosureError(ValueError):
    """A table meant for publication still contains a small cell."""


def primary_mask(
    counts: pd.DataFrame, threshold: int = DEFAULT_THRESHOLD, suppress_zeros: bool = False
) -> pd.DataFrame:
    """Return a boolean mask of cells under the threshold (zeros only if asked)."""
    values = counts.to_numpy(dtype=float)
    low = values < threshold
    if not suppress_zeros:
        low &= values != 0
    return pd.DataFrame(low & ~np.isnan(values), index=counts.index, columns=counts.columns)


def secondary_mask(counts: pd.DataFrame, mask: pd.DataFrame) -> pd.DataFrame:
    """Extend a suppression mask so no row or column has exactly one suppressed cell.

    The complementary cell chosen is the smallest unsuppressed non-zero cell of that
    row or column (ties broken by position), which loses the least information.
    """
    values = counts.to_numpy(dtype=float)
    m = mask.to_numpy(dtype=bool).copy()
    changed = True
    while changed:
        changed = False
        for axis in (1, 0):
            n_supp = m.sum(axis=axis)
            for i in np.flatnonzero(n_supp == 1):
                line_vals = values[i] if axis == 1 else values[:, i]
                line_mask = m[i] if axis == 1 else m[:, i]
                cand = np.where(
                    ~line_mask & (line_vals != 0) & ~np.isnan(line_vals), line_vals, np.inf
                )
                if np.isinf(cand).all():
                    continue
                j = int(np.argmin(cand))
                if axis == 1:
                    m[i, j] = True
                else:
                    m[j, i] = True
                changed = True
    return pd.DataFrame(m, index=mask.index, columns=mask.columns)


def suppress_table(
    counts: pd.DataFrame,
    threshold: int = DEFAULT_THRESHOLD,
    *,
    secondary: bool = True,
    suppress_zeros: bool = False,
) -> pd.DataFrame:
    """Return a publishable copy of a table of counts with small cells shown as ``[c]``.

    Parameters
    ----------
    counts : pandas.DataFrame
        Numeric counts (rows by columns); any totals are recomputed by the reader, so the
        table should not include its own total row or column.
    threshold : int
        Cells with ``0 < count < threshold`` are suppressed.
    secondary : bool
        Apply secondary suppression (see :func:`secondary_mask`).
    suppress_zeros : bool
        Also suppress zero cells.

    Returns
    -------
    pandas.DataFrame
        Object dtype; suppressed cells hold ``"[c]"``.
    """
    mask = primary_mask(counts, threshold, suppress_zeros)
    if secondary:
        mask = secondary_mask(counts, mask)
    out = counts.astype(object).copy()
    out[mask] = SUPPRESSED
    out.attrs["suppressed_cells"] = int(mask.to_numpy().sum())
    out.attrs["threshold"] = threshold
    return out


def secondary_rows(
    values: pd.Series, small: pd.Series, blocks: pd.DataFrame, known: pd.Series | None = None
) -> pd.Series:
    """Extend row suppression so no block (rows that add up to a total) has exactly one.

    Within each block with exactly one suppressed row, the smallest other non-zero row is
    suppressed too, so the suppressed value cannot be recovered from the block's total.
    Rows marked ``known`` (their value is published elsewhere, e.g. the pathfinder group's
    series in a comparative ITS figure) protect nothing when suppressed: they are never
    chosen as complements, and a block needs two suppressed rows that are not known.
    """
    v = values.to_numpy(dtype=float)
    m = small.to_numpy(dtype=bool).copy()
    k = np.zeros(len(m), dtype=bool) if known is None else known.to_numpy(dtype=bool)
    codes = blocks.groupby(list(blocks.columns), sort=False).ngroup().to_numpy()
    n_blocks = int(codes.max()) + 1 if len(codes) else 0
    per_block = np.bincount(codes, weights=(m & ~k).astype(float), minlength=n_blocks)
    for block in np.flatnonzero(per_block == 1):
        rows = np.flatnonzero(codes == block)
        cand = rows[~m[rows] & ~k[rows] & (v[rows] != 0) & ~np.isnan(v[rows])]
        if cand.size:
            m[cand[np.argmin(v[cand])]] = True
        else:  # nothing unknown left to hide it behind: the whole block goes
            m[rows[~k[rows]]] = True
    return pd.Series(m, index=small.index)


def suppress_long(
    table: pd.DataFrame,
    count_columns: Sequence[str],
    dependent_columns: Sequence[str] = (),
    threshold: int = DEFAULT_THRESHOLD,
    secondary_by: Sequence[str] = (),
    known: pd.Series | None = None,
) -> pd.DataFrame:
    """Suppress small counts in a long table row by row.

    Any count column under the threshold is replaced by ``[c]``, and so are the row's
    ``dependent_columns`` (rates, means and medians computed from those counts). With
    ``secondary_by`` (e.g. the year, when rows are groups of one year that add up to a
    national total), :func:`secondary_rows` protects the suppressed rows from subtraction;
    ``known`` marks rows whose counts a reader has from another output.
    """
    out = table.astype({c: object for c in [*count_columns, *dependent_columns]}).copy()
    vals = table[list(count_columns)].to_numpy(dtype=float)
    small = ((vals < threshold) & (vals != 0) & ~np.isnan(vals)).any(axis=1)
    if secondary_by:
        first = table[count_columns[0]].astype(float)
        small = secondary_rows(
            first, pd.Series(small, index=table.index), table[list(secondary_by)], known
        ).to_numpy()
    for c in [*count_columns, *dependent_columns]:
        out.loc[small, c] = SUPPRESSED
    out.attrs["suppressed_rows"] = int(small.sum())
    out.attrs["threshold"] = threshold
    return out


def check_no_small_cells(
    table: pd.DataFrame,
    count_columns: Sequence[str],
    threshold: int = DEFAULT_THRESHOLD,
    name: str = "table",
) -> None:
    """Raise :class:`DisclosureError` if a count column holds a value in ``(0, threshold)``."""
    for c in count_columns:
        if c not in table:
            continue
        vals = pd.to_numeric(table[c].where(table[c] != SUPPRESSED), errors="coerce")
        bad = (vals > 0) & (vals < threshold)
        if bad.any():
            rows = [int(i) + 2 for i in np.flatnonzero(bad.to_numpy())][:10]
            raise DisclosureError(
                f"{name}: column {c!r} has {int(bad.sum())} cell(s) under {threshold} "
                f"(rows {rows}); suppress them before publishing"
            )


def figure_data(
    frame: pd.DataFrame,
    *,
    count_columns: Sequence[str] = (),
    basis_column: str | Sequence[str] | None = None,
    rate_parts: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Return a copy of a figure's underlying data, marked for the disclosure check.

    Every figure the pipeline publishes declares the data it draws; the pipeline checks
    them with :func:`figure_problems` before the figure is written, and publishes them
    beside it (``figures/<name>.csv``).

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per plotted point (or per line segment), in plotting units.
    count_columns : sequence of str
        Columns drawn as counts of cases (or from which a count can be read back, such as
        a log count): a value in ``(0, threshold)`` withholds the figure.
    basis_column : str or sequence of str, optional
        Column(s) with the number of cases behind each plotted value (the denominator of a
        rate, the cases of a median; one per series a figure draws): a basis in
        ``(0, threshold)`` withholds the figure.
    rate_parts : mapping of str to str, optional
        For each proportion the figure draws, ``{numerator column: denominator column}``:
        a rate times its denominator gives the numerator back, and the denominator minus
        it the complement, so both must be 0 or at least the threshold as well.
    """
    out = frame.copy()
    bases = [basis_column] if isinstance(basis_column, str) else list(basis_column or ())
    parts = dict(rate_parts or {})
    missing = [c for c in [*count_columns, *bases, *parts, *parts.values()] if c not in out]
    if missing:
        raise KeyError(f"figure data has no column(s) {missing}")
    out.attrs["count_columns"] = list(count_columns)
    out.attrs["basis_column"] = bases
    out.attrs["rate_parts"] = parts
    return out


def figure_problems(data: pd.DataFrame, threshold: int = DEFAULT_THRESHOLD) -> list[str]:
    """Return why a figure's data may not be published (empty list: it may).

    A figure is disclosive when a count it draws, the number of cases behind a value it
    draws, or the numerator or complement of a proportion it draws (rate × denominator),
    lies in ``(0, threshold)``: the value could be read back from the image (SVG paths
    carry exact coordinates).
    """
    problems = []

    def column(name: str) -> np.ndarray:
        return pd.to_numeric(data[name], errors="coerce").to_numpy(dtype=float)

    checks = [(f"column {c!r}", "count", column(c)) for c in data.attrs.get("count_columns", [])]
    basis = data.attrs.get("basis_column") or []
    for c in [basis] if isinstance(basis, str) else basis:
        checks.append((f"column {c!r}", "number of cases", column(c)))
    for num, den in (data.attrs.get("rate_parts") or {}).items():
        checks.append((f"column {num!r}", "numerator (rate × cases)", column(num)))
        checks.append(
            (
                f"{den!r} minus {num!r}",
                "complement (cases minus numerator)",
                column(den) - column(num),
            )
        )
    for where, what, vals in checks:
        bad = (vals > 0) & (vals < threshold)
        if bad.any():
            problems.append(f"{int(bad.sum())} point(s) with a {what} under {threshold} ({where})")
    return problems


def linked_exposed(
    values: np.ndarray,
    suppressed: np.ndarray,
    relations: np.ndarray,
    *,
    method: str = "lp",
    min_width: float = 1.0,
) -> np.ndarray:
    """Return which suppressed cells a reader can recover from the published ones.

    Cells of several tables are linked by additive relations ``relations @ x = 0`` (each
    row: parts with +1, their total with -1; a total known from elsewhere enters as a cell
    that is never suppressed). A reader knows every published cell and the relations.

    Parameters
    ----------
    values : numpy.ndarray
        True counts of every cell.
    suppressed : numpy.ndarray of bool
        Cells not published.
    relations : numpy.ndarray
        Relation matrix, one row per relation, one column per cell.
    method : {"lp", "linear"}
        ``"linear"``: a cell is recovered when it is fixed by the equations alone (it is
        orthogonal to their null space). ``"lp"`` (the attacker of cell-suppression
        auditing, as in tau-argus): a cell is recovered when, given the equations and
        that counts are non-negative, its feasible range is narrower than ``min_width``
        (two linear programmes per suppressed cell).
    min_width : float
        Narrowest feasible range that still protects a cell (1: it cannot be pinned to a
        single count).

    Returns
    -------
    numpy.ndarray of bool
        One flag per cell (``False`` for published cells).
    """
    from scipy.linalg import null_space
    from scipy.optimize import linprog

    values = np.asarray(values, dtype=float)
    s = np.asarray(suppressed, dtype=bool)
    out = np.zeros(len(values), dtype=bool)
    idx = np.flatnonzero(s)
    if not idx.size:
        return out
    rel = np.asarray(relations, dtype=float)
    rows = np.flatnonzero(np.abs(rel[:, idx]).sum(axis=1) > 0)
    if not rows.size:
        return out
    a_s = rel[np.ix_(rows, idx)]
    b = -rel[np.ix_(rows, np.flatnonzero(~s))] @ values[~s]
    ns = null_space(a_s)
    fixed = np.linalg.norm(ns, axis=1) < 1e-9 if ns.size else np.ones(idx.size, dtype=bool)
    if method == "linear":
        out[idx] = fixed
        return out
    if method != "lp":
        raise ValueError(f"method must be 'lp' or 'linear', got {method!r}")
    for j, cell in enumerate(idx):
        if fixed[j]:
            out[cell] = True
            continue
        c = np.zeros(idx.size)
        c[j] = 1.0
        lo = linprog(c, A_eq=a_s, b_eq=b, bounds=(0, None), method="highs")
        hi = linprog(-c, A_eq=a_s, b_eq=b, bounds=(0, None), method="highs")
        if lo.status == 0 and hi.status == 0:
            out[cell] = (-hi.fun - lo.fun) < min_width
        elif lo.status == 0 and hi.status == 3:  # unbounded above: protected
            out[cell] = False
    return out


def _complement(
    exposed: np.ndarray, values: np.ndarray, s: np.ndarray, fixed: np.ndarray, rel: np.ndarray
) -> int:
    """Pick the cell to suppress next, given the exposed cells.

    Among the relations holding an exposed cell, the one with the fewest suppressed cells
    (a lone suppressed cell first) gets its smallest published non-zero cell suppressed.
    If none has such a cell, the search goes on from the first exposed cell through the
    suppressed cells it is linked to (nearest first).
    """
    linked = np.abs(rel) > 0
    cell = int(np.flatnonzero(exposed)[0])
    own = np.flatnonzero(linked[:, exposed].any(axis=1))
    for r in sorted(own, key=lambda r: (int(s[linked[r]].sum()), r)):
        members = np.flatnonzero(linked[r])
        cand = members[~s[members] & ~fixed[members] & (values[members] > 0)]
        if cand.size:
            return int(min(cand, key=lambda p: (values[p], p)))
    seen = np.zeros(len(values), dtype=bool)
    seen[cell] = True
    frontier = np.array([cell])
    while frontier.size:
        partners = np.flatnonzero(linked[linked[:, frontier].any(axis=1)].any(axis=0) & ~seen)
        cand = partners[~s[partners] & ~fixed[partners] & (values[partners] > 0)]
        if cand.size:
            return int(min(cand, key=lambda p: (values[p], p)))
        seen[partners] = True
        frontier = partners[s[partners]]
    raise DisclosureError(
        f"cell {cell} cannot be protected: every cell linked to it is published and zero, "
        "or a known total"
    )


def protect_linked(
    values: np.ndarray,
    primary: np.ndarray,
    relations: np.ndarray,
    *,
    keep: np.ndarray | None = None,
    min_width: float = 1.0,
    max_rounds: int = 10_000,
) -> np.ndarray:
    """Extend a suppression pattern until no suppressed cell of linked tables is recoverable.

    Secondary cell suppression solved over all linked tables at once: while some
    suppressed cell is recoverable (:func:`linked_exposed`), the smallest published
    non-zero cell that shares a relation with it is suppressed too. The fast linear check
    drives the loop; the linear-programming audit confirms the result (and adds cells
    until it passes). Greedy, as tau-argus's hypercube method is: not the fewest cells,
    but every suppressed cell protected.

    Parameters
    ----------
    values, relations
        As in :func:`linked_exposed`.
    primary : numpy.ndarray of bool
        Cells that must be suppressed (the small counts).
    keep : numpy.ndarray of bool, optional
        Cells that are never suppressed (totals a reader knows from elsewhere).
    min_width : float
        Passed to the audit.
    max_rounds : int
        Safety stop.

    Returns
    -------
    numpy.ndarray of bool
        The suppression pattern (a superset of ``primary``).
    """
    values = np.asarray(values, dtype=float)
    rel = np.asarray(relations, dtype=float)
    s = np.asarray(primary, dtype=bool).copy()
    fixed = np.zeros(len(values), dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    for method in ("linear", "lp"):
        for _ in range(max_rounds):
            exposed = linked_exposed(values, s, rel, method=method, min_width=min_width)
            if not exposed.any():
                break
            s[_complement(exposed, values, s, fixed, rel)] = True
        else:  # pragma: no cover - the loop always ends: each round suppresses a cell
            raise DisclosureError("secondary suppression did not converge")
    return s
