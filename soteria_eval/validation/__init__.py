"""Validation of the evaluation as a whole: whether it recovers the planted truth.

:func:`recovery_study` runs every design and inference of the evaluation over many
simulated seeds and compares each estimate with the planted estimand
(:mod:`soteria_eval.simulate.truth`); :func:`method_verdicts` turns its table (and the
coverage study's) into the pipeline's decisions on what it may report.
"""

from soteria_eval.validation.designs import (
    DESIGNS,
    NATIONAL_SERIES,
    DesignSettings,
    national_series,
)
from soteria_eval.validation.recovery import (
    RECOVERY_COLUMNS,
    RecoveryResults,
    RecoverySettings,
    mc_errors,
    recovery_study,
    run_seed,
    summarise,
)

__all__ = [
    "DESIGNS",
    "NATIONAL_SERIES",
    "RECOVERY_COLUMNS",
    "DesignSettings",
    "RecoveryResults",
    "RecoverySettings",
    "mc_errors",
    "national_series",
    "recovery_study",
    "run_seed",
    "summarise",
]
