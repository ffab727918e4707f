"""The pipeline's outputs: the tidy results table, figures with alt text, tables, manifest.

Everything a run writes goes first to a temporary folder beside the output folder, which
replaces the old one only when the run is complete: a run killed midway leaves the
previous outputs intact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from soteria_eval._io import AtomicOutputDir, sha256_file, write_json
from soteria_eval.results import Results

#: The mark stamped on every figure made from synthetic data.
SYNTHETIC_MARK = "SYNTHETIC DATA: not real cases"

#: Columns of the results table, in order (documented in the book's reproducibility page).
RESULT_COLUMNS: tuple[str, ...] = (
    "analysis",
    "domain",
    "measure",
    "design",
    "level",
    "scenario",
    "estimand",
    "term",
    "estimate",
    "std_error",
    "ci_lower",
    "ci_upper",
    "p_value",
    "p_adjusted",
    "inference",
    "n_units",
    "n_treated",
    "n_periods",
    "n_obs",
    "n_dropped",
    "data_label",
    "status",
    "note",
    "headline",
    "recovery_design",
    "recovery_inference",
    "breakdown_rm",
    "breakdown_sd",
)


#: Columns that identify a row (and sort the table).
SORT_KEYS: tuple[str, ...] = (*RESULT_COLUMNS[:8], "inference")
TEXT_COLUMNS: tuple[str, ...] = (
    *SORT_KEYS, "data_label", "status", "note", "recovery_design", "recovery_inference",
)  # fmt: skip


@dataclass(frozen=True)
class FigureSpec:
    """A figure to save, with the alt text that describes it for screen readers.

    ``data`` is what the figure draws, marked with :func:`soteria_eval.disclosure.figure_data`
    (its count columns and the number of cases behind each value). The pipeline checks it
    before the figure is written and publishes it beside the figure; a figure without
    data, or whose data fail the check, is withheld with a note saying why.

    ``data_label`` says what data the figure draws (default: the run's label). A figure
    whose label contains "synthetic" is stamped with :data:`SYNTHETIC_MARK` when it is
    written, and every figure file records its label in its metadata.
    """

    name: str
    figure: Any  # matplotlib Figure
    alt_text: str
    caption: str = ""
    data: pd.DataFrame | None = None
    data_label: str | None = None


@dataclass
class AnalysisOutput:
    """What one analysis returns to the pipeline."""

    rows: list[pd.DataFrame] = field(default_factory=list)
    figures: list[FigureSpec] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, frame: pd.DataFrame) -> None:
        """Add result rows."""
        self.rows.append(frame)


def result_rows(
    res: Results,
    *,
    analysis: str,
    domain: str,
    measure: str,
    design: str,
    level: str,
    scenario: str,
    estimand: str,
    data_label: str,
    terms: Sequence[str] | None = None,
    note: str = "",
) -> pd.DataFrame:
    """Turn a results object into rows of the results table."""
    t = res.tidy()
    if terms is not None:
        t = t[t["term"].isin(terms)]
    info = res.info
    out = pd.DataFrame(
        {
            "analysis": analysis,
            "domain": domain,
            "measure": measure,
            "design": design,
            "level": level,
            "scenario": scenario,
            "estimand": estimand,
            "term": t["term"].to_numpy(),
            "estimate": t["estimate"].to_numpy(),
            "std_error": t["std_error"].to_numpy(),
            "ci_lower": t["ci_lower"].to_numpy(),
            "ci_upper": t["ci_upper"].to_numpy(),
            "p_value": t["p_value"].to_numpy(),
            "p_adjusted": np.nan,
            "inference": t["inference"].to_numpy(),
            "n_units": info.get("n_units", np.nan),
            "n_treated": info.get("n_treated", np.nan),
            "n_periods": info.get("n_periods", np.nan),
            "n_obs": res.nobs,
            "n_dropped": res.n_dropped,
            "data_label": data_label,
            "status": "ok",
            "note": note,
            "headline": False,
            "recovery_design": "",
            "recovery_inference": "",
            "breakdown_rm": np.nan,
            "breakdown_sd": np.nan,
        }
    )
    return out[list(RESULT_COLUMNS)]


def failure_row(
    analysis: str, domain: str | None, data_label: str, error: BaseException
) -> pd.DataFrame:
    """Return a results row that records a failed analysis and its reason."""
    row: dict[str, Any] = dict.fromkeys(RESULT_COLUMNS, np.nan)
    row.update(
        analysis=analysis,
        domain=domain or "",
        measure="",
        design="",
        level="",
        scenario="",
        estimand="",
        term="",
        inference="",
        data_label=data_label,
        status="failed",
        note=f"{type(error).__name__}: {error}",
        headline=False,
        recovery_design="",
        recovery_inference="",
    )
    return pd.DataFrame([row], columns=list(RESULT_COLUMNS))


def normalise_results(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate result rows, fix column types and sort them deterministically."""
    nonempty = [f for f in frames if len(f)]
    table = (
        pd.concat(nonempty, ignore_index=True)
        if nonempty
        else pd.DataFrame(columns=list(RESULT_COLUMNS))
    )
    table = table.reindex(columns=list(RESULT_COLUMNS))
    for c in TEXT_COLUMNS:
        table[c] = table[c].fillna("").astype(str)
    table["headline"] = table["headline"].astype("boolean").fillna(False).astype(bool)
    for c in ["estimate", "std_error", "ci_lower", "ci_upper", "p_value", "p_adjusted",
              "breakdown_rm", "breakdown_sd"]:  # fmt: skip
        table[c] = pd.to_numeric(table[c], errors="coerce").astype(float)
    for c in ["n_units", "n_treated", "n_periods", "n_obs", "n_dropped"]:
        table[c] = pd.to_numeric(table[c], errors="coerce").astype("Int64")
    return table.sort_values(list(SORT_KEYS), kind="stable").reset_index(drop=True)


def withhold_figure(spec: FigureSpec, reason: str) -> dict[str, str]:
    """Close a figure that may not be published and return its record (no files)."""
    import matplotlib.pyplot as plt

    plt.close(spec.figure)
    # No alt text: it is written from the figure's data and would publish what is withheld.
    return {"name": spec.name, "withheld": reason, "caption": spec.caption}


def is_synthetic_label(label: str) -> bool:
    """Return True when a data label says the data are synthetic (simulated)."""
    return "synthetic" in label.lower()


def labelled_table(table: pd.DataFrame, data_label: str) -> pd.DataFrame:
    """Return ``table`` with a ``data_label`` column (kept if the table already has one).

    Every table file a run writes carries this column, so a file taken out of its folder
    still says whether its numbers come from synthetic or real data.
    """
    if "data_label" in table.columns:
        return table
    out = table.assign(data_label=data_label)
    out.attrs = dict(table.attrs)
    return out


def stamp_synthetic(figure: Any) -> None:
    """Write :data:`SYNTHETIC_MARK` above the figure's top-left corner (id ``synthetic-data-label``).

    The text sits above every axes, so it covers no data; ``bbox_inches="tight"`` keeps it
    in the saved file. In SVG it is the group ``<g id="synthetic-data-label">``.
    """
    text = figure.text(
        0.0,
        1.0,
        SYNTHETIC_MARK,
        ha="left",
        va="bottom",
        fontsize=9,
        fontweight="bold",
        color="white",
        bbox={"boxstyle": "square,pad=0.3", "facecolor": "#9b1c1c", "edgecolor": "none"},
        transform=figure.transFigure,
    )
    text.set_gid("synthetic-data-label")


def write_figure(spec: FigureSpec, folder: Path, data_label: str = "") -> dict[str, Any]:
    """Save a figure as PNG and SVG (deterministic metadata) and its data; return its record.

    ``data_label`` (default: the spec's own) is written into the PNG and SVG metadata
    (``Description``) and as a column of the data file; a synthetic figure is stamped.
    """
    label = spec.data_label or data_label
    folder.mkdir(parents=True, exist_ok=True)
    if spec.data is not None:
        labelled_table(spec.data, label).to_csv(
            folder / f"{spec.name}.csv", index=False, lineterminator="\n", float_format="%.6g"
        )
    import matplotlib

    synthetic = is_synthetic_label(label)
    if synthetic:
        stamp_synthetic(spec.figure)
    description = f"Data: {label}." + (f" {SYNTHETIC_MARK}." if synthetic else "")
    with matplotlib.rc_context({"svg.hashsalt": "soteria-eval"}):
        spec.figure.savefig(
            folder / f"{spec.name}.png",
            dpi=150,
            metadata={"Software": None, "Description": description},
            bbox_inches="tight",
        )
        spec.figure.savefig(
            folder / f"{spec.name}.svg",
            metadata={"Date": None, "Creator": None, "Description": description},
            bbox_inches="tight",
        )
    import matplotlib.pyplot as plt

    plt.close(spec.figure)
    return {
        "name": spec.name,
        "png": f"figures/{spec.name}.png",
        "svg": f"figures/{spec.name}.svg",
        "data": f"figures/{spec.name}.csv" if spec.data is not None else "",
        "count_columns": list(spec.data.attrs.get("count_columns", []))
        if spec.data is not None
        else [],
        "basis_columns": list(spec.data.attrs.get("basis_column") or [])
        if spec.data is not None
        else [],
        "rate_parts": dict(spec.data.attrs.get("rate_parts") or {})
        if spec.data is not None
        else {},
        "alt_text": spec.alt_text,
        "caption": spec.caption,
        "data_label": label,
    }


__all__ = [
    "RESULT_COLUMNS",
    "SYNTHETIC_MARK",
    "AnalysisOutput",
    "AtomicOutputDir",
    "FigureSpec",
    "failure_row",
    "is_synthetic_label",
    "labelled_table",
    "normalise_results",
    "result_rows",
    "sha256_file",
    "stamp_synthetic",
    "withhold_figure",
    "write_figure",
    "write_json",
]
