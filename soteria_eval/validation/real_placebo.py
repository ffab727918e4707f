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
#: The modules whose code the table depends on beyond the studied code (part of its cache key:
#: :func:`soteria_eval.validation.studies.placebo_name`).
MODULES = ("validation/placebo.py", "validation/_placebo_kernels.py",
           "validation/placebo_data.py", "validation/real_placebo.py")  # fmt: skip


def real_placebo(settings: PlaceboSettings | None = None, *, n_jobs: int = 1) -> pd.DataFrame:
    """Sizes of every design and inference on the bundled real panel.

    The pipeline reads it through :func:`soteria_eval.validation.studies.cached_placebo`
    (cached, and shipped with the release).

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
    from soteria_eval.validation.placebo_data import placebo_panel

    st = settings or PlaceboSettings()
    file = bundled_data_dir() / DATASETS["all_offences_outcomes"].file
    parts = []
    for o in REAL_OUTCOMES:
        rate = None if o.denominator is None else (o.column, o.denominator)
        data = placebo_panel(file, o.column, rate=rate)
        res = placebo_study(data.values, outcome=o.label, settings=st, n_jobs=n_jobs)
        parts.append(res.summary().assign(kind=o.kind, title=o.title))
    return pd.concat(parts, ignore_index=True)


__all__ = ["MODULES", "REAL_OUTCOMES", "RealOutcome", "real_placebo"]
