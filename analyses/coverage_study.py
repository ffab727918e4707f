"""Coverage study: which inference can the evaluation trust in its own designs.

Question: in designs shaped like Soteria's (5 of 14 CPS Areas, 5 or 19 of 43 forces,
forces clustered by unequal Areas, a single treated force), how often does each
inference method's 95% interval cover the true effect, how often does it reject a true
null, and how much power does it have?

Design: Monte Carlo with heteroskedastic units and AR(1) errors over 40 quarters (see
:mod:`soteria_eval.inference.coverage`); the TWFE DiD coefficient is tested with CR1,
CR2, the restricted and unrestricted wild cluster bootstrap, randomization inference and,
for the single treated force, synthetic-control placebos. One design is the evaluation's
own (43 forces, the real rollout and DiD window, the simulator's ramp, spillover and
anticipation), where Callaway–Sant'Anna (analytic and bootstrap) and PPML are also run.
The number of replications is the plan option ``reps`` (default 1,000; ``reps_slow``,
default 200, for the methods fitted one replication at a time). The table also records,
for each design and method, whether the evidence lets the pipeline report that method
(``reported``, by the rule of :func:`~soteria_eval.inference.coverage.coverage_verdicts`).

Run alone: ``python analyses/coverage_study.py --out results/coverage_study``.
"""

from __future__ import annotations

from soteria_eval.disclosure import figure_data
from soteria_eval.inference.coverage import method_validity
from soteria_eval.pipeline import AnalysisOutput, FigureSpec, RunContext
from soteria_eval.plotting import coverage_plot
from soteria_eval.validation.studies import cached_coverage_study, coverage_settings
from soteria_eval.validation.verdicts import COVERAGE_BAND


def run(ctx: RunContext) -> AnalysisOutput:
    """Run the study and tabulate it (no results rows: it estimates no programme effect)."""
    out = AnalysisOutput()
    reps = int(ctx.spec.options.get("reps", 1000))
    # It depends on the code and these settings only (never on the data): cached.
    table = cached_coverage_study(**coverage_settings(ctx.spec.options, ctx.seed))
    out.notes.append(f"coverage study: {table.attrs.get('source', 'computed')}")
    verdicts = [
        method_validity(
            str(r.method),
            n_clusters=int(r.n_clusters),
            treated_clusters=int(r.treated_clusters),
            coverage=table,
            design=str(r.design),
        )
        for r in table.itertuples()
    ]
    table["reported"] = [ok for ok, _ in verdicts]
    table["reason"] = [why for _, why in verdicts]
    table.attrs["data_label"] = "synthetic"  # simulated replications, whatever the run's data
    out.tables["coverage_study"] = table
    fig = coverage_plot(table, title="Coverage of 95% intervals by design and method")
    worst = table.loc[table["coverage"].idxmin()]
    alt = (
        "Dot plot of the share of 95% intervals that contain the true effect, for up to nine inference "
        f"methods in six designs, from {reps:,} simulations each ({min(reps, int(ctx.spec.options.get('reps_slow', 200))):,} for "
        "Callaway-Sant'Anna and PPML). The band the evaluation accepts, 90-98%, is shaded. "
        f"Most methods are close to 95% when at least two clusters are treated; the worst is {worst['method']} "
        f"in the design '{worst['label']}' at {100 * worst['coverage']:.0f}%."
    )
    out.figures.append(
        FigureSpec(
            "coverage_study",
            fig,
            alt,
            "Coverage of 95% intervals (simulation).",
            # coverage shares of simulated replications (no cases), and the band drawn
            data=figure_data(
                table.assign(band_lower=COVERAGE_BAND[0], band_upper=COVERAGE_BAND[1])
            ),
            data_label="synthetic",
        )
    )
    out.notes.append(f"{reps:,} replications per design and method")
    return out


if __name__ == "__main__":
    from soteria_eval.pipeline import run_script

    run_script(__file__, "coverage_study")
