"""From case records to area-by-period panels (and censoring-aware timeliness)."""

from soteria_eval.panels.aggregate import (
    DEFAULT_PANELS,
    MEASURES,
    NOT_FROM_CASES,
    PANEL_COLUMNS,
    aggregate_cases,
    build_panels,
)
from soteria_eval.panels.survival import km_quantile_by_group

__all__ = [
    "DEFAULT_PANELS",
    "MEASURES",
    "NOT_FROM_CASES",
    "PANEL_COLUMNS",
    "aggregate_cases",
    "build_panels",
    "km_quantile_by_group",
]
