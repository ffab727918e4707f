"""Locations of the files the package ships (bundled data, data dictionary, default plan)."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def data_dictionary_dir() -> Path:
    """Return the folder that holds the data dictionary.

    In a source checkout (an editable install) this is ``data_dictionary/`` at the top of
    the repository; in a wheel it is shipped inside the package as ``_data_dictionary``.
    """
    in_wheel = PACKAGE_DIR / "_data_dictionary"
    if in_wheel.is_dir():
        return in_wheel
    return PACKAGE_DIR.parent / "data_dictionary"


def bundled_data_dir() -> Path:
    """Return the folder of bundled data files (``data_dictionary/data``)."""
    return data_dictionary_dir() / "data"


def default_plan() -> Path:
    """Return the evaluation plan the package ships (``analyses/plan.yaml``).

    In a source checkout this is ``analyses/`` at the top of the repository; in a wheel the
    analyses are shipped inside the package as ``_analyses``. The current folder is never
    searched: running a plan runs its scripts, so only an explicit ``--plan`` may name one.
    """
    in_wheel = PACKAGE_DIR / "_analyses" / "plan.yaml"
    if in_wheel.is_file():
        return in_wheel
    return PACKAGE_DIR.parent / "analyses" / "plan.yaml"
