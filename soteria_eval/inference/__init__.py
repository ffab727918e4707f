"""Inference beyond the covariance of a fitted model: multiplicity and (later) resampling."""

from soteria_eval.inference.multiplicity import adjust_pvalues

__all__ = ["adjust_pvalues"]
