"""Recovery: does the evaluation find what the simulator planted.

Question: in simulated worlds built like the real one (the real rollout, 43 forces, the
real window, the ramp, spillover onto exposed forces and anticipation in Avon and
Somerset), which design and inference pairs recover the programme effect the simulator
injected, and which must not be reported?

Design: the recovery study (:mod:`soteria_eval.validation`) over ``seeds`` simulated
seeds (plan option; the plan uses 200, which resolves a coverage near the 90% edge to
about two points), each with its world without the programme for the truth
and the size, in the simulator's ``world`` (plan option; the plan uses ``calibrated``:
force trends, persistent shocks and a force-varying COVID-19 dip fitted to the Home
Office force panel, so verdicts are not earned in a world kinder than the real one). The verdicts (:func:`soteria_eval.validation.verdicts.method_verdicts`)
are applied by the pipeline to every results row: failing pairs are refused with the
study's reason. With the plan option ``stress_world`` (the plan uses
``differential_trend``: the pathfinders drift on a linear trend of their own), the
headline designs are also run there (``stress_seeds``, default ``seeds``), and a domain
whose data doubt parallel trends (a randomization pre-trend test rejects, or the
breakdown value is below 1) may only lead with a pair that passes there too
(:func:`soteria_eval.validation.verdicts.headline_candidates`). The studies depend on
the code, not on the data, so they are cached.

Run alone: ``python analyses/recovery.py --out results/recovery``.
"""

from __future__ import annotations

import pandas as pd

from soteria_eval.dictionary import DOMAINS, load_catalogue
from soteria_eval.pipeline import AnalysisOutput, RunContext
from soteria_eval.validation import NATIONAL_SERIES
from soteria_eval.validation.studies import cached_recovery, recovery_settings, stress_settings
from soteria_eval.validation.verdicts import method_verdicts


def run(ctx: RunContext) -> AnalysisOutput:
    """Run (or reuse) the recovery study and tabulate its verdicts."""
    out = AnalysisOutput()
    seeds, seed0, settings = recovery_settings(ctx.spec.options)
    jobs = int(ctx.spec.options.get("jobs", 2))
    res = cached_recovery(seeds, seed0=seed0, settings=settings, n_jobs=jobs)
    summary = res.summary()
    verdicts = method_verdicts(summary, res.mc_errors())
    out.tables["recovery"] = summary.assign(data_label="synthetic")
    out.tables["recovery_verdicts"] = verdicts.assign(data_label="synthetic")
    stress = stress_settings(ctx.spec.options)
    if stress is not None:
        # The headline candidates again, where the pathfinders drift on a trend of their own:
        # a domain whose data doubt parallel trends may only lead with a pair that passes here.
        n_stress, s0, st = stress
        hard = cached_recovery(n_stress, seed0=s0, settings=st, n_jobs=jobs)
        hard_summary = hard.summary()
        out.tables["recovery_stress"] = hard_summary.assign(data_label="synthetic")
        out.tables["recovery_stress_verdicts"] = method_verdicts(
            hard_summary, hard.mc_errors()
        ).assign(data_label="synthetic")
        out.notes.append(f"stress world ({st.world}): {n_stress} seeds, {hard.source}")
    truth = _planted_truth(ctx)
    if truth is not None:
        out.tables["planted_truth"] = truth
    n_fail = int((~verdicts["passed"]).sum())
    out.notes.append(
        f"validation study: {res.source}, {seeds} seeds ({settings.world} world); {n_fail} of "
        f"{len(verdicts)} design/inference/measure pairs refused"
    )
    return out


#: Estimands shown in the book for each primary measure.
SHOWN = (
    "ATT", "ATT phase 1", "ATT phase 2", "ATT (log rate ratio)", "ATT event average 0..7",
    "national effect 12 months after phase 1", "national effect 24 months after phase 1",
    "pathfinders, average effect",
)  # fmt: skip


def _planted_truth(ctx: RunContext) -> pd.DataFrame | None:
    """Return the simulated data's own truth for the primary measures (effects only, no counts)."""
    path = ctx.inputs.planted_truth_file()
    if path is None:
        return None
    t = pd.read_csv(path, low_memory=False)
    cat = load_catalogue()
    primary = {cat.primary(d).id for d in DOMAINS} | set(NATIONAL_SERIES.values())
    est = t[(t["kind"] == "estimand") & t["measure"].isin(primary)]
    # HonestDiD's target: the mean of the event-time effects 0 to 7 (see designs._honest_rows)
    events = est[est["estimand"].isin([f"ATT event {k:+d}" for k in range(8)])]
    avg = events.groupby("measure", as_index=False).agg(
        scale=("scale", "first"), effect=("effect", "mean"), n_cells=("n_cells", "sum")
    ).assign(estimand="ATT event average 0..7")  # fmt: skip
    est = pd.concat([est[est["estimand"].isin(SHOWN)], avg], ignore_index=True)
    est = est.sort_values(["measure", "estimand"], kind="stable")
    return est[["measure", "estimand", "scale", "effect", "n_cells"]].assign(data_label="synthetic")


if __name__ == "__main__":
    from soteria_eval.pipeline import run_script

    run_script(__file__, "recovery")
