"""Interrupted time-series designs: segmented regression, counts, diagnostics."""

from soteria_eval.its.bootstrap import its_wild_bootstrap
from soteria_eval.its.comparative import comparative_its
from soteria_eval.its.counts import count_its
from soteria_eval.its.covariance import (
    default_lag,
    driscoll_kraay,
    gls_ar,
    gls_ar1,
    newey_west,
    newey_west_many,
)
from soteria_eval.its.diagnostics import (
    exclusion_sensitivity,
    placebo_interruptions,
    residual_diagnostics,
    window_sensitivity,
)
from soteria_eval.its.multi import MultiUnitITSResults, multi_unit_its
from soteria_eval.its.segmented import Interruption, ITSResults, segmented_regression

__all__ = [
    "ITSResults",
    "Interruption",
    "MultiUnitITSResults",
    "comparative_its",
    "count_its",
    "default_lag",
    "driscoll_kraay",
    "exclusion_sensitivity",
    "gls_ar",
    "gls_ar1",
    "its_wild_bootstrap",
    "multi_unit_its",
    "newey_west",
    "newey_west_many",
    "placebo_interruptions",
    "residual_diagnostics",
    "segmented_regression",
    "window_sensitivity",
]
