"""Difference-in-differences estimators."""

from soteria_eval.did.twfe import did_2x2, did_means, twfe

__all__ = ["did_2x2", "did_means", "twfe"]
