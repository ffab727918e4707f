"""Attrition and timeliness along the case journey.

Question: what share of reports reaches each stage — referral to the CPS, charge, first
hearing, conviction — and how long does each step take, in pathfinder forces, exposed
controls and other forces, by report year; and how does this differ for domestic-abuse
cases, non-recent offences and by victim age band?

Design: descriptive (report cohorts followed up for at least two years), from case
records; every table is disclosure-controlled. See :mod:`soteria_eval.panels.attrition`.

Run alone: ``python analyses/attrition.py --out results/attrition``.
"""

from __future__ import annotations

import pandas as pd

from soteria_eval.disclosure import figure_data
from soteria_eval.panels.attrition import attrition_tables
from soteria_eval.pipeline import AnalysisOutput, FigureSpec, RunContext
from soteria_eval.plotting import GROUP_LABELS, funnel_plot

SUBGROUPS = ("domestic_abuse", "non_recent", "victim_age_band")


def run(ctx: RunContext) -> AnalysisOutput:
    """Build the attrition tables and the funnel figure."""
    out = AnalysisOutput()
    cases = ctx.inputs.cases()
    # Published together, so suppressed together: a subgroup's values add up to all cases.
    tables = attrition_tables(cases, ctx.rollout, SUBGROUPS, threshold=ctx.disclosure_threshold)
    table = tables["all"]
    out.tables["attrition_by_group_year"] = table
    for sub in SUBGROUPS:
        out.tables[f"attrition_by_{sub}"] = tables[sub]
    year = int(table["year"].max())
    fig = funnel_plot(
        table, year=year, title=f"Share of reports reaching each stage, reports made in {year}"
    )
    t = table[(table["year"] == year)]
    parts = []
    for g in ("pathfinder", "exposed_control", "comparison"):
        row = t[(t["group"] == g) & (t["stage"] == "charged")]
        if len(row):
            share = pd.to_numeric(row["share_of_reports"], errors="coerce").iloc[0]
            parts.append(
                f"{GROUP_LABELS[g]}: {100 * share:.1f}% charged"
                if pd.notna(share)
                else f"{GROUP_LABELS[g]}: suppressed"
            )
    alt = (
        f"Bar chart, on a log scale, of the percentage of reports made in {year} that reached each stage (reported, referred "
        f"to the CPS, charged, first hearing, convicted) for three groups of forces. "
        + "; ".join(parts)
        + "."
    )
    out.figures.append(
        FigureSpec(
            "attrition_funnel",
            fig,
            alt,
            f"The journey of a case, reports made in {year} ({ctx.data_label} data).",
            data=figure_data(
                t.loc[t["value"] == "all", ["group", "year", "stage", "cases", "share_of_reports"]]
                # the bars' heights, as drawn
                .assign(
                    percent_of_reports=lambda d: (
                        100 * pd.to_numeric(d["share_of_reports"], errors="coerce")
                    )
                ),
                count_columns=["cases"],  # already suppressed: a [c] cell is drawn as a gap
            ),
        )
    )
    return out


if __name__ == "__main__":
    from soteria_eval.pipeline import run_script

    run_script(__file__, "attrition")
