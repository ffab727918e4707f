"""The evaluation pipeline: plan → run → results table, figures, tables, manifest."""

from soteria_eval.pipeline.context import RunContext
from soteria_eval.pipeline.outputs import (
    RESULT_COLUMNS,
    AnalysisOutput,
    FigureSpec,
    result_rows,
)
from soteria_eval.pipeline.plan import AnalysisSpec, Plan, PlanError, load_plan
from soteria_eval.pipeline.run import RunSummary, run_evaluation, run_script

__all__ = [
    "RESULT_COLUMNS",
    "AnalysisOutput",
    "AnalysisSpec",
    "FigureSpec",
    "Plan",
    "PlanError",
    "RunContext",
    "RunSummary",
    "load_plan",
    "result_rows",
    "run_evaluation",
    "run_script",
]
