"""Inference beyond a fitted model's covariance: resampling, randomization, multiplicity."""

from soteria_eval.inference.multiplicity import adjust_pvalues, romano_wolf
from soteria_eval.inference.power import PowerDesign, power_curve
from soteria_eval.inference.randomization import (
    cs_randomization_test,
    its_randomization_test,
    permutation_test,
    randomization_test,
)
from soteria_eval.inference.wild import (
    wild_cluster_bootstrap,
    wild_romano_wolf,
    wild_wald_test,
)

__all__ = [
    "PowerDesign",
    "adjust_pvalues",
    "cs_randomization_test",
    "its_randomization_test",
    "permutation_test",
    "power_curve",
    "randomization_test",
    "romano_wolf",
    "wild_cluster_bootstrap",
    "wild_romano_wolf",
    "wild_wald_test",
]
