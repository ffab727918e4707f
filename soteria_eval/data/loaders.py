"""Load and validate the evaluation's input tables.

Each loader reads a CSV or Parquet file, checks it against its schema in the data
dictionary and the rules of its table, and returns a typed, sorted DataFrame. Every
problem is collected in one pass and raised together as a
:class:`~soteria_eval.data.errors.DataValidationError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from soteria_eval._paths import bundled_data_dir
from soteria_eval.data.errors import DataValidationError, ValidationIssue
from soteria_eval.data.reader import RawTable, read_raw
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
    raw, issues = read_raw(path)
    if raw is None:
        return None, kind, issues, None
    if kind is None:
        kind = detect_kind(raw.header)
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
    if kind == "case_records":
        issues += case_rules(frame, raw, geo, extract_date)
    elif kind == "panel":
        freq, more = panel_rules(frame, raw, geo, catalogue or load_catalogue())
        issues += more
        frame.attrs["freq"] = freq
        if rollout is not None and freq is not None and not more:
            issues += _panel_rollout_rules(frame, raw, rollout, freq)
    elif kind == "rollout":
        issues += rollout_rules(frame, raw, geo)
    elif kind == "geography":
        issues += geography_rules(frame, raw, geo)
    elif kind == "sexual_offences_outcomes":
        issues += outcomes_rules(frame, raw, geo)
    return frame, kind, issues, raw


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
    """
    if kind is not None:
        kind = _check_kind(kind)
    frame, found, issues, _ = _validate(path, kind, rollout=rollout)
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


def load_cases(path: str | Path, *, extract_date: pd.Timestamp | None = None) -> pd.DataFrame:
    """Load and validate case records, sorted by ``force, report_date, case_id``.

    No date may be later than ``extract_date`` (default: today).
    """
    frame = _load(path, "case_records", extract_date=extract_date)
    return frame.sort_values(["force", "report_date", "case_id"], kind="stable").reset_index(
        drop=True
    )


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
