"""What the published data show: sexual-offence charges by police force and financial year.

Question: did charges (Home Office outcome type 1, investigations closed in the year) rise
more in the five phase-1 pathfinder forces than in other forces after September 2021?

Data: the Home Office outcomes by force and financial year (real, published; sexual
offences as a whole, not rape alone): the data folder's refreshed copy
(``sexual_offences_outcomes_by_force_fy.csv``) if it has one, else the bundled file.

Window: the trend table and figure cover every complete year of the data. The
difference-in-differences estimates end with the last year in which some force was not
yet under the programme by the rollout (2022/23: the national operating model of 10 July
2023 left no untreated comparison), so a refreshed file's new years enter the trend, not
the estimate. The plan may fix either end: ``options: {window: [first, last]}``. Rows that
fail a closed-basis quality check (coverage gap, outlier year, jump) and incomplete years
are excluded and counted; British Transport Police is not a territorial force and is left
out.

Run alone: ``python analyses/published_outcomes.py --out results/published``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from soteria_eval.datasets import outcomes_quality_flags
from soteria_eval.did import did_2x2, twfe
from soteria_eval.disclosure import SUPPRESSED, figure_data, suppress_table
from soteria_eval.linear_model import FewClustersWarning
from soteria_eval.pipeline import AnalysisOutput, FigureSpec, RunContext, result_rows
from soteria_eval.plotting import GROUP_LABELS, trend_plot
from soteria_eval.rollout import get_scenario, treatment_panel

MEASURE = "published_sexual_offence_charges"
REAL_LABEL = "real (published)"  # the Home Office's published outcomes, not the run's case data
PRE = ("2018/19", "2019/20", "2020/21")
POST = ("2021/22", "2022/23")
#: Quality checks that concern the closed-basis charge counts used here.
CLOSED_BASIS_CHECKS = ("coverage_gap", "outlier", "jump")


def _start_year(fy: str) -> int:
    return int(fy[:4])


def windows(ctx: RunContext, data: pd.DataFrame) -> tuple[str, str, str]:
    """Return ``(first, last_data, last_did)``: the data's span and the estimates' last year.

    ``last_data`` is the last complete year of the data; ``last_did`` the last year, at most
    ``last_data``, in which some force is not yet treated under the default rollout. The
    plan's ``options.window`` (``[first, last]``) fixes the first year and the estimates'
    last year.
    """
    parts = set(data.attrs.get("part_years", ()))
    years = sorted({str(y) for y in data["fy"]} - parts, key=_start_year)
    if not years:
        raise ValueError("the published outcomes table has no complete financial year")
    first, last_data = years[0], years[-1]
    tp = treatment_panel(ctx.rollout, level="force", freq="fy", start=first, end=last_data)
    open_years = tp.groupby("period")["treated"].all().pipe(lambda s: s[~s].index)
    last_did = max(open_years, key=_start_year) if len(open_years) else last_data
    fixed = ctx.spec.options.get("window")
    if fixed is not None:
        if not (
            isinstance(fixed, list)
            and len(fixed) == 2
            and all(isinstance(y, str) and y in years for y in fixed)
        ):
            raise ValueError(
                f"options.window must be [first, last], two complete years of the data "
                f"({years[0]} to {years[-1]}), got {fixed!r}"
            )
        first, last_did = fixed
    return first, last_data, last_did


def build_panel(
    ctx: RunContext, scenario: str, data: pd.DataFrame, first: str, last: str
) -> tuple[pd.DataFrame, int]:
    """Force-by-year panel with treatment variables; return it and the rows excluded."""
    tp = treatment_panel(
        ctx.rollout, level="force", freq="fy", start=first, end=last, scenario=scenario
    )
    panel = tp.merge(
        data, left_on=["unit", "period"], right_on=["force", "fy"], how="left", validate="1:1"
    )
    flagged = panel["quality_flags"].fillna("").str.contains("|".join(CLOSED_BASIS_CHECKS))
    part = panel["period"].isin(data.attrs.get("part_years", ()))
    usable = flagged.eq(False) & ~part & panel["closed_charge"].gt(0)
    panel["log_charges"] = np.where(usable, np.log(panel["closed_charge"].where(usable, 1)), np.nan)
    panel["charges_used"] = panel["closed_charge"].where(usable)
    return panel, int((~usable).sum())


def run(ctx: RunContext) -> AnalysisOutput:
    """Estimate the change in log charges in pathfinder forces (TWFE and 2x2)."""
    out = AnalysisOutput()
    common = {
        "analysis": ctx.spec.id,
        "domain": "volume",
        "measure": MEASURE,
        "level": "force",
        "data_label": REAL_LABEL,
    }
    data = ctx.inputs.published_outcomes()
    first, last_data, last_did = windows(ctx, data)
    source = "refreshed file" if data.attrs.get("source_role") == "user" else "bundled file"
    for scenario in ctx.spec.scenarios:
        sc = get_scenario(scenario)
        panel, excluded = build_panel(ctx, scenario, data, first, last_did)
        note = (
            f"{excluded} force-years excluded by quality checks; British Transport Police left "
            f"out; years {first} to {last_did} (data to {last_data}, {source})"
        )
        covariates = ["exposed_control"] if sc.exposed_controls == "separate" else []
        panel["exposed_control"] = panel["exposed_control"].astype(float)
        panel["treated_f"] = panel["treated"].astype(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FewClustersWarning)
            res = twfe(
                panel,
                outcome="log_charges",
                treatment="treated_f",
                unit="unit",
                time="period",
                covariates=covariates,
            )
            for r in (res, res.with_vcov("CR2")):
                out.add(
                    result_rows(
                        r,
                        design="twfe",
                        scenario=scenario,
                        estimand="ATT (log points)",
                        terms=["treated_f", "exposed_control"],
                        note=note,
                        **common,
                    )
                )
            # 2x2: phase-1 pathfinders against forces still untreated in the post years
            # (under some scenarios phase 2 takes every other force from 2022/23).
            post = [
                p
                for p in POST
                if (~panel.loc[(panel["period"] == p) & (panel["phase"] != 1), "treated"]).any()
            ]
            untreated = panel[panel["period"].isin(post)].groupby("unit")["treated"].any().eq(False)
            controls = set(untreated[untreated].index) - set(panel.loc[panel["phase"] == 1, "unit"])
            sub = panel[(panel["phase"] == 1) | panel["unit"].isin(controls)]
            sub = sub[sub["period"].isin(PRE + tuple(post))].copy()
            sub["pathfinder"] = sub["phase"] == 1
            sub["post"] = sub["period"].isin(post)
            r2 = did_2x2(
                sub, outcome="log_charges", treated="pathfinder", post="post", cluster="unit"
            )
            r2 = _with_counts(r2, sub)
            note2 = f"{note}; post years {', '.join(post)}; {len(controls)} comparison forces"
            out.add(
                result_rows(
                    r2,
                    design="did_2x2",
                    scenario=scenario,
                    estimand="ATT (log points)",
                    terms=["treated:post"],
                    note=note2,
                    **common,
                )
            )
        if scenario == "default":
            full, _ = build_panel(ctx, scenario, data, first, last_data)
            full = full[~full["period"].isin(data.attrs.get("part_years", ()))]
            out.figures.append(_trend_figure(full, first, last_data))
            out.tables["published_charges_by_group"] = _group_table(full, ctx.disclosure_threshold)
            out.tables["published_quality_flags"] = _flags_table(data, ctx.disclosure_threshold)
    return out


def _flags_table(data: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Return the warning flags of the outcomes table read (values 1 to threshold-1 suppressed)."""
    flags = outcomes_quality_flags(data, part_years=data.attrs.get("part_years", ()))
    flags = flags.loc[
        flags["severity"] == "warning", ["force", "fy", "check", "column", "value", "reference"]
    ]
    table = flags.reset_index(drop=True).astype({"value": object, "reference": object})
    for c in ("value", "reference"):
        v = pd.to_numeric(flags[c]).reset_index(drop=True)
        table[c] = [
            SUPPRESSED if 0 < x < threshold else ("" if pd.isna(x) else f"{x:.0f}") for x in v
        ]
    table.attrs["count_columns"] = ["value", "reference"]
    table.attrs["data_label"] = REAL_LABEL
    return table


def _with_counts(res, sub: pd.DataFrame):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    info = dict(res.info)
    units = sub.groupby("unit")["pathfinder"].first()
    info.update(
        n_units=int(units.size), n_treated=int(units.sum()), n_periods=int(sub["period"].nunique())
    )
    return replace(res, info=info)


def _trend_figure(panel: pd.DataFrame, first: str, last: str) -> FigureSpec:
    base = panel[panel["period"] == "2018/19"].set_index("unit")["log_charges"]
    d = panel.assign(rel=100 * (panel["log_charges"] - panel["unit"].map(base)))
    g = d.groupby(["group", "period"], as_index=False).agg(
        rel=("rel", "mean"), forces=("unit", "nunique"), charges=("charges_used", "sum")
    )
    fig = trend_plot(
        g,
        x="period",
        y="rel",
        group="group",
        markers={
            k: v
            for k, v in {
                "2021/22": "Phase 1",
                "2022/23": "Phase 2",
                "2023/24": "National model",
            }.items()
            if k in set(g["period"])
        },
        ylabel="Change in charges since 2018/19 (log points × 100)",
        title="Sexual-offence charges by group of forces (published data)",
    )
    alt = (
        "Line chart of the average change in sexual-offence charges since 2018/19, in log points, "
        "for phase-1 pathfinder forces, exposed control forces and other forces, financial years "
        f"{first} to {last}, with dashed lines where phases 1 and 2 began. Values: "
        + "; ".join(
            f"{GROUP_LABELS[r.group]} {r.period}: {r.rel:.0f}"
            for r in g[g["period"].isin(["2020/21", "2022/23"])].itertuples()
        )
    )
    return FigureSpec(
        "published_charges_trend",
        fig,
        alt,
        "Average change in charges since 2018/19 by group of forces.",
        data=figure_data(g, basis_column="charges"),
        data_label=REAL_LABEL,
    )


def _group_table(panel: pd.DataFrame, threshold: int) -> pd.DataFrame:
    counts = panel.pivot_table(
        index="period", columns="group", values="charges_used", aggfunc="sum"
    )
    counts = counts.reindex(columns=["pathfinder", "exposed_control", "comparison"])
    table = suppress_table(counts, threshold).reset_index()
    table.attrs["count_columns"] = ["pathfinder", "exposed_control", "comparison"]
    table.attrs["data_label"] = REAL_LABEL
    return table


if __name__ == "__main__":
    from soteria_eval.pipeline import run_script

    run_script(__file__, "published_outcomes")
