"""Inference beyond a fitted model's covariance: resampling, randomization, multiplicity."""

from soteria_eval.inference.multiplicity import adjust_pvalues, romano_wolf
from soteria_eval.inference.randomization import randomization_test
from soteria_eval.inference.wild import (
    wild_cluster_bootstrap,
    wild_romano_wolf,
    wild_wald_test,
)

__all__ = [
    "adjust_pvalues",
    "randomization_test",
    "romano_wolf",
    "wild_cluster_bootstrap",
    "wild_romano_wolf",
    "wild_wald_test",
]
