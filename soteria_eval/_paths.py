"""Locations of the files the package ships (bundled data and the data dictionary)."""

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
