"""Statistical disclosure control for published tables.

Cells with a count under the threshold (10 by default) are suppressed and shown as
``[c]`` (the Government Statistical Service symbol for confidential). Secondary
suppression then hides further cells so that a suppressed cell cannot be recovered by
subtraction from a row or column total: every row and column of a table with totals that
has exactly one suppressed cell gets its next smallest cell suppressed too, repeatedly
until none has. Rates and means whose denominator is suppressed are suppressed as well.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def secondary_rows(values: pd.Series, small: pd.Series, blocks: pd.DataFrame) -> pd.Series:
    """Extend row suppression so no block (rows that add up to a total) has exactly one.

    Within each block with exactly one suppressed row, the smallest other non-zero row is
    suppressed too, so the suppressed value cannot be recovered from the block's total.
    """
    v = values.to_numpy(dtype=float)
    m = small.to_numpy(dtype=bool).copy()
    codes = blocks.groupby(list(blocks.columns), sort=False).ngroup().to_numpy()
    per_block = np.bincount(
        codes, weights=m.astype(float), minlength=int(codes.max()) + 1 if len(codes) else 0
    )
    for block in np.flatnonzero(per_block == 1):
        rows = np.flatnonzero(codes == block)
        cand = rows[~m[rows] & (v[rows] != 0) & ~np.isnan(v[rows])]
        if cand.size:
            m[cand[np.argmin(v[cand])]] = True
    return pd.Series(m, index=small.index)


def suppress_long(
    table: pd.DataFrame,
    count_columns: Sequence[str],
    dependent_columns: Sequence[str] = (),
    threshold: int = DEFAULT_THRESHOLD,
    secondary_by: Sequence[str] = (),
) -> pd.DataFrame:
    """Suppress small counts in a long table row by row.

    Any count column under the threshold is replaced by ``[c]``, and so are the row's
    ``dependent_columns`` (rates, means and medians computed from those counts). With
    ``secondary_by`` (e.g. the year, when rows are groups of one year that add up to a
    national total), :func:`secondary_rows` protects the suppressed rows from subtraction.
    """
    out = table.astype({c: object for c in [*count_columns, *dependent_columns]}).copy()
    vals = table[list(count_columns)].to_numpy(dtype=float)
    small = ((vals < threshold) & (vals != 0) & ~np.isnan(vals)).any(axis=1)
    if secondary_by:
        first = table[count_columns[0]].astype(float)
        small = secondary_rows(
            first, pd.Series(small, index=table.index), table[list(secondary_by)]
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
    basis_column: str | None = None,
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
    basis_column : str, optional
        Column with the number of cases behind each plotted value (the denominator of a
        rate, the cases of a median): a basis in ``(0, threshold)`` withholds the figure.
    """
    out = frame.copy()
    missing = [
        c for c in [*count_columns, *([basis_column] if basis_column else [])] if c not in out
    ]
    if missing:
        raise KeyError(f"figure data has no column(s) {missing}")
    out.attrs["count_columns"] = list(count_columns)
    out.attrs["basis_column"] = basis_column
    return out


def figure_problems(data: pd.DataFrame, threshold: int = DEFAULT_THRESHOLD) -> list[str]:
    """Return why a figure's data may not be published (empty list: it may).

    A figure is disclosive when a count it draws, or the number of cases behind a value it
    draws, lies in ``(0, threshold)``: the value could be read back from the image (SVG
    paths carry exact coordinates).
    """
    problems = []
    checks = [(c, "count") for c in data.attrs.get("count_columns", [])]
    if data.attrs.get("basis_column"):
        checks.append((data.attrs["basis_column"], "number of cases"))
    for col, what in checks:
        vals = pd.to_numeric(data[col], errors="coerce").to_numpy(dtype=float)
        bad = (vals > 0) & (vals < threshold)
        if bad.any():
            problems.append(
                f"{int(bad.sum())} point(s) with a {what} under {threshold} (column {col!r})"
            )
    return problems
