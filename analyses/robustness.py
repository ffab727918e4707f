"""Robustness of the primary measures.

Question: do the headline results hold when (a) each phase-1 pathfinder force is left out
in turn, (b) the COVID-19 quarters (2020-Q2 to 2021-Q1) are dropped, and (c) a placebo
start two years early (2019-Q3), fitted on pre-programme quarters only, finds nothing?

Design: the TWFE specification of the domain analyses (force by quarter, not-yet-treated
comparisons), CR2 standard errors. Rows are labelled in the ``scenario`` column.

Run alone: ``python analyses/robustness.py --out results/robustness``.
"""

from __future__ import annotations

import warnings

import pandas as pd

from soteria_eval.did import twfe
from soteria_eval.evaluation import SCALES, analysis_panel, primary_measures
from soteria_eval.linear_model import FewClustersWarning
from soteria_eval.pipeline import AnalysisOutput, RunContext, result_rows

COVID_QUARTERS = ("2020-Q2", "2020-Q3", "2020-Q4", "2021-Q1")
PLACEBO_START, PRE_END = "2019-Q3", "2021-Q2"


def _fit(d: pd.DataFrame):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        return twfe(d, outcome="y", treatment="treated_f", unit="unit", time="period", vcov="CR2")


def run(ctx: RunContext) -> AnalysisOutput:
    """Leave-one-out, COVID exclusion and placebo checks for each domain's primary measure."""
    out = AnalysisOutput()
    panel = ctx.inputs.panel("force", "quarter")
    for m in primary_measures(ctx, panel):
        domain = m.domain
        d = analysis_panel(panel, m, ctx, "default")
        unit = SCALES[m.type].unit
        checks: list[tuple[str, pd.DataFrame, str]] = []
        for force in sorted(d.loc[d["phase"] == 1, "unit"].unique()):
            checks.append((f"leave out {force}", d[d["unit"] != force], f"{force} dropped"))
        checks.append(
            (
                "COVID-19 quarters excluded",
                d[~d["period"].isin(COVID_QUARTERS)],
                "2020-Q2 to 2021-Q1 dropped",
            )
        )
        pre = d[d["period"] <= PRE_END].copy()
        pre["treated_f"] = ((pre["phase"] == 1) & (pre["period"] >= PLACEBO_START)).astype(float)
        checks.append(
            (
                f"placebo start {PLACEBO_START}",
                pre,
                "pre-programme quarters only; a real effect would be a warning sign",
            )
        )
        for label, data, note in checks:
            res = _fit(data)
            out.add(
                result_rows(res, analysis=ctx.spec.id, domain=domain, measure=m.id, design="twfe", level="force",
                            scenario=label, estimand=f"ATT ({unit})", data_label=ctx.data_label, terms=["treated_f"], note=note)
                .assign(term="programme")
            )  # fmt: skip
    return out


if __name__ == "__main__":
    from soteria_eval.pipeline import run_script

    run_script(__file__, "robustness")
