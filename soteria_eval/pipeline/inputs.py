"""The data a run reads: a user's folder or the embedded synthetic default.

A data folder may hold a ``metadata.json`` (``extract_date``, and ``synthetic: true`` for
simulated data), ``case_records.csv`` or ``case_records.parquet`` (record-level
extracts), panels named ``panel_<level>_<freq>.csv`` (e.g. ``panel_force_quarter.csv``)
and a ``rollout.csv``. Panels missing from the folder are built from the case records.
Everything is validated before any analysis runs.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from soteria_eval.data import DataValidationError, ValidationIssue, load_cases, load_panel
from soteria_eval.data.rules import DATE_FLOOR
from soteria_eval.panels import aggregate_cases
from soteria_eval.periods import FREQUENCIES
from soteria_eval.rollout import Rollout

CASE_FILES = ("case_records.parquet", "case_records.csv")
#: Other files a data folder may hold (``simulate`` writes them); anything else is ignored,
#: unless its name is close to a known one (then it is an error with a "did you mean").
KNOWN_FILES = (
    "metadata.json",
    "rollout.csv",
    "SYNTHETIC.txt",
    "calibration.csv",
    "truth.csv",
    ".soteria-eval-output",
)
#: Keys of ``metadata.json`` and the type each must have.
METADATA_SCHEMA: dict[str, tuple[type, ...]] = {
    "extract_date": (str,),
    "synthetic": (bool,),
    "notice": (str,),
    "generator": (str,),
    "n_cases": (int,),
    "source": (str,),
    "description": (str,),
    "config": (dict,),
    "files": (dict,),
}
MAX_METADATA_BYTES = 1_000_000
#: Suffixes of files a data folder's near-miss check looks at.
_DATA_SUFFIXES = {".csv", ".parquet", ".pq", ".json", ".txt"}


def read_metadata(folder: Path) -> tuple[dict[str, Any], list[ValidationIssue]]:
    """Read and validate a data folder's ``metadata.json`` (an empty dict if absent).

    Rules: UTF-8 JSON, an object, only the keys of :data:`METADATA_SCHEMA` with their types,
    ``synthetic`` a JSON boolean (``true``/``false``, not a string), ``extract_date`` a
    real date written YYYY-MM-DD between 2000-01-01 and today.
    """
    path = folder / "metadata.json"
    if not path.exists() and not path.is_symlink():
        return {}, []
    name = str(path)

    def bad(msg: str, column: str | None = None) -> tuple[dict[str, Any], list[ValidationIssue]]:
        return {}, [ValidationIssue(name, "metadata", msg, column)]

    if path.is_symlink() or not path.is_file():
        return bad("must be a regular file (not a link or a folder)")
    if path.stat().st_size > MAX_METADATA_BYTES:
        return bad(f"larger than {MAX_METADATA_BYTES} bytes")
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        return bad(f"not UTF-8 (byte {exc.start}); save it as UTF-8")
    except json.JSONDecodeError as exc:
        return bad(f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")
    if not isinstance(meta, dict):
        return bad(f"must be a JSON object ({{...}}), got a {type(meta).__name__}")
    issues = []
    for key, value in meta.items():
        if key not in METADATA_SCHEMA:
            issues.append(
                ValidationIssue(
                    name, "metadata", f"unknown key; allowed: {sorted(METADATA_SCHEMA)}", key
                )
            )
        elif not isinstance(value, METADATA_SCHEMA[key]) or (
            bool not in METADATA_SCHEMA[key] and isinstance(value, bool)
        ):
            want = (
                "true or false (a JSON boolean, not a string)"
                if key == "synthetic"
                else (METADATA_SCHEMA[key][0].__name__)
            )
            issues.append(ValidationIssue(name, "metadata", f"must be {want}, got {value!r}", key))
    date = meta.get("extract_date")
    if isinstance(date, str):
        parsed = pd.to_datetime(date, format="%Y-%m-%d", errors="coerce")
        if pd.isna(parsed) or len(date) != 10:
            issues.append(
                ValidationIssue(
                    name, "metadata", f"must be a date written YYYY-MM-DD, got {date!r}",
                    "extract_date",
                )
            )  # fmt: skip
        elif not DATE_FLOOR <= parsed <= pd.Timestamp.today().normalize():
            issues.append(
                ValidationIssue(
                    name, "metadata",
                    f"{date} is outside {DATE_FLOOR.date()} to today", "extract_date",
                )
            )  # fmt: skip
    return (meta if not issues else {}), issues


def folder_issues(folder: Path) -> list[ValidationIssue]:
    """Refuse links and near-miss file names in a data folder.

    A symbolic link is refused (its target could be any file of the machine, and would be
    hashed into the manifest); a file whose name is close to one the package reads (e.g.
    ``panel_force_quarterly.csv``, ``case_record.csv``) is refused with a suggestion, so a
    misnamed file is never silently left out.
    """
    issues = []
    expected = [*CASE_FILES, *KNOWN_FILES] + [
        panel_file(level, freq) for level in ("force", "area") for freq in FREQUENCIES
    ]
    for p in sorted(folder.iterdir()):
        if p.is_symlink():
            issues.append(
                ValidationIssue(
                    str(p), "symlink",
                    "is a symbolic link; copy the file itself into the data folder",
                )
            )  # fmt: skip
            continue
        if p.name in expected or not p.is_file() or p.suffix.lower() not in _DATA_SUFFIXES:
            continue
        close = difflib.get_close_matches(p.name.lower(), expected, n=1, cutoff=0.8)
        if close:
            hint = close[0]
            issues.append(
                ValidationIssue(
                    str(p), "file-name",
                    f"not a file name the package reads; did you mean {hint!r}?",
                )
            )  # fmt: skip
    return issues


def panel_file(level: str, freq: str) -> str:
    """File name of a panel in a data folder."""
    return f"panel_{level}_{freq}.csv"


@dataclass
class InputData:
    """Validated inputs of a run, loaded lazily and cached.

    Attributes
    ----------
    folder : Path
        The data folder.
    rollout : Rollout
        The rollout panels are checked against.
    synthetic : bool
        True for the embedded default (simulated) data.
    """

    folder: Path
    rollout: Rollout
    synthetic: bool = False
    _panels: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict, repr=False)
    _cases: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def case_file(self) -> Path | None:
        """The case-records file, if the folder has one."""
        for name in CASE_FILES:
            if (self.folder / name).is_file():
                return self.folder / name
        return None

    def panel_files(self) -> list[Path]:
        """Panel files present in the folder."""
        return sorted(self.folder.glob("panel_*_*.csv"))

    def validate_all(self) -> None:
        """Validate every input file; raise one error listing every problem found."""
        issues: list[ValidationIssue] = folder_issues(self.folder)
        meta, meta_issues = read_metadata(self.folder)
        issues += meta_issues
        extract = pd.Timestamp(meta["extract_date"]) if "extract_date" in meta else None
        if self.case_file is None and not self.panel_files():
            issues.append(
                ValidationIssue(
                    str(self.folder),
                    "no-data",
                    "the folder has neither case records nor panel files",
                )
            )
        for p in self.panel_files():
            level, freq = p.stem.split("_")[1:3]
            if level not in ("force", "area") or freq not in FREQUENCIES:
                issues.append(
                    ValidationIssue(
                        str(p),
                        "file-name",
                        "panel files are named panel_<force|area>_<month|quarter|fy>.csv",
                    )
                )
                continue
            try:
                self._panels[(level, freq)] = load_panel(p, rollout=self.rollout)
            except DataValidationError as exc:
                issues.extend(exc.issues)
        if self.case_file is not None:
            try:
                self._cases = load_cases(self.case_file, extract_date=extract)
            except DataValidationError as exc:
                issues.extend(exc.issues)
            else:
                issues += self._rollout_issues(self._cases)
        if issues:
            raise DataValidationError(issues)

    def _rollout_issues(self, cases: pd.DataFrame) -> list[ValidationIssue]:
        """Every force in the case records needs a rollout row; some start must be in the data."""
        table = self.rollout.table
        forces = table.loc[table["level"] == "force", "unit"]
        missing = ~cases["force"].isin(set(forces))
        issues = []
        file = str(self.case_file)
        for name in sorted(cases.loc[missing, "force"].unique()):
            issues.append(
                ValidationIssue(
                    file, "rollout-coverage",
                    f"force {name!r} has {int((cases['force'] == name).sum())} case(s) but no "
                    "row in the rollout: add it (phase and start) to rollout.csv",
                    "force",
                )
            )  # fmt: skip
        starts = pd.to_datetime(table.loc[table["level"] == "force", "start_date"], errors="coerce")
        last = cases["report_date"].max()
        if len(cases) and pd.notna(last) and starts.notna().any() and starts.min() > last:
            issues.append(
                ValidationIssue(
                    file, "rollout-coverage",
                    f"every rollout start is after the last report ({last.date()}): no "
                    "treated period to evaluate",
                    "report_date",
                )
            )  # fmt: skip
        return issues

    def cases(self) -> pd.DataFrame:
        """Return the validated case records (with the extract date of ``metadata.json``, if any)."""
        if self._cases is None:
            if self.case_file is None:
                raise FileNotFoundError(
                    f"{self.folder} has no case records ({' or '.join(CASE_FILES)})"
                )
            meta, _ = read_metadata(self.folder)
            extract = pd.Timestamp(meta["extract_date"]) if "extract_date" in meta else None
            self._cases = load_cases(self.case_file, extract_date=extract)
        self._cases.attrs.update(self.metadata_attrs())
        return self._cases

    def metadata_attrs(self) -> dict[str, object]:
        """Extract date and window from the folder's ``metadata.json`` (if present)."""
        meta, _ = read_metadata(self.folder)  # validated by validate_all
        out: dict[str, object] = {}
        if "extract_date" in meta:
            out["extract_date"] = meta["extract_date"]
        cfg = meta.get("config", {})
        if "start" in cfg and "end" in cfg:
            out["window"] = (cfg["start"], cfg["end"])
        return out

    def panel(self, level: str, freq: str) -> pd.DataFrame:
        """Return a validated panel: from its file, or built from the case records."""
        key = (level, freq)
        if key not in self._panels:
            path = self.folder / panel_file(level, freq)
            if path.is_file():
                self._panels[key] = load_panel(path, rollout=self.rollout)
            else:
                self._panels[key] = aggregate_cases(self.cases(), level=level, freq=freq)  # type: ignore[arg-type]
        return self._panels[key]
