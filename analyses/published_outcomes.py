"""What the published data show: sexual-offence charges by police force and financial year.

Question: did charges (Home Office outcome type 1, investigations closed in the year) rise
more in the five phase-1 pathfinder forces than in other forces after September 2021?

Data: the Home Office outcomes by force and financial year (real, published; sexual
offences as a whole, not rape alone): the data folder's refreshed copy
(``sexual_offences_outcomes_by_force_fy.csv``) if it has one, else the bundled file.

Window: the trend table and figure cover every complete year of the data. The
difference-in-differences estimates end with the last year in which some force was not
yet under the programme by the rollout (2022/23: the national operating model of 10 July
2023 left no untreated comparison), so a refreshed file's new years enter the trend, not
the estimate. The plan may fix either end: ``options: {window: [first, last]}``. Rows that
fail a closed-basis quality check (coverage gap, outlier year, jump) and incomplete years
are excluded and counted; British Transport Police is not a territorial force and is left
out.

Primary specification (scenario ``phase1_clean``): the five phase-1 pathfinders against
the forces that are neither phase-2 forces nor exposed (sharing a CPS Area with a
pathfinder), force and year fixed effects, log closed-basis charges, treated from 2021/22.
Its inference is CR2, the restricted wild cluster bootstrap (Webb weights) and exact
randomization inference over every choice of five forces; CR1 is reported only as the
conventional reference. It also gets an event study by year (reference 2020/21) with a
joint pre-trend F-test, a placebo start (``options.placebo_start``, default 2019/20, fitted
on pre-programme years only) and HonestDiD relative-magnitude bounds on the average of
the post-programme years. The rollout scenarios (phase 2 treated in its part year 2022/23;
exposed forces kept as a separate group; every force treated from its own start) follow
with CR1 and CR2 and a 2x2 comparison.

Quality flags that exclude force-years are computed from pre-programme years only (before
2021/22), with each force's median over those years as the reference: an exclusion can
never depend on an outcome the programme could have changed.

Run alone: ``python analyses/published_outcomes.py --out results/published``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from soteria_eval.datasets import PUBLISHED_MEASURES, outcomes_quality_flags
from soteria_eval.did import did_2x2, event_study, imputation_did, pretrend_test, twfe
from soteria_eval.did.event_study import event_term
from soteria_eval.disclosure import SUPPRESSED, figure_data, suppress_table
from soteria_eval.inference.randomization import randomization_test
from soteria_eval.inference.wild import wild_cluster_bootstrap
from soteria_eval.linear_model import FewClustersWarning
from soteria_eval.pipeline import AnalysisOutput, FigureSpec, RunContext, result_rows
from soteria_eval.plotting import GROUP_LABELS, event_study_plot, trend_plot
from soteria_eval.rollout import get_scenario, treatment_panel
from soteria_eval.sensitivity import breakdown_value, event_study_inputs, honest_sensitivity

MEASURE = PUBLISHED_MEASURES[0]  # "published_sexual_offence_charges"
REAL_LABEL = "real (published)"  # the Home Office's published outcomes, not the run's case data
PRE = ("2018/19", "2019/20", "2020/21")
POST = ("2021/22", "2022/23")
#: The first financial year under the programme (phase 1 began in September 2021).
START = "2021/22"
#: Scenario id of the primary specification: phase 1 against clean controls.
PRIMARY = "phase1_clean"
#: Relative-magnitude bounds for the HonestDiD rows.
MBAR = (0.5, 1.0, 1.5, 2.0)
#: Quality checks that concern the closed-basis charge counts used here.
CLOSED_BASIS_CHECKS = ("coverage_gap", "outlier", "jump")


def _start_year(fy: str) -> int:
    return int(fy[:4])


def windows(ctx: RunContext, data: pd.DataFrame) -> tuple[str, str, str]:
    """Return ``(first, last_data, last_did)``: the data's span and the estimates' last year.

    ``last_data`` is the last complete year of the data; ``last_did`` the last year, at most
    ``last_data``, in which some force is not yet treated under the default rollout. The
    plan's ``options.window`` (``[first, last]``) fixes the first year and the estimates'
    last year.
    """
    parts = set(data.attrs.get("part_years", ()))
    years = sorted({str(y) for y in data["fy"]} - parts, key=_start_year)
    if not years:
        raise ValueError("the published outcomes table has no complete financial year")
    first, last_data = years[0], years[-1]
    tp = treatment_panel(ctx.rollout, level="force", freq="fy", start=first, end=last_data)
    open_years = tp.groupby("period")["treated"].all().pipe(lambda s: s[~s].index)
    last_did = max(open_years, key=_start_year) if len(open_years) else last_data
    fixed = ctx.spec.options.get("window")
    if fixed is not None:
        if not (
            isinstance(fixed, list)
            and len(fixed) == 2
            and all(isinstance(y, str) and y in years for y in fixed)
        ):
            raise ValueError(
                f"options.window must be [first, last], two complete years of the data "
                f"({years[0]} to {years[-1]}), got {fixed!r}"
            )
        first, last_did = fixed
    return first, last_data, last_did


def exclusion_flags(data: pd.DataFrame) -> pd.DataFrame:
    """Closed-basis quality flags that exclude force-years: pre-programme years only.

    The checks of :func:`~soteria_eval.datasets.outcomes_quality_flags` run on the years
    before :data:`START`, so each force's reference median and every flag come from years
    the programme cannot have touched; later years are never excluded by an
    outcome-based check.
    """
    pre = data[data["fy"].map(_start_year) < _start_year(START)]
    flags = outcomes_quality_flags(pre, part_years=data.attrs.get("part_years", ()))
    return flags[flags["check"].isin(CLOSED_BASIS_CHECKS)]


def build_panel(
    ctx: RunContext,
    scenario: str,
    data: pd.DataFrame,
    first: str,
    last: str,
    keep_flagged: bool = False,
) -> tuple[pd.DataFrame, int]:
    """Force-by-year panel with treatment variables; return it and the rows excluded.

    ``keep_flagged``: keep the force-years the quality flags would exclude (part years and
    zero counts are still left out): how much the answer hinges on the exclusions.
    """
    tp = treatment_panel(
        ctx.rollout, level="force", freq="fy", start=first, end=last, scenario=scenario
    )
    panel = tp.merge(
        data, left_on=["unit", "period"], right_on=["force", "fy"], how="left", validate="1:1"
    )
    flags = exclusion_flags(data)
    flagged = pd.Series(
        list(zip(panel["unit"], panel["period"], strict=True)), index=panel.index
    ).isin(set(zip(flags["force"], flags["fy"], strict=True)))
    part = panel["period"].isin(data.attrs.get("part_years", ()))
    usable = (flagged.eq(False) | keep_flagged) & ~part & panel["closed_charge"].gt(0)
    panel["log_charges"] = np.where(usable, np.log(panel["closed_charge"].where(usable, 1)), np.nan)
    panel["charges_used"] = panel["closed_charge"].where(usable)
    return panel, int((~usable).sum())


def run(ctx: RunContext) -> AnalysisOutput:
    """Estimate the change in log charges in pathfinder forces (TWFE and 2x2)."""
    out = AnalysisOutput()
    common = {
        "analysis": ctx.spec.id,
        "domain": "volume",
        "measure": MEASURE,
        "level": "force",
        "data_label": REAL_LABEL,
    }
    data = ctx.inputs.published_outcomes()
    first, last_data, last_did = windows(ctx, data)
    source = "refreshed file" if data.attrs.get("source_role") == "user" else "bundled file"
    _primary(ctx, out, data, first, last_data, last_did, source, common)
    _rape_quarterly(ctx, out)
    for scenario in ctx.spec.scenarios:
        sc = get_scenario(scenario)
        panel, excluded = build_panel(ctx, scenario, data, first, last_did)
        note = (
            f"{excluded} force-years excluded by quality checks; British Transport Police left "
            f"out; years {first} to {last_did} (data to {last_data}, {source})"
        )
        covariates = ["exposed_control"] if sc.exposed_controls == "separate" else []
        panel["exposed_control"] = panel["exposed_control"].astype(float)
        panel["treated_f"] = panel["treated"].astype(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FewClustersWarning)
            res = twfe(
                panel,
                outcome="log_charges",
                treatment="treated_f",
                unit="unit",
                time="period",
                covariates=covariates,
            )
            for r in (res, res.with_vcov("CR2")):
                out.add(
                    result_rows(
                        r,
                        design="twfe",
                        scenario=scenario,
                        estimand="ATT (log points)",
                        terms=["treated_f", "exposed_control"],
                        note=note,
                        **common,
                    )
                )
            # 2x2: phase-1 pathfinders against forces still untreated in the post years
            # (under some scenarios phase 2 takes every other force from 2022/23).
            post = [
                p
                for p in POST
                if (~panel.loc[(panel["period"] == p) & (panel["phase"] != 1), "treated"]).any()
            ]
            untreated = panel[panel["period"].isin(post)].groupby("unit")["treated"].any().eq(False)
            controls = set(untreated[untreated].index) - set(panel.loc[panel["phase"] == 1, "unit"])
            sub = panel[(panel["phase"] == 1) | panel["unit"].isin(controls)]
            sub = sub[sub["period"].isin(PRE + tuple(post))].copy()
            sub["pathfinder"] = sub["phase"] == 1
            sub["post"] = sub["period"].isin(post)
            r2 = did_2x2(
                sub, outcome="log_charges", treated="pathfinder", post="post", cluster="unit"
            )
            r2 = _with_counts(r2, sub)
            note2 = f"{note}; post years {', '.join(post)}; {len(controls)} comparison forces"
            out.add(
                result_rows(
                    r2,
                    design="did_2x2",
                    scenario=scenario,
                    estimand="ATT (log points)",
                    terms=["treated:post"],
                    note=note2,
                    **common,
                )
            )
        if scenario == "default":
            full, _ = build_panel(ctx, scenario, data, first, last_data)
            full = full[~full["period"].isin(data.attrs.get("part_years", ()))]
            out.figures.append(_trend_figure(full, first, last_data))
            out.tables["published_charges_by_group"] = _group_table(full, ctx.disclosure_threshold)
            out.tables["published_quality_flags"] = _flags_table(data, ctx.disclosure_threshold)
    return out


#: Measures of an ingested Home Office panel, with how each is analysed.
RAPE_MEASURES = {
    "ho_rape_charged": ("volume", "log"),
    "ho_rape_outcomes_assigned": ("volume", "log"),
    "ho_rape_recorded": ("volume", "log"),
    "ho_rape_charge_rate": ("quality", "points"),
    "ho_rape_no_suspect": ("volume", "points"),
    "ho_rape_victim_does_not_support": ("victim_experience", "points"),
    "ho_rape_evidential_difficulties": ("victim_experience", "points"),
}


def rape_panel_sample(ctx: RunContext, panel: pd.DataFrame) -> tuple[pd.DataFrame, str, str, int]:
    """Force-quarter sample of the rape-specific primary specification.

    Phase-1 forces against forces that are neither phase 2 nor exposed, from the panel's
    first quarter to the last quarter in which some of them is untreated (before the
    national operating model). Returns the treatment panel of that sample, the first and
    last quarter, and the number of forces left out.
    """
    periods = sorted(panel["period"].unique())
    first, last_data = periods[0], periods[-1]
    tp = treatment_panel(ctx.rollout, level="force", freq="quarter", start=first, end=last_data)
    per_unit = tp.groupby("unit").agg(phase=("phase", "first"), exposed=("exposed_ever", "max"))
    clean = per_unit.index[
        (per_unit["phase"] == 1) | ((per_unit["phase"] != 2) & ~per_unit["exposed"])
    ]
    tp = tp[tp["unit"].isin(clean)]
    open_periods = tp.groupby("period")["treated"].all().pipe(lambda s: s[~s].index)
    last = max(open_periods) if len(open_periods) else last_data
    tp = tp[tp["period"] <= last].copy()
    tp["treated_f"] = (tp["treated"] & tp["phase"].eq(1)).astype(float)
    return tp, first, last, int(per_unit.shape[0] - clean.size)


def _rape_quarterly(ctx: RunContext, out: AnalysisOutput) -> None:
    """Rows for the rape-specific force-by-quarter panel, when the data folder holds one.

    ``soteria-eval ingest home-office`` writes ``panel_force_quarter.csv`` with the
    ``ho_rape_*`` measures from the publisher's own files. Each measure gets the primary
    specification (phase 1 against clean controls, force and quarter fixed effects) with
    CR1 (reference), CR2 and the restricted wild cluster bootstrap (Webb weights): counts
    in logs (quarters with a zero count are excluded and counted), shares in percentage
    points.
    """
    from soteria_eval.pipeline.inputs import panel_file

    if not (ctx.inputs.folder / panel_file("force", "quarter")).is_file():
        return
    panel = ctx.inputs.panel("force", "quarter")
    panel = panel[panel["measure"].isin(RAPE_MEASURES)]
    if panel.empty:
        return
    marked = panel["synthetic"] if "synthetic" in panel else pd.Series(False, index=panel.index)
    synthetic = bool(marked.astype("boolean").fillna(False).any())
    label = "synthetic" if (synthetic or ctx.inputs.synthetic) else REAL_LABEL
    tp, first, last, left_out = rape_panel_sample(ctx, panel)
    seed = int(ctx.rng().integers(2**31))
    for measure, (domain, scale) in RAPE_MEASURES.items():
        m = panel[panel["measure"] == measure]
        if m.empty:
            continue
        d = tp.merge(m[["unit", "period", "value", "numerator"]], on=["unit", "period"],
                     how="left")  # fmt: skip
        if scale == "log":
            ok = d["numerator"].gt(0)
            d["y"] = np.where(ok, np.log(d["numerator"].where(ok, 1).astype(float)), np.nan)
            estimand = "ATT (log points)"
        else:
            d["y"] = 100 * d["value"].astype(float)
            estimand = "ATT (percentage points)"
        excluded = int(d["y"].isna().sum())
        note = (
            f"rape-specific Home Office panel (ingested, closed-basis outcomes): phase-1 forces "
            f"against forces neither phase 2 nor exposed ({left_out} forces left out); quarters "
            f"{first} to {last}; {excluded} force-quarter(s) excluded"
            + (
                " (zero or missing count)"
                if scale == "log"
                else " (no outcomes assigned or not supplied)"
            )
        )
        d = d.dropna(subset=["y"])
        if d["treated_f"].sum() == 0 or d.loc[d["treated_f"] == 0, "unit"].nunique() < 2:
            out.notes.append(f"{measure}: no treated or too few comparison force-quarters")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FewClustersWarning)
            res = twfe(d, outcome="y", treatment="treated_f", unit="unit", time="period")
            wcr = wild_cluster_bootstrap(res, "treated_f", n_boot=9999, weights="webb", seed=seed)
        for r in (res, res.with_vcov("CR2"), wcr):
            out.add(result_rows(
                r, analysis=ctx.spec.id, domain=domain, measure=measure, design="twfe",
                level="force", scenario=PRIMARY, estimand=estimand, data_label=label,
                terms=["treated_f"], note=note,
            ))  # fmt: skip
    out.notes.append(
        f"rape-specific quarterly panel from the data folder: {panel['unit'].nunique()} forces, "
        f"{first} to {last}"
    )


def primary_panel(
    ctx: RunContext, data: pd.DataFrame, first: str, last: str, keep_flagged: bool = False
) -> tuple[pd.DataFrame, int, int]:
    """Return the primary sample: phase-1 forces and clean controls, integer years and cohorts.

    Returns the panel, the force-years excluded (quality flags, part years, zero counts)
    and the number of forces left out as phase-2 or exposed.
    """
    panel, _ = build_panel(ctx, "default", data, first, last, keep_flagged=keep_flagged)
    per_unit = panel.groupby("unit").agg(phase=("phase", "first"), exposed=("exposed_ever", "max"))
    clean = per_unit.index[
        (per_unit["phase"] == 1) | ((per_unit["phase"] != 2) & ~per_unit["exposed"])
    ]
    left_out = int(per_unit.shape[0] - clean.size)
    panel = panel[panel["unit"].isin(clean)].copy()
    order = sorted(panel["period"].unique(), key=_start_year)
    panel["t"] = panel["period"].map({p: i + 1 for i, p in enumerate(order)})
    start = order.index(START) + 1 if START in order else 0
    phase1 = panel["phase"].eq(1)
    panel["cohort"] = np.where(phase1, start, 0)
    panel["treated_f"] = (phase1 & (panel["t"] >= start)).astype(float)
    excluded = int(panel["log_charges"].isna().sum())
    return panel, excluded, left_out


def _primary(  # type: ignore[no-untyped-def]
    ctx: RunContext,
    out: AnalysisOutput,
    data: pd.DataFrame,
    first: str,
    last_data: str,
    last: str,
    source: str,
    common,
) -> None:
    """Add the primary specification's rows (see the module docstring)."""
    panel, excluded, left_out = primary_panel(ctx, data, first, last)
    note = (
        f"phase-1 forces against forces neither phase 2 nor exposed ({left_out} forces left out); "
        f"{excluded} force-years excluded (pre-programme quality flags, zero counts); "
        f"years {first} to {last} (data to {last_data}, {source})"
    )
    rows = {**common, "scenario": PRIMARY}
    seed = int(ctx.rng().integers(2**31))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        res = twfe(panel, outcome="log_charges", treatment="treated_f", unit="unit", time="period")
        wcr = wild_cluster_bootstrap(res, "treated_f", n_boot=9999, weights="webb", seed=seed)
        for r in (res, res.with_vcov("CR2"), wcr):
            out.add(result_rows(r, design="twfe", estimand="ATT (log points)",
                                terms=["treated_f"], note=note, **rows))  # fmt: skip
        complete = panel.groupby("unit")["log_charges"].transform(lambda v: v.notna().all())
        ri = randomization_test(
            panel[complete], outcome="log_charges", treatment="treated_f", unit="unit",
            time="period", n_draws=9999, seed=seed,
        )  # fmt: skip
        ri_row = result_rows(res, design="twfe", estimand="ATT (log points)", terms=["treated_f"],
                             note=note, **rows)  # fmt: skip
        kind = "exact" if ri.exact else "Monte Carlo"
        n_gap = int(panel.loc[~complete, "unit"].nunique())
        out.add(ri_row.assign(
            estimate=ri.estimate, std_error=np.nan, ci_lower=np.nan, ci_upper=np.nan,
            p_value=ri.p_value, n_units=int(panel.loc[complete, "unit"].nunique()),
            inference=f"randomization inference ({kind}, {ri.n_assignments:,} assignments, studentized)",
            note=f"{note}; {n_gap} force(s) with an excluded year left out of the reassignment",
        ))  # fmt: skip
        # Event study by year, reference the year before the start.
        start = int(panel.loc[panel["cohort"] > 0, "cohort"].max())
        leads, lags = start - 1, int(panel["t"].max()) - start
        es = event_study(
            panel, outcome="log_charges", unit="unit", time="t", cohort="cohort",
            leads=leads, lags=lags, bin_endpoints=False, vcov="CR2",
        )  # fmt: skip
    labels = {event_term(k): k for k in range(-leads, lags + 1)}
    es_rows = result_rows(es, design="event_study", estimand="event-time ATT (log points)",
                          note=note, **rows)  # fmt: skip
    es_rows["note"] = [
        f"{note}; year {_year_at(panel, start + labels.get(t, 0))}" for t in es_rows["term"]
    ]
    out.add(es_rows)
    out.figures.append(_event_figure(es, panel, start))
    f, q, df2, p = pretrend_test(es)
    out.add(es_rows.iloc[:1].assign(
        term="pre-trend F", estimand=f"F({q}, {df2:.0f})", estimate=f, std_error=np.nan,
        ci_lower=np.nan, ci_upper=np.nan, p_value=p,
        note=f"{note}; joint test that the {q} pre-programme event-time effects are zero (CR2)",
    ))  # fmt: skip
    # HonestDiD: relative magnitudes, the average of the post-programme years.
    b, v, npre, npost = event_study_inputs(es)
    n_treated = int(panel.loc[panel["cohort"] > 0, "unit"].nunique())
    l_vec = [1.0 / npost] * npost
    hon = honest_sensitivity(b, v, num_pre=npre, num_post=npost, m_values=(0.0, *MBAR),
                             l_vec=l_vec, grid_points=500, df=n_treated - 1)  # fmt: skip
    avg = float(np.mean(b[npre:]))
    breakdown = breakdown_value(b, v, num_pre=npre, num_post=npost, l_vec=l_vec, df=n_treated - 1)
    breakdown_sd = breakdown_value(b, v, num_pre=npre, num_post=npost, l_vec=l_vec,
                                   df=n_treated - 1, restriction="smoothness")  # fmt: skip
    for frame in out.rows:
        hit = (
            (frame["scenario"] == PRIMARY)
            & (frame["design"] == "twfe")
            & (frame["term"] == "treated_f")
        )
        frame.loc[hit, "breakdown_rm"] = breakdown
        frame.loc[hit, "breakdown_sd"] = breakdown_sd
    for r in hon.tidy().itertuples():
        original = r.restriction == "original"
        out.add(es_rows.iloc[:1].assign(
            design="honest_did", estimand="average post-programme ATT (log points)",
            term="original" if original else f"Mbar = {r.m:g}", estimate=avg,
            std_error=np.nan, ci_lower=r.lb, ci_upper=r.ub, p_value=np.nan,
            inference=f"event-study interval (CR2, t({n_treated - 1}))" if original
            else "HonestDiD relative magnitudes (least-favourable hybrid)",
            note=f"{note}; breakdown Mbar = {breakdown:.2g}",
        ))  # fmt: skip
    _robust_rows(ctx, out, panel, data, first, last, note, rows, excluded)
    _triple_difference(ctx, out, panel, note, rows, seed)
    # Placebo: a false start within the pre-programme years only.
    placebo = str(ctx.spec.options.get("placebo_start", "2019/20"))
    pre = panel[panel["t"] < start].copy()
    if placebo not in set(pre["period"]) or placebo == pre["period"].min():
        raise ValueError(
            f"options.placebo_start must be a pre-programme year after the first, got {placebo!r}"
        )
    pre["treated_f"] = (
        pre["phase"].eq(1) & (pre["period"].map(_start_year) >= _start_year(placebo))
    ).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        pl = twfe(pre, outcome="log_charges", treatment="treated_f", unit="unit", time="period")
        pl_rows = result_rows(pl.with_vcov("CR2"), design="twfe", estimand="ATT (log points)",
                              terms=["treated_f"], note=note, **rows)  # fmt: skip
    out.add(pl_rows.assign(
        term=f"placebo start {placebo}",
        note=f"{note}; pre-programme years {pre['period'].min()} to {pre['period'].max()} only, "
        f"pathfinders coded treated from {placebo}",
    ))  # fmt: skip


def _robust_rows(  # type: ignore[no-untyped-def]
    ctx: RunContext,
    out: AnalysisOutput,
    panel: pd.DataFrame,
    data: pd.DataFrame,
    first: str,
    last: str,
    note: str,
    rows,
    excluded_primary: int,
) -> None:
    """Add what survives a differential trend, and what hinges on the quality exclusions.

    (a) Imputation with force-specific linear trends (the trend-robust design), BJS's
    variance with t(treated - 1): term ``treated_f (force trends)``. (b) The primary TWFE
    and its pre-trend test with every force-year the quality flags would exclude kept:
    terms ``treated_f (every force-year kept)`` and ``pre-trend F (every force-year kept)``.
    """
    from scipy import stats

    res = imputation_did(panel.dropna(subset=["log_charges"]), outcome="log_charges",
                         unit="unit", time="t", cohort="cohort", unit_trends=True)  # fmt: skip
    est, se = float(res.params["overall"]), float(res.std_errors["overall"])
    g1 = int(res.info["n_treated"])
    crit = float(stats.t.ppf(0.975, g1 - 1))
    base = result_rows(res, design="imputation_trends", estimand="ATT (log points)",
                       terms=["overall"], note=note, **rows)  # fmt: skip
    out.add(base.assign(
        term="treated_f (force trends)", ci_lower=est - crit * se, ci_upper=est + crit * se,
        p_value=float(2 * stats.t.sf(abs(est / se), g1 - 1)), n_treated=g1,
        n_dropped=excluded_primary,
        n_units=int(panel.dropna(subset=["log_charges"])["unit"].nunique()),
        inference=f"conservative clustered variance (BJS 2024) by unit; t({g1 - 1}): {g1} treated units",
        note=f"{note}; imputation with each force's own linear trend fitted before the start",
    ))  # fmt: skip
    kept, excluded, _ = primary_panel(ctx, data, first, last, keep_flagged=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        tw = twfe(kept, outcome="log_charges", treatment="treated_f", unit="unit", time="period")
        start = int(kept.loc[kept["cohort"] > 0, "cohort"].max())
        es = event_study(
            kept, outcome="log_charges", unit="unit", time="t", cohort="cohort",
            leads=start - 1, lags=int(kept["t"].max()) - start, bin_endpoints=False, vcov="CR2",
        )  # fmt: skip
    what = f"every force-year kept ({excluded} excluded only for part years or zero counts)"
    r = result_rows(tw.with_vcov("CR2"), design="twfe", estimand="ATT (log points)",
                    terms=["treated_f"], note=f"{note}; {what}", **rows)  # fmt: skip
    out.add(r.assign(term="treated_f (every force-year kept)"))
    f, q, df2, p = pretrend_test(es)
    out.add(r.assign(
        term="pre-trend F (every force-year kept)", estimand=f"F({q}, {df2:.0f})", estimate=f,
        std_error=np.nan, ci_lower=np.nan, ci_upper=np.nan, p_value=p,
        note=f"{note}; {what}; joint test that the {q} pre-programme event-time effects are zero (CR2)",
    ))  # fmt: skip


def other_offence_charges(ctx: RunContext) -> pd.DataFrame:
    """Charges for all offences by force and financial year (closed basis, outcome 1).

    From the Home Office's all-offences outcomes by force and quarter, bundled with the
    package (:func:`~soteria_eval.datasets.load_all_offences_outcomes`): a year counts only
    with all four quarters and no quality warning on the charge column in any of them.
    Columns ``force, fy, all_charges``.
    """
    from soteria_eval._paths import bundled_data_dir
    from soteria_eval.datasets import DATASETS, load_all_offences_outcomes

    q = load_all_offences_outcomes()
    ctx.inputs.record(
        "all_offences_outcomes", bundled_data_dir() / DATASETS["all_offences_outcomes"].file,
        "bundled",
    )  # fmt: skip
    q = q.assign(bad=q["quality_flags"].str.contains("closed_all_t1", regex=False))
    y = q.groupby(["force", "fy"], as_index=False).agg(
        all_charges=("closed_all_t1", "sum"), quarters=("q", "nunique"), bad=("bad", "any")
    )
    y = y[(y["quarters"] == 4) & ~y["bad"]]
    return y[["force", "fy", "all_charges"]]


def _triple_difference(  # type: ignore[no-untyped-def]
    ctx: RunContext, out: AnalysisOutput, panel: pd.DataFrame, note: str, rows, seed: int
) -> None:
    r"""Add the triple difference: sexual offences against every other offence, within force.

    The outcome is :math:`\log(\text{sexual-offence charges}) - \log(\text{charges for
    all other offences})` per force and year, so two-way fixed effects on it compare the
    pathfinders' change in sexual-offence charges, relative to their own other charges,
    with the same relative change in the comparison forces (Olden and Møen 2022). A
    force-wide drift in charging (policing capacity, recording practice) cancels; only a
    drift specific to sexual offences and to the pathfinders is left to bias it. Terms
    ``treated_f (triple difference)`` (CR2 and the wild cluster bootstrap) and
    ``pre-trend F (triple difference)``; the breakdown values of its event study are on
    its rows.
    """
    other = other_offence_charges(ctx)
    d = panel.merge(other, left_on=["unit", "period"], right_on=["force", "fy"], how="left",
                    suffixes=("", "_all"))  # fmt: skip
    rest = d["all_charges"] - d["charges_used"]
    ok = d["log_charges"].notna() & rest.gt(0)
    d["y_ddd"] = np.where(ok, d["log_charges"] - np.log(rest.where(ok, 1.0)), np.nan)
    n_out = int((~ok).sum())
    what = (
        f"{note}; triple difference: log sexual-offence charges minus log charges for all "
        f"other offences (Home Office all-offences outcomes, closed basis); {n_out} force-years "
        "without both"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        res = twfe(d, outcome="y_ddd", treatment="treated_f", unit="unit", time="period")
        wcr = wild_cluster_bootstrap(res, "treated_f", n_boot=9999, weights="webb", seed=seed)
        start = int(d.loc[d["cohort"] > 0, "cohort"].max())
        es = event_study(
            d, outcome="y_ddd", unit="unit", time="t", cohort="cohort", leads=start - 1,
            lags=int(d["t"].max()) - start, bin_endpoints=False, vcov="CR2",
        )  # fmt: skip
    b, v, npre, npost = event_study_inputs(es)
    n_treated = int(d.loc[(d["cohort"] > 0) & ok, "unit"].nunique())
    l_vec = [1.0 / npost] * npost
    bd_rm = breakdown_value(b, v, num_pre=npre, num_post=npost, l_vec=l_vec, df=n_treated - 1)
    bd_sd = breakdown_value(b, v, num_pre=npre, num_post=npost, l_vec=l_vec, df=n_treated - 1,
                            restriction="smoothness")  # fmt: skip
    estimand = "ATT relative to other offences (log points)"
    for r in (res.with_vcov("CR2"), wcr):
        out.add(result_rows(r, design="triple_difference", estimand=estimand, terms=["treated_f"],
                            note=what, **rows).assign(
            term="treated_f (triple difference)", breakdown_rm=bd_rm, breakdown_sd=bd_sd,
        ))  # fmt: skip
    f, q, df2, p = pretrend_test(es)
    base = result_rows(res.with_vcov("CR2"), design="triple_difference", estimand=estimand,
                       terms=["treated_f"], note=what, **rows)  # fmt: skip
    out.add(base.assign(
        term="pre-trend F (triple difference)", estimand=f"F({q}, {df2:.0f})", estimate=f,
        std_error=np.nan, ci_lower=np.nan, ci_upper=np.nan, p_value=p,
        note=f"{what}; joint test that the {q} pre-programme event-time effects are zero (CR2)",
    ))  # fmt: skip


def _event_figure(es, panel: pd.DataFrame, start: int) -> FigureSpec:  # type: ignore[no-untyped-def]
    """Event study of the primary specification, by financial year (estimates only)."""
    ci = es.conf_int()
    terms = [t for t in es.params.index if str(t).startswith("event ")]
    k = [int(str(t).split()[1]) for t in terms]
    table = pd.DataFrame(
        {
            "event_time": k,
            "year": [_year_at(panel, start + e) for e in k],
            "estimate": es.params[terms].to_numpy(),
            "ci_lower": ci.loc[terms, "ci_lower"].to_numpy(),
            "ci_upper": ci.loc[terms, "ci_upper"].to_numpy(),
        }
    ).sort_values("event_time")
    fig = event_study_plot(
        es,
        title="Sexual-offence charges: pathfinders against clean controls, by year (published data)",
        ylabel="Difference in log charges relative to 2020/21",
    )
    ax = fig.axes[0]
    ticks = sorted([*k, -1])
    ax.set_xticks(ticks)
    ax.set_xticklabels([_year_at(panel, start + e) for e in ticks], rotation=45, ha="right")
    ax.set_xlabel("Financial year (the programme began in 2021/22; reference year 2020/21)")
    pre = table[table["event_time"] < 0]
    alt = (
        "Event study of log sexual-offence charges in the five phase-1 pathfinder forces against "
        "clean comparison forces, by financial year, relative to 2020/21, with 95% intervals (CR2). "
        "Pre-programme differences: "
        + "; ".join(f"{r.year} {r.estimate:+.2f}" for r in pre.itertuples())
        + ". After the start: "
        + "; ".join(
            f"{r.year} {r.estimate:+.2f}" for r in table[table["event_time"] >= 0].itertuples()
        )
        + "."
    )
    return FigureSpec(
        "published_event_study",
        fig,
        alt,
        "Differences in log charges by year, relative to 2020/21 (primary specification).",
        data=figure_data(table),  # regression estimates: no counts are drawn
        data_label=REAL_LABEL,
    )


def _year_at(panel: pd.DataFrame, t: int) -> str:
    match = panel.loc[panel["t"] == t, "period"]
    return str(match.iloc[0]) if len(match) else "?"


def _flags_table(data: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Return the file's warning flags and whether each excludes a force-year.

    The rows are the flags that exclude (pre-programme years, against the pre-programme
    median: :func:`exclusion_flags`) and the other warnings of the whole file (against
    each force's median of every complete year), which are shown but exclude nothing.
    Values from 1 to threshold-1 are suppressed.
    """
    cols = ["force", "fy", "check", "column", "value", "reference"]
    used = exclusion_flags(data)[cols].assign(excludes="yes")
    every = outcomes_quality_flags(data, part_years=data.attrs.get("part_years", ()))
    every = every.loc[every["severity"] == "warning", cols]
    keys = set(zip(used["force"], used["fy"], used["check"], strict=True))
    every = every[
        [k not in keys for k in zip(every["force"], every["fy"], every["check"], strict=True)]
    ]
    every = every.assign(excludes=[
        f"no: {START} or later (not checked)" if _start_year(fy) >= _start_year(START)
        else "no: not a closed-basis check" if check not in CLOSED_BASIS_CHECKS
        else "no: within range of the pre-programme median"
        for fy, check in zip(every["fy"], every["check"], strict=True)
    ])  # fmt: skip
    flags = pd.concat([used, every]).sort_values(["force", "fy", "check"], kind="stable")
    table = flags.reset_index(drop=True).astype({"value": object, "reference": object})
    for c in ("value", "reference"):
        v = pd.to_numeric(flags[c]).reset_index(drop=True)
        table[c] = [
            SUPPRESSED if 0 < x < threshold else ("" if pd.isna(x) else f"{x:.0f}") for x in v
        ]
    table.attrs["count_columns"] = ["value", "reference"]
    table.attrs["data_label"] = REAL_LABEL
    return table


def _with_counts(res, sub: pd.DataFrame):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    info = dict(res.info)
    units = sub.groupby("unit")["pathfinder"].first()
    info.update(
        n_units=int(units.size), n_treated=int(units.sum()), n_periods=int(sub["period"].nunique())
    )
    return replace(res, info=info)


def _trend_figure(panel: pd.DataFrame, first: str, last: str) -> FigureSpec:
    base = panel[panel["period"] == "2018/19"].set_index("unit")["log_charges"]
    d = panel.assign(rel=100 * (panel["log_charges"] - panel["unit"].map(base)))
    g = d.groupby(["group", "period"], as_index=False).agg(
        rel=("rel", "mean"), forces=("unit", "nunique"), charges=("charges_used", "sum")
    )
    fig = trend_plot(
        g,
        x="period",
        y="rel",
        group="group",
        markers={
            k: v
            for k, v in {
                "2021/22": "Phase 1",
                "2022/23": "Phase 2",
                "2023/24": "National model",
            }.items()
            if k in set(g["period"])
        },
        ylabel="Change in charges since 2018/19 (log points × 100)",
        title="Sexual-offence charges by group of forces (published data)",
    )
    alt = (
        "Line chart of the average change in sexual-offence charges since 2018/19, in log points, "
        "for phase-1 pathfinder forces, exposed control forces and other forces, financial years "
        f"{first} to {last}, with dashed lines where phases 1 and 2 began. Values: "
        + "; ".join(
            f"{GROUP_LABELS[r.group]} {r.period}: {r.rel:.0f}"
            for r in g[g["period"].isin(["2020/21", "2022/23"])].itertuples()
        )
    )
    return FigureSpec(
        "published_charges_trend",
        fig,
        alt,
        "Average change in charges since 2018/19 by group of forces.",
        data=figure_data(g, basis_column="charges"),
        data_label=REAL_LABEL,
    )


def _group_table(panel: pd.DataFrame, threshold: int) -> pd.DataFrame:
    counts = panel.pivot_table(
        index="period", columns="group", values="charges_used", aggfunc="sum"
    )
    counts = counts.reindex(columns=["pathfinder", "exposed_control", "comparison"])
    table = suppress_table(counts, threshold).reset_index()
    table.attrs["count_columns"] = ["pathfinder", "exposed_control", "comparison"]
    table.attrs["data_label"] = REAL_LABEL
    return table


if __name__ == "__main__":
    from soteria_eval.pipeline import run_script

    run_script(__file__, "published_outcomes")
