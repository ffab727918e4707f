"""Timeliness domain.

Question: Did cases move faster from report to charge, from referral to decision and from charge to completion in the pathfinder forces?

Design: two-way fixed effects on the force-by-quarter panel, treated force-quarters
against not-yet-treated ones, 2018-Q1 to 2023-Q2, for every timeliness measure in the data,
under each scenario of the plan (see :mod:`soteria_eval.evaluation`).

Run alone: ``python analyses/timeliness.py --out results/timeliness``.
"""

from __future__ import annotations

from soteria_eval.evaluation import domain_analysis
from soteria_eval.pipeline import AnalysisOutput, RunContext


def run(ctx: RunContext) -> AnalysisOutput:
    """Estimate programme effects on every timeliness measure."""
    return domain_analysis(ctx, "timeliness", ctx.spec.measures)


if __name__ == "__main__":
    from soteria_eval.pipeline import run_script

    run_script(__file__, "timeliness")
