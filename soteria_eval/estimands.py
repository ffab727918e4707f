r"""What the designs estimate: analysis scales, windows and estimands, defined once.

Every measure is analysed on one scale, set by its type in the catalogue:

==========  ==================  ==============================================
type        analysis scale      effect of the programme on a cell
==========  ==================  ==============================================
count       log points          :math:`\log Y(1) - \log Y(0)` (0.10 ≈ +10.5%)
proportion  percentage points   :math:`100\,(p(1) - p(0))`
duration    days                :math:`Y(1) - Y(0)`
score       points              :math:`Y(1) - Y(0)`
==========  ==================  ==============================================

Counts analysed by Poisson pseudo-likelihood (PPML) target a ratio instead: the log of
the summed counts with the programme over those without it.

The estimands below are sample quantities of the potential-outcome panels (with and
without the programme, from the same draws): each is defined in one sentence.

* **ATT** — the mean effect over treated force-quarters of the DiD window.
* **ATT phase p** — the same over the treated force-quarters of phase-p forces.
* **ATT cohort c** — the same over the force-quarters of forces first treated in quarter c.
* **ATT event e** — the mean effect over forces in their e-th quarter since their start
  (negative e: before it, where only anticipation can act).
* **ATT force f** — the mean effect over force f's treated quarters.
* **ATT (log rate ratio)** — for counts, :math:`\log(\sum Y(1) / \sum Y(0))` over the
  treated force-quarters (what PPML targets).
* **spillover** — the mean effect over exposed-control force-quarters (non-pathfinders in a
  pathfinder's CPS Area, before their own start).
* **dose slope** — for the measures held only per CPS Area, the least-squares slope through
  the origin of the planted effects on the Area's treated share, over the Area-quarters
  with a positive share: :math:`\sum_{at} d_{at}\tau_{at} / \sum_{at} d_{at}^2`, the effect of
  going from no pathfinder to a fully treated Area.
* **ATT (Area)** — the mean effect over the Area-quarters with a positive treated share.
* **national effect h months after phase 1** — the effect on the national monthly series
  (all forces summed) in the h-th month after September 2021.
* **pathfinders, average effect** — the mean effect on the summed series of the phase-1
  pathfinders over the months from their start to June 2023 (the comparative ITS).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class Scale:
    """How a measure type is analysed: transform, multiplier and the estimand's unit."""

    transform: str
    multiplier: float
    unit: str


SCALES: dict[str, Scale] = {
    "count": Scale("log", 1.0, "log points"),
    "proportion": Scale("identity", 100.0, "percentage points"),
    "duration": Scale("identity", 1.0, "days"),
    "score": Scale("identity", 1.0, "points"),
}

#: The DiD window at force-by-quarter level: the national operating model began on
#: 10 July 2023, so 2023-Q2 is the last quarter with untreated forces.
DID_WINDOW: tuple[str, str] = ("2018-Q1", "2023-Q2")
#: First month of phase 1 (the CPS launch date) and the national ITS horizons.
PHASE1_MONTH = "2021-09"
NATIONAL_HORIZONS: tuple[int, ...] = (12, 24)
#: Months of the comparative ITS (phase-1 pathfinders against never-exposed forces).
COMPARATIVE_WINDOW: tuple[str, str] = ("2016-01", "2023-06")
#: Event times reported for the event-time estimands.
EVENT_TIMES: tuple[int, int] = (-8, 7)


def to_analysis_scale(values: Floats | pd.Series, measure_type: str) -> Floats:
    """Put values of a measure on its analysis scale (non-positive counts become NaN)."""
    scale = SCALES[measure_type]
    v = np.asarray(values, dtype=float)
    if scale.transform == "log":
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.where(v > 0, np.log(np.where(v > 0, v, 1.0)), np.nan)
    out: Floats = v * scale.multiplier
    return out


def _summary(name: str, frame: pd.DataFrame) -> dict[str, object]:
    ok = frame[frame["effect"].notna()]
    return {
        "estimand": name,
        "with_programme": float(ok["with_scaled"].mean()) if len(ok) else np.nan,
        "without_programme": float(ok["without_scaled"].mean()) if len(ok) else np.nan,
        "effect": float(ok["effect"].mean()) if len(ok) else np.nan,
        "n_cells": len(ok),
    }


def _grouped(frame: pd.DataFrame, by: str | None, name: Callable[[Any], str]) -> pd.DataFrame:
    """Mean scaled values and effect of the cells with an effect, per measure (and ``by``)."""
    ok = frame[frame["effect"].notna()]
    keys = ["measure"] if by is None else ["measure", by]
    g = ok.groupby(keys, sort=True)[["with_scaled", "without_scaled", "effect"]]
    out = g.mean().join(g.size().rename("n_cells")).reset_index()
    out["estimand"] = [name(v) for v in (out[by] if by is not None else out["measure"])]
    return out.rename(
        columns={"with_scaled": "with_programme", "without_scaled": "without_programme"}
    )


def did_estimands(
    cells: pd.DataFrame, treatment: pd.DataFrame, measure_types: Mapping[str, str]
) -> pd.DataFrame:
    """Estimands of the DiD designs (see the module docstring), for every measure at once.

    Parameters
    ----------
    cells : pandas.DataFrame
        One row per force, quarter and measure with ``unit, period, measure,
        with_programme, without_programme`` (values on the measure's own scale).
    treatment : pandas.DataFrame
        :func:`soteria_eval.rollout.treatment_panel` output for the window.
    measure_types : mapping of measure to type
        The catalogue type of each measure to evaluate.

    Returns
    -------
    pandas.DataFrame
        ``measure, estimand, with_programme, without_programme, effect, n_cells``
        (analysis scale; for counts also the ``ATT (log rate ratio)`` row).
    """
    types = dict(measure_types)
    d = treatment.merge(cells, on=["unit", "period"], how="left")
    d = d[d["measure"].isin(list(types))]
    kind = d["measure"].map(types)
    d["with_scaled"] = np.nan
    d["without_scaled"] = np.nan
    for t in kind.unique():
        sel = (kind == t).to_numpy()
        d.loc[sel, "with_scaled"] = to_analysis_scale(d.loc[sel, "with_programme"], str(t))
        d.loc[sel, "without_scaled"] = to_analysis_scale(d.loc[sel, "without_programme"], str(t))
    d["effect"] = d["with_scaled"] - d["without_scaled"]
    treated = d[d["treated"].astype(bool)]
    lo, hi = EVENT_TIMES
    cohorts = set(treated["cohort"].dropna().unique())
    ever = d[d["cohort"].isin(cohorts) & d["event_time"].between(lo, hi)]
    parts = [
        _grouped(treated, None, lambda _: "ATT"),
        _grouped(treated, "phase", lambda p: f"ATT phase {int(p)}"),
        _grouped(treated, "cohort", lambda c: f"ATT cohort {c}"),
        _grouped(ever, "event_time", lambda e: f"ATT event {int(e):+d}"),
        _grouped(treated, "unit", lambda u: f"ATT force {u}"),
        _grouped(d[d["exposed_control"].astype(bool)], None, lambda _: "spillover"),
    ]
    counts = [m for m, t in types.items() if t == "count"]
    tc = treated[treated["measure"].isin(counts)]
    tc = tc[(tc["with_programme"] > 0) & (tc["without_programme"] > 0)]
    if len(tc):
        g = tc.groupby("measure", sort=True)
        s1, s0 = g["with_programme"].sum(), g["without_programme"].sum()
        parts.append(
            pd.DataFrame(
                {
                    "measure": s1.index,
                    "estimand": "ATT (log rate ratio)",
                    "with_programme": np.log(s1.to_numpy()),
                    "without_programme": np.log(s0.to_numpy()),
                    "effect": np.log(s1.to_numpy() / s0.to_numpy()),
                    "n_cells": g.size().to_numpy(),
                }
            )
        )
    cols = ["measure", "estimand", "with_programme", "without_programme", "effect", "n_cells"]
    out = pd.concat([p[cols] for p in parts], ignore_index=True)
    out["n_cells"] = out["n_cells"].astype("int64")
    return out


def dose_estimands(
    cells: pd.DataFrame, treatment: pd.DataFrame, measure_types: Mapping[str, str]
) -> pd.DataFrame:
    """Estimands of the Area-level dose design (``dose slope`` and ``ATT (Area)``).

    Parameters
    ----------
    cells : pandas.DataFrame
        One row per Area, quarter and measure with ``unit, period, measure,
        with_programme, without_programme``.
    treatment : pandas.DataFrame
        :func:`soteria_eval.rollout.treatment_panel` at Area level for the window (its
        ``treated_share`` is the dose).
    measure_types : mapping of measure to type
        The catalogue type of each measure to evaluate.

    Returns
    -------
    pandas.DataFrame
        ``measure, estimand, with_programme, without_programme, effect, n_cells``.
    """
    d = treatment[["unit", "period", "treated_share"]].merge(cells, on=["unit", "period"])
    d = d[d["measure"].isin(list(measure_types)) & (d["treated_share"] > 0)]
    rows = []
    for m, part in d.groupby("measure", sort=True):
        kind = measure_types[str(m)]
        w = to_analysis_scale(part["with_programme"], kind)
        wo = to_analysis_scale(part["without_programme"], kind)
        ok = np.isfinite(w) & np.isfinite(wo)
        dose = part["treated_share"].to_numpy(dtype=float)[ok]
        eff = (w - wo)[ok]
        slope = float(dose @ eff / (dose @ dose)) if ok.any() else np.nan
        for name, val, a, b in (
            ("dose slope", slope, np.nan, np.nan),
            ("ATT (Area)", float(eff.mean()) if ok.any() else np.nan, float(w[ok].mean()), float(wo[ok].mean())),
        ):  # fmt: skip
            rows.append(
                {"measure": m, "estimand": name, "with_programme": a, "without_programme": b,
                 "effect": val, "n_cells": int(ok.sum())}
            )  # fmt: skip
    cols = ["measure", "estimand", "with_programme", "without_programme", "effect", "n_cells"]
    return pd.DataFrame(rows, columns=cols)


def national_estimands(
    series: pd.DataFrame,
    measure_type: str,
    *,
    start: str = PHASE1_MONTH,
    horizons: Sequence[int] = NATIONAL_HORIZONS,
) -> pd.DataFrame:
    """Effects on a national monthly series ``h`` months after ``start``.

    ``series`` has ``period, with_programme, without_programme`` (one row per month).
    """
    s = series.sort_values("period").reset_index(drop=True)
    pos = {p: i for i, p in enumerate(s["period"])}
    rows = []
    for h in horizons:
        p = (pd.Period(start, freq="M") + h).strftime("%Y-%m")
        name = f"national effect {h} months after phase 1"
        if start not in pos or p not in pos:
            continue
        part = s.iloc[[pos[p]]].assign(
            with_scaled=to_analysis_scale(s["with_programme"].iloc[[pos[p]]], measure_type),
            without_scaled=to_analysis_scale(s["without_programme"].iloc[[pos[p]]], measure_type),
        )
        part["effect"] = part["with_scaled"] - part["without_scaled"]
        rows.append(_summary(name, part))
    return pd.DataFrame(rows)


def comparative_estimand(
    series: pd.DataFrame,
    measure_type: str,
    *,
    start: str = PHASE1_MONTH,
    end: str = COMPARATIVE_WINDOW[1],
) -> pd.DataFrame:
    """Mean effect on the pathfinders' summed monthly series from ``start`` to ``end``."""
    s = series[(series["period"] >= start) & (series["period"] <= end)].copy()
    s["with_scaled"] = to_analysis_scale(s["with_programme"], measure_type)
    s["without_scaled"] = to_analysis_scale(s["without_programme"], measure_type)
    s["effect"] = s["with_scaled"] - s["without_scaled"]
    return pd.DataFrame([_summary("pathfinders, average effect", s)])


__all__ = [
    "COMPARATIVE_WINDOW",
    "DID_WINDOW",
    "EVENT_TIMES",
    "NATIONAL_HORIZONS",
    "PHASE1_MONTH",
    "SCALES",
    "Scale",
    "comparative_estimand",
    "did_estimands",
    "national_estimands",
    "to_analysis_scale",
]
