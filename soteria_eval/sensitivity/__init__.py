"""How far the conclusions bend: HonestDiD bounds, leave-out and placebo analyses, synthetic control."""

from soteria_eval.sensitivity.honest import (
    HonestResults,
    event_study_inputs,
    honest_sensitivity,
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
    "event_study_inputs",
    "honest_sensitivity",
    "synthetic_control",
    "synthetic_did",
]
