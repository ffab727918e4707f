"""Victim_experience domain.

Question: Did fewer victims withdraw, and did more get ISVA support and report satisfaction, in the pathfinder forces?

Design: two-way fixed effects on the force-by-quarter panel, treated force-quarters
against not-yet-treated ones, 2018-Q1 to 2023-Q2, for every victim experience measure in the data,
under each scenario of the plan (see :mod:`soteria_eval.evaluation`).

Run alone: ``python analyses/victim_experience.py --out results/victim_experience``.
"""

from __future__ import annotations

from soteria_eval.evaluation import domain_analysis
from soteria_eval.pipeline import AnalysisOutput, RunContext


def run(ctx: RunContext) -> AnalysisOutput:
    """Estimate programme effects on every victim experience measure."""
    return domain_analysis(ctx, "victim_experience", ctx.spec.measures)


if __name__ == "__main__":
    from soteria_eval.pipeline import run_script

    run_script(__file__, "victim_experience")
