"""The evaluation's own placebo study: fake rollouts on the bundled Home Office panel.

The pipeline's headline rule needs each design and inference's size on real force
dynamics. :func:`real_placebo` runs :func:`~soteria_eval.validation.placebo.placebo_study`
on the bundled all-offences quarterly panel
(:func:`soteria_eval.datasets.load_all_offences_outcomes`), 2014/15 Q1 to 2019/20 Q1,
for the outcomes of :data:`REAL_OUTCOMES`:

===============================================  ==========  =====================
outcome                                          kind        stands for measures
===============================================  ==========  =====================
``closed_all_t1`` (log)                          count       counts
``closed_all_positive`` (log)                    count       counts
``closed_all_t1/closed_all_assigned`` (pp)       proportion  proportions, durations,
                                                             scores
``closed_all_oocd/closed_all_assigned`` (pp)     proportion  the same
===============================================  ==========  =====================

Mean durations and scores have no real analogue in the published data; like rates they
are averages over a force's cases, whose noise grows as the caseload shrinks, so they are
judged on the rates (:func:`~soteria_eval.validation.verdicts.placebo_kind`). The study depends on the code, its settings and the bundled file only,
so its table is cached (keyed by the studied code, the placebo modules and the
settings) and read back identically.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import pandas as pd

from soteria_eval.validation.placebo import PlaceboSettings, placebo_study


@dataclass(frozen=True)
class RealOutcome:
    """One outcome of the bundled panel: a count column or a rate, and the measures it judges."""

    column: str
    kind: str
    denominator: str | None = None
    title: str = ""

    @property
    def label(self) -> str:
        """The outcome's label in ``placebo.csv``."""
        return self.column if self.denominator is None else f"{self.column}/{self.denominator}"


REAL_OUTCOMES: tuple[RealOutcome, ...] = (
    RealOutcome("closed_all_t1", "count", title="charges, all offences (log)"),
    RealOutcome("closed_all_positive", "count", title="positive outcomes, all offences (log)"),
    RealOutcome("closed_all_t1", "proportion", "closed_all_assigned",
                title="charge rate, all offences"),
    RealOutcome("closed_all_oocd", "proportion", "closed_all_assigned",
                title="out-of-court disposal rate, all offences"),
)  # fmt: skip
#: The modules whose code the table depends on beyond the studied code.
_MODULES = ("validation/placebo.py", "validation/_placebo_kernels.py",
            "validation/placebo_data.py", "validation/real_placebo.py")  # fmt: skip


def _key(settings: PlaceboSettings) -> str:
    from pathlib import Path

    from soteria_eval._paths import bundled_data_dir
    from soteria_eval.datasets import DATASETS
    from soteria_eval.validation.recovery import studied_code_hash

    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256(studied_code_hash({"study": "placebo", "settings": repr(settings),
                                          "outcomes": repr(REAL_OUTCOMES)}).encode())  # fmt: skip
    for rel in _MODULES:
        h.update((root / rel).read_bytes())
    h.update((bundled_data_dir() / DATASETS["all_offences_outcomes"].file).read_bytes())
    return h.hexdigest()[:12]


def real_placebo(
    settings: PlaceboSettings | None = None, *, n_jobs: int = 1, cache: bool = True
) -> pd.DataFrame:
    """Sizes of every design and inference on the bundled real panel (cached).

    Returns
    -------
    pandas.DataFrame
        :data:`~soteria_eval.validation.placebo.PLACEBO_COLUMNS`, ``kind`` and ``title``
        (the outcome in words), one row
        per outcome, rollout shape, design and inference; ``data_label`` is
        ``"real (published)"``.
    """
    from soteria_eval._paths import bundled_data_dir
    from soteria_eval.datasets import DATASETS
    from soteria_eval.simulate.output import cache_dir
    from soteria_eval.validation.placebo_data import placebo_panel

    st = settings or PlaceboSettings()
    path = cache_dir() / f"placebo-{_key(st)}.parquet"
    if cache and path.is_file():
        return pd.read_parquet(path)
    file = bundled_data_dir() / DATASETS["all_offences_outcomes"].file
    parts = []
    for o in REAL_OUTCOMES:
        rate = None if o.denominator is None else (o.column, o.denominator)
        data = placebo_panel(file, o.column, rate=rate)
        res = placebo_study(data.values, outcome=o.label, settings=st, n_jobs=n_jobs)
        parts.append(res.summary().assign(kind=o.kind, title=o.title))
    table = pd.concat(parts, ignore_index=True)
    if not cache:
        return table
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    table.to_parquet(tmp, index=False)
    os.replace(tmp, path)  # atomic: a parallel run never reads half a file
    return pd.read_parquet(path)


__all__ = ["REAL_OUTCOMES", "RealOutcome", "real_placebo"]
