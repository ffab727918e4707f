"""What the published data show: sexual-offence charges by police force, 2014/15 to 2022/23.

Question: did charges (Home Office outcome type 1, investigations closed in the year) rise
more in the five phase-1 pathfinder forces than in other forces after September 2021?

Data: the bundled Home Office outcomes by force and financial year (real, published;
sexual offences as a whole, not rape alone). The window ends in 2022/23, before the
national operating model (10 July 2023) left no untreated comparison. Rows that fail a
closed-basis quality check (coverage gap, outlier year, jump) are excluded and counted;
British Transport Police is not a territorial force and is left out.

Run alone: ``python analyses/published_outcomes.py --out results/published``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from soteria_eval.datasets import load_sexual_offences_outcomes
from soteria_eval.did import did_2x2, twfe
from soteria_eval.disclosure import figure_data, suppress_table
from soteria_eval.linear_model import FewClustersWarning
from soteria_eval.pipeline import AnalysisOutput, FigureSpec, RunContext, result_rows
from soteria_eval.plotting import GROUP_LABELS, trend_plot
from soteria_eval.rollout import get_scenario, treatment_panel

MEASURE = "published_sexual_offence_charges"
FIRST, LAST = "2014/15", "2022/23"
PRE = ("2018/19", "2019/20", "2020/21")
POST = ("2021/22", "2022/23")
#: Quality checks that concern the closed-basis charge counts used here.
CLOSED_BASIS_CHECKS = ("coverage_gap", "outlier", "jump")


def build_panel(ctx: RunContext, scenario: str) -> tuple[pd.DataFrame, int]:
    """Force-by-year panel with treatment variables; return it and the rows excluded."""
    data = load_sexual_offences_outcomes()
    tp = treatment_panel(
        ctx.rollout, level="force", freq="fy", start=FIRST, end=LAST, scenario=scenario
    )
    panel = tp.merge(
        data, left_on=["unit", "period"], right_on=["force", "fy"], how="left", validate="1:1"
    )
    flagged = panel["quality_flags"].fillna("").str.contains("|".join(CLOSED_BASIS_CHECKS))
    usable = flagged.eq(False) & panel["closed_charge"].gt(0)
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
        "data_label": "real (published)",
    }
    for scenario in ctx.spec.scenarios:
        sc = get_scenario(scenario)
        panel, excluded = build_panel(ctx, scenario)
        note = (
            f"{excluded} force-years excluded by quality checks; British Transport Police left out"
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
            out.figures.append(_trend_figure(panel))
            out.tables["published_charges_by_group"] = _group_table(panel, ctx.disclosure_threshold)
    return out


def _with_counts(res, sub: pd.DataFrame):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    info = dict(res.info)
    units = sub.groupby("unit")["pathfinder"].first()
    info.update(
        n_units=int(units.size), n_treated=int(units.sum()), n_periods=int(sub["period"].nunique())
    )
    return replace(res, info=info)


def _trend_figure(panel: pd.DataFrame) -> FigureSpec:
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
        markers={"2021/22": "Phase 1", "2022/23": "Phase 2"},
        ylabel="Change in charges since 2018/19 (log points × 100)",
        title="Sexual-offence charges by group of forces (published data)",
    )
    alt = (
        "Line chart of the average change in sexual-offence charges since 2018/19, in log points, "
        "for phase-1 pathfinder forces, exposed control forces and other forces, financial years "
        f"{FIRST} to {LAST}, with dashed lines where phases 1 and 2 began. Values: "
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
    )


def _group_table(panel: pd.DataFrame, threshold: int) -> pd.DataFrame:
    counts = panel.pivot_table(
        index="period", columns="group", values="charges_used", aggfunc="sum"
    )
    counts = counts.reindex(columns=["pathfinder", "exposed_control", "comparison"])
    table = suppress_table(counts, threshold).reset_index()
    table.attrs["count_columns"] = ["pathfinder", "exposed_control", "comparison"]
    return table


if __name__ == "__main__":
    from soteria_eval.pipeline import run_script

    run_script(__file__, "published_outcomes")
