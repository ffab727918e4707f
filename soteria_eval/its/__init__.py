"""Interrupted time-series designs: segmented regression, counts, diagnostics."""

from soteria_eval.its.counts import count_its
from soteria_eval.its.covariance import default_lag, gls_ar1, newey_west
from soteria_eval.its.diagnostics import (
    exclusion_sensitivity,
    placebo_interruptions,
    residual_diagnostics,
    window_sensitivity,
)
from soteria_eval.its.segmented import Interruption, ITSResults, segmented_regression

__all__ = [
    "ITSResults",
    "Interruption",
    "count_its",
    "default_lag",
    "exclusion_sensitivity",
    "gls_ar1",
    "newey_west",
    "placebo_interruptions",
    "residual_diagnostics",
    "segmented_regression",
    "window_sensitivity",
]
