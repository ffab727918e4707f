"""Interrupted time-series designs: segmented regression with HAC or AR(1) errors."""

from soteria_eval.its.covariance import default_lag, gls_ar1, newey_west
from soteria_eval.its.segmented import Interruption, ITSResults, segmented_regression

__all__ = [
    "ITSResults",
    "Interruption",
    "default_lag",
    "gls_ar1",
    "newey_west",
    "segmented_regression",
]
