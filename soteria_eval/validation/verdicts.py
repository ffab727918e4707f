r"""What the evaluation may report: verdicts from the recovery study, applied to results.

**The rule.** A design/inference pair is refused for a measure when, in the recovery
study, its 95% intervals cover the planted truth in fewer than 90% or more than 98% of
seeds, or its estimate's bias exceeds 25% of the truth (``|rel_bias| > 0.25``). Where
the method gives no interval (synthetic-control placebos) the coverage rule is replaced
by its size: more than 10% rejections of a true null refuses it. Where the truth is zero
on average (``rel_bias`` undefined) only coverage and size count.

**Monte Carlo tolerance.** The rule is applied to the study's point values. A verdict is
marked ``borderline`` when the value lies within two Monte Carlo standard errors of the
threshold it is judged against: for coverage and size the binomial standard error *at the
threshold* (with 40 seeds about 0.047 at 90% and 0.022 at 98%; with 200 seeds 0.021
and 0.010; with 400 seeds 0.015 and 0.007), for bias the errors' standard deviation
over :math:`\sqrt S` relative to the truth.

A pair the study did not run is not refused, but its row says it was not validated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COVERAGE_BAND: tuple[float, float] = (0.90, 0.98)
#: A headline's test must keep its size on real force dynamics: in fake rollouts on the
#: Home Office's force panel (:mod:`soteria_eval.validation.real_placebo`) it rejects a
#: true null at 5% in this share of draws, for every rollout shape and real outcome that
#: stands for the measure.
PLACEBO_BAND: tuple[float, float] = (0.025, 0.075)
MAX_REL_BIAS = 0.25
MAX_SIZE = 0.10
KEY = ["measure", "design", "inference"]

#: The sample the headline estimates come from (a rollout scenario): the forces of the
#: pathfinder CPS Areas that were not pathfinders (exposed to spillover) are left out.
HEADLINE_SAMPLE = "exposed_dropped"
#: A headline's design must recover the planted effect more closely than reporting needs.
HEADLINE_MAX_REL_BIAS = 0.15
#: Order of preference among the passing designs for a domain's headline: the inference
#: the book leads with first; a design is chosen for its place here, never for its estimate.
HEADLINE_ORDER: tuple[tuple[str, str], ...] = (
    ("twfe", "WCR"),
    ("callaway_santanna", "analytic"),
    ("callaway_santanna", "analytic, t(treated - 1)"),
    ("twfe", "CR2"),
    ("twfe", "RI"),
    ("twfe", "CR1"),
    ("ppml", "CR1"),
    ("imputation_trends", "analytic, t(treated - 1)"),
)
#: The recovery study's stress world: the pathfinders drift on a linear trend of their own.
STRESS_WORLD = "differential_trend"
#: A breakdown value (relative magnitudes) below this reads as fragile: a post-programme
#: departure no larger than the largest pre-programme one would overturn the result.
FRAGILE_BREAKDOWN = 1.0
#: Columns of the headline path (``tables/headline_path.csv``).
PATH_COLUMNS: tuple[str, ...] = (
    "domain", "measure", "order", "design", "inference", "sample", "verdict", "headline",
    "trend_check",
)  # fmt: skip


def _binomial_se(p: float, n: int) -> float:
    """Monte Carlo standard error of a share near ``p`` estimated from ``n`` seeds."""
    return float(np.sqrt(p * (1 - p) / n))


def method_verdicts(recovery: pd.DataFrame, mc: pd.DataFrame | None = None) -> pd.DataFrame:
    """Apply the rule to a ``recovery.csv`` table.

    Returns the key columns with ``passed`` (bool), ``borderline`` (bool) and ``reason``.
    """
    r = recovery.copy()
    if mc is not None and len(mc):
        r = r.merge(mc[[*KEY, "rel_bias_se"]], on=KEY, how="left")
    else:
        r["rel_bias_se"] = np.nan
    lo, hi = COVERAGE_BAND
    rows = []
    for x in r.to_dict("records"):
        reasons, close = [], False
        n = max(int(x["n_seeds"]), 1)
        cov, rb, size = float(x["coverage"]), float(x["rel_bias"]), float(x["size"])
        if np.isfinite(cov):
            if cov < lo or cov > hi:
                # one decimal unless a whole percentage (98.5% must not read as the edge, 98%)
                shown = f"{cov:.0%}" if abs(cov * 100 - round(cov * 100)) < 1e-9 else f"{cov:.1%}"
                reasons.append(f"coverage {shown} outside {lo:.0%}–{hi:.0%}")
            edge = lo if abs(cov - lo) <= abs(cov - hi) else hi
            close |= abs(cov - edge) < 2 * _binomial_se(edge, n)
        elif np.isfinite(size):
            if size > MAX_SIZE:
                reasons.append(f"rejects a true null in {size:.0%} of no-effect worlds")
            close |= abs(size - MAX_SIZE) < 2 * _binomial_se(MAX_SIZE, n)
        if np.isfinite(rb):
            if abs(rb) > MAX_REL_BIAS:
                reasons.append(f"bias {rb:+.0%} of the planted effect")
            se = float(x["rel_bias_se"])
            close |= bool(np.isfinite(se) and abs(abs(rb) - MAX_REL_BIAS) < 2 * se)
        rows.append(
            {
                "measure": x["measure"],
                "design": x["design"],
                "inference": x["inference"],
                "passed": not reasons,
                "borderline": close,
                "reason": "; ".join(reasons),
                "n_seeds": int(x["n_seeds"]),
            }
        )
    return pd.DataFrame(rows, columns=[*KEY, "passed", "borderline", "reason", "n_seeds"])


def inference_key(design: str, inference: str, estimand: str = "") -> tuple[str, str]:
    """Map a results row's design and inference text to the recovery study's keys."""
    text = inference.lower()
    if design == "twfe" or design.startswith("twfe phase"):
        if "randomization" in text:
            return design, "RI"
        if "wild" in text or "wcr" in text:
            return design, "WCR"
        return design, "CR2" if "cr2" in text else "CR1"
    if design == "event_study_cs" and "randomization over cohorts" in text:
        return ("pretrend (linear)" if "slope of" in text else "pretrend"), "RI"
    if design == "event_study_cs" and "chi-squared" in text:
        return "pretrend", "chi2"
    if design in ("callaway_santanna", "event_study_cs"):
        if "bootstrap" in text:
            return "callaway_santanna", "bootstrap"
        return (
            "callaway_santanna",
            "analytic, t(treated - 1)" if "treated units" in text else "analytic",
        )
    if design.startswith("callaway_santanna phase"):
        return design, "analytic, t(treated - 1)" if "treated units" in text else "analytic"
    if design == "ppml":
        return design, "CR1"
    if design in ("stacked_dose", "twfe_dose"):
        return design, "CR2" if "cr2" in text else "CR1"
    if design == "its_segmented":
        for h in (12, 24):
            if f"{h} months" in estimand:
                return f"its_segmented_{h}m", "GLS AR(1)"
        return "its_segmented_12m", "GLS AR(1)"
    if design == "its_comparative":
        return design, "Driscoll-Kraay"
    if design == "synthetic_control":
        return design, "placebo"
    if design == "honest_did":
        return design, "Mbar = 1"
    if design == "sun_abraham":
        return design, "CR1"
    if design == "imputation":
        return design, "analytic"
    if design == "imputation_trends":
        return design, "analytic, t(treated - 1)" if "treated units" in text else "analytic"
    return design, inference


def recovery_key(
    design: str, inference: str, estimand: str, scenario: str, studied: set[str]
) -> tuple[str, str] | None:
    """Return the recovery study's ``(design, inference)`` for a results row, or ``None``.

    A row of the default sample maps to the design's own id, a row of another rollout
    scenario to ``"<design> (<scenario>)"`` (:func:`~soteria_eval.validation.designs.sample_design`);
    ``None`` when the study did not run that design on that sample (``studied`` holds
    the study's design ids).
    """
    from soteria_eval.validation.designs import sample_design

    d, inf = inference_key(design, inference, estimand)
    own = scenario in ("default", "comparative", "sensitivity")
    key = d if own else sample_design(d, scenario)
    return (key, inf) if key in studied else None


def apply_verdicts(results: pd.DataFrame, verdicts: pd.DataFrame, n_seeds: int) -> pd.DataFrame:
    """Refuse every results row whose design/inference the study shows failing.

    Each row judged by the study gets its ``recovery_design`` and ``recovery_inference``
    (:func:`recovery_key`). A refused row keeps its estimate; its standard error,
    interval and p-values are blanked, ``status`` becomes ``"refused"`` and ``note``
    gives the study's reason. Programme rows of DiD designs that the study did not run
    on their sample (another scenario or window) get ``not validated by the recovery
    study`` in the note; failed rows and rows of other measures are left as they are.
    """
    if results.empty or verdicts.empty:
        return results
    out = results.copy()
    for col in ("recovery_design", "recovery_inference"):
        if col not in out.columns:
            out[col] = ""
    table = verdicts.set_index(KEY)
    studied = set(verdicts["measure"])
    designs = set(verdicts["design"])
    for i, row in out.iterrows():
        if row.get("status") == "failed" or row["measure"] not in studied:
            continue
        if row["design"] == "honest_did" and row.get("term") != "Mbar = 1":
            continue  # the study judges the bounds at Mbar = 1 only
        if row["design"] == "its_segmented" and row.get("term") != "programme":
            continue  # diagnostics (placebo breaks, Ljung-Box) and nuisance terms: not judged
        found = recovery_key(
            str(row["design"]), str(row["inference"]), str(row["estimand"]),
            str(row["scenario"]), designs,
        )  # fmt: skip
        note = str(row["note"]) if isinstance(row["note"], str) else ""
        key = (row["measure"], *found) if found is not None else None
        if key is None or key not in table.index:
            if (
                str(row["design"]).startswith(("twfe", "callaway_santanna", "ppml"))
                and row.get("term") == "programme"
            ):
                out.at[i, "note"] = (
                    note + "; " if note else ""
                ) + "not validated by the recovery study"
            continue
        out.at[i, "recovery_design"], out.at[i, "recovery_inference"] = key[1], key[2]
        v = table.loc[key]  # type: ignore[index]
        if bool(v["passed"]):
            continue
        out.at[i, "status"] = "refused"
        for col in ("std_error", "ci_lower", "ci_upper", "p_value", "p_adjusted"):
            if col in out.columns:
                out.at[i, col] = np.nan
        out.at[i, "note"] = (
            f"refused by the recovery study ({n_seeds} simulated seeds): {v['reason']}"
            + (" (borderline)" if bool(v["borderline"]) else "")
            + (f"; {note}" if note else "")
        )
    return out


def placebo_verdicts(placebo: pd.DataFrame) -> pd.DataFrame:
    """Judge each design and inference on the real-panel placebo study, per kind of outcome.

    ``placebo`` has :func:`~soteria_eval.validation.real_placebo.real_placebo`'s columns.
    A pair passes for a kind (``count``, ``proportion``) when its size lies within
    :data:`PLACEBO_BAND` for every outcome of that kind and every rollout shape; the
    pair's ``worst`` size is the one farthest outside (or nearest the edge of) the band.
    Kind ``any`` (durations, scores: no real analogue) needs every outcome.

    Returns
    -------
    pandas.DataFrame
        Columns ``kind, design, inference, passed, worst, worst_outcome, worst_rollout,
        n_draws, reason``.
    """
    lo, hi = PLACEBO_BAND
    rows = []
    p = placebo[placebo["size"].notna()]
    groups = [(k, p[p["kind"] == k]) for k in sorted(p["kind"].unique())] + [("any", p)]
    for kind, part in groups:
        for (design, inference), g in part.groupby(["design", "inference"], sort=True):
            dist = np.maximum(lo - g["size"], g["size"] - hi)
            w = g.loc[dist.idxmax()]
            ok = bool((dist <= 0).all())
            name = str(w["title"]) if "title" in w.index and str(w["title"]) else str(w["outcome"])
            shape = "5 fake pathfinders" if w["rollout"] == "pathfinders" else "phased fake rollout"
            reason = "" if ok else (
                f"rejects a true null in {w['size']:.1%} of {int(w['n_draws']):,} fake rollouts "
                f"on real force data ({name}; {shape}), outside {lo:.1%}–{hi:.1%}"
            )  # fmt: skip
            rows.append((kind, design, inference, ok, float(w["size"]), str(w["outcome"]),
                         str(w["rollout"]), int(w["n_draws"]), reason))  # fmt: skip
    return pd.DataFrame(
        rows,
        columns=["kind", "design", "inference", "passed", "worst", "worst_outcome",
                 "worst_rollout", "n_draws", "reason"],
    )  # fmt: skip


def placebo_kind(measure_type: str) -> str:
    """Return the real-outcome kind a measure type is judged on.

    Counts are judged on real counts; proportions, mean durations and scores (averages
    over a force's cases, whose noise grows as the caseload shrinks) on real rates.
    """
    return "count" if measure_type == "count" else "proportion"


def trend_flags(results: pd.DataFrame) -> dict[str, str]:
    """Say, per domain, why the data's own diagnostics doubt parallel trends (no entry: no doubt).

    A domain is flagged when, for its primary measure, a randomization pre-trend test
    (every lead, or their slope; :mod:`soteria_eval.inference.pretrend`) rejects at 5%,
    or the breakdown value of the headline sample (``breakdown_rm``, relative magnitudes)
    is below :data:`FRAGILE_BREAKDOWN`. The text is one sentence for the summary.
    """
    from soteria_eval.dictionary import DOMAINS, load_catalogue

    cat = load_catalogue()
    out: dict[str, str] = {}
    for domain in DOMAINS:
        m = cat.primary(domain).id
        rows = results[(results["measure"] == m) & (results["analysis"] == domain)]
        why = []
        tests = rows[
            rows["term"].isin(["pre-trend (randomization)", "pre-trend, linear (randomization)"])
        ]
        for term, p in zip(
            tests["term"], pd.to_numeric(tests["p_value"], errors="coerce"), strict=True
        ):
            if np.isfinite(p) and p < 0.05:
                what = "every lead" if term == "pre-trend (randomization)" else "a steady drift"
                shown = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
                why.append(f"the randomization pre-trend test of {what} rejects ({shown})")
        if "breakdown_rm" in rows.columns:
            bd = pd.to_numeric(
                rows.loc[(rows["scenario"] == HEADLINE_SAMPLE) & (rows["term"] == "programme"),
                         "breakdown_rm"], errors="coerce",
            ).dropna()  # fmt: skip
            if len(bd) and float(bd.iloc[0]) == 0:
                why.append(
                    "the event study's average effect is not clear of zero even if trends were "
                    "exactly parallel (breakdown value 0)"
                )
            elif len(bd) and float(bd.iloc[0]) < FRAGILE_BREAKDOWN:
                why.append(
                    f"the breakdown value is {float(bd.iloc[0]):.2g}: a departure from parallel "
                    "trends after the start no larger than the largest before it would "
                    "overturn the result"
                )
        if why:
            out[domain] = "; ".join(why)
    return out


def headline_candidates(
    results: pd.DataFrame,
    recovery: pd.DataFrame,
    verdicts: pd.DataFrame,
    placebo: pd.DataFrame | None = None,
    stress: pd.DataFrame | None = None,
    flags: dict[str, str] | None = None,
) -> pd.DataFrame:
    r"""Try each domain's headline candidates in order and say what rules each out.

    Candidates are the pairs of :data:`HEADLINE_ORDER`, first on the
    :data:`HEADLINE_SAMPLE`, then on all forces. A candidate qualifies when the recovery
    study passes it for the domain's primary measure with :math:`|\text{rel\_bias}| \le`
    :data:`HEADLINE_MAX_REL_BIAS`; when ``placebo`` (:func:`placebo_verdicts`) is given,
    it keeps its size within :data:`PLACEBO_BAND` on real force data for the measure's
    kind; and when the data's diagnostics doubt parallel trends for the domain
    (``flags``, :func:`trend_flags`) and the stress study ran (``stress``: the summary of
    the recovery study in the :data:`STRESS_WORLD`, judged by :func:`method_verdicts`), it
    also passes there with the same bias limit. The first that qualifies and has an estimate
    in ``results`` is the headline; the table stops there.

    Returns
    -------
    pandas.DataFrame
        :data:`PATH_COLUMNS`: ``verdict`` is ``"headline"``, ``"passes (no estimate in this
        run)"`` or what ruled the candidate out; ``trend_check`` the flag's text (empty
        when the domain is not flagged).
    """
    from soteria_eval.dictionary import DOMAINS, load_catalogue
    from soteria_eval.validation.designs import sample_design

    cat = load_catalogue()
    rec = recovery.set_index(KEY) if len(recovery) else None
    ok = verdicts.set_index(KEY) if len(verdicts) else None
    real = None if placebo is None else placebo.set_index(["kind", "design", "inference"])
    hard = None
    if stress is not None and not stress.empty:
        hard = method_verdicts(stress).set_index(KEY).join(stress.set_index(KEY)[["rel_bias"]])
    flags = flags or {}
    out = []
    for domain in DOMAINS:
        m = cat.primary(domain).id
        kind = placebo_kind(cat[m].type)
        rows = results[
            (results["measure"] == m)
            & (results["term"] == "programme")
            & (results["status"] == "ok")
        ]
        flag = flags.get(domain, "")
        order = 0
        for sample in (HEADLINE_SAMPLE, "default"):
            for design, inf in HEADLINE_ORDER:
                key = (m, sample_design(design, sample), inf)
                order += 1
                if rec is None or ok is None or key not in rec.index or key not in ok.index:
                    verdict = "not run by the recovery study"
                elif not bool(ok.loc[key, "passed"]):
                    verdict = f"refused by the recovery study: {ok.loc[key, 'reason']!s}"
                elif not abs(float(rec.loc[key, "rel_bias"])) <= HEADLINE_MAX_REL_BIAS:  # type: ignore[arg-type]
                    verdict = (
                        f"bias {float(rec.loc[key, 'rel_bias']):+.0%} of the planted effect, beyond "  # type: ignore[arg-type]
                        f"the headline limit of ±{HEADLINE_MAX_REL_BIAS:.0%}"
                    ).replace("-", "−")
                elif real is not None and (kind, key[1], key[2]) not in real.index:
                    verdict = "not run on real force data"
                elif real is not None and not _passed(real.loc[(kind, key[1], key[2]), "passed"]):
                    verdict = str(real.loc[(kind, key[1], key[2]), "reason"])
                elif flag and hard is not None and key not in hard.index:
                    verdict = "not run in the differential-trend world, which this domain's diagnostics call for"
                elif flag and hard is not None and not _passed(hard.loc[key, "passed"]):
                    verdict = f"fails when the pathfinders drift on a trend of their own: {hard.loc[key, 'reason']!s}"
                elif (
                    flag
                    and hard is not None
                    and not abs(float(hard.loc[key, "rel_bias"])) <= HEADLINE_MAX_REL_BIAS  # type: ignore[arg-type]
                ):
                    verdict = (
                        f"bias {float(hard.loc[key, 'rel_bias']):+.0%} when the pathfinders drift on a "  # type: ignore[arg-type]
                        f"trend of their own, beyond the headline limit of ±{HEADLINE_MAX_REL_BIAS:.0%}"
                    ).replace("-", "−")
                else:
                    hit = rows[
                        (rows["recovery_design"] == key[1]) & (rows["recovery_inference"] == key[2])
                    ]
                    verdict = "headline" if len(hit) else "passes (no estimate in this run)"
                out.append({
                    "domain": domain, "measure": m, "order": order, "design": key[1],
                    "inference": key[2], "sample": sample, "verdict": verdict,
                    "headline": verdict == "headline", "trend_check": flag,
                })  # fmt: skip
                if verdict == "headline":
                    break
            if out and out[-1]["headline"] and out[-1]["domain"] == domain:
                break
    return pd.DataFrame(out, columns=list(PATH_COLUMNS))


def _passed(value: object) -> bool:
    """Read a ``passed`` cell back from CSV (bool, or the text ``True``)."""
    return str(value) == "True"


def choose_headlines(
    results: pd.DataFrame,
    recovery: pd.DataFrame,
    verdicts: pd.DataFrame,
    placebo: pd.DataFrame | None = None,
    stress: pd.DataFrame | None = None,
    flags: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Mark each domain's headline row (``headline = True``): at most one per domain.

    The headline is the first candidate of :func:`headline_candidates` that qualifies
    (the same arguments; see there). A domain where none qualifies has no headline (the
    summary says so). Rows need ``recovery_design`` and ``recovery_inference``
    (:func:`apply_verdicts`).
    """
    from soteria_eval.dictionary import load_catalogue

    out = results.copy()
    out["headline"] = False
    if recovery.empty or verdicts.empty:
        return out
    path = headline_candidates(out, recovery, verdicts, placebo, stress, flags)
    cat = load_catalogue()
    for c in path[path["headline"]].itertuples():
        m = cat.primary(str(c.domain)).id
        rows = out[(out["measure"] == m) & (out["term"] == "programme") & (out["status"] == "ok")
                   & (out["recovery_design"] == c.design) & (out["recovery_inference"] == c.inference)]  # fmt: skip
        out.loc[rows.index[0], "headline"] = True
    return out


__all__ = [
    "COVERAGE_BAND",
    "FRAGILE_BREAKDOWN",
    "HEADLINE_MAX_REL_BIAS",
    "HEADLINE_ORDER",
    "HEADLINE_SAMPLE",
    "MAX_REL_BIAS",
    "MAX_SIZE",
    "PATH_COLUMNS",
    "PLACEBO_BAND",
    "STRESS_WORLD",
    "apply_verdicts",
    "choose_headlines",
    "headline_candidates",
    "inference_key",
    "method_verdicts",
    "placebo_kind",
    "placebo_verdicts",
    "recovery_key",
    "trend_flags",
]
