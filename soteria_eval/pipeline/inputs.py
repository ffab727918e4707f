"""The data a run reads: a user's folder or the embedded synthetic default.

A data folder may hold any subset of these inputs (:data:`INPUT_ROLES`):

* ``metadata.json`` — ``extract_date``, ``synthetic: true`` for simulated data, and
  ``part_years`` (incomplete financial years of a refreshed outcomes file);
* ``case_records.csv`` or ``case_records.parquet`` — record-level extracts;
* panels named ``panel_<level>_<freq>.csv`` (e.g. ``panel_force_quarter.csv``); panels
  missing from the folder are built from the case records;
* ``rollout.csv`` — replaces the bundled rollout;
* ``sexual_offences_outcomes_by_force_fy.csv`` — a refreshed copy of the published Home
  Office outcomes table, which replaces the bundled one.

Everything present is validated before any analysis runs. An analysis that needs an
input the folder lacks is not run: it gets a ``skipped`` result row naming the input
(:class:`MissingInputError`). The inputs each analysis read are recorded by role, path
and source (``user`` or ``bundled``) for the manifest (:attr:`InputData.reads`).
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from soteria_eval.data import DataValidationError, ValidationIssue, load_cases, load_panel
from soteria_eval.data.rules import DATE_FLOOR
from soteria_eval.panels import aggregate_cases
from soteria_eval.periods import FREQUENCIES
from soteria_eval.pipeline.plan import MAX_NESTING, nesting_depth
from soteria_eval.rollout import Rollout

CASE_FILES = ("case_records.parquet", "case_records.csv")
#: A refreshed copy of the published outcomes table (replaces the bundled file).
OUTCOMES_FILE = "sexual_offences_outcomes_by_force_fy.csv"
#: Files ``simulate`` writes beside the data that a run does not read, and why.
NOT_INPUTS: dict[str, str] = {
    "SYNTHETIC.txt": "the synthetic-data notice written by `simulate`",
    "calibration.csv": "the simulator's calibration report",
    "truth.csv": "the simulator's planted truth (read by the recovery study, not by a run)",
    "home_office_provenance.json": "what `ingest home-office` read: source files, hashes, "
    "rows and the rows each counting rule left out",
    ".soteria-eval-output": "marks a folder written by soteria-eval",
}
#: Other files a data folder may hold; anything else is ignored, unless its name is close
#: to a known one (then it is an error with a "did you mean").
KNOWN_FILES = ("metadata.json", "rollout.csv", OUTCOMES_FILE, *NOT_INPUTS)
#: What each input of a data folder is for (the manifest's ``role``).
INPUT_ROLES: dict[str, str] = {
    "metadata": "metadata.json",
    "case_records": " or ".join(CASE_FILES),
    "panel": "panel_<force|area>_<month|quarter|fy>.csv",
    "rollout": "rollout.csv",
    "published_outcomes": OUTCOMES_FILE,
    "case_data_measures": "the measures of the case data, in case records or panel files",
}


class MissingInputError(LookupError):
    """An analysis needs an input that the data folder does not hold.

    The pipeline records it as a ``skipped`` result row that names the input, not as a
    failure: a folder may hold any subset of the inputs.
    """

    def __init__(self, role: str, folder: Path, detail: str = "") -> None:
        self.role = role
        want = INPUT_ROLES.get(role, role)
        msg = f"the data folder {folder} has no {role.replace('_', ' ')} ({want})"
        super().__init__(f"{msg}: {detail}" if detail else msg)


@dataclass(frozen=True)
class InputRead:
    """One input file an analysis read: its role, path, source and SHA-256."""

    role: str
    path: str
    source: str
    sha256: str


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
    "part_years": (list,),
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
    except RecursionError:
        return bad(f"nested too deeply to read (more than {MAX_NESTING} levels)")
    if nesting_depth(meta) > MAX_NESTING:
        return bad(f"nested more than {MAX_NESTING} levels deep; metadata is a flat object")
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
    parts = meta.get("part_years")
    if isinstance(parts, list):
        bad_years = [y for y in parts if not (isinstance(y, str) and _FY.fullmatch(y))]
        if bad_years:
            issues.append(
                ValidationIssue(
                    name, "metadata",
                    f"must list financial years written YYYY/YY (e.g. '2025/26'), got {bad_years!r}",
                    "part_years",
                )
            )  # fmt: skip
    return (meta if not issues else {}), issues


_FY = re.compile(r"\d{4}/\d{2}")


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
        True for simulated data (the embedded default, or a folder ``simulate`` wrote).
    embedded : bool
        True for the embedded default data (the manifest records its files so).
    reads : dict
        Every input read so far, keyed by ``(role, path)`` (:class:`InputRead`).
    """

    folder: Path
    rollout: Rollout
    synthetic: bool = False
    embedded: bool = False
    reads: dict[tuple[str, str], InputRead] = field(default_factory=dict, repr=False)
    _panels: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict, repr=False)
    _cases: pd.DataFrame | None = field(default=None, repr=False)
    _outcomes: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def case_file(self) -> Path | None:
        """The case-records file, if the folder has one."""
        for name in CASE_FILES:
            if (self.folder / name).is_file():
                return self.folder / name
        return None

    @property
    def outcomes_file(self) -> Path | None:
        """A refreshed published-outcomes file, if the folder has one."""
        path = self.folder / OUTCOMES_FILE
        return path if path.is_file() else None

    def panel_files(self) -> list[Path]:
        """Panel files present in the folder."""
        return sorted(self.folder.glob("panel_*_*.csv"))

    def record(self, role: str, path: Path, source: str | None = None) -> None:
        """Note that ``path`` was read as ``role`` (for the manifest).

        ``source`` defaults to ``"embedded"`` for the embedded default data, else ``"user"``.
        """
        from soteria_eval._io import sha256_file

        if source is None:
            source = "embedded" if self.embedded else "user"
        full = str(Path(path).resolve())  # absolute, as the manifest records it
        key = (role, full)
        if key not in self.reads:
            self.reads[key] = InputRead(role, full, source, sha256_file(path))

    def validate_all(self) -> None:
        """Validate every input file; raise one error listing every problem found."""
        issues: list[ValidationIssue] = folder_issues(self.folder)
        meta, meta_issues = read_metadata(self.folder)
        issues += meta_issues
        extract = pd.Timestamp(meta["extract_date"]) if "extract_date" in meta else None
        if self.case_file is None and not self.panel_files() and self.outcomes_file is None:
            issues.append(
                ValidationIssue(
                    str(self.folder),
                    "no-data",
                    "the folder has no input the package reads: case records, panel files "
                    f"or {OUTCOMES_FILE}",
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
        if self.outcomes_file is not None:
            try:
                self._outcomes = self._load_outcomes()
            except DataValidationError as exc:
                issues.extend(exc.issues)
        if issues:
            raise DataValidationError(issues)

    def _rollout_issues(self, cases: pd.DataFrame) -> list[ValidationIssue]:
        return rollout_coverage_issues(cases, self.rollout, str(self.case_file))

    def cases(self) -> pd.DataFrame:
        """Return the validated case records (with the extract date of ``metadata.json``, if any).

        Raises
        ------
        MissingInputError
            The folder has no case records.
        """
        if self.case_file is None:
            raise MissingInputError("case_records", self.folder)
        if self._cases is None:
            meta, _ = read_metadata(self.folder)
            extract = pd.Timestamp(meta["extract_date"]) if "extract_date" in meta else None
            self._cases = load_cases(self.case_file, extract_date=extract)
        self._cases.attrs.update(self.metadata_attrs())
        self.record("case_records", self.case_file)
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
        if meta:
            self.record("metadata", self.folder / "metadata.json")
        return out

    def panel(self, level: str, freq: str) -> pd.DataFrame:
        """Return a validated panel: from its file, or built from the case records.

        Raises
        ------
        MissingInputError
            The folder has neither the panel's file nor case records to build it from.
        """
        key = (level, freq)
        path = self.folder / panel_file(level, freq)
        if path.is_file():
            if key not in self._panels:
                self._panels[key] = load_panel(path, rollout=self.rollout)
            self.record("panel", path)
            return self._panels[key]
        if self.case_file is None:
            raise MissingInputError(
                "case_records", self.folder, f"needed to build {panel_file(level, freq)}"
            )
        if key not in self._panels:
            self._panels[key] = aggregate_cases(self.cases(), level=level, freq=freq)  # type: ignore[arg-type]
        self.record("case_records", self.case_file)
        return self._panels[key]

    def _load_outcomes(self) -> pd.DataFrame:
        from soteria_eval.datasets import load_sexual_offences_outcomes

        meta, _ = read_metadata(self.folder)
        return load_sexual_offences_outcomes(
            self.outcomes_file, part_years=meta.get("part_years", ())
        )

    def published_outcomes(self) -> pd.DataFrame:
        """Return the published outcomes table: the folder's refreshed copy, else the bundled one.

        Quality flags are computed on the table returned, with the incomplete years of
        ``metadata.json`` (``part_years``) for a refreshed copy.
        """
        from soteria_eval.datasets import load_sexual_offences_outcomes

        if self.outcomes_file is None:
            frame = load_sexual_offences_outcomes()
            self.record("published_outcomes", Path(frame.attrs["source"]), "bundled")
            frame.attrs["source_role"] = "bundled"
            return frame
        if self._outcomes is None:
            self._outcomes = self._load_outcomes()
        self._outcomes.attrs["source_role"] = "user"
        self.record("published_outcomes", self.outcomes_file)
        if (self.folder / "metadata.json").is_file():
            self.record("metadata", self.folder / "metadata.json")
        return self._outcomes.copy()

    def planted_truth_file(self) -> Path | None:
        """Return the simulator's ``truth.csv`` of synthetic data (recorded as read), if any."""
        path = self.folder / "truth.csv"
        if not self.synthetic or not path.is_file():
            return None
        self.record("planted_truth", path)
        return path


@dataclass(frozen=True)
class FileCheck:
    """What ``soteria-eval validate`` found for one path.

    ``status`` is ``"ok"``, ``"invalid"`` (``issues`` says why) or ``"not used"`` (a file a
    run does not read; ``detail`` says what it is).
    """

    file: str
    status: str
    detail: str
    issues: tuple[ValidationIssue, ...] = ()


def rollout_coverage_issues(
    cases: pd.DataFrame, rollout: Rollout, file: str
) -> list[ValidationIssue]:
    """Every force in the case records needs a rollout row; some start must be in the data.

    ``cases`` needs the ``force`` and ``report_date`` columns (dates parsed).
    """
    table = rollout.table
    forces = table.loc[table["level"] == "force", "unit"]
    missing = ~cases["force"].isin(set(forces))
    issues = []
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


def _case_file_check(path: Path, rollout: Rollout) -> list[FileCheck]:
    """Validate case records as a run reads them: the folder's extract date and the rollout."""
    from soteria_eval.data import validate_file

    meta, _ = read_metadata(path.parent)
    extract = pd.Timestamp(meta["extract_date"]) if "extract_date" in meta else None
    report = validate_file(path, "case_records", extract_date=extract)
    if not report.ok:
        return [FileCheck(str(path), "invalid", report.kind or "case_records", report.issues)]
    if path.suffix.lower() == ".parquet":
        cols = pd.read_parquet(path, columns=["force", "report_date"])
    else:
        cols = pd.read_csv(path, usecols=["force", "report_date"], dtype=str, keep_default_na=False)
    cols["report_date"] = pd.to_datetime(cols["report_date"], errors="coerce")
    issues = rollout_coverage_issues(cols, rollout, str(path))
    if issues:
        return [FileCheck(str(path), "invalid", "case_records", tuple(issues))]
    return [FileCheck(str(path), "ok", f"{report.kind}, {report.n_rows} rows")]


def check_path(
    path: Path, kind: str | None = None, *, rollout: Rollout | None = None
) -> list[FileCheck]:
    """Validate one input file, or every file of a data folder (:func:`check_folder`).

    ``metadata.json`` is checked as JSON against :data:`METADATA_SCHEMA`; files that
    ``simulate`` writes but a run does not read (:data:`NOT_INPUTS`) are named, not checked.
    """
    from soteria_eval.data import validate_file

    if path.is_dir() and not path.is_symlink():
        return check_folder(path, rollout=rollout)
    if not path.is_file():  # a pipe, device or socket would block or never end
        issue = ValidationIssue(
            str(path), "file-type", "not a regular file (a pipe, device or socket): not read"
        )
        return [FileCheck(str(path), "invalid", "file-type", (issue,))]
    if kind is None and path.name in NOT_INPUTS:
        return [FileCheck(str(path), "not used", NOT_INPUTS[path.name])]
    if kind is None and path.name == "metadata.json":
        meta, issues = read_metadata(path.parent)
        if issues:
            return [FileCheck(str(path), "invalid", "metadata", tuple(issues))]
        return [FileCheck(str(path), "ok", f"metadata, {len(meta)} keys")]
    report = validate_file(path, kind, rollout=rollout)  # type: ignore[arg-type]
    if report.ok:
        return [FileCheck(str(path), "ok", f"{report.kind}, {report.n_rows} rows")]
    return [FileCheck(str(path), "invalid", report.kind or "unknown table", report.issues)]


def check_folder(folder: Path, *, rollout: Rollout | None = None) -> list[FileCheck]:
    """Validate a data folder as ``soteria-eval run --data`` reads it.

    Panels are checked against the folder's own ``rollout.csv`` when it has a valid one,
    else against ``rollout`` (default: the bundled rollout).
    """
    from soteria_eval.data import load_rollout

    out: list[FileCheck] = []
    early = folder_issues(folder)
    for issue in early:
        out.append(FileCheck(issue.file, "invalid", issue.rule, (issue,)))
    flagged = {i.file for i in early}
    own = folder / "rollout.csv"
    if own.is_file() and str(own) not in flagged:
        with contextlib.suppress(DataValidationError):  # reported below, by the file's own check
            rollout = load_rollout(own)
    if rollout is None:
        rollout = load_rollout()
    readable = False
    for p in sorted(folder.iterdir()):
        if str(p) in flagged:
            continue
        if p.is_dir():
            out.append(FileCheck(str(p), "not used", "a folder (a data folder is flat)"))
            continue
        role = _role_of(p.name)
        if role is None and p.name not in NOT_INPUTS:
            out.append(FileCheck(str(p), "not used", "not a file name a run reads"))
            continue
        readable |= role in ("case_records", "panel", "published_outcomes")
        kind = {"rollout": "rollout", "published_outcomes": "sexual_offences_outcomes"}.get(
            role or ""
        )
        if role == "case_records" and p.is_file():
            out.extend(_case_file_check(p, rollout))
            continue
        out.extend(check_path(p, kind, rollout=rollout))
    if not readable:
        out.append(
            FileCheck(
                str(folder), "invalid", "no-data",
                (ValidationIssue(str(folder), "no-data", "the folder has no input the package reads: case records, panel files or " + OUTCOMES_FILE),),
            )
        )  # fmt: skip
    return out


def _role_of(name: str) -> str | None:
    """Role of a data folder's file (:data:`INPUT_ROLES`), or ``None`` if a run does not read it."""
    if name in CASE_FILES:
        return "case_records"
    if name == "metadata.json":
        return "metadata"
    if name == "rollout.csv":
        return "rollout"
    if name == OUTCOMES_FILE:
        return "published_outcomes"
    if re.fullmatch(r"panel_[a-z]+_[a-z]+\.csv", name):
        return "panel"
    return None
