"""National interrupted time series.

Question: after the national operating model (July 2023) no force is left untreated, so
did the national series of each domain's primary measure change level or trend when
phase 1 began (September 2021) and when the national model began, beyond what their
pre-programme trend and seasonality predicted?

Design: segmented regression on the monthly national series (every force summed; counts
on the log scale, so no counterfactual can fall below zero), with a COVID-19 level shift
(April 2020) kept in the counterfactual, month dummies and AR(1) errors (GLS, REML). See
:mod:`soteria_eval.its`; the series is :func:`soteria_eval.validation.national_series`, the
same the recovery study judges.

Run alone: ``python analyses/national_its.py --out results/national_its``.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from soteria_eval.dictionary import DOMAINS, load_catalogue
from soteria_eval.disclosure import figure_data
from soteria_eval.its import (
    Interruption,
    comparative_its,
    exclusion_sensitivity,
    placebo_interruptions,
    residual_diagnostics,
    segmented_regression,
)
from soteria_eval.pipeline import AnalysisOutput, FigureSpec, RunContext, result_rows
from soteria_eval.pipeline.outputs import failure_row
from soteria_eval.plotting import its_plot
from soteria_eval.report import p_text
from soteria_eval.rollout import treatment_panel
from soteria_eval.validation import NATIONAL_SERIES as SERIES
from soteria_eval.validation import national_series

INTERRUPTIONS = [
    Interruption("COVID-19", "2020-04", slope=False, programme=False),
    Interruption("phase 1", "2021-09"),
    Interruption("national model", "2023-07"),
]
COVID_MONTHS = [f"2020-{m:02d}" for m in range(4, 13)]


def run(ctx: RunContext) -> AnalysisOutput:
    """Fit the national ITS for each domain's summable primary measure."""
    out = AnalysisOutput()
    cat = load_catalogue()
    panel = ctx.inputs.panel("force", "month")
    units = {
        "count": "log points",
        "proportion": "percentage points",
        "duration": "days",
        "score": "points",
    }
    # The series starts at the plan's ``start`` (default January 2016, the start of the
    # simulated window), whatever the extract holds: sparse early months of an extract
    # (a few burn-in records) would otherwise start the series with gaps.
    start = str(ctx.spec.options.get("start", "2016-01"))
    if not re.fullmatch(r"(19|20)\d\d-(0[1-9]|1[0-2])", start):
        raise ValueError(
            f"plan option start of {ctx.spec.id!r}: {start!r} is not a month (YYYY-MM)"
        )
    for domain in DOMAINS:
        m = cat[SERIES[domain]]
        s = national_series(panel, m.id, m.type)
        s = s[s["period"] >= start]
        empty = s.loc[s["y"].isna(), "period"].astype(str).tolist()
        if empty:  # small data: a month with no value breaks the series; said, not raised
            out.add(failure_row(ctx.spec.id, domain, ctx.data_label, ValueError(
                f"national series of {m.id} has {len(empty)} month(s) with no value (no cases, or "
                f"withheld): {', '.join(empty[:6])}{' ...' if len(empty) > 6 else ''}; the "
                "segmented regression needs every month"
            )).assign(measure=m.id, design="its_segmented", level="national", scenario="default"))  # fmt: skip
            _comparative(ctx, out, panel, m, units[m.type])
            continue
        try:
            res = segmented_regression(
                s,
                outcome="y",
                time="period",
                interruptions=INTERRUPTIONS,
                seasonality="dummies",
                errors="ar1",
            )
        except ValueError as exc:  # e.g. months missing from the series: said, not raised
            out.add(failure_row(ctx.spec.id, domain, ctx.data_label, exc).assign(
                measure=m.id, design="its_segmented", level="national", scenario="default"))  # fmt: skip
            _comparative(ctx, out, panel, m, units[m.type])
            continue
        # Diagnostics and sensitivity: residual autocorrelation, a placebo start two years
        # early (pre-programme months only) and the COVID-19 months left out. A failed
        # check makes the national estimates "not credible": kept, said, not summarised.
        checks = _checks(ctx, domain, m.id, s, res)
        doubt = _credibility(checks, res)
        rows_before = len(out.rows)
        terms = [t for t in res.params.index if t.startswith(("level:", "slope:"))]
        out.add(result_rows(res, analysis=ctx.spec.id, domain=domain, measure=m.id, design="its_segmented", level="national",
                            scenario="default", estimand=f"change ({units[m.type]}; slope per month)", data_label=ctx.data_label,
                            terms=terms, note="AR(1) errors; month dummies; COVID-19 level shift kept in the counterfactual")
                .assign(n_units=43))  # fmt: skip
        eff = res.effect_at([12, 24], "phase 1")
        eff = eff[eff["kind"] == "at"]
        for _, e in eff.iterrows():
            out.add(
                pd.DataFrame(
                    {
                        "analysis": ctx.spec.id, "domain": domain, "measure": m.id, "design": "its_segmented",
                        "level": "national", "scenario": "default", "estimand": f"effect {int(e['horizon'])} months after phase 1 ({units[m.type]})",
                        "term": "programme", "estimate": e["estimate"], "std_error": e["std_error"], "ci_lower": e["ci_lower"],
                        "ci_upper": e["ci_upper"], "p_value": 2 * _norm_sf(abs(e["estimate"] / e["std_error"])), "p_adjusted": np.nan,
                        "inference": res.inference, "n_units": 43, "n_treated": 43, "n_periods": res.nobs, "n_obs": res.nobs,
                        "n_dropped": 0, "data_label": ctx.data_label, "status": "ok", "note": "delta method on the segmented-regression terms",
                    },
                    index=[0],
                )
            )  # fmt: skip
        if doubt:
            for i in range(rows_before, len(out.rows)):
                r = out.rows[i]
                out.rows[i] = r.assign(
                    status=np.where(r["status"] == "ok", "not credible", r["status"]),
                    note=[f"not credible: {doubt}; {n}" if isinstance(n, str) and n else f"not credible: {doubt}" for n in r["note"]],
                )  # fmt: skip
        out.add(checks)
        fig = its_plot(
            res,
            title=f"{m.title}, England and Wales: interrupted time series",
            ylabel=f"{m.title} ({'log of the monthly count' if m.type == 'count' else units[m.type]})",
        )
        last = res.counterfactual().iloc[-1]
        alt = (
            f"Time-series chart of the national monthly {m.title_in_text} from {s['period'].iloc[0]} to {s['period'].iloc[-1]}, "
            f"with the fitted segmented regression and the counterfactual without the programme (dashed, with a confidence band); "
            f"dashed vertical lines mark COVID-19 (April 2020), phase 1 (September 2021) and the national model (July 2023). "
            f"In the last month the fitted value is {last['fitted']:.1f} against a counterfactual of {last['counterfactual']:.1f}."
        )
        out.figures.append(
            FigureSpec(
                f"its_{domain}_{m.id}",
                fig,
                alt,
                f"National interrupted time series: {m.title_in_text} ({ctx.data_label} data).",
                data=_its_figure_data(res, panel, m),
            )
        )
        _comparative(ctx, out, panel, m, units[m.type])
    return out


def _comparative(ctx: RunContext, out: AnalysisOutput, panel: pd.DataFrame, m, unit: str) -> None:  # type: ignore[no-untyped-def]
    """Phase-1 pathfinders against never-exposed national-model forces, before July 2023."""
    table = ctx.rollout.table
    forces = table[table["level"] == "force"].set_index("unit")
    tp = treatment_panel(ctx.rollout, level="force", freq="month", start="2016-01", end="2023-06")
    exposed = set(tp.loc[tp["exposed_ever"].astype(bool), "unit"])
    pathfinders = set(forces.index[forces["phase"] == 1])
    comparison = set(forces.index[forces["phase"] == 3]) - exposed
    rows = panel[panel["period"] < "2023-07"]
    series = []
    for label, members in (("pathfinders", pathfinders), ("comparison", comparison)):
        # Counts on the log scale: the groups differ in size, so compare proportional changes.
        part = national_series(rows, m.id, m.type, sorted(members)).assign(group=label)
        series.append(part)
    two = pd.concat(series, ignore_index=True)
    complete = two.groupby("period")["y"].transform(lambda v: v.notna().all() and len(v) == 2)
    two = two[complete]
    try:
        res = comparative_its(
            two, outcome="y", time="period", group="group", treated="pathfinders",
            interruptions=INTERRUPTIONS[:2], seasonality="dummies",
        )  # fmt: skip
    except ValueError as exc:
        out.add(failure_row(ctx.spec.id, m.domain, ctx.data_label, exc).assign(
            measure=m.id, design="its_comparative", level="force", scenario="comparative"))  # fmt: skip
        return
    terms = ["treated:level:phase 1", "treated:slope:phase 1"]
    rows_out = result_rows(res, analysis=ctx.spec.id, domain=m.domain, measure=m.id, design="its_comparative",
                           level="force", scenario="comparative", estimand=f"differential change ({unit}; slope per month)",
                           data_label=ctx.data_label, terms=terms,
                           note=f"{len(pathfinders)} phase-1 pathfinders vs {len(comparison)} national-model forces never exposed; "
                                "months to 2023-06; month dummies; Driscoll–Kraay HAC")  # fmt: skip
    rows_out["term"] = rows_out["term"].map(
        {terms[0]: "level change (phase 1)", terms[1]: "slope change (phase 1)"}
    )
    out.add(rows_out.assign(n_units=len(pathfinders) + len(comparison), n_treated=len(pathfinders)))
    fig = its_plot(res, title=f"{m.title}: phase-1 pathfinders against comparison forces",
                   ylabel=f"{m.title} ({unit})")  # fmt: skip
    lvl = res.params[terms[0]]
    out.figures.append(FigureSpec(
        f"cits_{m.domain}_{m.id}", fig,
        f"Time-series chart of monthly {m.title_in_text} in the five phase-1 pathfinder forces together and in "
        f"{len(comparison)} forces that joined only with the national model and never shared a CPS Area with a "
        f"pathfinder, to June 2023. The fitted pathfinder series, and the series expected had the gap between "
        f"the two groups kept its pre-programme path (dashed), are drawn; the differential level change at "
        f"phase 1 is {lvl:.2f} {unit}.",
        f"Comparative interrupted time series ({ctx.data_label} data).",
        data=_its_figure_data(res, rows, m, sorted(pathfinders), sorted(comparison)),
    ))  # fmt: skip


def _its_figure_data(res, panel: pd.DataFrame, m, *groups: list[str]) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """Return what an ITS figure draws, with the cases behind each month of each series.

    A count is drawn on the log scale, so it can be read back: its basis is the count
    itself; a rate or median rests on its denominator. A proportion also gives back its
    numerator (rate × cases) and complement, so both are carried and checked. For a
    comparative figure, each group's series is checked (``cases_<n>``, ``numerator_<n>``
    for the n-th group of forces).
    """
    data = res.counterfactual()
    col = "numerator" if m.type == "count" else "denominator"
    rows = panel[panel["measure"] == m.id]
    members = groups or (sorted(rows["unit"].unique()),)
    basis: list[str] = []
    parts: dict[str, str] = {}
    for i, units in enumerate(members):
        mine = rows[rows["unit"].isin(units)].groupby("period")
        suffix = f"_{i + 1}" if groups else ""
        data[f"cases{suffix}"] = data["period"].astype(str).map(mine[col].sum(min_count=1))
        basis.append(f"cases{suffix}")
        if m.type == "proportion":
            data[f"numerator{suffix}"] = (
                data["period"].astype(str).map(mine["numerator"].sum(min_count=1))
            )
            parts[f"numerator{suffix}"] = f"cases{suffix}"
    return figure_data(data, basis_column=basis, rate_parts=parts)


def _checks(
    ctx: RunContext, domain: str, measure: str, s: pd.DataFrame, res: object
) -> pd.DataFrame:
    """Rows for the residual, placebo and COVID-exclusion checks of one national series."""
    lb = residual_diagnostics(res, lags=12).iloc[-1]  # type: ignore[arg-type]
    checks = [
        (
            "residual autocorrelation (Ljung-Box, 12 lags)",
            float(lb["ljung_box"]),
            np.nan,
            np.nan,
            np.nan,
            float(lb["p_value"]),
        )
    ]
    pl = placebo_interruptions(
        s,
        outcome="y",
        time="period",
        dates=["2019-09"],
        before="2021-09",
        seasonality="dummies",
        errors="ar1",
    )
    for _, row in pl.iterrows():
        est, se = float(row["estimate"]), float(row["std_error"])
        checks.append(
            (
                f"placebo {row['change']} change at 2019-09",
                est,
                se,
                row["ci_lower"],
                row["ci_upper"],
                2 * _norm_sf(abs(est / se)),
            )
        )
    ex = exclusion_sensitivity(s, outcome="y", time="period", interruptions=INTERRUPTIONS, exclude=COVID_MONTHS,
                               term="level:phase 1", seasonality="dummies", errors="ar1").iloc[1]  # fmt: skip
    est, se = float(ex["estimate"]), float(ex["std_error"])
    checks.append(
        (
            "phase 1 level change, COVID-19 months excluded",
            est,
            se,
            ex["ci_lower"],
            ex["ci_upper"],
            2 * _norm_sf(abs(est / se)),
        )
    )
    rows = pd.DataFrame(
        checks, columns=["estimand", "estimate", "std_error", "ci_lower", "ci_upper", "p_value"]
    )
    return rows.assign(
        analysis=ctx.spec.id, domain=domain, measure=measure, design="its_segmented", level="national",
        scenario="sensitivity", term="check", p_adjusted=np.nan, inference=getattr(res, "inference", ""),
        n_units=43, n_treated=43, n_periods=getattr(res, "nobs", np.nan), n_obs=getattr(res, "nobs", np.nan),
        n_dropped=0, data_label=ctx.data_label, status="ok", note="",
    )  # fmt: skip


#: A national estimate is not credible when a check fails at this level.
CHECK_ALPHA = 0.05
#: ... or when the AR(1) coefficient is this close to a unit root (a trend the model
#: cannot tell from the programme).
MAX_PHI = 0.9


def _credibility(checks: pd.DataFrame, res: object) -> str:
    """Return why the national ITS of a series is not credible ('' when the checks pass)."""
    reasons = []
    lb = checks[checks["estimand"].str.startswith("residual autocorrelation")]
    if len(lb) and float(lb["p_value"].iloc[0]) < CHECK_ALPHA:
        reasons.append(
            f"residuals autocorrelated (Ljung-Box {p_text(float(lb['p_value'].iloc[0]))})"
        )
    pl = checks[checks["estimand"].str.startswith("placebo")]
    for _, r in pl.iterrows():
        if float(r["p_value"]) < CHECK_ALPHA:
            reasons.append(
                f"{r['estimand']} rejects ({p_text(float(r['p_value']))}): a pre-programme trend break"
            )
    phi = getattr(res, "info", {}).get("phi")
    if isinstance(phi, float) and phi >= MAX_PHI:
        reasons.append(f"AR(1) coefficient {phi:.2f}, near a unit root")
    return "; ".join(reasons)


def _norm_sf(z: float) -> float:
    from scipy import stats

    return float(stats.norm.sf(z))


if __name__ == "__main__":
    from soteria_eval.pipeline import run_script

    run_script(__file__, "national_its")
