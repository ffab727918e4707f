"""Runtime checks for ``Literal`` options, with a message that lists the allowed values."""

from __future__ import annotations

from typing import get_args


def check_option(name: str, value: object, options: object) -> None:
    """Raise ``ValueError`` unless ``value`` is one of the ``Literal`` type ``options``."""
    allowed = get_args(options)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
