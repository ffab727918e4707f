"""How far the conclusions bend: HonestDiD bounds, leave-out and placebo analyses, synthetic control."""

from soteria_eval.sensitivity.honest import (
    HonestResults,
    event_study_inputs,
    honest_sensitivity,
)

__all__ = ["HonestResults", "event_study_inputs", "honest_sensitivity"]
