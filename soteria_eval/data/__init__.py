"""Reading and validating input data.

>>> from soteria_eval.data import load_panel, validate_file
>>> report = validate_file("panel.csv")          # doctest: +SKIP
>>> [str(i) for i in report.issues]               # doctest: +SKIP
"""

from soteria_eval.data.errors import DataValidationError, ValidationIssue
from soteria_eval.data.loaders import (
    TABLE_KINDS,
    TableKind,
    ValidationReport,
    detect_kind,
    load_cases,
    load_geography_file,
    load_measures_file,
    load_panel,
    load_rollout,
    validate_file,
)

__all__ = [
    "TABLE_KINDS",
    "DataValidationError",
    "TableKind",
    "ValidationIssue",
    "ValidationReport",
    "detect_kind",
    "load_cases",
    "load_geography_file",
    "load_measures_file",
    "load_panel",
    "load_rollout",
    "validate_file",
]
