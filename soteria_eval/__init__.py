"""soteria-eval: evaluation of Operation Soteria with DiD and ITS designs."""

from __future__ import annotations

__version__ = "0.1.0"
