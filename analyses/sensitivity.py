"""Sensitivity and power of the primary measures.

Question: how far can the primary results bend? (a) How large a departure from parallel
trends — relative to the largest pre-programme one — would overturn the average effect
over the post-programme quarters (Rambachan–Roth bounds)? (b) Does each phase-1 pathfinder, compared with a
synthetic control built from forces not yet in the programme, stand out from the
placebo forces? (c) What is the smallest effect the design could detect with 80% power?

Design: (a) Callaway–Sant'Anna event study with a universal base period (the quarter
before the start), HonestDiD relative-magnitude bounds (least-favourable hybrid) for the
average of the event-time effects 0 to 7 (the headline aggregate; the first treated
quarter alone is near zero while the programme ramps up); (b) synthetic control per
phase-1 pathfinder with donors among the national-model forces that were not exposed
controls, placebo-in-space p-values over the placebos whose pre-period fit is no more than
five times worse than the pathfinder's, and the pathfinder's own fit against the
donors' (a fit over twice the median donor's error is "not credible"); (c) power by simulation with the design's treated forces and start quarters and
the measure's pre-programme noise, TWFE with the restricted wild cluster bootstrap.
See :mod:`soteria_eval.sensitivity` and :mod:`soteria_eval.inference.power`.

Run alone: ``python analyses/sensitivity.py --out results/sensitivity``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from soteria_eval.disclosure import figure_data, figure_problems
from soteria_eval.evaluation import (
    SCALES,
    analysis_panel,
    case_basis,
    cs_frame,
    primary_measures,
    universal_event_study,
)
from soteria_eval.inference import PowerDesign, power_curve
from soteria_eval.pipeline import AnalysisOutput, FigureSpec, RunContext
from soteria_eval.pipeline.outputs import failure_row
from soteria_eval.sensitivity import (
    breakdown_value,
    event_study_inputs,
    honest_sensitivity,
    synthetic_control,
)
from soteria_eval.sensitivity.synthetic import PLACEBO_SCREEN, POOR_FIT

MBAR = (0.5, 1.0, 1.5, 2.0)
#: Points of the grid of the average effect searched by the relative-magnitudes sets.
GRID_POINTS = 500
#: Smoothness bounds M, as multiples of the standard error of the average post-period effect.
SMOOTH = (0.0, 0.25, 0.5)


def _row(ctx: RunContext, m, design: str, **values) -> dict:  # type: ignore[no-untyped-def]
    base = {
        "analysis": ctx.spec.id, "domain": m.domain, "measure": m.id, "design": design,
        "level": "force", "scenario": "sensitivity", "std_error": np.nan, "p_adjusted": np.nan,
        "n_dropped": 0, "data_label": ctx.data_label, "status": "ok", "note": "",
    }  # fmt: skip
    return {**base, **values}


def _honest(ctx: RunContext, m, d: pd.DataFrame, unit: str, out: AnalysisOutput) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    domain = m.domain
    rows: list[dict] = []  # type: ignore[type-arg]
    e, n_left = cs_frame(d)
    b, v, npre, npost = event_study_inputs(universal_event_study(e))
    # The headline aggregate: the average effect over the post-programme event times shown,
    # not the first treated quarter (near zero while the programme ramps up).
    l_vec = np.full(npost, 1.0 / npost)
    hon = honest_sensitivity(b, v, num_pre=npre, num_post=npost, m_values=MBAR, l_vec=l_vec,
                             grid_points=GRID_POINTS)  # fmt: skip
    theta = float(l_vec @ b[npre:])
    target = f"ATT, average of the first {npost} treated quarters ({unit})"
    # The breakdown value by bisection (the grid above only brackets it).
    bd = breakdown_value(b, v, num_pre=npre, num_post=npost, l_vec=l_vec)
    # A set that reaches the edge of the searched grid (HonestDiD's ±20 standard errors of
    # the target around zero) is unbounded there, not bounded by the grid: say so.
    edge = 20 * float(np.sqrt(l_vec @ v[npre:, npre:] @ l_vec))
    step = 2 * edge / (GRID_POINTS - 1)
    table = hon.tidy()
    rm = table["restriction"] == "relative_magnitude"
    table.loc[rm & (table["lb"] <= -edge + step / 2), "lb"] = -np.inf
    table.loc[rm & (table["ub"] >= edge - step / 2), "ub"] = np.inf
    for r in table.itertuples():
        original = r.restriction == "original"
        rows.append(_row(
            ctx, m, "honest_did", estimand=target,
            term="original" if original else f"Mbar = {r.m:g}", estimate=theta,
            ci_lower=r.lb, ci_upper=r.ub, p_value=np.nan,
            inference="event-study normal interval" if original
            else "HonestDiD relative magnitudes (least-favourable hybrid)",
            n_units=int(e["unit"].nunique()), n_treated=int((e.groupby("unit")["g"].first() > 0).sum()),
            n_periods=int(e["t"].nunique()), n_obs=len(e),
            note=(f"breakdown Mbar = {bd:.2g}" if 0 < bd < np.inf
                  else "no breakdown value: the conventional interval already includes zero"
                  if bd == 0 else "zero excluded up to Mbar = 10")
            + f"; {n_left} force(s) with a missing quarter left out",
        ))  # fmt: skip
    # Smoothness: the pre-trend's slope may change by up to M per quarter, M in multiples of
    # the average effect's standard error; optimal fixed-length intervals.
    se_theta = float(np.sqrt(l_vec @ v[npre:, npre:] @ l_vec))
    smooth = honest_sensitivity(b, v, num_pre=npre, num_post=npost, restriction="smoothness",
                                m_values=[k * se_theta for k in SMOOTH], method="flci",
                                l_vec=l_vec)  # fmt: skip
    for k, r in zip(SMOOTH, smooth.tidy().iloc[1:].itertuples(), strict=True):
        rows.append(_row(
            ctx, m, "honest_did", estimand=target,
            term=f"M = {k:g} SE", estimate=theta, ci_lower=r.lb, ci_upper=r.ub, p_value=np.nan,
            inference="HonestDiD smoothness (fixed-length interval)",
            n_units=int(e["unit"].nunique()), n_treated=int((e.groupby("unit")["g"].first() > 0).sum()),
            n_periods=int(e["t"].nunique()), n_obs=len(e),
            note=f"M = {r.m:.4g} {unit} per quarter squared",
        ))  # fmt: skip
    out.figures.append(FigureSpec(
        f"honest_{domain}", hon.plot(title=f"{m.title}: robust intervals for the average effect"),
        f"Intervals for the average effect on {m.title_in_text} over the first {npost} treated "
        "quarters: first the "
        f"conventional interval, then robust intervals allowing post-programme departures from parallel "
        f"trends up to {', '.join(f'{x:g}' for x in MBAR)} times the largest pre-programme one. "
        + (f"Intervals exclude zero up to a multiple of {bd:.2g} (the breakdown value)."
           if 0 < bd < np.inf
           else "The conventional interval already includes zero." if bd == 0
           else "None of the intervals includes zero."),
        f"Rambachan–Roth sensitivity ({ctx.data_label} data).",
        data=figure_data(hon.tidy()),  # intervals only: no counts drawn
    ))  # fmt: skip
    return rows


def _synthetic(ctx: RunContext, m, d: pd.DataFrame, unit: str, out: AnalysisOutput) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    domain = m.domain
    rows: list[dict] = []  # type: ignore[type-arg]
    # Synthetic control for each phase-1 pathfinder.
    wide_src = d[["unit", "period", "y", "phase", "exposed_ever", "cohort"]]
    donors = sorted(
        wide_src.loc[
            (wide_src["phase"] == 3) & ~wide_src["exposed_ever"].astype(bool), "unit"
        ].unique()
    )
    complete = wide_src.groupby("unit")["y"].transform(lambda s: s.notna().all())
    wide_src = wide_src[complete]
    donors = [u for u in donors if u in set(wide_src["unit"])]
    shown = None
    basis = d.assign(cases=case_basis(d, m.type)).set_index(["unit", "period"])[
        ["cases", "numerator"]
    ]
    for force in sorted(wide_src.loc[wide_src["phase"] == 1, "unit"].unique()):
        start = wide_src.loc[wide_src["unit"] == force, "cohort"].iloc[0]
        sub = wide_src[wide_src["unit"].isin([force, *donors])]
        sc = synthetic_control(sub, outcome="y", unit="unit", time="period", treated_unit=force,
                               start=start, donors=donors).screened()  # fmt: skip
        t = sc.tidy().iloc[0]
        poor = t["pre_fit"] == "poor"
        fit = (
            f"pre-period RMSPE {float(t['pre_rmspe']):.3g}, {float(t['fit_ratio']):.2g} times the "
            f"median donor's; {int(t['n_screened_out'])} placebo(s) with a pre-period RMSPE over "
            f"{PLACEBO_SCREEN:g} times {force}'s left out"
        )
        rows.append(_row(
            ctx, m, "synthetic_control", estimand=f"mean post-start gap ({unit})", term=force,
            estimate=float(t["estimate"]), ci_lower=np.nan, ci_upper=np.nan, p_value=float(t["p_value"]),
            inference=f"placebo in space ({int(t['n_placebos'])} donor forces, screened by pre-period fit)",
            n_units=len(donors) + 1, n_treated=1, n_periods=int(sub["period"].nunique()), n_obs=len(sub),
            status="not credible" if poor else "ok",
            note=(f"not credible: the synthetic control does not reproduce {force} before the start "
                  f"(pre-period fit over {POOR_FIT:g} times the median donor's); " if poor else "")
            + f"{fit}; donors: national-model forces, not exposed",
        ))  # fmt: skip
        data = _sc_figure_data(sc, force, basis, m.type)
        if shown is None and not figure_problems(data, ctx.disclosure_threshold):
            shown = (force, sc, data)  # the first pathfinder whose figure discloses nothing
    if shown is None:
        out.notes.append(
            f"synthetic_control_{domain}: no figure; every phase-1 pathfinder's series has "
            f"a quarter resting on fewer than {ctx.disclosure_threshold} cases"
        )
    else:
        force, sc, data = shown
        out.figures.append(FigureSpec(
            f"synthetic_control_{domain}", sc.plot(title=f"{m.title}: {force} and its synthetic control"),
            f"Left: {m.title_in_text} in {force} and in a weighted combination of {len(donors)} forces not yet in "
            f"the programme, chosen to match {force} before it started; the dashed line marks the start. "
            f"Right: the gap between them, drawn over the gaps of every donor force treated as a placebo "
            f"(mean gap after the start {sc.average_effect:.3g} {unit}, placebo p-value {sc.p_value:.2f}).",
            f"Synthetic control ({ctx.data_label} data); the first phase-1 pathfinder, in "
            "alphabetical order, whose series has no quarter resting on fewer cases than the "
            "disclosure threshold.",
            data=data,
        ))  # fmt: skip
    return rows


def _sc_figure_data(sc, force: str, basis: pd.DataFrame, kind: str) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """Return what the synthetic-control figure draws, marked for the disclosure check.

    The treated force's cases in each quarter are the basis (``basis``: ``cases`` and
    ``numerator`` by force and period). For counts (drawn on the log scale, so readable
    back) the synthetic path is a count too: a donor with all the weight would show its
    own counts. A proportion gives back its numerator and complement (rate × cases), so
    the treated force's numerator is carried and checked with it.
    """
    p = sc.path.copy()
    idx = pd.MultiIndex.from_arrays([[force] * len(p), p["period"]])
    p["treated_cases"] = basis["cases"].reindex(idx).to_numpy()
    counts: list[str] = []
    parts: dict[str, str] = {}
    if kind == "count":
        p["synthetic_count"] = np.exp(p["synthetic"])
        counts = ["synthetic_count"]
    elif kind == "proportion":
        p["treated_numerator"] = pd.to_numeric(
            basis["numerator"].reindex(idx), errors="coerce"
        ).to_numpy()
        parts = {"treated_numerator": "treated_cases"}
    return figure_data(p, count_columns=counts, basis_column="treated_cases", rate_parts=parts)


def _power(ctx: RunContext, m, d: pd.DataFrame, unit: str, out: AnalysisOutput) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    domain = m.domain
    e, _ = cs_frame(d)
    # Power and minimum detectable effect with the design's own noise.
    pd_frame = e.assign(start=np.where(e["g"] > 0, e["g"] - 1, 0))
    pd_frame = pd_frame.assign(t0=pd_frame["t"] - 1)
    design = PowerDesign.from_panel(pd_frame, outcome="y", unit="unit", time="t0", start="start")
    sd = float(np.median(design.unit_sd))
    curve = power_curve(design, np.linspace(0, 1.5 * sd, 11), n_sims=200, method="wcr",
                        n_boot=199, seed=ctx.seed)  # fmt: skip
    return [{
        "domain": domain, "measure": m.id, "unit": unit, "method": "TWFE, wild cluster bootstrap (WCR)",
        "forces": len(design.units), "treated_forces": int((design.start >= 0).sum()),
        "quarters": design.n_periods, "noise_sd": sd, "ar1": design.phi,
        "size": float(curve.tidy()["power"].iloc[0]), "mde_80": curve.mde(0.8), "n_sims": 200,
    }]  # fmt: skip


def run(ctx: RunContext) -> AnalysisOutput:
    """HonestDiD bounds, synthetic controls and the minimum detectable effect per domain."""
    out = AnalysisOutput()
    panel = ctx.inputs.panel("force", "quarter")
    rows: list[dict] = []  # type: ignore[type-arg]
    power_rows = []
    for m in primary_measures(ctx, panel):
        domain = m.domain
        unit = SCALES[m.type].unit
        d = analysis_panel(panel, m, ctx, "default")
        for part, design in ((_honest, "honest_did"), (_synthetic, "synthetic_control")):
            try:
                rows += part(ctx, m, d, unit, out)
            except (ValueError, np.linalg.LinAlgError) as exc:
                out.add(
                    failure_row(ctx.spec.id, domain, ctx.data_label, exc).assign(
                        measure=m.id, design=design, level="force", scenario="sensitivity"
                    )
                )
        try:
            power_rows += _power(ctx, m, d, unit, out)
        except ValueError as exc:
            out.notes.append(f"power for {m.id}: {exc}")
    for r in rows:
        out.add(pd.DataFrame([r]))
    out.tables["power_mde"] = pd.DataFrame(power_rows)
    return out


if __name__ == "__main__":
    from soteria_eval.pipeline import run_script

    run_script(__file__, "sensitivity")
