"""Read a finished run's outputs for the book and other reports.

Book pages use only this module and the public API: they never recompute statistics
from record-level data, and every number they show comes from the run's outputs or from
code executed at build time.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

#: Where the book finds the run it publishes (set by ``soteria-eval book``).
DEFAULT_RESULTS = Path("_generated") / "results"


@dataclass(frozen=True)
class RunOutputs:
    """The outputs of one ``soteria-eval run``."""

    folder: Path
    results: pd.DataFrame
    figures: dict[str, dict[str, str]]
    manifest: dict[str, Any]

    @property
    def is_synthetic(self) -> bool:
        """True if any result comes from synthetic data."""
        return bool(self.results["data_label"].str.contains("synthetic").any())

    def table(self, name: str) -> pd.DataFrame:
        """Return a disclosure-controlled table written by the run."""
        return pd.read_csv(self.folder / "tables" / f"{name}.csv", dtype=str, keep_default_na=False)

    def select(self, **equals: str) -> pd.DataFrame:
        """Return the results rows whose columns equal the given values."""
        mask = pd.Series(True, index=self.results.index)
        for col, val in equals.items():
            mask &= self.results[col] == val
        return self.results[mask].reset_index(drop=True)

    def figure_markdown(self, name: str) -> str:
        """Return Markdown that shows a figure with its alt text and caption."""
        rec = self.figures[name]
        path = (self.folder / rec["png"]).as_posix()
        alt = rec["alt_text"].replace("[", "(").replace("]", ")")
        caption = f"\n\n*{rec['caption']}*" if rec.get("caption") else ""
        return f"![{alt}]({path}){caption}"


def load_run(folder: str | Path | None = None) -> RunOutputs:
    """Load a run's outputs (default: ``$SOTERIA_BOOK_RESULTS`` or ``_generated/results``)."""
    base = Path(folder or os.environ.get("SOTERIA_BOOK_RESULTS") or DEFAULT_RESULTS)
    if not (base / "results.csv").is_file():
        raise FileNotFoundError(f"no results.csv in {base}: run `soteria-eval run` first")
    results = pd.read_csv(base / "results.csv", keep_default_na=False, na_values=[""])
    for c in ("note", "inference", "term", "domain", "measure", "design", "scenario", "data_label"):
        results[c] = results[c].fillna("").astype(str)
    figures = {
        f["name"]: f for f in json.loads((base / "figures.json").read_text(encoding="utf-8"))
    }
    manifest = json.loads((base / "manifest.json").read_text(encoding="utf-8"))
    return RunOutputs(base, results, figures, manifest)


def format_estimate(row: pd.Series, scale: float = 1.0, unit: str = "") -> str:
    """Write ``estimate (95% CI lower to upper)`` for a results row."""
    est, lo, hi = (float(row[c]) * scale for c in ("estimate", "ci_lower", "ci_upper"))
    return f"{est:+.1f}{unit} (95% CI {lo:+.1f}{unit} to {hi:+.1f}{unit})"


def evidence_strength(p_value: float) -> str:
    """Describe a p-value in plain words (used on the stakeholder summary)."""
    if p_value < 0.01:
        return "strong"
    if p_value < 0.05:
        return "moderate"
    if p_value < 0.1:
        return "weak"
    return "no clear evidence"
