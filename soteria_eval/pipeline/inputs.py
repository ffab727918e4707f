"""The data a run reads: a user's folder or the embedded synthetic default.

A data folder may hold a ``metadata.json`` (``extract_date``, and ``synthetic: true`` for
simulated data), ``case_records.csv`` or ``case_records.parquet`` (record-level
extracts), panels named ``panel_<level>_<freq>.csv`` (e.g. ``panel_force_quarter.csv``)
and a ``rollout.csv``. Panels missing from the folder are built from the case records.
Everything is validated before any analysis runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from soteria_eval.data import DataValidationError, ValidationIssue, load_cases, load_panel
from soteria_eval.panels import aggregate_cases
from soteria_eval.periods import FREQUENCIES
from soteria_eval.rollout import Rollout

CASE_FILES = ("case_records.parquet", "case_records.csv")


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
        issues: list[ValidationIssue] = []
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
                self._cases = load_cases(self.case_file)
            except DataValidationError as exc:
                issues.extend(exc.issues)
        if issues:
            raise DataValidationError(issues)

    def cases(self) -> pd.DataFrame:
        """Return the validated case records (with the extract date of ``metadata.json``, if any)."""
        if self._cases is None:
            if self.case_file is None:
                raise FileNotFoundError(
                    f"{self.folder} has no case records ({' or '.join(CASE_FILES)})"
                )
            self._cases = load_cases(self.case_file)
        self._cases.attrs.update(self.metadata_attrs())
        return self._cases

    def metadata_attrs(self) -> dict[str, object]:
        """Extract date and window from the folder's ``metadata.json`` (if present)."""
        path = self.folder / "metadata.json"
        if not path.is_file():
            return {}
        meta = json.loads(path.read_text(encoding="utf-8"))
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
