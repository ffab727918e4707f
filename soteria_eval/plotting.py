"""Figures for the evaluation: trends by group and estimate plots.

Colours follow the Okabe–Ito palette, which stays distinguishable with the common forms
of colour blindness; lines also differ by marker so the figures read in greyscale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

#: Okabe–Ito colours.
PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
)
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*")
GROUP_LABELS: Mapping[str, str] = {
    "pathfinder": "Phase 1 pathfinders",
    "exposed_control": "Exposed controls",
    "comparison": "Other forces",
}


def _figure(width: float = 7.5, height: float = 4.2) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    return fig, ax


def time_ticks(labels: Sequence[str], max_ticks: int = 12) -> list[int]:
    """Positions of the tick marks of a time axis: the start of each year where possible.

    Month (``2021-01``) and quarter (``2021-Q1``) labels get a tick at January or Q1 of
    every year (every second year, and so on, when there are more than ``max_ticks``
    years); other labels a tick every ``ceil(n / max_ticks)`` periods.
    """
    import re

    starts = [i for i, v in enumerate(labels) if re.fullmatch(r"\d{4}-(01|Q1)", str(v))]
    if len(starts) >= 2:
        step = -(-len(starts) // max_ticks)
        return starts[::step]
    step = max(1, -(-len(labels) // max_ticks))
    return list(range(0, len(labels), step))


def trend_plot(
    data: pd.DataFrame,
    *,
    x: str,
    y: str,
    group: str,
    markers: Mapping[str, str] | None = None,
    ylabel: str = "",
    title: str = "",
    group_labels: Mapping[str, str] = GROUP_LABELS,
) -> Any:
    """Plot one line per group over periods, with vertical markers at key periods.

    Parameters
    ----------
    data : pandas.DataFrame
        Long table with the period labels in ``x``, values in ``y`` and groups in ``group``.
    markers : mapping of period label to text, optional
        Vertical dashed lines (e.g. the phase starts).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _figure()
    periods = list(dict.fromkeys(sorted(data[x].astype(str))))
    pos = {p: i for i, p in enumerate(periods)}
    for i, (name, sub) in enumerate(data.groupby(group, sort=True)):
        sub = sub.sort_values(x)
        ax.plot(
            [pos[str(p)] for p in sub[x]],
            sub[y],
            color=PALETTE[i % len(PALETTE)],
            marker=MARKERS[i % len(MARKERS)],
            label=group_labels.get(str(name), str(name)),
        )
    for label, text in (markers or {}).items():
        if label in pos:
            ax.axvline(pos[label] - 0.5, color="#555555", linestyle="--", linewidth=1)
            ax.annotate(
                text,
                (pos[label] - 0.45, 1.0),
                xycoords=("data", "axes fraction"),
                va="top",
                fontsize=8,
                color="#333333",
            )
    ticks = time_ticks(periods, max_ticks=16)
    ax.set_xticks(ticks, [periods[i] for i in ticks], rotation=45, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(frameon=False)
    return fig


def estimate_plot(
    table: pd.DataFrame,
    *,
    label: str,
    xlabel: str = "Estimate with 95% confidence interval",
    title: str = "",
    order: Sequence[str] | None = None,
) -> Any:
    """Plot point estimates with confidence intervals, one row per ``label``.

    ``table`` has the results-table columns ``estimate, ci_lower, ci_upper``.
    """
    t = table.copy()
    if order is not None:
        t = t.set_index(label).loc[list(order)].reset_index()
    fig, ax = _figure(7.5, 0.5 + 0.45 * len(t))
    ys = range(len(t))[::-1]
    ax.errorbar(
        t["estimate"],
        list(ys),
        xerr=[t["estimate"] - t["ci_lower"], t["ci_upper"] - t["estimate"]],
        fmt="o",
        color=PALETTE[0],
        ecolor=PALETTE[0],
        capsize=3,
    )
    ax.axvline(0, color="#555555", linewidth=1)
    ax.set_yticks(list(ys), t[label].astype(str).tolist())
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return fig


def event_study_plot(
    results: Any, *, title: str = "", ylabel: str = "Effect", alpha: float = 0.05
) -> Any:
    """Plot an event study from aggregated results (``type="dynamic"``).

    Points are estimates by event time with pointwise intervals; if the results were
    bootstrapped (:meth:`AggregatedResults.bootstrap`), the uniform band is drawn as a
    shaded area. Pre-treatment event times are drawn in a second colour.
    """
    params = results.params.drop("overall", errors="ignore")
    ev = np.array([float(str(t).split()[1]) for t in params.index])
    ci = results.conf_int(alpha).drop("overall", errors="ignore")
    fig, ax = _figure()
    pre = ev < 0
    for mask, colour, label in (
        (pre, PALETTE[1], "before start"),
        (~pre, PALETTE[0], "after start"),
    ):
        if mask.any():
            ax.errorbar(
                ev[mask],
                params.to_numpy()[mask],
                yerr=[
                    params.to_numpy()[mask] - ci["ci_lower"].to_numpy()[mask],
                    ci["ci_upper"].to_numpy()[mask] - params.to_numpy()[mask],
                ],
                fmt="o",
                color=colour,
                ecolor=colour,
                capsize=3,
                label=f"{label} (pointwise {100 * (1 - alpha):.0f}% CI)",
            )
    if results.info.get("uniform_crit") is not None:
        band = results.conf_int(alpha, uniform=True).drop("overall", errors="ignore")
        ax.fill_between(
            ev,
            band["ci_lower"],
            band["ci_upper"],
            color=PALETTE[4],
            alpha=0.25,
            step="mid",
            label="uniform band",
        )
    ax.axhline(0, color="#555555", linewidth=1)
    ax.axvline(-0.5, color="#555555", linestyle="--", linewidth=1)
    ax.set_xlabel("Periods since the programme started (event time)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    return fig


def group_time_heatmap(results: Any, *, title: str = "", label: str = "ATT(g, t)") -> Any:
    """Heatmap of group-time effects: cohorts by period, a diverging colour-blind-safe map."""
    a = results.att_gt.pivot(index="cohort", columns="time", values="estimate")
    fig, ax = _figure(7.5, 1.2 + 0.5 * len(a))
    lim = float(np.nanmax(np.abs(a.to_numpy()))) or 1.0
    im = ax.imshow(a.to_numpy(), aspect="auto", cmap="PuOr", vmin=-lim, vmax=lim)
    ax.set_yticks(range(len(a.index)), [f"{c:g}" for c in a.index])
    ax.set_xticks(range(len(a.columns)), [f"{t:g}" for t in a.columns], rotation=90)
    ax.set_ylabel("Cohort (first treated period)")
    ax.set_xlabel("Period")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label=label)
    return fig


def its_plot(
    results: Any, *, title: str = "", ylabel: str = "", alpha: float = 0.05, max_ticks: int = 12
) -> Any:
    """Plot an interrupted time series: observed, fitted and the counterfactual with its band.

    Vertical dashed lines mark the interruptions (programme ones in black, shocks in grey).
    The x axis is ticked at the start of each year (:func:`time_ticks`); the y label
    defaults to the outcome's name.
    """
    if not ylabel:
        ylabel = str(getattr(results, "info", {}).get("outcome", ""))
    cf = results.counterfactual(alpha)
    x = np.arange(len(cf))
    fig, ax = _figure(8.0, 4.4)
    ax.plot(x, cf["observed"], "o", markersize=2.5, color="#555555", label="observed")
    if "comparison" in cf:
        ax.plot(
            x,
            cf["comparison"],
            color=PALETTE[2],
            linewidth=1.2,
            alpha=0.9,
            label="comparison series",
        )
    ax.plot(x, cf["fitted"], color=PALETTE[0], linewidth=2, label="fitted")
    ax.plot(
        x,
        cf["counterfactual"],
        color=PALETTE[5],
        linestyle="--",
        linewidth=1.5,
        label="without the programme (counterfactual)",
    )
    ax.fill_between(
        x,
        cf["cf_lower"],
        cf["cf_upper"],
        color=PALETTE[5],
        alpha=0.2,
        label=f"{100 * (1 - alpha):.0f}% confidence band",
    )
    labels = list(cf["period"])
    for it in results.interruptions:
        if str(it.at) in labels:
            pos = labels.index(str(it.at))
            ax.axvline(
                pos - 0.5,
                color="#000000" if it.programme else "#999999",
                linestyle="--",
                linewidth=1,
            )
            ax.annotate(
                it.name, (pos - 0.3, 1.0), xycoords=("data", "axes fraction"), va="top", fontsize=8
            )
    ticks = time_ticks(labels, max_ticks)
    ax.set_xticks(x[ticks], [labels[i] for i in ticks], rotation=45, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    return fig


def funnel_plot(table: pd.DataFrame, *, year: int, title: str = "") -> Any:
    """Bar chart of the share of reports reaching each stage, one bar group per force group.

    ``table`` is an :func:`soteria_eval.panels.attrition.attrition_funnel` table (all cases);
    suppressed cells are drawn as gaps.
    """
    t = table[(table["year"] == year) & (table["value"] == "all")].copy()
    t["share"] = pd.to_numeric(t["share_of_reports"], errors="coerce")
    stages = list(dict.fromkeys(t["stage"]))
    groups = [g for g in ("pathfinder", "exposed_control", "comparison") if g in set(t["group"])]
    fig, ax = _figure()
    width = 0.8 / max(len(groups), 1)
    x = np.arange(len(stages))
    for i, g in enumerate(groups):
        s = t[t["group"] == g].set_index("stage").reindex(stages)["share"]
        ax.bar(
            x + i * width,
            100 * s.to_numpy(),
            width,
            color=PALETTE[i],
            label=GROUP_LABELS.get(g, g),
            hatch=["", "//", ".."][i % 3],
        )
    ax.set_xticks(x + width * (len(groups) - 1) / 2, stages)
    ax.set_yscale("log")
    # Labels at 1, 2 and 5 times powers of ten: the later stages (2-10%) must be readable.
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("% of reports (log scale)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(frameon=False)
    return fig


def honest_plot(results: Any, *, title: str = "") -> Any:
    """Plot HonestDiD robust intervals against the restriction size, original interval first.

    ``results`` is a :class:`~soteria_eval.sensitivity.HonestResults`; a horizontal line
    marks zero, so the breakdown value is where an interval first crosses it.
    """
    t = results.tidy()
    fig, ax = _figure(7.5, 4.2)
    labels = []
    for i, row in enumerate(t.itertuples()):
        original = row.restriction == "original"
        colour = "#555555" if original else PALETTE[0]
        mid = (row.lb + row.ub) / 2
        ax.errorbar(
            [i],
            [mid],
            yerr=[[mid - row.lb], [row.ub - mid]],
            fmt="none",
            ecolor=colour,
            elinewidth=3,
            capsize=4,
        )
        labels.append("original" if original else f"{row.m:g}")
    ax.axhline(0, color="#000000", linewidth=1)
    ax.set_xticks(range(len(t)), labels)
    kind = t.loc[t["restriction"] != "original", "restriction"]
    name = {"relative_magnitude": "M̄ (relative magnitudes)", "smoothness": "M (smoothness)"}
    ax.set_xlabel(name.get(str(kind.iloc[0]), "restriction") if len(kind) else "")
    ax.set_ylabel("Robust confidence interval")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return fig


def synthetic_control_plot(results: Any, *, title: str = "") -> Any:
    """Plot the treated unit against its synthetic control, and its gap among the placebos.

    Left: the two paths with the start marked. Right: every placebo's gap in grey, the
    treated unit's gap in colour (placebo-in-space inference at a glance).
    """
    import matplotlib.pyplot as plt

    p = results.path
    x = np.arange(len(p))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.0, 4.0), constrained_layout=True)
    ax1.plot(x, p["treated"], color=PALETTE[0], linewidth=2, label=str(results.unit))
    ax1.plot(
        x,
        p["synthetic"],
        color=PALETTE[5],
        linestyle="--",
        linewidth=1.5,
        label="synthetic control",
    )
    start = int(np.argmax(p["post"].to_numpy()))
    for ax in (ax1, ax2):
        ax.axvline(start - 0.5, color="#000000", linestyle="--", linewidth=1)
        step = max(1, len(p) // 8)
        ax.set_xticks(
            x[::step], [str(v) for v in p["period"].iloc[::step]], rotation=45, ha="right"
        )
        ax.grid(alpha=0.3)
    ax1.legend(frameon=False)
    ax1.set_title("Treated and synthetic")
    for col in [c for c in p.columns if str(c).startswith("placebo:")]:
        ax2.plot(x, p[col], color="#BBBBBB", linewidth=0.8)
    ax2.plot(x, p["gap"], color=PALETTE[0], linewidth=2)
    ax2.axhline(0, color="#555555", linewidth=1)
    ax2.set_title("Gap, with placebo gaps in grey")
    fig.suptitle(title)
    return fig


def power_plot(results: Any, *, title: str = "") -> Any:
    """Plot simulated power against effect size, with ±2 Monte Carlo SE and the 80% line."""
    t = results.tidy().sort_values("effect")
    fig, ax = _figure(7.0, 4.0)
    ax.fill_between(
        t["effect"],
        np.clip(t["power"] - 2 * t["mc_se"], 0, 1),
        np.clip(t["power"] + 2 * t["mc_se"], 0, 1),
        color=PALETTE[0],
        alpha=0.2,
    )
    ax.plot(t["effect"], t["power"], "o-", color=PALETTE[0], label=str(t["method"].iloc[0]))
    ax.axhline(0.8, color="#555555", linestyle="--", linewidth=1, label="80% power")
    ax.axhline(float(t["alpha"].iloc[0]), color="#999999", linestyle=":", linewidth=1, label="size")
    mde = results.mde()
    if np.isfinite(mde):
        ax.axvline(mde, color=PALETTE[5], linewidth=1, label=f"MDE = {mde:.3g}")
    ax.set_ylim(0, 1)
    ax.set_xlabel("True effect")
    ax.set_ylabel("Probability of a significant result")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return fig


def coverage_plot(table: pd.DataFrame, *, title: str = "") -> Any:
    """Plot coverage by design (rows) and method (markers), the accepted band shaded.

    The band is the refusal rule's (:data:`~soteria_eval.validation.verdicts.COVERAGE_BAND`,
    90–98%): a method outside it is not reported.
    """
    from soteria_eval.validation.verdicts import COVERAGE_BAND

    designs = list(dict.fromkeys(table["label"]))
    methods = list(dict.fromkeys(table["method"]))
    fig, ax = _figure(8.0, 1.6 + 0.7 * len(designs))
    lo, hi = COVERAGE_BAND
    ax.axvspan(lo, hi, color="#DDDDDD", label=f"{lo:.0%}–{hi:.0%} (accepted)")
    markers = ["o", "s", "D", "^", "v", "P", "X", "*", "h"]
    for j, m in enumerate(methods):
        sub = table[table["method"] == m].set_index("label").reindex(designs)
        ys = np.arange(len(designs))[::-1] + (j - (len(methods) - 1) / 2) * 0.1
        ax.plot(
            sub["coverage"].astype(float), ys, markers[j % len(markers)],
            color=PALETTE[j % len(PALETTE)], label=m, markersize=7,
        )  # fmt: skip
    ax.set_yticks(np.arange(len(designs))[::-1], designs)
    ax.set_xlabel("Share of 95% intervals containing the true effect")
    ax.set_xlim(0, 1.02)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(frameon=False, ncol=5, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    return fig


def synthetic_did_plot(results: Any, *, title: str = "") -> Any:
    """Plot the treated average against the synthetic-DiD controls, time weights below."""
    import matplotlib.pyplot as plt

    p = results.path
    x = np.arange(len(p))
    fig, (ax, axw) = plt.subplots(
        2, 1, figsize=(8.0, 5.0), sharex=True, height_ratios=[3, 1], constrained_layout=True
    )
    ax.plot(x, p["treated"], color=PALETTE[0], linewidth=2, label="treated (average)")
    ax.plot(
        x,
        p["synthetic"],
        color=PALETTE[5],
        linestyle="--",
        linewidth=1.5,
        label="weighted controls",
    )
    start = int(np.argmax(p["post"].to_numpy()))
    ax.axvline(start - 0.5, color="#000000", linestyle="--", linewidth=1)
    ax.set_title(
        title or f"Synthetic DiD: estimate {results.estimate:.3g} (SE {results.std_error:.3g})"
    )
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    axw.bar(x, p["time_weight"], color=PALETTE[2])
    axw.set_ylabel("time weight")
    step = max(1, len(p) // 8)
    axw.set_xticks(x[::step], [str(v) for v in p["period"].iloc[::step]], rotation=45, ha="right")
    return fig
