"""How far the conclusions bend: HonestDiD bounds, leave-out and placebo analyses, synthetic control."""

from soteria_eval.sensitivity.honest import (
    HonestResults,
    breakdown_value,
    event_study_inputs,
    honest_sensitivity,
)
from soteria_eval.sensitivity.leave_out import (
    comparison_sensitivity,
    leave_one_out,
    placebo_dates,
)
from soteria_eval.sensitivity.synthetic import (
    SyntheticControlResults,
    SyntheticDiDResults,
    synthetic_control,
    synthetic_did,
)

__all__ = [
    "HonestResults",
    "SyntheticControlResults",
    "SyntheticDiDResults",
    "breakdown_value",
    "comparison_sensitivity",
    "event_study_inputs",
    "honest_sensitivity",
    "leave_one_out",
    "placebo_dates",
    "synthetic_control",
    "synthetic_did",
]
