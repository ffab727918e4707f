"""The calibrated case-level simulator (synthetic data; every output says so)."""

from soteria_eval.simulate.calibration import TARGETS, TOLERANCE, calibration_report
from soteria_eval.simulate.cases import CASE_COLUMNS, simulate_cases
from soteria_eval.simulate.config import (
    DEFAULT_EFFECTS,
    NO_EFFECTS,
    EffectSizes,
    SimulationConfig,
)
from soteria_eval.simulate.output import (
    NOTICE,
    default_data,
    panel_filename,
    write_simulation,
)

__all__ = [
    "CASE_COLUMNS",
    "DEFAULT_EFFECTS",
    "NOTICE",
    "NO_EFFECTS",
    "TARGETS",
    "TOLERANCE",
    "EffectSizes",
    "SimulationConfig",
    "calibration_report",
    "default_data",
    "panel_filename",
    "simulate_cases",
    "write_simulation",
]
