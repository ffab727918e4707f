"""Placebo: does each test keep its size on real force dynamics.

Question: on the Home Office's own force-by-quarter outcomes before any programme
(2014/15 Q1 to 2019/20 Q1), where every true effect is zero, how often does each
design and inference the evaluation reports find an "effect" of a fake Soteria rollout?

Design: fake rollouts (5 random forces starting together between the 9th and 17th
quarter, and a phased variant with 7 more forces 5 quarters later) on the bundled
all-offences panel, for two counts (log) and two rates (percentage points)
(:mod:`soteria_eval.validation.real_placebo`). A design and inference may be a domain's
headline only if its size lies within 2.5–7.5% on every real outcome of the measure's
kind and both rollout shapes
(:func:`~soteria_eval.validation.verdicts.placebo_verdicts`). The study depends on the
code and the bundled file, never on the run's data, so it is cached. Plan options:
``draws`` (fake rollouts per shape, default 1,000), ``boot`` (wild bootstrap and
randomization draws, default 399), ``jobs``.

Run alone: ``python analyses/placebo.py --out results/placebo``.
"""

from __future__ import annotations

from soteria_eval.pipeline import AnalysisOutput, RunContext
from soteria_eval.validation.studies import cached_placebo, placebo_settings
from soteria_eval.validation.verdicts import PLACEBO_BAND, placebo_verdicts


def run(ctx: RunContext) -> AnalysisOutput:
    """Run (or reuse) the real-panel placebo study and tabulate its verdicts."""
    out = AnalysisOutput()
    settings = placebo_settings(ctx.spec.options)
    table = cached_placebo(settings, n_jobs=int(ctx.spec.options.get("jobs", 2)))
    out.notes.append(f"placebo study: {table.attrs.get('source', 'computed')}")
    verdicts = placebo_verdicts(table)
    out.tables["placebo"] = table
    out.tables["placebo_verdicts"] = verdicts.assign(data_label="real (published)")
    lo, hi = PLACEBO_BAND
    any_kind = verdicts[verdicts["kind"] == "any"]
    out.notes.append(
        f"{settings.n_draws:,} fake rollouts per shape on {table['outcome'].nunique()} real "
        f"outcomes; {int(any_kind['passed'].sum())} of {len(any_kind)} design/inference pairs "
        f"keep their size within {lo:.1%}–{hi:.1%} on all of them"
    )
    return out


if __name__ == "__main__":
    from soteria_eval.pipeline import run_script

    run_script(__file__, "placebo")
