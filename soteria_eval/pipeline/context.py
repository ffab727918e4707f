"""What an analysis script receives from the pipeline."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from soteria_eval.pipeline.inputs import InputData
from soteria_eval.pipeline.plan import AnalysisSpec
from soteria_eval.rollout import Rollout


@dataclass(frozen=True)
class RunContext:
    """Settings and inputs shared by every analysis of a run.

    Attributes
    ----------
    spec : AnalysisSpec
        The analysis being run.
    rollout : Rollout
        The validated rollout table.
    inputs : InputData
        The validated input data (a user's folder or the embedded synthetic default).
    out_dir : Path
        Where this run writes (a temporary folder until the run is complete).
    seed : int
        The run's seed; :meth:`rng` derives a per-analysis generator from it.
    data_label : str
        Label written into every results row (e.g. ``synthetic``).
    disclosure_threshold : int
        Smallest count that may be published.
    """

    spec: AnalysisSpec
    rollout: Rollout
    inputs: InputData
    out_dir: Path
    seed: int
    data_label: str
    disclosure_threshold: int = 10
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("soteria_eval"))

    def rng(self) -> np.random.Generator:
        """Return a generator seeded by the run's seed and the analysis id (stable)."""
        key = [ord(c) for c in self.spec.id]
        return np.random.default_rng(np.random.SeedSequence([self.seed, *key]))
