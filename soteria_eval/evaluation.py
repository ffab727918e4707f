"""The standard evaluation of one domain: every measure, every planned scenario.

For each measure of a domain (from the measure catalogue) that the panel holds, the
force-by-quarter panel is joined to the rollout and two-way fixed effects compare treated
force-quarters with not-yet-treated ones over the clean window (before the national
operating model of July 2023). Counts are analysed on the log scale, proportions in
percentage points, durations in days and scores in points. Each estimate is reported with
CR1 and CR2 standard errors; rows that a model drops are counted.

Analysis scripts in ``analyses/`` call :func:`domain_analysis`; it uses only the public
API (rollout, estimators, plotting, disclosure), never record-level data in outputs.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from soteria_eval.dictionary import DOMAIN_TITLES, DOMAINS, Measure, load_catalogue
from soteria_eval.did import callaway_santanna, imputation_did, ppml, twfe
from soteria_eval.did.phases import phase_att, simple_att
from soteria_eval.disclosure import figure_data, suppress_long
from soteria_eval.estimands import DID_WINDOW, SCALES, to_analysis_scale
from soteria_eval.inference.coverage import method_validity
from soteria_eval.inference.pretrend import pretrend_randomization_test
from soteria_eval.inference.randomization import randomization_test
from soteria_eval.inference.wild import wild_cluster_bootstrap
from soteria_eval.linear_model import FewClustersWarning
from soteria_eval.panels import aggregate_cases
from soteria_eval.panels.attrition import SUBGROUPS
from soteria_eval.pipeline.context import RunContext
from soteria_eval.pipeline.outputs import AnalysisOutput, FigureSpec, failure_row, result_rows
from soteria_eval.plotting import GROUP_LABELS, event_study_plot, trend_plot
from soteria_eval.report import p_text
from soteria_eval.results import Results
from soteria_eval.rollout import (
    cohort_frame,
    get_scenario,
    reforms_by_exposure,
    treatment_panel,
)
from soteria_eval.sensitivity.honest import breakdown_value, event_study_inputs
from soteria_eval.validation.verdicts import HEADLINE_SAMPLE

#: Quarters dropped by the ``covid_excluded`` window (lockdowns and the court backlog).
COVID_QUARTERS: tuple[str, ...] = ("2020-Q2", "2020-Q3", "2020-Q4", "2021-Q1")

#: The clean comparison window at force-by-quarter level (see :mod:`soteria_eval.estimands`).
WINDOW = DID_WINDOW

#: Samples that get every design and inference (wild bootstrap, randomization,
#: Callaway–Sant'Anna, per-phase estimates): all forces, and the headline sample without
#: the exposed forces of pathfinder CPS Areas (:data:`~soteria_eval.validation.verdicts.HEADLINE_SAMPLE`).
FULL_SCENARIOS: tuple[str, ...] = ("default", HEADLINE_SAMPLE)

#: Designs whose programme rows carry the sample's breakdown values (:func:`breakdown_values`).
BREAKDOWN_DESIGNS: tuple[str, ...] = ("twfe", "callaway_santanna", "imputation_trends")

#: What the breakdown columns of results.csv measure, for the book and the README.
BREAKDOWN_BASIS = (
    "Breakdown values come from the Callaway–Sant'Anna event study on the row's own sample "
    "(not-yet-treated comparisons, the quarter before each start as the reference, event "
    "times -8 to 7): the average effect over the first 8 treated quarters, analytic standard "
    "errors with a t reference on treated forces - 1 degrees of freedom. breakdown_rm is the "
    "largest Mbar at which the Rambachan-Roth relative-magnitudes interval still excludes "
    "zero (post-programme departures from parallel trends up to Mbar times the largest "
    "pre-programme one); breakdown_sd the largest change in the slope of the departure per "
    "quarter (the measure's unit) at which the smoothness interval still excludes zero. "
    "0: the interval includes zero already at size 0 (for smoothness, a linear continuation "
    "of the pre-programme trend); inf: zero still excluded at the largest size searched "
    "(Mbar = 10); empty: not computed (no event study in the sample)."
)


def case_basis(frame: pd.DataFrame, kind: str) -> pd.Series:
    """Return the number of cases behind each row's value (for disclosure checks).

    A count is its own basis (the numerator); a rate, mean or median rests on its
    denominator (the cases it is computed over).
    """
    col = "numerator" if kind == "count" else "denominator"
    return pd.to_numeric(frame[col], errors="coerce")


#: Measures of the Home Office's published tables (``soteria-eval ingest home-office``):
#: analysed by the published-data analysis, not by the case-data domain analyses.
PUBLISHED_MEASURE_PREFIX = "ho_"


def primary_measures(ctx: RunContext, panel: pd.DataFrame) -> list[Measure]:
    """Return the domains' primary measures that ``panel`` holds.

    Raises
    ------
    MissingInputError
        The panel holds none of them (e.g. a folder with only an ingested Home Office
        panel): the analysis is skipped with a row saying so, not failed.
    """
    from soteria_eval.pipeline.inputs import MissingInputError

    cat = load_catalogue()
    have = set(panel["measure"].unique())
    found = [cat.primary(d) for d in DOMAINS if cat.primary(d).id in have]
    if not found:
        raise MissingInputError(
            "case_data_measures", ctx.inputs.folder,
            "the force x quarter panel holds no primary measure of the case data "
            f"({', '.join(cat.primary(d).id for d in DOMAINS)})",
        )  # fmt: skip
    return found


def analysis_panel(
    panel: pd.DataFrame,
    measure: Measure,
    ctx: RunContext,
    scenario: str,
    window: tuple[str, str] = WINDOW,
) -> pd.DataFrame:
    """Rows of one measure joined to the treatment variables, with the outcome ``y``."""
    tp = treatment_panel(
        ctx.rollout,
        level="force",
        freq="quarter",
        start=window[0],
        end=window[1],
        scenario=scenario,
    )
    rows = panel[panel["measure"] == measure.id]
    d = tp.merge(rows, on=["unit", "period"], how="left", validate="1:1")
    d["y"] = to_analysis_scale(d["value"], measure.type)
    d["treated_f"] = d["treated"].astype(float)
    d["exposed_f"] = d["exposed_control"].astype(float)
    return d


def _estimate(
    d: pd.DataFrame,
    measure: Measure,
    scenario: str,
    ctx: RunContext,
    inference_default: bool = True,
    everyone: pd.DataFrame | None = None,
) -> list[pd.DataFrame]:
    sc = get_scenario(scenario)
    covs = ["exposed_f"] if sc.exposed_controls == "separate" else []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        res = twfe(
            d, outcome="y", treatment="treated_f", unit="unit", time="period", covariates=covs
        )
        fits = [res, res.with_vcov("CR2")]
        full = scenario in FULL_SCENARIOS and inference_default
        if full and "wild_bootstrap" in ctx.spec.inference:
            # Few treated forces: the restricted wild cluster bootstrap (Webb weights) is
            # the inference the book leads with.
            seed = int(ctx.rng().integers(2**31))
            fits.append(
                wild_cluster_bootstrap(res, "treated_f", n_boot=9999, weights="webb", seed=seed)
            )
    unit = SCALES[measure.type].unit
    terms = {"treated_f": "programme", "exposed_f": "spillover (exposed controls)"}

    def rows_for(r: Results) -> pd.DataFrame:
        rows = result_rows(
            r, analysis=ctx.spec.id, domain=measure.domain, measure=measure.id, design="twfe", level="force",
            scenario=scenario, estimand=f"ATT ({unit})", data_label=ctx.data_label,
            note=f"force x quarter {WINDOW[0]} to {WINDOW[1]}; not-yet-treated comparisons"
            + (
                f"; anticipation window: {', '.join(sc.anticipation_units)}'s "
                f"{sc.anticipation_months} months before the start left out"
                if sc.anticipation_months and sc.anticipation_units
                else ""
            ),
        )  # fmt: skip
        rows["term"] = rows["term"].map(terms)
        return rows

    out = [rows_for(r) for r in fits]
    if len(out) == 3:  # the bootstrap row replaces only the programme term's inference
        out[2] = out[2][out[2]["term"] == "programme"]
    allowed = {k for k in ctx.spec.inference if k in ("CR1", "CR2")} | {"WCR"}
    out = [o for o in out if _kind(o) in allowed]
    if full and "randomization" in ctx.spec.inference:
        out.append(
            _randomization_row(d, rows_for(res), ctx, everyone if reforms_by_exposure(sc) else None)
        )
    out = [
        refuse_invalid(
            o, n_clusters=int(res.info["n_clusters"]), treated_clusters=int(res.info["n_treated"])
        )
        for o in out
    ]
    if "twfe" not in ctx.spec.designs:
        out = [o for o in out if not (o["design"] == "twfe").all()]
    if measure.type == "count" and "ppml" in ctx.spec.designs:
        # Counts: Poisson pseudo-likelihood keeps the zero quarters that the log drops.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FewClustersWarning)
            pr = ppml(
                d.assign(count=d["value"]),
                outcome="count",
                treatment="treated_f",
                unit="unit",
                time="period",
                covariates=covs,
            )
        rows = result_rows(
            pr, analysis=ctx.spec.id, domain=measure.domain, measure=measure.id, design="ppml", level="force",
            scenario=scenario, estimand="ATT (log rate ratio)", data_label=ctx.data_label,
            note=f"force x quarter {WINDOW[0]} to {WINDOW[1]}; zero quarters kept",
        )  # fmt: skip
        rows["term"] = rows["term"].map(terms)
        out.append(rows)
    return out


def refuse_invalid(rows: pd.DataFrame, *, n_clusters: int, treated_clusters: int) -> pd.DataFrame:
    """Blank the programme row's inference when the coverage study shows it is not valid.

    The rule is :func:`~soteria_eval.inference.coverage.method_validity` (e.g. no
    cluster-robust or wild bootstrap inference with a single treated cluster); the row
    keeps its estimate, gets ``status = "refused"`` and the reason in ``note``.
    """
    kind = (
        "RI" if rows["inference"].astype(str).str.startswith("randomization").any() else _kind(rows)
    )
    ok, why = method_validity(kind, n_clusters=n_clusters, treated_clusters=treated_clusters)
    if ok:
        return rows
    out = rows.copy()
    prog = out["term"] == "programme"
    out.loc[prog, ["std_error", "ci_lower", "ci_upper", "p_value", "p_adjusted"]] = np.nan
    out.loc[prog, "status"] = "refused"
    out.loc[prog, "note"] = f"inference refused: {why}"
    return out


def _kind(rows: pd.DataFrame) -> str:
    text = str(rows["inference"].iloc[0]) if len(rows) else ""
    for k in ("WCR", "CR2", "CR1"):
        if k in text:
            return k
    return text


def _randomization_row(
    d: pd.DataFrame, cr1_rows: pd.DataFrame, ctx: RunContext, everyone: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Randomization inference for the programme term (forces with a gap are left out).

    ``everyone``: for a sample that drops exposed forces, the panel of all forces; the
    treatment paths are then dealt to every force and each assignment's sample is
    re-formed (the design-based test, ``exposure`` of
    :func:`~soteria_eval.inference.randomization.randomization_test`).
    """
    from soteria_eval.rollout import exposure_groups

    row = cr1_rows[cr1_rows["term"] == "programme"].copy()
    source = d if everyone is None else everyone
    complete = source.groupby("unit")["y"].transform(lambda s: s.notna().all())
    # Re-formed: a force with a gap keeps its place in the assignment (a treated one still
    # exposes its neighbours) and is left out of every fit; fixed: it is left out.
    sub = source[complete] if everyone is None else source
    try:
        ri = randomization_test(
            sub,
            outcome="y",
            treatment="treated_f",
            unit="unit",
            time="period",
            n_draws=9999,
            seed=int(ctx.rng().integers(2**31)),
            exposure=None
            if everyone is None
            else exposure_groups(sorted(sub["unit"].unique()), ctx.rollout),
        )
    except ValueError as exc:
        return row.assign(
            status="failed",
            note=f"randomization inference: {exc}",
            p_value=np.nan,
            p_adjusted=np.nan,
            inference="randomization inference",
        )
    n_left = int(source.loc[~complete, "unit"].nunique())
    n_sample = int(
        d.loc[d.groupby("unit")["y"].transform(lambda s: s.notna().all()), "unit"].nunique()
    )
    if everyone is not None and ri.n_units != n_sample:
        return row.assign(
            status="failed",
            note=(
                f"randomization inference: the exposure rule keeps {ri.n_units} forces of the "
                f"observed rollout but the sample has {n_sample}; the rollout's Area starts "
                "differ from its forces' starts"
            ),
            p_value=np.nan,
            p_adjusted=np.nan,
            inference="randomization inference",
        )
    return row.assign(
        estimate=ri.estimate,
        std_error=np.nan,
        ci_lower=np.nan,
        ci_upper=np.nan,
        p_value=ri.p_value,
        inference=ri.label,
        n_units=ri.n_units,
        note="adoption dates kept, treated forces reassigned"
        + ("; exposed forces dropped anew under every reassignment" if everyone is not None else "")
        + f"; {n_left} force(s) with a missing quarter left out",
    )


def cs_frame(d: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Return the frame with quarters and cohorts numbered 1..T (see :func:`soteria_eval.rollout.cohort_frame`)."""
    return cohort_frame(d, "y")


def _staggered(
    d: pd.DataFrame, measure: Measure, scenario: str, ctx: RunContext, event_study: bool
) -> tuple[list[pd.DataFrame], FigureSpec | None]:
    """Callaway–Sant'Anna on the measure: overall ATT and, if asked, the event study."""
    periods = sorted(d["period"].unique())
    e, n_units_dropped = cs_frame(d)
    unit = SCALES[measure.type].unit
    common = dict(
        analysis=ctx.spec.id,
        domain=measure.domain,
        measure=measure.id,
        level="force",
        scenario=scenario,
        data_label=ctx.data_label,
    )
    note = (
        f"not-yet-treated comparisons; {n_units_dropped} force(s) with a missing quarter left out"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = callaway_santanna(
            e, outcome="y", unit="unit", time="t", cohort="g", control_group="not_yet_treated"
        )
    if caught:  # e.g. a cohort with a single force: said in the results, not on the console
        note += "; " + "; ".join(sorted({str(w.message) for w in caught}))
    rows = []
    for df in ("normal", "treated"):  # few treated forces: also t(treated - 1)
        r = result_rows(
            simple_att(res, df=df), design="callaway_santanna", estimand=f"ATT ({unit})",
            note=note, **common,
        )  # fmt: skip
        rows.append(r.assign(term="programme", n_periods=len(periods)))
    if measure.primary:  # each phase's ATT from its cohorts: no already-treated controls
        for phase in (1, 2):
            n_treated = int(e.loc[(e["phase"] == phase) & (e["g"] > 0), "unit"].nunique())
            for df in ("normal", "treated"):  # few treated forces: also t(treated - 1)
                try:
                    pa = phase_att(res, e, phase, df=df)
                except ValueError:  # the phase has no cohort in this sample: nothing to report
                    break
                r = result_rows(
                    pa, design=f"callaway_santanna phase {phase}",
                    estimand=f"ATT phase {phase} ({unit})", note=note + "; the phase's cohorts",
                    **common,
                )  # fmt: skip
                rows.append(r.assign(term="programme", n_periods=len(periods), n_treated=n_treated))  # fmt: skip
    fig = None
    if event_study:
        dyn = res.aggregate("dynamic", min_e=-8, max_e=7).bootstrap(
            999, seed=int(ctx.rng().integers(2**31))
        )
        r = result_rows(
            dyn,
            design="event_study_cs",
            estimand=f"event-time ATT ({unit})",
            note=note + "; multiplier bootstrap",
            **common,
        )
        rows.append(r[r["term"] != "overall"].assign(n_periods=len(periods)))
        stat, k, p = res.aggregate("dynamic", min_e=-8, max_e=7).wald()
        wald = r.iloc[:1].assign(
            term="pre-trend Wald",
            estimand=f"chi2 ({k} df)",
            estimate=stat,
            std_error=np.nan,
            ci_lower=np.nan,
            ci_upper=np.nan,
            p_value=p,
            inference="analytic (influence function), chi-squared",
        )
        rows.append(wald)
        # The chi-squared reference is oversized with few treated forces (33–50% in clean
        # simulated worlds): the same kind of Wald test referred to randomization over
        # cohorts is the one with honest size (soteria_eval.inference.pretrend).
        p_ri: dict[str, float] = {}
        for contrast, term in (("joint", "pre-trend (randomization)"),
                               ("linear", "pre-trend, linear (randomization)")):  # fmt: skip
            try:
                pt = pretrend_randomization_test(
                    e, outcome="y", unit="unit", time="t", cohort="g", leads=8, n_draws=1999,
                    seed=int(ctx.rng().integers(2**31)), contrast=contrast,
                )  # fmt: skip
            except ValueError as exc:
                rows.append(wald.assign(term=term, estimate=np.nan, p_value=np.nan,
                                        status="failed", inference="randomization",
                                        note=f"pre-trend test: {exc}"))  # fmt: skip
                continue
            p_ri[contrast] = pt.p_value
            what = "every lead" if contrast == "joint" else "the slope of the leads on event time"
            rows.append(wald.assign(
                term=term, estimand=f"Wald ({pt.df} {'leads' if contrast == 'joint' else 'slope'})",
                estimate=pt.statistic, p_value=pt.p_value, inference=pt.label, n_units=pt.n_units,
                note=f"Sun–Abraham event study, leads -8 to -2 averaged over cohorts; tests {what}; "
                f"{pt.n_left_out} force(s) with a missing quarter left out",
            ))  # fmt: skip
        fig_obj = event_study_plot(
            dyn,
            title=f"{measure.title}: event study (Callaway–Sant'Anna)",
            ylabel=f"Effect ({unit})",
        )
        pre = dyn.params[[t for t in dyn.params.index if str(t).startswith("event -")]]
        post = dyn.params[[t for t in dyn.params.index if str(t).startswith("event +")]]
        alt = (
            f"Event-study chart of the effect on {measure.title_in_text} ({unit}) by quarters since the programme "
            f"started, with pointwise 95% intervals and a shaded uniform band. Before the start the estimates range "
            f"from {pre.min():.2f} to {pre.max():.2f}; after it, from {post.min():.2f} to {post.max():.2f}. "
            + (
                f"Tests of no pre-trend by randomization over start dates: every lead "
                f"{p_text(p_ri['joint'])}, a steady drift {p_text(p_ri['linear'])}."
                if len(p_ri) == 2
                else "The pre-trend tests by randomization could not be computed."
            )
        )
        fig = FigureSpec(
            f"{ctx.spec.id}_{measure.id}_event_study",
            fig_obj,
            alt,
            f"Event study for {measure.title_in_text} ({ctx.data_label} data).",
            data=figure_data(dyn.tidy()),  # estimates only: no counts drawn
        )
    return rows, fig


def universal_event_study(e: pd.DataFrame) -> Results:
    """Callaway–Sant'Anna event study, event times -8 to 7, the quarter before each start as base.

    ``e`` is :func:`cs_frame`'s frame. Not-yet-treated comparisons and a universal base
    period, as HonestDiD needs (one common reference period): what the breakdown values
    and the sensitivity analysis's bounds rest on.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cs = callaway_santanna(
            e, outcome="y", unit="unit", time="t", cohort="g",
            control_group="not_yet_treated", base_period="universal",
        )  # fmt: skip
        dyn: Results = cs.aggregate("dynamic", min_e=-8, max_e=7)
    return dyn


def breakdown_values(d: pd.DataFrame) -> tuple[float, float]:
    r"""Breakdown values of a sample: ``(breakdown_rm, breakdown_sd)`` (see :data:`BREAKDOWN_BASIS`).

    The Callaway–Sant'Anna event study (universal base period, event times -8 to 7) gives
    :math:`\hat\beta` and its covariance; the target is the average of the post-period
    effects, :math:`\theta = \tfrac{1}{8}\sum_{e=0}^{7}\tau_e`, referred to
    :math:`t_{G_1-1}` with :math:`G_1` treated forces
    (:func:`~soteria_eval.sensitivity.honest.breakdown_value`), so that at
    :math:`\bar M = 0` the interval is the event study's own.

    Returns ``(nan, nan)`` when the sample has no event study (for example a single
    treated force).
    """
    e, _ = cs_frame(d)
    b, v, npre, npost = event_study_inputs(universal_event_study(e))
    n_treated = int(e.loc[e["g"] > 0, "unit"].nunique())
    if n_treated < 2 or npre < 1 or npost < 1 or not np.isfinite(v).all():
        return float("nan"), float("nan")
    l_vec = np.full(npost, 1.0 / npost)
    common = dict(num_pre=npre, num_post=npost, l_vec=l_vec, df=n_treated - 1)
    rm = breakdown_value(b, v, restriction="relative_magnitude", **common)  # type: ignore[arg-type]
    sd = breakdown_value(b, v, restriction="smoothness", **common)  # type: ignore[arg-type]
    return rm, sd


def _with_breakdown(frames: list[pd.DataFrame], values: tuple[float, float]) -> list[pd.DataFrame]:
    """Set the breakdown columns on the programme rows of :data:`BREAKDOWN_DESIGNS`."""
    out = []
    for f in frames:
        hit = f["design"].isin(BREAKDOWN_DESIGNS) & (f["term"] == "programme")
        if hit.any():
            f = f.copy()
            f.loc[hit, "breakdown_rm"], f.loc[hit, "breakdown_sd"] = values
        out.append(f)
    return out


def trend_robust_rows(d: pd.DataFrame, m: Measure, scenario: str, ctx: RunContext) -> pd.DataFrame:
    r"""Imputation with force-specific linear trends: the design robust to a differential trend.

    :func:`~soteria_eval.did.imputation_did` with ``unit_trends=True`` on the sample's
    forces with every quarter (as Callaway–Sant'Anna), the average effect over the treated
    force-quarters, BJS's conservative clustered variance with the normal reference and
    with :math:`t_{G_1-1}` (design ``imputation_trends``; the recovery study's labels
    ``analytic`` and ``analytic, t(treated - 1)``).
    """
    from scipy import stats

    e, n_left = cs_frame(d)
    res = imputation_did(e, outcome="y", unit="unit", time="t", cohort="g", unit_trends=True)
    est = float(res.params["overall"])
    se = float(res.std_errors["overall"])
    g1 = int(res.info["n_treated"])
    unit = SCALES[m.type].unit
    rows = []
    for df in (np.inf, float(g1 - 1)):
        normal = not np.isfinite(df)
        crit = stats.norm.ppf(0.975) if normal else stats.t.ppf(0.975, df)
        p = 2 * (stats.norm.sf(abs(est / se)) if normal else stats.t.sf(abs(est / se), df))
        rows.append({
            "analysis": ctx.spec.id, "domain": m.domain, "measure": m.id,
            "design": "imputation_trends", "level": "force", "scenario": scenario,
            "estimand": f"ATT ({unit})", "term": "programme", "estimate": est,
            "std_error": se, "ci_lower": est - crit * se, "ci_upper": est + crit * se,
            "p_value": p, "p_adjusted": np.nan,
            "inference": "conservative clustered variance (BJS 2024) by unit"
            + ("" if normal else f"; t({g1 - 1}): {g1} treated units"),
            "n_units": int(e["unit"].nunique()), "n_treated": g1,
            "n_periods": int(e["t"].nunique()), "n_obs": res.nobs, "n_dropped": res.n_dropped,
            "data_label": ctx.data_label, "status": "ok",
            "note": "imputation with force-specific linear trends fitted before each start; "
            f"{n_left} force(s) with a missing quarter left out",
            "headline": False, "recovery_design": "", "recovery_inference": "",
        })  # fmt: skip
    return pd.DataFrame(rows)


def _phase_rows(d: pd.DataFrame, m: Measure, scenario: str, ctx: RunContext) -> pd.DataFrame:
    """TWFE with one treatment indicator per phase (CR1 and CR2): each phase's ATT.

    Design ids ``twfe phase 1`` and ``twfe phase 2``, as the recovery study names them.
    """
    e = d.assign(
        treated_p1=d["treated_f"] * (d["phase"] == 1), treated_p2=d["treated_f"] * (d["phase"] == 2)
    )
    unit = SCALES[m.type].unit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        res = twfe(e, outcome="y", treatment="treated_p1", covariates=["treated_p2"], unit="unit", time="period")  # fmt: skip
        fits = [
            f for k, f in (("CR1", res), ("CR2", res.with_vcov("CR2"))) if k in ctx.spec.inference
        ]
    out = []
    for r in fits:
        for phase in (1, 2):
            rows = result_rows(
                r, analysis=ctx.spec.id, domain=m.domain, measure=m.id, design=f"twfe phase {phase}",
                level="force", scenario=scenario, estimand=f"ATT phase {phase} ({unit})",
                data_label=ctx.data_label, terms=[f"treated_p{phase}"],
                note=f"force x quarter {WINDOW[0]} to {WINDOW[1]}; one indicator per phase",
            )  # fmt: skip
            rows["term"] = "programme"
            rows["n_treated"] = int(d.loc[(d["phase"] == phase) & d["treated"].astype(bool), "unit"].nunique())  # fmt: skip
            out.append(rows)
    return pd.concat(out, ignore_index=True)


def _design_failure(
    ctx: RunContext, m: Measure, design: str, scenario: str, exc: Exception
) -> pd.DataFrame:
    row = failure_row(ctx.spec.id, m.domain, ctx.data_label, exc)
    return row.assign(measure=m.id, design=design, level="force", scenario=scenario)


def _trend(panel: pd.DataFrame, measure: Measure, ctx: RunContext) -> FigureSpec:
    d = analysis_panel(panel, measure, ctx, "default", ("2018-Q1", "2023-Q2"))
    d["cases"] = case_basis(d, measure.type)
    g = (
        d.groupby(["group", "period"])
        .agg(y=("y", "mean"), forces=("unit", "nunique"), cases=("cases", "sum"))
        .reset_index()
    )
    unit = SCALES[measure.type].unit
    logged = unit == "log points"
    if logged:
        # Counts are modelled on the log scale: draw the geometric mean count per force
        # (the exponential of the mean log) on a logarithmic axis, labelled in counts.
        g["y"] = np.exp(g["y"])
        ylabel = "Per force and quarter\n(geometric mean, log axis)"
    else:  # the title names the measure; the axis its unit
        ylabel = "%" if unit == "percentage points" else unit.capitalize()
        ylabel += " (average over forces)"
    fig = trend_plot(
        g,
        x="period",
        y="y",
        group="group",
        markers={"2021-Q3": "Phase 1", "2022-Q4": "Phase 2"},
        ylabel=ylabel,
        title=f"{measure.title}: average by group of forces",
    )
    if logged:
        from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

        ax = fig.axes[0]
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
    first, last = g["period"].min(), g["period"].max()
    summary = "; ".join(
        f"{GROUP_LABELS.get(str(grp), grp)} {sub.loc[sub['period'] == first, 'y'].round(2).tolist()[0]} in {first} "
        f"and {sub.loc[sub['period'] == last, 'y'].round(2).tolist()[0]} in {last}"
        for grp, sub in g.groupby("group")
    )
    alt = (
        f"Line chart of {measure.title_in_text} by quarter, {first} to {last}, "
        + ("as the geometric mean per force on a logarithmic axis, " if logged else "")
        + "averaged over phase-1 "
        f"pathfinder forces, exposed control forces and other forces, with dashed lines at the starts "
        f"of phases 1 and 2. {summary}."
    )
    return FigureSpec(
        f"{ctx.spec.id}_{measure.id}_trend",
        fig,
        alt,
        f"{measure.title} by group of forces ({ctx.data_label} data).",
        data=figure_data(g, basis_column="cases"),
    )


def _descriptive(panel: pd.DataFrame, measure: Measure, ctx: RunContext) -> pd.DataFrame:
    """Yearly cases and value by group of forces, disclosure-controlled.

    Hidden counts are checked as well as the cases shown: a proportion's numerator and
    its complement (denominator minus numerator) can be read back from the rate, and a
    subgroup's table (plan option ``subgroup``) subtracted from the all-cases table of
    another analysis gives the cases outside the subgroup. A row is suppressed when any
    of these is in ``(0, threshold)``.
    """
    agg = _yearly(panel, measure, ctx)
    hidden: list[str] = []
    if measure.type == "proportion":
        agg["_numerator"] = agg["_num"]
        agg["_complement"] = agg["cases"] - agg["_num"]
        hidden += ["_numerator", "_complement"]
    if ctx.spec.options.get("subgroup"):
        full = _yearly(ctx.inputs.panel("force", "quarter"), measure, ctx)
        rest = agg.merge(full, on=["group", "year"], how="left", suffixes=("", "_all"))
        agg["_outside_subgroup"] = (rest["cases_all"] - rest["cases"]).to_numpy()
        hidden.append("_outside_subgroup")
        if measure.type == "proportion":
            agg["_outside_numerator"] = (rest["_num_all"] - rest["_num"]).to_numpy()
            hidden.append("_outside_numerator")
    agg = agg.drop(columns="_num")
    # The phase-1 pathfinders' counts are published elsewhere (the comparative ITS figure
    # draws their series month by month, and the national ITS the national total): they
    # cannot hide an exposed-control cell, so the other two groups are suppressed together.
    table = suppress_long(
        agg,
        ["cases", *hidden],
        ["value"] if "value" in agg else [],
        ctx.disclosure_threshold,
        secondary_by=["year"],
        known=agg["group"].eq(GROUP_LABELS["pathfinder"]),
    )
    table = table.drop(columns=hidden)
    table.attrs["count_columns"] = ["cases"]
    return table


def _yearly(panel: pd.DataFrame, measure: Measure, ctx: RunContext) -> pd.DataFrame:
    """Cases (the count, or the denominator), numerator and value by group and year."""
    d = analysis_panel(panel, measure, ctx, "default")
    d["year"] = d["period"].str[:4]
    count_col = "numerator" if measure.type == "count" else "denominator"
    agg = d.groupby(["group", "year"], as_index=False).agg(cases=(count_col, "sum"))
    # min_count: a median has no numerator, so its yearly value is unknown, never 0.
    agg["_num"] = d.groupby(["group", "year"])["numerator"].sum(min_count=1).to_numpy()
    if measure.type != "count":
        agg["value"] = agg["_num"] / agg["cases"].where(agg["cases"] > 0)
        if measure.type == "proportion":
            agg["value"] = 100 * agg["value"]
    agg["cases"] = agg["cases"].astype("int64")
    if "value" in agg:
        agg["value"] = agg["value"].round(1)
    # A year the window cuts (e.g. 2023: January to June) must not read as a collapse.
    quarters = d.groupby("year")["period"].nunique()
    agg["quarters"] = agg["year"].map(quarters).astype("int64")
    agg["group"] = agg["group"].map(GROUP_LABELS)
    return agg


def _panel_for(ctx: RunContext) -> pd.DataFrame:
    """Return the force-by-quarter panel, or one built from a subgroup of cases (plan option)."""
    sub = ctx.spec.options.get("subgroup")
    if not sub:
        return ctx.inputs.panel("force", "quarter")
    if not isinstance(sub, dict) or not set(sub) <= set(SUBGROUPS):
        raise ValueError(
            f"options.subgroup must map case attributes in {SUBGROUPS} to a value, got {sub!r}"
        )
    cases = ctx.inputs.cases()
    mask = pd.Series(True, index=cases.index)
    for col, val in sub.items():
        mask &= cases[col].astype(str).str.lower() == str(val).lower()
    chosen = cases[mask]  # a new frame already: no second copy (memory on big extracts)
    chosen.attrs = dict(cases.attrs)
    return aggregate_cases(
        chosen, level="force", freq="quarter", threshold=ctx.disclosure_threshold
    )


def area_only(domain: str) -> list[Measure]:
    """Measures of a domain held only per CPS Area (analysed by the Area dose design)."""
    return [m for m in load_catalogue().by_domain(domain) if "force" not in m.level]


def area_dose_rows(ctx: RunContext, measure: Measure) -> list[pd.DataFrame]:
    """Area-level dose design for a measure held only per CPS Area.

    The dose is the Area's treated share (:func:`~soteria_eval.rollout.treatment_panel`
    at Area level) over the DiD window. Two estimates of the effect of a full dose, each
    clustered by Area with CR1 and CR2: stacked clean comparisons of changes from each
    Area's pre-start mean (:func:`~soteria_eval.did.stacked_dose_did` with
    ``base="pre_mean"``, design ``stacked_dose``) and two-way fixed
    effects on the share (design ``twfe_dose``), which also uses already-treated Areas as
    controls. Returns no rows when the data folder has no Area-by-quarter panel file
    holding the measure.
    """
    from soteria_eval.did import stacked_dose_did
    from soteria_eval.pipeline.inputs import panel_file

    # Only a supplied Area panel can hold them (case records never do): no panel is
    # built from the cases here.
    if not (ctx.inputs.folder / panel_file("area", "quarter")).is_file():
        return []
    panel = ctx.inputs.panel("area", "quarter")
    rows = panel[panel["measure"] == measure.id]
    if rows.empty:
        return []
    tp = treatment_panel(ctx.rollout, level="area", freq="quarter", start=WINDOW[0], end=WINDOW[1])
    d = tp.merge(rows[["unit", "period", "value"]], on=["unit", "period"], how="left")
    d["y"] = to_analysis_scale(d["value"], measure.type)
    unit = SCALES[measure.type].unit
    n_areas = int(d["unit"].nunique())
    treated = int((d.groupby("unit")["treated_share"].max() > 0).sum())
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        fits = []
        try:
            st = stacked_dose_did(d, outcome="y", dose="treated_share", unit="unit", time="period", base="pre_mean", vcov="CR1")  # fmt: skip
            fits += [("stacked_dose", st), ("stacked_dose", st.with_vcov("CR2"))]
        except ValueError as exc:
            out.append(
                _design_failure(ctx, measure, "stacked_dose", "default", exc).assign(level="area")
            )
        tw = twfe(d, outcome="y", treatment="treated_share", unit="unit", time="period")
        fits += [("twfe_dose", tw), ("twfe_dose", tw.with_vcov("CR2"))]
    for design, res in fits:
        note = (
            f"CPS Area x quarter {WINDOW[0]} to {WINDOW[1]}; dose: the Area's treated share; "
            + (
                f"stacked clean comparisons ({res.info.get('n_blocks', 0)} cohort-quarter blocks; "
                "changes from each Area's mean before the start)"
                if design == "stacked_dose"
                else "two-way fixed effects on the share (already-treated Areas also compared)"
            )
        )
        r = result_rows(
            res, analysis=ctx.spec.id, domain=measure.domain, measure=measure.id, design=design,
            level="area", scenario="default", estimand=f"effect of a full dose ({unit})",
            data_label=ctx.data_label, note=note,
        )  # fmt: skip
        r["term"] = "programme"
        r["n_units"] = n_areas
        r["n_treated"] = treated
        out.append(refuse_invalid(r, n_clusters=n_areas, treated_clusters=treated))
    return out


def domain_analysis(ctx: RunContext, domain: str, measures: Sequence[str] = ()) -> AnalysisOutput:
    """Run the standard DiD analysis of a domain (see the module docstring).

    Parameters
    ----------
    ctx : RunContext
        The run's context (data, rollout, scenarios of the plan entry).
    domain : str
        One of the four domains.
    measures : sequence of str
        Measure ids; default: every measure of the domain that the panel holds.

    Returns
    -------
    AnalysisOutput
        Result rows for every measure and scenario (TWFE with CR1 and CR2, and for the
        default scenario a restricted wild cluster bootstrap with Webb weights); for the
        default scenario also Callaway–Sant'Anna (not-yet-treated comparisons), and for
        the primary measure its event study with a bootstrap uniform band and a joint
        pre-trend test; a trend figure for every measure; a disclosure-controlled table of
        yearly figures for the primary measure.
    """
    from soteria_eval.pipeline.inputs import MissingInputError

    cat = load_catalogue()
    panel = _panel_for(ctx)
    have = set(panel["measure"].unique())
    chosen = [
        m
        for m in cat.by_domain(domain)
        if (m.id in measures if measures else not m.id.startswith(PUBLISHED_MEASURE_PREFIX))
        and m.id in have
    ]
    if not chosen:
        raise MissingInputError(
            "case_data_measures", ctx.inputs.folder,
            f"the force x quarter panel holds no {DOMAIN_TITLES[domain].lower()} measure of the "
            "case data",
        )  # fmt: skip
    out = AnalysisOutput()
    for m in chosen:
        for scenario in ctx.spec.scenarios:
            d = analysis_panel(panel, m, ctx, scenario)
            everyone = analysis_panel(panel, m, ctx, "default") if scenario != "default" else None
            try:
                estimated = _estimate(d, m, scenario, ctx, everyone=everyone)
            except ValueError as exc:  # small data: e.g. no treated cell left; said, not raised
                out.add(_design_failure(ctx, m, "twfe", scenario, exc))
                continue
            if m.primary and scenario in FULL_SCENARIOS:
                try:
                    bd = breakdown_values(d)
                except ValueError:  # no event study in this sample: no breakdown value
                    bd = (float("nan"), float("nan"))
                estimated = _with_breakdown(estimated, bd)
            for rows in estimated:
                out.add(rows)
            if m.primary and scenario in FULL_SCENARIOS and "twfe" in ctx.spec.designs:
                out.add(_phase_rows(d, m, scenario, ctx))
            if m.primary and scenario in FULL_SCENARIOS and "imputation_trends" in ctx.spec.designs:
                try:
                    out.add(_with_breakdown([trend_robust_rows(d, m, scenario, ctx)], bd)[0])
                except ValueError as exc:  # e.g. a treated force with one quarter before its start
                    out.add(_design_failure(ctx, m, "imputation_trends", scenario, exc))
            if scenario in FULL_SCENARIOS and {"callaway_santanna", "event_study"} & set(
                ctx.spec.designs
            ):
                try:
                    cs_rows, fig = _staggered(
                        d,
                        m,
                        scenario,
                        ctx,
                        event_study=m.primary
                        and scenario == "default"
                        and "event_study" in ctx.spec.designs,
                    )
                except ValueError as exc:  # e.g. too few complete forces: recorded, not hidden
                    out.add(_design_failure(ctx, m, "callaway_santanna", scenario, exc))
                    continue
                if m.primary and scenario in FULL_SCENARIOS:
                    cs_rows = _with_breakdown(cs_rows, bd)
                for rows in cs_rows:
                    out.add(rows)
                if fig is not None:
                    out.figures.append(fig)
        if "covid_excluded" in ctx.spec.windows:
            d = analysis_panel(panel, m, ctx, "default")
            d = d[~d["period"].isin(COVID_QUARTERS)]
            for rows in _estimate(d, m, "default", ctx, inference_default=False):
                out.add(rows.assign(scenario="default, COVID-19 quarters excluded"))
        out.figures.append(_trend(panel, m, ctx))
    primary = chosen[0]
    out.tables[f"{ctx.spec.id}_{primary.id}_by_group_year"] = _descriptive(panel, primary, ctx)
    by_area = set()
    if not ctx.spec.options.get("subgroup"):  # the Area series have no case subgroups
        for m in area_only(domain):
            if measures and m.id not in measures:
                continue
            for rows in area_dose_rows(ctx, m):
                out.add(rows)
                by_area.add(m.id)
    missing = [
        m.id
        for m in cat.by_domain(domain)
        if m.id not in have
        and m.id not in by_area
        and not m.id.startswith(PUBLISHED_MEASURE_PREFIX)
    ]
    if missing:
        out.notes.append(f"not in the data: {', '.join(missing)}")
    return out
