"""Check a string table against a Table Schema and return a typed DataFrame.

Every check is vectorised over the column, and every problem is collected: a file with
five kinds of mistakes gets five issues in one pass, each naming the column, the rows and
the rule.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd

from soteria_eval.data.errors import ValidationIssue
from soteria_eval.data.reader import RawTable
from soteria_eval.dictionary import FieldSpec, TableSchema

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def rows_of(mask: np.ndarray | pd.Series, raw: RawTable) -> tuple[int, ...]:
    """Return spreadsheet row numbers where ``mask`` is true."""
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))
    return tuple(int(i) + raw.first_row for i in idx)


def _parse(
    field: FieldSpec, col: pd.Series, raw: RawTable, issues: list[ValidationIssue]
) -> pd.Series:
    """Parse one column to its schema type, appending issues for values that fail."""
    missing = col.eq("")
    present = ~missing
    file = raw.file
    if field.type in ("integer", "number"):
        num = pd.to_numeric(col.where(present), errors="coerce")
        bad = present & num.isna()
        kind = "a whole number" if field.type == "integer" else "a number"
        # inf, Infinity, 1e400 (and a Parquet float's inf) parse as infinite: refused.
        infinite = present & num.notna() & ~np.isfinite(num.to_numpy(dtype=float, na_value=0.0))
        if field.type == "integer":
            frac = present & num.notna() & ~infinite & (num != np.floor(num))
            bad = bad | frac
        huge = present & ~infinite & (num.abs() >= 2.0**53).fillna(False)
        if bad.any():
            example = col[bad].iloc[0]
            issues.append(
                ValidationIssue(
                    file, "type", f"expected {kind}, got {example!r}", field.name, rows_of(bad, raw)
                )
            )
        if infinite.any():
            issues.append(
                ValidationIssue(
                    file,
                    "not-finite",
                    f"expected a finite number, got {col[infinite].iloc[0]!r}",
                    field.name,
                    rows_of(infinite, raw),
                )
            )
        if huge.any():
            issues.append(
                ValidationIssue(
                    file,
                    "out-of-range",
                    f"{col[huge].iloc[0]!r} is too large to be a count or a measure here "
                    "(at least 2^53)",
                    field.name,
                    rows_of(huge, raw),
                )
            )
        bad = bad | infinite | huge
        num = num.where(~bad)
        out = num.astype("Int64") if field.type == "integer" else num.astype("float64")
    elif field.type == "date":
        parsed = pd.to_datetime(col.where(present), format="%Y-%m-%d", errors="coerce")
        shaped = col.str.match(_DATE_RE)
        impossible = present & shaped & parsed.isna()
        malformed = present & ~shaped
        if malformed.any():
            issues.append(
                ValidationIssue(
                    file,
                    "type",
                    f"expected a date written YYYY-MM-DD, got {col[malformed].iloc[0]!r}",
                    field.name,
                    rows_of(malformed, raw),
                )
            )
        if impossible.any():
            issues.append(
                ValidationIssue(
                    file,
                    "impossible-date",
                    f"{col[impossible].iloc[0]!r} is not a date that exists",
                    field.name,
                    rows_of(impossible, raw),
                )
            )
        out = parsed  # type: ignore[assignment]
    elif field.type == "boolean":
        true = col.isin(field.true_values)
        false = col.isin(field.false_values)
        bad = present & ~true & ~false
        if bad.any():
            allowed = "/".join(field.true_values[:2] + field.false_values[:2])
            issues.append(
                ValidationIssue(
                    file,
                    "type",
                    f"expected yes/no ({allowed}), got {col[bad].iloc[0]!r}",
                    field.name,
                    rows_of(bad, raw),
                )
            )
        values = pd.array(np.where(true, True, False), dtype="boolean")
        values[np.asarray(missing | bad)] = pd.NA
        out = pd.Series(values, index=col.index)
    elif field.unique:  # identifiers: compact Arrow-backed strings (millions of them)
        out = col.where(present).astype("str")  # type: ignore[assignment]
    else:
        # Codes and categories, then one shared Python object per distinct value: the
        # column stays plain object dtype, at 8 bytes a row instead of a string each.
        codes, uniques = pd.factorize(col.where(present, None), use_na_sentinel=True)
        objects = np.asarray(uniques, dtype=object)
        shared = np.full(len(col), None, dtype=object)
        ok = codes >= 0
        shared[ok] = objects[codes[ok]]
        out = pd.Series(shared, index=col.index, dtype=object)
    return out


def _constraints(
    field: FieldSpec,
    raw_col: pd.Series,
    typed: pd.Series,
    raw: RawTable,
    issues: list[ValidationIssue],
) -> None:
    file = raw.file
    present = raw_col.ne("")
    if field.required:
        miss = ~present
        if miss.any():
            issues.append(
                ValidationIssue(
                    file, "required", "a value is required", field.name, rows_of(miss, raw)
                )
            )
    if field.minimum is not None and field.type in ("integer", "number"):
        low = typed.notna() & (typed < field.minimum)
        if low.any():
            what = "negative" if field.minimum == 0 else f"below the minimum {field.minimum}"
            issues.append(
                ValidationIssue(
                    file,
                    "minimum",
                    f"value {raw_col[low].iloc[0]} is {what} (must be >= {field.minimum})",
                    field.name,
                    rows_of(low, raw),
                )
            )
    if field.maximum is not None and field.type in ("integer", "number"):
        high = typed.notna() & (typed > field.maximum)
        if high.any():
            issues.append(
                ValidationIssue(
                    file,
                    "maximum",
                    f"value {raw_col[high].iloc[0]} is above the maximum {field.maximum}",
                    field.name,
                    rows_of(high, raw),
                )
            )
    if field.enum is not None:
        bad = present & ~raw_col.isin(field.enum)
        if bad.any():
            issues.append(
                ValidationIssue(
                    file,
                    "enum",
                    f"{raw_col[bad].iloc[0]!r} is not one of {list(field.enum)}",
                    field.name,
                    rows_of(bad, raw),
                )
            )
    if field.pattern is not None and field.type == "string":
        bad = present & ~raw_col.str.match(f"(?:{field.pattern})\\Z")
        if bad.any():
            issues.append(
                ValidationIssue(
                    file,
                    "pattern",
                    f"{raw_col[bad].iloc[0]!r} does not match the expected form",
                    field.name,
                    rows_of(bad, raw),
                )
            )
    if field.unique:
        dup = present & raw_col.duplicated(keep=False)
        if dup.any():
            issues.append(
                ValidationIssue(
                    file,
                    "unique",
                    f"values must be unique; {raw_col[dup].iloc[0]!r} appears more than once",
                    field.name,
                    rows_of(dup, raw),
                )
            )


def check_against_schema(
    raw: RawTable, schema: TableSchema
) -> tuple[pd.DataFrame, list[ValidationIssue]]:
    """Check a raw table against a schema.

    Returns
    -------
    frame : pandas.DataFrame
        The columns the schema knows, typed (integers ``Int64``, numbers ``float64``, dates
        ``datetime64``, booleans ``boolean``, strings ``object``). Optional columns that
        are absent are left out.
    issues : list of ValidationIssue
        Every problem found.
    """
    issues: list[ValidationIssue] = []
    file = raw.file
    counts = Counter(raw.header)
    for name, n in counts.items():
        if n > 1:
            issues.append(
                ValidationIssue(file, "duplicate-column", f"column appears {n} times", name, (1,))
            )
    known = set(schema.names)
    extra = [h for h in raw.header if h not in known]
    missing = [c for c in schema.required_columns if c not in counts]
    for c in missing:
        issues.append(
            ValidationIssue(
                file,
                "missing-column",
                f"required column is missing (schema '{schema.name}')",
                c,
                (1,),
            )
        )
    for c in extra:
        hint = f"; expected columns: {', '.join(schema.names)}" if len(extra) <= 3 else ""
        issues.append(
            ValidationIssue(
                file, "extra-column", f"column is not in schema '{schema.name}'{hint}", c, (1,)
            )
        )
    if raw.frame.shape[0] == 0:
        issues.append(ValidationIssue(file, "no-rows", "the file has a header but no data rows"))
    position = {h: i for i, h in enumerate(raw.header)}
    typed: dict[str, pd.Series] = {}
    for field in schema.fields:
        if field.name not in position:
            continue
        raw_col = raw.frame[position[field.name]].astype(str).str.strip()
        col = _parse(field, raw_col, raw, issues)
        _constraints(field, raw_col, col, raw, issues)
        typed[field.name] = col
    frame = pd.DataFrame(typed, index=raw.frame.index)
    pk = [c for c in schema.primary_key if c in frame]
    if pk and len(pk) == len(schema.primary_key) and len(pk) > 1:
        dup = frame.duplicated(subset=pk, keep=False).to_numpy()
        if dup.any():
            first = frame.loc[dup, pk].iloc[0].tolist()
            issues.append(
                ValidationIssue(
                    file,
                    "duplicate-key",
                    f"more than one row for ({', '.join(pk)}) = {tuple(first)}",
                    ", ".join(pk),
                    rows_of(dup, raw),
                )
            )
    return frame, issues
