"""The planted truth: what the simulator injected, per panel cell and per estimand.

The simulator draws every random number from named streams whose length never depends
on the effects (:func:`~soteria_eval.simulate.cases.simulate_coupled`), so the same seed
with and without the programme gives the two potential outcomes of every case. Aggregated
to panels, their difference is the programme's effect on each force, Area or national
cell; averaged over the cells a design targets, it is that design's estimand
(:mod:`soteria_eval.estimands`).

``truth.csv`` (schema ``truth``) holds both kinds of row:

* ``kind = "cell"``: one row per panel (level, frequency), unit, period and measure, with
  the value with the programme, without it, and their difference on the analysis scale
  (``effect``); for counts also ``ratio``, the value with over the value without.
* ``kind = "estimand"``: the estimands the designs target (unit ``all`` or the force),
  on all forces and on each sample of :data:`SAMPLE_SCENARIOS` (``"ATT (exposed_dropped)"``:
  the headline sample's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from soteria_eval.dictionary import MeasureCatalogue, load_catalogue
from soteria_eval.estimands import (
    COMPARATIVE_WINDOW,
    DID_WINDOW,
    SCALES,
    comparative_estimand,
    did_estimands,
    dose_estimands,
    national_estimands,
    to_analysis_scale,
)
from soteria_eval.periods import Frequency
from soteria_eval.rollout import Rollout, treatment_panel

TRUTH_COLUMNS: tuple[str, ...] = (
    "kind",
    "level",
    "freq",
    "unit",
    "period",
    "measure",
    "scale",
    "estimand",
    "with_programme",
    "without_programme",
    "effect",
    "ratio",
    "n_cells",
    "synthetic",
)
NATIONAL_UNIT = "England and Wales"
#: Statistics that add up over forces (sums, ratios and means of their parts).
_SUMMABLE = ("sum", "ratio", "mean")


def national_panel(force_panel: pd.DataFrame, catalogue: MeasureCatalogue) -> pd.DataFrame:
    """Sum a force panel over forces into a national panel (medians cannot be summed).

    Counts are the summed counts; ratios and means are the summed numerators over the
    summed denominators. Returns the panel columns with ``level = "national"``.
    """
    keep = [m for m in force_panel["measure"].unique() if catalogue[m].statistic in _SUMMABLE]
    rows = force_panel[force_panel["measure"].isin(keep)]
    g = (
        rows.groupby(["measure", "period"], sort=True)[["numerator", "denominator"]]
        .sum(min_count=1)
        .reset_index()
    )
    stat = g["measure"].map(lambda m: catalogue[m].statistic)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = g["numerator"] / g["denominator"].where(g["denominator"] > 0)
    g["value"] = np.where(stat == "sum", g["numerator"], ratio)
    g["level"] = "national"
    g["unit"] = NATIONAL_UNIT
    return g[["level", "unit", "period", "measure", "value", "numerator", "denominator"]]


def cell_truth(
    with_panel: pd.DataFrame,
    without_panel: pd.DataFrame,
    catalogue: MeasureCatalogue,
    *,
    level: str,
    freq: str,
) -> pd.DataFrame:
    """One truth row per cell of two coupled panels (same units, periods and measures)."""
    key = ["unit", "period", "measure"]
    a = with_panel[[*key, "value"]].rename(columns={"value": "with_programme"})
    b = without_panel[[*key, "value"]].rename(columns={"value": "without_programme"})
    d = a.merge(b, on=key, how="outer", validate="1:1", sort=False)
    types = d["measure"].map(lambda m: catalogue[m].type)
    effect = np.full(len(d), np.nan)
    ratio = np.full(len(d), np.nan)
    scale = types.map(lambda t: SCALES[t].unit)
    for t in types.unique():
        sel = (types == t).to_numpy()
        w = to_analysis_scale(d.loc[sel, "with_programme"], t)
        wo = to_analysis_scale(d.loc[sel, "without_programme"], t)
        effect[sel] = w - wo
        if t == "count":
            v1 = d.loc[sel, "with_programme"].to_numpy(dtype=float)
            v0 = d.loc[sel, "without_programme"].to_numpy(dtype=float)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio[sel] = np.where(v0 > 0, v1 / np.where(v0 > 0, v0, 1.0), np.nan)
    return pd.DataFrame(
        {
            "kind": "cell",
            "level": level,
            "freq": freq,
            "unit": d["unit"],
            "period": d["period"],
            "measure": d["measure"],
            "scale": scale,
            "estimand": "",
            "with_programme": d["with_programme"],
            "without_programme": d["without_programme"],
            "effect": effect,
            "ratio": ratio,
            "n_cells": 1,
        }
    )


#: The rollout scenarios whose samples the DiD designs also use (the headline sample leaves
#: the exposed forces out): ``truth.csv`` holds their estimands too, named
#: ``"<estimand> (<scenario>)"`` as the recovery study names the designs run on them.
SAMPLE_SCENARIOS: tuple[str, ...] = ("exposed_dropped", "anticipation_excluded")


def estimand_truth(
    cells: Mapping[tuple[str, str], pd.DataFrame],
    rollout: Rollout,
    catalogue: MeasureCatalogue,
    *,
    scenario: str = "default",
    window: tuple[str, str] = DID_WINDOW,
    measures: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Estimand rows from the cell truth of the force-quarter and national-month panels.

    ``cells`` maps ``(level, freq)`` to :func:`cell_truth` output; the DiD estimands use
    ``("force", "quarter")``, the national ITS ``("national", "month")``, the
    comparative ITS ``("force", "month")`` (the phase-1 pathfinders summed) and the Area
    dose design ``("area", "quarter")`` (the measures held only per Area).
    """
    rows = []
    fq = cells.get(("force", "quarter"))
    if fq is not None and len(fq):
        tp = treatment_panel(
            rollout,
            level="force",
            freq="quarter",
            start=window[0],
            end=window[1],
            scenario=scenario,
        )
        part = fq if measures is None else fq[fq["measure"].isin(measures)]
        types = {str(m): catalogue[str(m)].type for m in part["measure"].unique()}
        est = did_estimands(part, tp, types)
        forces = est["estimand"].str.startswith("ATT force ")
        est["unit"] = np.where(forces, est["estimand"].str.removeprefix("ATT force "), "all")
        rows.append(est.assign(level="force", freq="quarter", period=f"{window[0]} to {window[1]}"))
    aq = cells.get(("area", "quarter"))
    if aq is not None:
        area_only = {
            str(m): catalogue[str(m)].type
            for m in aq["measure"].unique()
            if "force" not in catalogue[str(m)].level and (measures is None or m in measures)
        }
        if area_only:
            tpa = treatment_panel(
                rollout, level="area", freq="quarter", start=window[0], end=window[1]
            )
            est = dose_estimands(aq, tpa, area_only)
            rows.append(
                est.assign(level="area", freq="quarter", unit="all", period=f"{window[0]} to {window[1]}")
            )  # fmt: skip
    nm = cells.get(("national", "month"))
    if nm is not None:
        for m, part in nm.groupby("measure", sort=True):
            if measures is not None and m not in measures:
                continue
            est = national_estimands(part, catalogue[str(m)].type)
            rows.append(
                est.assign(level="national", freq="month", unit=NATIONAL_UNIT, measure=m, period="")
            )
    fm = cells.get(("force", "month"))
    if fm is not None:
        pathfinders = set(rollout.table.query("level == 'force' and phase == 1")["unit"])
        for m, part in fm[fm["unit"].isin(pathfinders)].groupby("measure", sort=True):
            if measures is not None and m not in measures:
                continue
            stat = catalogue[str(m)].statistic
            if stat not in _SUMMABLE:
                continue
            series = _group_series(part, stat)
            est = comparative_estimand(series, catalogue[str(m)].type)
            rows.append(
                est.assign(
                    level="force", freq="month", unit="phase-1 pathfinders", measure=m,
                    period=f"{COMPARATIVE_WINDOW[0]} to {COMPARATIVE_WINDOW[1]}",
                )
            )  # fmt: skip
    if not rows:
        return pd.DataFrame(columns=list(TRUTH_COLUMNS))
    out = pd.concat(rows, ignore_index=True)
    out["kind"] = "estimand"
    out["scale"] = out["measure"].map(lambda m: SCALES[catalogue[m].type].unit)
    out.loc[out["estimand"] == "ATT (log rate ratio)", "scale"] = "log rate ratio"
    out["ratio"] = np.nan
    return out


def _group_series(part: pd.DataFrame, statistic: str) -> pd.DataFrame:
    """Sum the with/without numerators and denominators of a group of units per period."""
    g = part.groupby("period", sort=True)[
        ["with_num", "with_den", "without_num", "without_den"]
    ].sum(min_count=1)
    if statistic == "sum":
        w, wo = g["with_num"], g["without_num"]
    else:
        w = g["with_num"] / g["with_den"].where(g["with_den"] > 0)
        wo = g["without_num"] / g["without_den"].where(g["without_den"] > 0)
    return pd.DataFrame(
        {"period": g.index, "with_programme": w.to_numpy(), "without_programme": wo.to_numpy()}
    )


def attach_parts(
    truth: pd.DataFrame, with_panel: pd.DataFrame, without_panel: pd.DataFrame
) -> pd.DataFrame:
    """Add the numerators and denominators of both worlds to cell truth (for group sums)."""
    key = ["unit", "period", "measure"]
    parts = with_panel[[*key, "numerator", "denominator"]].rename(
        columns={"numerator": "with_num", "denominator": "with_den"}
    )
    parts0 = without_panel[[*key, "numerator", "denominator"]].rename(
        columns={"numerator": "without_num", "denominator": "without_den"}
    )
    return truth.merge(parts, on=key, how="left").merge(parts0, on=key, how="left")


def truth_table(
    with_panels: Mapping[tuple[str, Frequency], pd.DataFrame],
    without_panels: Mapping[tuple[str, Frequency], pd.DataFrame],
    rollout: Rollout,
    *,
    catalogue: MeasureCatalogue | None = None,
    synthetic: bool = True,
) -> pd.DataFrame:
    """Build the whole truth table (the ``truth`` schema) from coupled panels.

    Parameters
    ----------
    with_panels, without_panels : mapping of (level, freq) to panel
        Panels of the same seed with and without the programme; national panels are
        added for every force panel.
    rollout : Rollout
        The rollout the simulation followed (it defines treated cells).
    """
    cat = catalogue or load_catalogue()
    cells: dict[tuple[str, str], pd.DataFrame] = {}
    for key, w in with_panels.items():
        level, freq = key
        wo = without_panels[key]
        cells[(level, freq)] = cell_truth(w, wo, cat, level=level, freq=freq)
        if level == "force":
            nw, nwo = national_panel(w, cat), national_panel(wo, cat)
            cells[("national", freq)] = cell_truth(nw, nwo, cat, level="national", freq=freq)
    if ("force", "month") in cells:
        cells[("force", "month")] = attach_parts(
            cells[("force", "month")],
            with_panels[("force", "month")],
            without_panels[("force", "month")],
        )
    est = [estimand_truth(cells, rollout, cat)]
    if ("force", "quarter") in cells:  # each sample a design uses has its own estimand
        fq = {("force", "quarter"): cells[("force", "quarter")]}
        for sc in SAMPLE_SCENARIOS:
            e = estimand_truth(fq, rollout, cat, scenario=sc)
            e = e[~e["estimand"].str.startswith("ATT force ")]
            est.append(e.assign(estimand=e["estimand"] + f" ({sc})"))
    frames = [c[list(TRUTH_COLUMNS[:-1])] for c in cells.values()]
    out = pd.concat([*frames, *(e[list(TRUTH_COLUMNS[:-1])] for e in est)], ignore_index=True)
    out["synthetic"] = synthetic
    out["n_cells"] = out["n_cells"].astype("int64")
    return out[list(TRUTH_COLUMNS)]


__all__ = [
    "NATIONAL_UNIT",
    "SAMPLE_SCENARIOS",
    "TRUTH_COLUMNS",
    "attach_parts",
    "cell_truth",
    "estimand_truth",
    "national_panel",
    "truth_table",
]
