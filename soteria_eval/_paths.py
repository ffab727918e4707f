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


def default_book() -> Path:
    """Return the book sources the package ships (``book/``; ``_book`` inside a wheel)."""
    in_wheel = PACKAGE_DIR / "_book"
    if in_wheel.is_dir():
        return in_wheel
    return PACKAGE_DIR.parent / "book"


def is_source_checkout() -> bool:
    """Return True when the package runs from a source checkout (an editable install)."""
    return (PACKAGE_DIR.parent / "pyproject.toml").is_file() and not (
        PACKAGE_DIR / "_book"
    ).is_dir()


def install_hint(extra: str) -> str:
    """Return the command that installs an extra, for the way the package was installed."""
    if is_source_checkout():
        return f"pip install -e '.[{extra}]' (in the source checkout)"
    return f"pip install 'soteria-eval[{extra}]'"
