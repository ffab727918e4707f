"""Load and validate the evaluation's input tables.

Each loader reads a CSV or Parquet file, checks it against its schema in the data
dictionary and the rules of its table, and returns a typed, sorted DataFrame. Every
problem is collected in one pass and raised together as a
:class:`~soteria_eval.data.errors.DataValidationError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from soteria_eval._paths import bundled_data_dir
from soteria_eval.data.errors import DataValidationError, ValidationIssue
from soteria_eval.data.reader import RawTable, iter_raw, join_chunks, malformed_csv
from soteria_eval.data.rules import (
    case_rules,
    geography_rules,
    outcomes_rules,
    panel_rules,
    rollout_rules,
)
from soteria_eval.data.schema_check import check_against_schema, rows_of
from soteria_eval.dictionary import (
    SCHEMA_NAMES,
    MeasureCatalogue,
    SchemaName,
    catalogue_from_file,
    load_catalogue,
    load_schema,
)
from soteria_eval.geography import Geography, geography_from_table, load_geography
from soteria_eval.periods import Frequency, date_to_period, labels_to_periods
from soteria_eval.rollout import Rollout

TableKind = SchemaName
TABLE_KINDS: tuple[str, ...] = SCHEMA_NAMES


@dataclass(frozen=True)
class ValidationReport:
    """What :func:`validate_file` found: the table kind, its size and every issue."""

    file: str
    kind: str | None
    n_rows: int
    issues: tuple[ValidationIssue, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when no issue was found."""
        return not self.issues


def detect_kind(header: tuple[str, ...]) -> TableKind | None:
    """Tell which table a header belongs to, or ``None`` when no schema fits well.

    The kind whose required columns best overlap the header wins (Jaccard similarity);
    at least half of its columns must be present.
    """
    cols = set(header)
    best: tuple[float, str | None] = (0.0, None)
    for kind in TABLE_KINDS:
        req = set(load_schema(kind).required_columns)
        score = len(cols & req) / len(cols | req)
        if score > best[0] and len(cols & req) >= len(req) / 2:
            best = (score, kind)
    return best[1]  # type: ignore[return-value]


def _check_kind(kind: str) -> TableKind:
    if kind not in TABLE_KINDS:
        raise ValueError(f"kind must be one of {TABLE_KINDS}, got {kind!r}")
    return kind  # type: ignore[return-value]


def _validate(
    path: str | Path,
    kind: TableKind | None,
    *,
    geography: Geography | None = None,
    catalogue: MeasureCatalogue | None = None,
    rollout: Rollout | None = None,
    extract_date: pd.Timestamp | None = None,
) -> tuple[pd.DataFrame | None, TableKind | None, list[ValidationIssue], RawTable | None]:
    chunks, issues = iter_raw(path)
    if chunks is None:
        return None, kind, issues, None
    try:
        first = next(chunks)
        if kind is None:
            kind = detect_kind(first.header)
        if kind == "case_records":  # the big table: checked chunk by chunk
            return _validate_cases_chunked(first, chunks, geography, extract_date)
        raw = join_chunks(first, chunks)
    except pd.errors.ParserError as exc:
        return None, kind, [malformed_csv(path, exc)], None
    if kind is None:
        issues.append(
            ValidationIssue(
                raw.file,
                "unknown-table",
                "cannot tell which table this is from its header "
                f"({', '.join(raw.header[:8])}); pass --kind, one of {', '.join(TABLE_KINDS)}",
                rows=(1,),
            )
        )
        return None, None, issues, raw
    geo = geography or load_geography()
    frame, schema_issues = check_against_schema(raw, load_schema(kind))
    issues += schema_issues
    if kind == "panel":
        freq, more = panel_rules(frame, raw, geo, catalogue or load_catalogue())
        issues += more
        frame.attrs["freq"] = freq
        if rollout is not None and freq is not None and not more:
            issues += _panel_rollout_rules(frame, raw, rollout, freq)
    elif kind == "rollout":
        issues += rollout_rules(frame, raw, geo)
    elif kind == "geography":
        issues += geography_rules(frame, raw, geo)
    elif kind in ("sexual_offences_outcomes", "all_offences_outcomes"):
        issues += outcomes_rules(frame, raw, geo)
    return frame, kind, issues, raw


_HEADER_RULES = frozenset({"duplicate-column", "missing-column", "extra-column"})


def _merge_issues(issues: list[ValidationIssue]) -> list[ValidationIssue]:
    """One issue per file, rule and column across chunks: the first message, all rows."""
    merged: dict[tuple[str, str, str | None], ValidationIssue] = {}
    for i in issues:
        key = (i.file, i.rule, i.column)
        if key in merged:
            m = merged[key]
            merged[key] = ValidationIssue(m.file, m.rule, m.message, m.column, m.rows + i.rows)
        else:
            merged[key] = i
    return list(merged.values())


def _own_columns(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """Return the frame's columns, each with memory of its own (no shared 2-D block).

    Columns of one dtype share a block; a block is freed only when all its columns are,
    so joining chunks column by column would hold every chunk's block to the end.
    """
    return {c: frame[c].copy(deep=True) for c in frame.columns}


def _concat_by_column(parts: list[dict[str, pd.Series]]) -> pd.DataFrame:
    """Join chunks row-wise one column at a time, freeing each part's column as it goes.

    ``parts`` are chunks as :func:`_own_columns` gives them. Peak memory is the result
    plus one column, not twice the result (as ``pd.concat`` of the frames).
    """
    columns = list(parts[0])
    out: dict[str, pd.Series] = {}
    for c in columns:
        out[c] = pd.concat([p.pop(c) for p in parts], ignore_index=True)
        release_free_memory()  # the parts' small blocks, before the next column's big one
    return pd.DataFrame(out, copy=False)


def _duplicated(values: pd.Series, hashes: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Rows whose value appears more than once (missing values never count).

    Candidates are found on 64-bit hashes by sorting (a few bytes a row), then confirmed
    on the values themselves, so a hash collision cannot report a false duplicate.
    """
    h = hashes[present]
    srt = np.sort(h)
    repeated = np.unique(srt[1:][srt[1:] == srt[:-1]])
    cand = present & np.isin(hashes, repeated)
    out = np.zeros(len(values), dtype=bool)
    if cand.any():
        idx = np.flatnonzero(cand)
        out[idx] = values.iloc[idx].duplicated(keep=False).to_numpy()
    return out


def _validate_cases_chunked(
    first: RawTable,
    chunks: Iterator[RawTable],
    geography: Geography | None,
    extract_date: pd.Timestamp | None,
) -> tuple[pd.DataFrame | None, TableKind | None, list[ValidationIssue], RawTable | None]:
    """Validate case records chunk by chunk: memory bounded by the typed result.

    Each chunk's strings are checked against the schema and typed, then dropped; the
    typed chunks are joined, and the rules across rows (unique ids, dates in order,
    forces known) run on the typed whole.
    """
    schema = load_schema("case_records")
    unique_cols = [f.name for f in schema.fields if f.unique and f.name in first.header]
    hashes: dict[str, list[np.ndarray]] = {c: [] for c in unique_cols}
    has: dict[str, list[np.ndarray]] = {c: [] for c in unique_cols}
    issues: list[ValidationIssue] = []
    typed: list[dict[str, pd.Series]] = []
    chunk: RawTable | None = first
    n_rows = 0
    while chunk is not None:
        frame, found = check_against_schema(chunk, schema)
        # The header is checked once, "no-rows" only if the file has none; uniqueness is
        # checked over the whole file below.
        skip = {"unique"} | (_HEADER_RULES | {"no-rows"} if typed else set())
        found = [i for i in found if i.rule not in skip]
        issues += found
        for col in unique_cols:  # 64-bit hashes per chunk: no whole-column hash table
            present = frame[col].notna().to_numpy()
            h = pd.util.hash_pandas_object(frame[col], index=False).to_numpy()
            hashes[col].append(np.where(present, h, 0))
            has[col].append(present)
        n_rows += len(frame)
        typed.append(_own_columns(frame))
        del frame
        chunk = next(chunks, None)  # a ParserError goes to _validate
    frame = _concat_by_column(typed)
    del typed
    whole = RawTable(first.file, pd.DataFrame(index=range(n_rows)), first.header, first.first_row)
    for col in unique_cols:
        if col not in frame:
            continue
        dup = _duplicated(frame[col], np.concatenate(hashes.pop(col)), np.concatenate(has[col]))
        if dup.any():
            issues.append(
                ValidationIssue(
                    first.file,
                    "unique",
                    f"values must be unique; {frame.loc[dup, col].iloc[0]!r} appears more "
                    "than once",
                    col,
                    rows_of(dup, whole),
                )
            )
    issues = _merge_issues(issues)
    issues += case_rules(frame, whole, geography or load_geography(), extract_date)
    return frame, "case_records", issues, whole


def _panel_rollout_rules(
    frame: pd.DataFrame, raw: RawTable, rollout: Rollout, freq: Frequency
) -> list[ValidationIssue]:
    issues: list[ValidationIssue] = []
    rt = rollout.table
    for level in pd.unique(frame["level"].dropna()):
        have = set(rt.loc[rt["level"] == level, "unit"])
        missing = frame["level"].eq(level) & ~frame["unit"].isin(have)
        for unit in pd.unique(frame.loc[missing, "unit"]):
            issues.append(
                ValidationIssue(
                    raw.file,
                    "no-rollout-entry",
                    f"{level} {unit!r} has no row in the rollout table, so its treatment is unknown",
                    "unit",
                    rows_of(missing & frame["unit"].eq(unit), raw),
                )
            )
    first_period = frame.groupby(["level", "unit"])["period"].min()
    ords = pd.Series(
        labels_to_periods([str(p) for p in first_period], freq).asi8, index=first_period.index
    )
    starts = rt.set_index(["level", "unit"])["start_date"]
    start_ord = pd.Series(date_to_period(starts, freq).asi8, index=starts.index)
    common = ords.index.intersection(start_ord.index)
    no_pre = [key for key in common if start_ord[key] <= ords[key]]
    for level, unit in no_pre:
        mask = frame["level"].eq(level) & frame["unit"].eq(unit)
        issues.append(
            ValidationIssue(
                raw.file,
                "no-pre-period",
                f"{unit!r} is treated from its first period in the panel "
                f"({first_period[(level, unit)]}): there is no pre-treatment period to compare",
                "period",
                rows_of(mask, raw),
            )
        )
    return issues


def validate_file(
    path: str | Path,
    kind: TableKind | None = None,
    *,
    rollout: Rollout | None = None,
    extract_date: pd.Timestamp | None = None,
) -> ValidationReport:
    """Validate a file and return a report (never raises for bad data).

    Parameters
    ----------
    path : str or Path
        CSV (UTF-8, comma-separated) or Parquet file.
    kind : str, optional
        Which table the file is (one of :data:`TABLE_KINDS`); detected from the header if
        omitted.
    rollout : Rollout, optional
        For panels: also check that every unit has a rollout entry and a pre-period.
    extract_date : pandas.Timestamp, optional
        For case records: no date may be later (default: today).
    """
    if kind is not None:
        kind = _check_kind(kind)
    frame, found, issues, _ = _validate(path, kind, rollout=rollout, extract_date=extract_date)
    n = 0 if frame is None else len(frame)
    return ValidationReport(str(path), found, n, tuple(issues))


def _load(path: str | Path, kind: TableKind, **kw: object) -> pd.DataFrame:
    frame, _, issues, _ = _validate(path, kind, **kw)  # type: ignore[arg-type]
    if issues or frame is None:
        raise DataValidationError(issues)
    return frame


def load_panel(
    path: str | Path,
    *,
    rollout: Rollout | None = None,
    catalogue: MeasureCatalogue | None = None,
) -> pd.DataFrame:
    """Load and validate an area-by-period panel (long format).

    Returns
    -------
    pandas.DataFrame
        Sorted by ``level, unit, measure, period``; ``attrs["freq"]`` holds the frequency.

    Raises
    ------
    DataValidationError
        With every problem found (file, column, rows, rule).
    """
    frame = _load(path, "panel", rollout=rollout, catalogue=catalogue)
    freq = frame.attrs["freq"]
    frame["_ord"] = labels_to_periods(frame["period"].astype(str).tolist(), freq).asi8
    frame = frame.sort_values(["level", "unit", "measure", "_ord"], kind="stable")
    frame = frame.drop(columns="_ord").reset_index(drop=True)
    frame.attrs["freq"] = freq
    return frame


def release_free_memory() -> None:
    """Hand memory freed while reading a big file back to the system (glibc only)."""
    import ctypes
    import ctypes.util
    import sys

    if sys.platform != "linux":
        return
    name = ctypes.util.find_library("c")
    if name is None:  # pragma: no cover
        return
    with contextlib.suppress(OSError, AttributeError):  # musl and others: no malloc_trim
        ctypes.CDLL(name).malloc_trim(0)


def load_cases(path: str | Path, *, extract_date: pd.Timestamp | None = None) -> pd.DataFrame:
    """Load and validate case records, sorted by ``force, report_date, case_id``.

    No date may be later than ``extract_date`` (default: today).
    """
    frame = _load(path, "case_records", extract_date=extract_date)
    # Sort one column at a time (a whole-frame sort would hold two copies of the records);
    # the order comes from Arrow's multi-key sort, which builds no hash table of the ids.
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = pa.table(
        {
            "force": pd.factorize(frame["force"], sort=True)[0],
            "report_date": frame["report_date"].to_numpy(dtype="datetime64[us]").view("int64"),
            "case_id": pa.array(frame["case_id"].astype("str").array),
        }
    )
    order = pc.sort_indices(
        keys,
        sort_keys=[("force", "ascending"), ("report_date", "ascending"), ("case_id", "ascending")],
    ).to_numpy()
    del keys
    for c in list(frame.columns):
        frame[c] = frame[c].take(order).reset_index(drop=True)
    release_free_memory()
    return frame.reset_index(drop=True)


def load_rollout(path: str | Path | None = None) -> Rollout:
    """Load and validate a rollout table (default: the bundled documented timeline)."""
    p = path if path is not None else bundled_data_dir() / "rollout.csv"
    frame = _load(p, "rollout")
    frame["confirmed"] = frame["confirmed"].astype(bool)
    frame["phase"] = frame["phase"].astype(np.int64)
    frame = frame.sort_values(["level", "phase", "unit"], kind="stable").reset_index(drop=True)
    return Rollout(frame)


def load_geography_file(path: str | Path) -> Geography:
    """Load and validate a force-to-Area table and return a :class:`Geography`."""
    frame = _load(path, "geography")
    return geography_from_table(frame)


def load_measures_file(path: str | Path) -> MeasureCatalogue:
    """Load and validate a measure catalogue file."""
    _load(path, "measures")
    return catalogue_from_file(path)
