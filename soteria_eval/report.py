"""Read a finished run's outputs for the book and other reports.

Book pages use only this module and the public API: they never recompute statistics
from record-level data, and every number they show comes from the run's outputs or from
code executed at build time.
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Where the book finds the run it publishes (set by ``soteria-eval book``).
DEFAULT_RESULTS = Path("_generated") / "results"


@dataclass(frozen=True)
class RunOutputs:
    """The outputs of one ``soteria-eval run``."""

    folder: Path
    results: pd.DataFrame
    figures: dict[str, dict[str, str]]
    manifest: dict[str, Any]

    @property
    def is_synthetic(self) -> bool:
        """True if any result comes from synthetic data."""
        return bool(self.results["data_label"].str.contains("synthetic").any())

    def table(self, name: str) -> pd.DataFrame:
        """Return a disclosure-controlled table written by the run.

        The file's ``data_label`` column (every table file has one) moves to
        ``attrs["data_label"]``, so a page shows the label once, not on every row.
        """
        t = pd.read_csv(self.folder / "tables" / f"{name}.csv", dtype=str, keep_default_na=False)
        if "data_label" in t.columns:
            labels = sorted(set(t["data_label"]))
            t = t.drop(columns="data_label")
            t.attrs["data_label"] = ", ".join(labels)
        return t

    def select(self, **equals: str) -> pd.DataFrame:
        """Return the results rows whose columns equal the given values."""
        mask = pd.Series(True, index=self.results.index)
        for col, val in equals.items():
            mask &= self.results[col] == val
        return self.results[mask].reset_index(drop=True)

    def figure_markdown(self, name: str) -> str:
        """Return Markdown that shows a figure with its alt text and caption."""
        rec = self.figures[name]
        if rec.get("withheld"):
            return (
                "```{note}\nA figure is withheld here under disclosure control: "
                f"{rec['withheld']}. It would have shown: {rec.get('caption') or rec['name']}\n```"
            )
        path = (self.folder / rec["png"]).as_posix()
        alt = rec["alt_text"].replace("[", "(").replace("]", ")")
        caption = f"\n\n*{rec['caption']}*" if rec.get("caption") else ""
        return f"![{alt}]({path}){caption}"


def load_run(folder: str | Path | None = None) -> RunOutputs:
    """Load a run's outputs (default: ``$SOTERIA_BOOK_RESULTS`` or ``_generated/results``)."""
    base = Path(folder or os.environ.get("SOTERIA_BOOK_RESULTS") or DEFAULT_RESULTS)
    if not (base / "results.csv").is_file():
        raise FileNotFoundError(f"no results.csv in {base}: run `soteria-eval run` first")
    results = pd.read_csv(base / "results.csv", keep_default_na=False, na_values=[""])
    for c in ("note", "inference", "term", "domain", "measure", "design", "scenario", "data_label",
              "recovery_design", "recovery_inference"):  # fmt: skip
        if c in results.columns:
            results[c] = results[c].astype(object).fillna("").astype(str)
    figures = {
        f["name"]: f for f in json.loads((base / "figures.json").read_text(encoding="utf-8"))
    }
    manifest = json.loads((base / "manifest.json").read_text(encoding="utf-8"))
    return RunOutputs(base, results, figures, manifest)


def format_estimate(row: pd.Series, scale: float = 1.0, unit: str = "") -> str:
    """Write ``estimate (95% CI lower to upper)`` for a results row."""
    est, lo, hi = (float(row[c]) * scale for c in ("estimate", "ci_lower", "ci_upper"))
    return f"{est:+.1f}{unit} (95% CI {lo:+.1f}{unit} to {hi:+.1f}{unit})"


def evidence_strength(p_value: float) -> str:
    """Describe a p-value in plain words (used on the stakeholder summary)."""
    if p_value < 0.01:
        return "strong"
    if p_value < 0.05:
        return "moderate"
    if p_value < 0.1:
        return "weak"
    return "no clear evidence"


def _inference_kind(text: str) -> str:
    for kind in ("WCR", "WCU", "CR2", "CR1"):
        if kind in text:
            return kind
    return text


def effect_cells(row: pd.Series) -> tuple[str, str]:
    """Return a results row's effect and interval in the reader's unit (:func:`format_effect`).

    An interval withheld because the row's inference was refused reads
    "— (inference refused)".
    """
    effect, interval = format_effect(
        float(row["estimate"]), float(row["ci_lower"]), float(row["ci_upper"]), str(row["estimand"])
    )
    if interval == "—" and str(row.get("status", "")) == "refused":
        interval = "— (inference refused)"
    return effect, interval


def headline_row(run: RunOutputs, domain: str) -> pd.Series | None:
    """Return the validated headline row of a domain's primary measure (None if none).

    ``domain`` may also be an analysis id such as a subgroup's: it has no headline.
    """
    from soteria_eval.dictionary import DOMAINS, load_catalogue

    if domain not in DOMAINS:
        return None
    m = load_catalogue().primary(domain)
    r = run.results
    if "headline" not in r.columns:
        return None
    head = r[(r["measure"] == m.id) & r["headline"].astype(str).eq("True")]
    return head.iloc[0] if len(head) else None


def headline_sentence(run: RunOutputs, domain: str) -> str:
    """Say a domain's headline in words, exactly as the summary shows it."""
    from soteria_eval.dictionary import load_catalogue

    m = load_catalogue().primary(domain)
    row = headline_row(run, domain)
    if row is None:
        check = trend_check_sentence(run, domain)
        return check or (
            f"No design recovered the planted effect on {m.title_in_text} closely enough in the "
            "recovery study while keeping its size in fake rollouts on real force data, so this "
            "domain has no headline."
        )
    effect, interval = effect_cells(row)
    title = m.title[0].lower() + m.title[1:] if m.title[1:2].islower() else m.title
    sample = "all forces" if row["scenario"] == "default" else "exposed forces left out"
    bd = breakdown_sentence(row)
    check = trend_check_sentence(run, domain)
    if check:
        bd = f"{bd} {check}".strip()
    return (
        f"**Headline** (as on the summary): {title} changed by **{effect}** "
        f"(95% interval {interval}): **{_reading(row, m.direction)}**. Design: "
        f"{pair_label(str(row['recovery_design']), str(row['recovery_inference']))}, {sample}."
        + (f" {bd}" if bd else "")
    )


def _smoothness_sentence(row: pd.Series, basis: str) -> str:
    """Say the smoothness breakdown value, for a design that extrapolates each force's trend.

    Imputation with force trends assumes the pre-programme trends continue as straight
    lines; ``breakdown_sd`` (Rambachan–Roth smoothness, M = 0 being that straight line)
    says how far the departure's slope may change per quarter before the event study's
    average effect is no longer clear of zero.
    """
    value = pd.to_numeric(pd.Series([row.get("breakdown_sd", np.nan)]), errors="coerce").iloc[0]
    if pd.isna(value):
        return ""
    unit = effect_unit(str(row.get("estimand", "")))
    what = (
        "Robustness to a bend in the pre-programme trends (Rambachan–Roth smoothness, on "
        f"{basis}): "
    )
    if value == 0:
        return what + (
            "continuing each trend as a straight line already leaves that average not clear "
            "of zero (breakdown value 0)."
        )
    if np.isinf(value):
        return what + "the result survives any bend searched."
    return what + (
        f"the result survives if the trends' slope bends by up to {value:.2g} {unit} per "
        "quarter after the start (breakdown value)."
    )


def breakdown_sentence(
    row: pd.Series,
    basis: str = "the Callaway–Sant'Anna event study of the same sample, average of the "
    "first 8 treated quarters",
) -> str:
    """Say a row's Rambachan–Roth breakdown value in words (empty when not computed).

    The value (results.csv ``breakdown_rm``; see
    :data:`soteria_eval.evaluation.BREAKDOWN_BASIS`) is the largest multiple of the
    largest pre-programme departure from parallel trends that post-programme departures
    may reach while the event study's average effect still excludes zero. ``basis`` says
    which event study and average it was computed on.
    """
    if str(row.get("design", "")) == "imputation_trends":
        return _smoothness_sentence(row, basis)
    value = pd.to_numeric(pd.Series([row.get("breakdown_rm", np.nan)]), errors="coerce").iloc[0]
    if pd.isna(value):
        return ""
    what = (
        f"Robustness to a failure of parallel trends (Rambachan–Roth relative magnitudes, on "
        f"{basis}): "
    )
    if value == 0:
        return what + (
            "that average is not clear of zero even if trends were exactly parallel "
            "(breakdown value 0): there is no clear change for a departure to overturn."
        )
    if np.isinf(value):
        return what + (
            "the result survives post-programme departures more than 10 times the largest "
            "pre-programme one."
        )
    times = f"{value:.2g}"
    return what + (
        f"the result survives post-programme departures from parallel trends up to {times} "
        f"times the largest pre-programme one (breakdown value {times})"
        + (
            "; a departure as large as the largest seen before the start would overturn it."
            if value < 1
            else "."
        )
    )


def domain_estimates(
    run: RunOutputs, domain: str, scenario: str | None = None, inference: str = "WCR"
) -> pd.DataFrame:
    """Programme effects on every measure of a domain, readable column names.

    Returns one row per measure (term ``programme``), primary measure first, with the
    estimate and its 95% interval in the reader's unit (:func:`format_effect`; the
    interval is not adjusted for multiplicity, the p-value is), the p-value adjusted
    across the domain's measures (Holm) and the direction of improvement from the
    measure catalogue. ``scenario`` defaults to the sample of the domain's headline.
    """
    from soteria_eval.dictionary import load_catalogue

    cat = load_catalogue()
    r = run.results
    if scenario is None:
        head = headline_row(run, domain)
        scenario = str(head["scenario"]) if head is not None else "default"
    sel = (
        (r["analysis"] == domain)
        & (r["scenario"] == scenario)
        & (r["term"] == "programme")
        & (r["design"] == "twfe")
    )
    sel &= r["inference"].map(_inference_kind) == inference
    d = r[sel].copy()
    d["primary"] = d["measure"].map(lambda m: cat[m].primary if m in cat else False)
    d["title"] = d["measure"].map(lambda m: cat[m].title if m in cat else m)
    d["direction"] = d["measure"].map(lambda m: cat[m].direction if m in cat else "neutral")
    d = d.sort_values(["primary", "title"], ascending=[False, True])
    ri_sel = (r["analysis"] == domain) & (r["scenario"] == scenario) & (r["term"] == "programme")
    ri = r[ri_sel & r["inference"].str.startswith("randomization")].set_index("measure")[
        "p_adjusted"
    ]
    cells = [effect_cells(row) for _, row in d.iterrows()]
    out = pd.DataFrame(
        {
            "Measure": [
                f"{t} (primary)" if p else t for t, p in zip(d["title"], d["primary"], strict=True)
            ],
            "Effect": [c[0] for c in cells],
            "95% interval (not adjusted)": [c[1] for c in cells],
            "p (Holm)": d["p_adjusted"].to_numpy(dtype=float),
            "Evidence": [
                "inference refused" if st == "refused" else evidence_strength(p)
                for p, st in zip(d["p_adjusted"], d["status"], strict=True)
            ],
            "p (randomization, Holm)": d["measure"].map(ri).to_numpy(dtype=float),
            "Better if": d["direction"]
            .map({"higher": "higher", "lower": "lower", "neutral": "—"})
            .to_numpy(),
            "Linked by construction": [linked_text(m, cat) for m in d["measure"]],
            "Rows dropped": d["n_dropped"].to_numpy(),
        }
    )
    return out.reset_index(drop=True)


def _verdict_text(row: pd.Series) -> str:
    """Say whether the recovery study passed a results row's design and inference."""
    if row["status"] == "refused":
        reason = str(row["note"]).split(": ", 1)[-1].split(";")[0]
        for words in (" outside 90%–98%", " of the planted effect"):
            reason = reason.replace(words, "")
        return "refused: " + reason.replace("-", "−")
    if str(row.get("recovery_design", "")) not in ("", "nan"):
        return "passed"
    return "not judged"


def phase_estimates(run: RunOutputs, domain: str, scenario: str | None = None) -> pd.DataFrame:
    """Each rollout phase's effect on a domain's primary measure, by design.

    Phase 1 (the five pathfinders from 2021) and phase 2 (forces joining in 2022) are
    estimated separately: two-way fixed effects with one indicator per phase (CR1 and
    CR2), and Callaway–Sant'Anna averaged over each phase's cohorts, with the normal
    interval and with t(treated forces − 1), with the recovery study's verdict on each
    design and inference for that phase. ``scenario`` defaults to the sample, of all forces
    and of the forces outside the pathfinders' CPS Areas, on which more of these pairs pass
    the study (a tie: the latter, the clean comparisons); the table's ``attrs["scenario"]``
    names it. Empty when the run has no per-phase rows.
    """
    from soteria_eval.dictionary import DOMAINS, load_catalogue
    from soteria_eval.validation.verdicts import HEADLINE_SAMPLE

    if domain not in DOMAINS:
        return pd.DataFrame()
    m = load_catalogue().primary(domain)
    r = run.results
    rows = r[
        (r["analysis"] == domain)
        & (r["measure"] == m.id)
        & (r["term"] == "programme")
        & r["design"].astype(str).str.contains(" phase ")
    ]
    if scenario is None:

        def passed(sc: str) -> int:
            part = rows[rows["scenario"] == sc]
            ok = (part["status"] != "refused") & part["recovery_design"].astype(str).ne("")
            return int(ok.sum()) if len(part) else -1

        scenario = max((HEADLINE_SAMPLE, "default"), key=passed)  # first wins a tie
    d = rows[rows["scenario"] == scenario]
    if d.empty:
        return pd.DataFrame()
    d = d.assign(
        _phase=d["design"].str.extract(r"phase (\d)")[0].astype(int),
        _cs=d["design"].str.startswith("callaway_santanna"),
    ).sort_values(["_phase", "_cs", "inference"])
    cells = [effect_cells(row) for _, row in d.iterrows()]

    def inference(row: pd.Series) -> str:
        text = str(row["inference"])
        if row["_cs"]:
            return "analytic, t(treated − 1)" if "treated units" in text else "analytic, normal"
        return _inference_kind(text)

    out = pd.DataFrame(
        {
            "Phase": d["_phase"].to_numpy(),
            "Design": np.where(d["_cs"], "Callaway–Sant'Anna", "two-way fixed effects"),
            "Inference": [inference(row) for _, row in d.iterrows()],
            "Treated forces": d["n_treated"].astype("Int64").to_numpy(),
            "Effect": [c[0] for c in cells],
            "95% interval": [c[1] for c in cells],
            "Recovery study": [_verdict_text(row) for _, row in d.iterrows()],
        }
    ).reset_index(drop=True)
    out.attrs["scenario"] = scenario
    return out


def area_estimates(run: RunOutputs, domain: str) -> pd.DataFrame:
    """Effects on a domain's measures held only per CPS Area (the Area dose design).

    One row per measure, design and inference (stacked clean comparisons and two-way
    fixed effects on the Area's treated share; CR1 and CR2 by Area): the effect of a full
    dose (from no pathfinder to every force of the Area in the programme) and its 95%
    interval, whether the recovery study passed the pair, and the rows left out. Empty
    when the run has no Area rows for the domain.
    """
    from soteria_eval.dictionary import load_catalogue

    cat = load_catalogue()
    r = run.results
    d = r[(r["analysis"] == domain) & (r["level"] == "area") & (r["term"] == "programme")]
    if d.empty:
        return pd.DataFrame()
    d = d.sort_values(["measure", "design", "inference"])
    cells = [effect_cells(row) for _, row in d.iterrows()]
    design = {"stacked_dose": "stacked clean comparisons", "twfe_dose": "two-way fixed effects"}
    status = [_verdict_text(row) for _, row in d.iterrows()]
    return pd.DataFrame(
        {
            "Measure": d["measure"].map(lambda m: cat[m].title if m in cat else m).to_numpy(),
            "Design": d["design"].map(design).fillna(d["design"]).to_numpy(),
            "Inference": d["inference"].map(_inference_kind).to_numpy(),
            "Effect of a full dose": [c[0] for c in cells],
            "95% interval": [c[1] for c in cells],
            "p": d["p_value"].to_numpy(dtype=float),
            "Recovery study": status,
            "Rows dropped": d["n_dropped"].to_numpy(),
        }
    ).reset_index(drop=True)


def linked_text(measure: str, catalogue: Any = None) -> str:
    """Say which measures ``measure`` moves with mechanically (the catalogue's ``family``).

    Complements sum to one denominator, so one falls exactly as the other rises; shares of
    one denominator move together when any of them changes. The family counts as one test
    in the multiplicity correction, as "(one test)" says; the domain pages explain it above
    the table. Returns ``"—"`` for a measure linked to none.
    """
    from soteria_eval.dictionary import load_catalogue

    cat = catalogue or load_catalogue()
    if measure not in cat or not cat[measure].family:
        return "—"
    others = [m.title for m in cat.family_of(measure) if m.id != measure]
    if not others:
        return "—"
    kind = cat[measure].family_kind
    lead = "complement of" if kind == "complement" else "same denominator as"
    return f"{lead} {', '.join(others)} (one test)"


def scenario_table(
    run: RunOutputs, domain: str, measure: str, inference: str = "WCR", fallback: str = "CR2"
) -> pd.DataFrame:
    """Return the effect on one measure under every scenario (robustness to the rollout).

    Each scenario's row uses ``inference`` where the run has it (the wild cluster
    bootstrap, as the domain's table and headline do), else ``fallback``; the
    *Inference* column says which, so one estimate never shows two unexplained intervals.
    """
    r = run.results
    sel = (r["analysis"] == domain) & (r["measure"] == measure) & (r["design"] == "twfe")
    kinds = r["inference"].map(_inference_kind)
    main = r[sel & (kinds == inference)]
    have = set(zip(main["scenario"], main["term"], strict=True))
    rest = r[sel & (kinds == fallback)]
    rest = rest[[(a, b) not in have for a, b in zip(rest["scenario"], rest["term"], strict=True)]]
    d = pd.concat([main, rest]).sort_values(["scenario", "term"], kind="stable")
    cells = [effect_cells(row) for _, row in d.iterrows()]
    return pd.DataFrame(
        {
            "What is treated and compared": [scenario_label(str(x)) for x in d["scenario"]],
            "Term": [
                "spillover on exposed forces" if str(t).startswith("spillover") else str(t)
                for t in d["term"]
            ],
            "Effect": [c[0] for c in cells],
            "95% interval": [c[1] for c in cells],
            "p": d["p_value"].to_numpy(dtype=float),
            "Inference": [
                INFERENCE_LABELS.get(_inference_kind(str(x)), str(x)) for x in d["inference"]
            ],
            "Forces": d["n_units"].to_numpy(),
            "Treated": d["n_treated"].to_numpy(),
        }
    ).reset_index(drop=True)


#: Readable names of scenario ids (what each one treats and compares with).
SCENARIO_LABELS: dict[str, str] = {
    "phase1_clean": "Primary: phase-1 pathfinders against clean controls (neither phase 2 nor exposed)",
    "default": "Phase 1 and phase 2 treated (phase 2 from its part year); exposed forces as controls",
    "exposed_dropped": "Exposed forces (sharing a CPS Area with a pathfinder) left out",
    "exposed_separate": "Exposed forces as their own group (a spillover term)",
    "unconfirmed_phase2": "Forces with unconfirmed dates treated as phase 2 (every force treated)",
    "launch_june_2021": "Phase 1 dated from the June 2021 launch",
    "anticipation_excluded": "Exposed forces left out, and Avon and Somerset's 12 months before its start (its precursor) left out",
    "sensitivity": "Sensitivity analysis",
    "comparative": "Comparative interrupted time series",
}


def scenario_label(scenario: str) -> str:
    """Return a reader's label for a scenario id (suffixes such as ", COVID-19 ..." kept)."""
    head, sep, tail = scenario.partition(", ")
    return SCENARIO_LABELS.get(head, head) + (sep + tail if sep else "")


_MINUS = "\u2212"


def _signed(x: float, decimals: int) -> str:
    """Write a signed number with a typographic minus; zero (as shown) carries no sign."""
    r = round(x, decimals) + 0.0  # + 0.0: no "-0.0"
    if r == 0:
        return f"{0:.{decimals}f}"
    return f"{r:+.{decimals}f}".replace("-", _MINUS)


def effect_unit(estimand: str) -> str:
    """Return the unit named in an estimand, e.g. ``log points`` from ``ATT (log points)``."""
    inner = estimand.split("(")[-1].rstrip(")") if "(" in estimand else ""
    return inner.split(";")[0].strip()


def format_effect(estimate: float, lower: float, upper: float, estimand: str) -> tuple[str, str]:
    """Write an effect and its 95% interval in the reader's unit.

    One presentation for every page: an effect on the log scale (``log points``, ``log
    rate ratio``) becomes a percentage change, :math:`100(e^{b} - 1)`, applied to the
    estimate and to each end of the interval (so the interval stays exact); points
    become "percentage points" with one decimal; days are whole days. Minus signs are
    typographic. Returns ``(effect, interval)``; either is "—" when not finite.
    """
    if not np.isfinite(estimate):
        return "—", "—"
    unit = effect_unit(estimand)
    if unit.startswith("log"):

        def conv(v: float) -> str:
            return _signed(100 * np.expm1(v), 1) + "%"

        suffix = ""
    elif unit in ("percentage points", "points"):  # a score is in points, not percentage points

        def conv(v: float) -> str:
            return _signed(v, 1)

        suffix = f" {unit}"
    elif unit == "days":

        def conv(v: float) -> str:
            return _signed(round(v), 0)

        suffix = " days"
    else:

        def conv(v: float) -> str:
            return _signed(v, 2)

        suffix = f" {unit}" if unit else ""
    effect = conv(estimate) + suffix
    if suffix == " days" and abs(round(estimate)) == 1:
        effect = conv(estimate) + " day"
    if np.isfinite(lower) and np.isfinite(upper):
        interval = f"{conv(lower)} to {conv(upper)}{suffix}"
    else:
        interval = "—"
    return effect, interval


#: Readable names of the recovery study's design and inference ids.
DESIGN_LABELS: dict[str, str] = {
    "twfe": "two-way fixed effects",
    "callaway_santanna": "Callaway–Sant'Anna",
    "ppml": "Poisson (PPML)",
    "sun_abraham": "Sun–Abraham",
    "imputation": "imputation (BJS)",
    "imputation_trends": "imputation with force trends (BJS)",
}
INFERENCE_LABELS: dict[str, str] = {
    "WCR": "wild cluster bootstrap",
    "CR2": "CR2 standard errors",
    "CR1": "CR1 standard errors",
    "RI": "randomization inference",
    "analytic": "analytic standard errors",
    "analytic, t(treated - 1)": "analytic standard errors, t(treated − 1)",
    "bootstrap": "multiplier bootstrap",
}

#: Recovery design ids of an overall ATT, on any sample (not per-phase or ITS rows).
_OVERALL_DESIGNS = r"^(" + "|".join(DESIGN_LABELS) + r")( \(|$)"


def _reading(row: pd.Series, direction: str) -> str:
    """Improved / worsened / no clear change, from the 95% interval (or the p-value)."""
    lo, hi, p = (float(row[c]) for c in ("ci_lower", "ci_upper", "p_value"))
    clear = (lo > 0 or hi < 0) if np.isfinite(lo) and np.isfinite(hi) else p < 0.05
    if not clear:
        return "no clear change"
    better = (float(row["estimate"]) > 0) == (direction == "higher")
    return "improved" if better else "worsened"


def pair_label(design: str, inference: str) -> str:
    """Name a recovery design and inference in words (the sample suffix left out)."""
    base = design.split(" (")[0]
    return f"{DESIGN_LABELS.get(base, base)}, {INFERENCE_LABELS.get(inference, inference)}"


def headline_path(run: RunOutputs, domain: str) -> pd.DataFrame:
    """Why a domain's headline uses its design: each candidate tried, in order, and its verdict.

    Read from the run's ``tables/headline_path.csv``, which the pipeline writes with the
    rule that chose the headline
    (:func:`~soteria_eval.validation.verdicts.headline_candidates`): the candidates of
    :data:`~soteria_eval.validation.verdicts.HEADLINE_ORDER` on the headline sample, then
    on all forces, up to the chosen one (all of them when none is chosen), each with what
    ruled it out or ``headline``. Empty when the run made no recovery study.

    Returns
    -------
    pandas.DataFrame
        Columns ``Design``, ``Sample``, ``Verdict``.
    """
    path = _headline_path_table(run)
    part = path[path["domain"] == domain] if len(path) else path
    return pd.DataFrame(
        {
            "Design": [pair_label(str(r.design), str(r.inference)) for r in part.itertuples()],
            "Sample": [
                "exposed forces left out" if r.sample != "default" else "all forces"
                for r in part.itertuples()
            ],
            "Verdict": [str(r.verdict) for r in part.itertuples()],
        },
        columns=["Design", "Sample", "Verdict"],
    )


def _headline_path_table(run: RunOutputs) -> pd.DataFrame:
    from soteria_eval.validation.verdicts import PATH_COLUMNS

    f = run.folder / "tables" / "headline_path.csv"
    if not f.is_file():
        return pd.DataFrame(columns=list(PATH_COLUMNS))
    return pd.read_csv(f, keep_default_na=False).sort_values(["domain", "order"], kind="stable")


def trend_check_summary(run: RunOutputs) -> str:
    """One sentence for the summary: which domains' data doubt parallel trends, and what follows.

    Empty when no domain is flagged (or the run made no recovery study). The domain pages
    (:func:`trend_check_sentence`) and the recovery chapter say which diagnostic and
    which design.
    """
    from soteria_eval.dictionary import DOMAIN_TITLES, DOMAINS

    path = _headline_path_table(run)
    flagged = [
        d for d in DOMAINS if (path.loc[path["domain"] == d, "trend_check"].astype(str) != "").any()
    ]
    if not flagged:
        return ""
    names = [DOMAIN_TITLES[d].lower() for d in flagged]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return (
        f"The data doubt parallel trends for {listed}, so those headlines also had to pass a "
        "simulated world where the pathfinders drift on a trend of their own (the domain pages "
        "say why)."
    )


def trend_check_sentence(run: RunOutputs, domain: str) -> str:
    """One sentence when the data doubt parallel trends for a domain (empty otherwise).

    Says which diagnostic raised the doubt and that the headline then had to pass the
    recovery study also where the pathfinders drift on a trend of their own.
    """
    path = _headline_path_table(run)
    part = path[(path["domain"] == domain) & (path["trend_check"].astype(str) != "")]
    if part.empty:
        return ""
    flag = str(part["trend_check"].iloc[0])
    chosen = part[part["headline"].astype(str) == "True"]
    tail = (
        f"so the headline is the first design that also recovers the effect when the "
        f"pathfinders drift on a trend of their own: {pair_label(str(chosen['design'].iloc[0]), str(chosen['inference'].iloc[0]))}."
        if len(chosen)
        else "and no design passes every check, including recovering the effect when the "
        "pathfinders drift on a trend of their own, so this domain has no headline."
    )
    return f"The data doubt parallel trends ({flag}), {tail}"


def scorecard(run: RunOutputs, inference: str = "WCR") -> pd.DataFrame:
    """One row per domain: the primary measure's validated headline and how designs agree.

    When the run made the recovery study, each domain's row is its ``headline`` results
    row (:func:`~soteria_eval.validation.verdicts.choose_headlines`): the design that
    recovered the planted effect, its estimate and 95% interval, the reading from that
    interval, and how many of the other designs the study passes for the measure give the
    same reading (the disagreeing ones named). A domain without a validated design says
    so. Without the study (older runs) the TWFE estimate with ``inference`` is shown.
    """
    from soteria_eval.dictionary import DOMAIN_TITLES, DOMAINS, load_catalogue

    cat = load_catalogue()
    r = run.results
    has_study = "headline" in r.columns and r["recovery_design"].astype(str).ne("").any()
    rows: list[dict[str, object]] = []
    for domain in DOMAINS:
        m = cat.primary(domain)
        if has_study:
            head = r[(r["measure"] == m.id) & r["headline"].astype(str).eq("True")]
            if head.empty:
                rows.append({
                    "Domain": DOMAIN_TITLES[domain], "Primary measure": m.title,
                    "Design": "none validated", "Effect": "—", "95% CI": "—",
                    "Reading": "no headline: no design passed every check",
                    "Other validated designs": "—",
                })  # fmt: skip
                continue
            row = head.iloc[0]
            reading = _reading(row, m.direction)
            others = r[
                (r["measure"] == m.id) & (r["term"] == "programme") & (r["status"] == "ok")
                & r["recovery_design"].astype(str).ne("") & ~r["headline"].astype(str).eq("True")
                & r["recovery_design"].astype(str).str.match(_OVERALL_DESIGNS)
            ]  # fmt: skip
            agree = [_reading(o, m.direction) == reading for _, o in others.iterrows()]
            differ = sorted({
                f"{pair_label(o['recovery_design'], o['recovery_inference'])} "
                f"({'all forces' if o['scenario'] == 'default' else 'exposed left out'}): {_reading(o, m.direction)}"
                for (_, o), a in zip(others.iterrows(), agree, strict=True) if not a
            })  # fmt: skip
            if len(differ) > 3:  # a phone-width cell: say how they read, not each one
                readings = [
                    _reading(o, m.direction)
                    for (_, o), a in zip(others.iterrows(), agree, strict=True)
                    if not a
                ]
                differ = [f"{readings.count(x)} read “{x}”" for x in sorted(set(readings))] + [
                    "listed in the domain's chapter"
                ]
            agreement = (
                f"{sum(agree)} of {len(agree)} agree"
                + (f"; differ: {'; '.join(differ)}" if differ else "")
                if agree
                else "none other validated"
            )
            effect, interval = format_effect(
                float(row["estimate"]), float(row["ci_lower"]), float(row["ci_upper"]),
                str(row["estimand"]),
            )  # fmt: skip
            rows.append({
                "Domain": DOMAIN_TITLES[domain], "Primary measure": m.title,
                "Design": pair_label(str(row["recovery_design"]), str(row["recovery_inference"]))
                + (" (all forces)" if row["scenario"] == "default" else " (exposed forces left out)"),
                "Effect": effect,
                "95% CI": interval if interval != "—" else p_text(float(row["p_value"])),
                "Reading": reading, "Other validated designs": agreement,
            })  # fmt: skip
            continue
        d = run.select(
            domain=domain, measure=m.id, scenario="default", term="programme", design="twfe"
        )
        d = d[d["inference"].map(_inference_kind) == inference]
        if d.empty:
            continue
        row = d.iloc[0]
        rows.append(
            {
                "Domain": DOMAIN_TITLES[domain],
                "Primary measure": m.title,
                "Effect": f"{row['estimate']:+.2f} {row['estimand'].split('(')[-1].rstrip(')')}",
                "95% CI": f"{row['ci_lower']:.2f} to {row['ci_upper']:.2f}",
                "p": round(float(row["p_value"]), 3),
                "Evidence": evidence_strength(float(row["p_value"])),
                "Reading": _reading(row, m.direction),
            }
        )
    return pd.DataFrame(rows)


def real_data_headline(run: RunOutputs) -> pd.Series | None:
    """Return the published-data headline row, or None if the run has none.

    The primary specification (scenario ``phase1_clean``) with the wild cluster bootstrap;
    runs made before it existed fall back to the default scenario with CR2.
    """
    r = run.results
    pub = r[(r["analysis"] == "published_outcomes") & (r["term"] == "treated_f")]
    pub = pub[pub["design"] == "twfe"]
    for scenario, kind in (("phase1_clean", "WCR"), ("default", "CR2")):
        d = pub[(pub["scenario"] == scenario) & (pub["inference"].map(_inference_kind) == kind)]
        if len(d):
            return d.iloc[0]
    return None


def published_pretrend_sentence(run: RunOutputs, exclusions: bool = True) -> str:
    """Say in words what the published-data pre-trend test and placebo found.

    Uses the primary specification's ``pre-trend F`` and ``placebo start`` rows; an empty
    string when the run has neither. ``exclusions``: also say what the test gives with
    every force-year kept (the chapter does; the one-page summary does not).
    """
    r = run.results
    pub = r[(r["analysis"] == "published_outcomes") & (r["scenario"] == "phase1_clean")]
    f = pub[pub["term"] == "pre-trend F"]
    placebo = pub[pub["term"].astype(str).str.startswith("placebo start")]
    parts = []
    if len(f):
        row = f.iloc[0]
        p = float(row["p_value"])
        parts.append(
            "Before the programme, the pathfinders' charges did not move in step with the "
            f"comparison forces' (joint pre-trend test {row['estimand']} = {float(row['estimate']):.2f}, "
            f"{p_text(p)}), so the estimate rests on an assumption the data strain."
            if p < 0.10
            else "A joint pre-trend test finds no clear difference in pre-programme trends "
            f"({row['estimand']} = {float(row['estimate']):.2f}, {p_text(p)}), but with five "
            "treated forces it can miss a real one."
        )
    kept = pub[pub["term"] == "pre-trend F (every force-year kept)"]
    if exclusions and len(f) and len(kept):
        k = kept.iloc[0]
        pk, p0 = float(k["p_value"]), float(f.iloc[0]["p_value"])
        same = (pk < 0.10) == (p0 < 0.10)
        parts.append(
            f"With every force-year kept (no quality exclusions) the same test gives "
            f"{k['estimand']} = {float(k['estimate']):.2f}, {p_text(pk)}"
            + (": the same verdict." if same
               else ": the pre-trend verdict hinges on which force-years are excluded.")
        )  # fmt: skip
    if len(placebo):
        row = placebo.iloc[0]
        eff, ci = format_effect(
            float(row["estimate"]), float(row["ci_lower"]), float(row["ci_upper"]),
            str(row["estimand"]),
        )  # fmt: skip
        when = str(row["term"]).removeprefix("placebo start ")
        parts.append(
            f"A false start in {when}, before the programme, gives {eff} (95% interval {ci})"
            + (": an 'effect' where there was none." if _reading(row, "higher") != "no clear change"
               else ".")
        )  # fmt: skip
    return " ".join(parts)


def at_a_glance(run: RunOutputs) -> pd.DataFrame:
    """Return the summary's first screen: each domain's headline and the real-data line.

    Columns ``Domain, Data, Measure, Change, 95% interval, Reading``: the scorecard's
    validated headlines (:func:`scorecard`) and the published-data headline
    (:func:`real_data_headline`), each marked ``synthetic`` or ``real``. A percentage
    change computed from a log-scale estimate keeps that estimate and its interval in
    ``attrs["log_estimates"]`` (one line per such row), for the page's footnote.
    """
    from soteria_eval.dictionary import DOMAIN_TITLES

    sc = scorecard(run)
    r = run.results
    titles = {v: k for k, v in DOMAIN_TITLES.items()}
    rows = []
    for _, row in sc.iterrows():
        own = r.loc[
            (r["domain"] == titles.get(str(row["Domain"])))
            & (r["analysis"] != "published_outcomes"),
            "data_label",
        ]
        rows.append({
            "Domain": str(row["Domain"]),
            "Measure": str(row["Primary measure"]),
            "Change": str(row["Effect"]),
            "95% interval": str(row["95% CI"]),
            "Reading": str(row["Reading"]).split(":")[0],
            "Data": "synthetic" if own.str.contains("synthetic").any() else "real",
        })  # fmt: skip
    logs = [
        f"{d}: {_signed(float(h['estimate']), 3)} ({_signed(float(h['ci_lower']), 3)} to "
        f"{_signed(float(h['ci_upper']), 3)})"
        for d, h in ((str(row["Domain"]), headline_row(run, titles.get(str(row["Domain"]), "")))
                     for _, row in sc.iterrows())
        if h is not None and effect_unit(str(h["estimand"])).startswith("log")
    ]  # fmt: skip
    real = real_data_headline(run)
    if real is not None:
        if effect_unit(str(real["estimand"])).startswith("log"):
            logs.append(
                f"Volume (published data): {_signed(float(real['estimate']), 3)} "
                f"({_signed(float(real['ci_lower']), 3)} to {_signed(float(real['ci_upper']), 3)})"
            )
        effect, interval = format_effect(
            float(real["estimate"]), float(real["ci_lower"]), float(real["ci_upper"]),
            str(real["estimand"]),
        )  # fmt: skip
        rows.append(
            {
                "Domain": "Volume (published data)",
                "Measure": "Sexual-offence charges, Home Office",
                "Change": effect,
                "95% interval": interval,
                "Reading": _reading(real, "higher"),
                "Data": "real",
            }
        )
    # The data badge second: on a phone the table scrolls sideways, and whether a line is
    # synthetic must be seen without scrolling.
    out = pd.DataFrame(
        rows, columns=["Domain", "Data", "Measure", "Change", "95% interval", "Reading"]
    )
    out.attrs["log_estimates"] = logs
    return out


def badged(frame: pd.DataFrame, column: str = "Data") -> Any:
    """Return :func:`styled` with ``column`` drawn as a badge: synthetic red, real green."""
    colours = {"synthetic": "#9b1c1c", "real": "#1f6f43"}

    def css(v: object) -> str:
        c = colours.get(str(v))
        return (
            f"background-color: {c}; color: white; font-weight: bold; text-transform: uppercase"
            if c
            else ""
        )

    return styled(frame).map(css, subset=[column])


def design_comparison(run: RunOutputs, domain: str) -> pd.DataFrame:
    """TWFE (wild cluster bootstrap), Callaway–Sant'Anna and (for counts) PPML side by side.

    All on the default scenario (every force), so the designs differ and the sample does not.
    """
    from soteria_eval.dictionary import load_catalogue

    cat = load_catalogue()
    r = run.results
    base = (r["analysis"] == domain) & (r["scenario"] == "default") & (r["term"] == "programme")
    tw = r[
        base & (r["design"] == "twfe") & (r["inference"].map(_inference_kind) == "WCR")
    ].set_index("measure")
    cs = r[base & (r["design"] == "callaway_santanna")].set_index("measure")
    pp = r[base & (r["design"] == "ppml")].set_index("measure")

    def fmt(d: pd.DataFrame, m: str) -> str:
        if m not in d.index:
            return "—"
        row = d.loc[m]
        row = row.iloc[0] if isinstance(row, pd.DataFrame) else row
        effect, interval = effect_cells(row)
        if interval.startswith("—"):
            return f"{effect} (no interval" + (
                ": inference refused)" if "refused" in interval else ")"
            )
        return f"{effect} ({interval})"

    rows = []
    for m in tw.index:
        row = {
            "Measure": cat[m].title if m in cat else m,
            "TWFE": fmt(tw, m),
            "Callaway–Sant'Anna": fmt(cs, m),
        }
        if len(pp):
            row["PPML (counts)"] = fmt(pp, m)
        rows.append(row)
    return pd.DataFrame(rows)


def pretrend_test(run: RunOutputs, domain: str, measure: str) -> str:
    """Describe the joint pre-trend tests of a measure's event study in words.

    The randomization test over cohorts (:mod:`soteria_eval.inference.pretrend`) is the
    one read; the chi-squared Wald test of Callaway–Sant'Anna's leads is given beside it,
    flagged as oversized with few treated forces.
    """
    d = run.select(analysis=domain, measure=measure, term="pre-trend Wald")
    ri = run.select(analysis=domain, measure=measure, term="pre-trend (randomization)")
    lin = run.select(analysis=domain, measure=measure, term="pre-trend, linear (randomization)")
    if d.empty and ri.empty:
        return "No event study was run for this measure."
    parts = []
    if not lin.empty and np.isfinite(float(lin.iloc[0]["p_value"])):
        p = float(lin.iloc[0]["p_value"])
        parts.append(
            "Test that the pre-start effects drift steadily, by randomization over which "
            f"forces started when: {p_text(p)} ("
            + (
                "no evidence of a steady divergence"
                if p >= 0.05
                else "evidence of a steady divergence"
            )
            + "; in simulated worlds with real force trends it rejects 4–7% of the time when "
            "trends are parallel, and only 6–8% of the time against a divergence that reaches "
            "one planted effect over 22 quarters: passing it is weak evidence)."
        )
    if not ri.empty:
        r = ri.iloc[0]
        p = float(r["p_value"])
        if np.isfinite(p):
            verdict = (
                "no evidence against parallel pre-trends"
                if p >= 0.05
                else "evidence of differing pre-trends"
            )
            parts.append(
                f"Joint test that every pre-start effect is zero, by randomization over which "
                f"forces started when ({r['estimand']} = {float(r['estimate']):.2f}): "
                f"{p_text(p)} ({verdict})."
            )
        else:
            parts.append(f"The randomization pre-trend test was not computed: {r['note']}.")
    if not d.empty:
        row = d.iloc[0]
        p = float(row["p_value"])
        lead = (
            "The chi-squared Wald test of the same leads"
            if parts
            else "Joint test that every pre-start effect is zero"
        )
        if not np.isfinite(p):
            note = str(row["note"])
            reasons = refusal_reasons(note)
            why = (
                f"the recovery study refused this design's inference for this measure: {reasons}"
                if reasons
                else note or "no p-value"
            )
            parts.append(
                f"{lead}: {row['estimand']} = {float(row['estimate']):.2f}; its p-value is not "
                f"reported ({why})."
            )
        else:
            caveat = (
                " (for reference: with five treated forces it rejects far more often than 5% "
                "when trends are parallel)"
                if len(parts)
                else ""
            )
            parts.append(
                f"{lead}: {row['estimand']} = {float(row['estimate']):.2f}, {p_text(p)}{caveat}."
            )
    return " ".join(parts)


def refusal_reasons(note: str) -> str:
    """Return the recovery study's reasons in a refused row's note, or ``""``.

    A refused row's note reads ``refused by the recovery study (N simulated seeds):
    <reason>; <reason>; <the design's own notes>``; the reasons are the parts that judge the
    study's coverage, bias or size (or, for a test, how often it rejects a true null).
    """
    if not note.startswith("refused by the recovery study"):
        return ""
    parts = note.split(": ", 1)[-1].split("; ")
    keep = [x for x in parts if x.startswith(("coverage", "bias", "size", "rejects"))]
    import re

    return re.sub(r"-(?=\d)", "−", "; ".join(keep))  # a minus before a number, not "no-effect"


def event_study_caution(run: RunOutputs, domain: str, measure: str) -> str:
    """Return a caution for an event study whose design the study refused, or ``""``.

    The event-time effects of Callaway–Sant'Anna have no recovery verdict of their own: they
    take the verdict of the overall effect with the same inference (the multiplier
    bootstrap). When it is refused, the figure's band and intervals are shown for the reader
    to see, not as evidence, as the page says in a caution above the figure.
    """
    d = run.select(analysis=domain, measure=measure, design="event_study_cs")
    refused = d[(d["status"] == "refused") & d["term"].astype(str).str.startswith("event")]
    if refused.empty:
        return ""
    why = refusal_reasons(str(refused["note"].iloc[0]))
    return (
        "```{caution}\nThe recovery study refused this design's inference for this measure"
        + (f" ({why})" if why else "")
        + ": the band and the intervals below are shown so the reader can see them, not as "
        "evidence. The estimates themselves are kept.\n```"
    )


def robustness_table(run: RunOutputs, domain: str) -> pd.DataFrame:
    """Return the primary measure's robustness checks (leave-one-out, COVID, placebo)."""
    d = run.select(analysis="robustness", domain=domain)
    cells = [effect_cells(row) for _, row in d.iterrows()]
    return pd.DataFrame(
        {
            "Check": [scenario_label(str(x)) for x in d["scenario"]],
            "Effect": [c[0] for c in cells],
            "95% interval": [c[1] for c in cells],
            "p": d["p_value"].to_numpy(dtype=float),
            "Note": d["note"].to_numpy(),
        }
    )


def recovered_estimates(run: RunOutputs, measure: str) -> pd.DataFrame:
    """Return the run's own estimate of each design the study judges, for one measure.

    Matches the results rows (default and headline samples; the programme term, the 12-
    and 24-month national effects, HonestDiD at Mbar = 1) to the study's design and
    inference keys (the rows' ``recovery_design`` and ``recovery_inference``, or
    :func:`soteria_eval.validation.verdicts.inference_key` for older runs). Returns ``design, inference,
    estimate, ci_lower, ci_upper, p_value, status``; refused rows keep their estimate and
    have no interval.
    """
    from soteria_eval.validation.verdicts import inference_key

    r = run.results
    r = r[(r["measure"] == measure) & (r["data_label"] != "")]
    keyed = "recovery_design" in r.columns
    scen = (
        r["scenario"].isin(["default", "exposed_dropped"]) if keyed else r["scenario"] == "default"
    )
    keep = scen & (r["term"] == "programme") | (r["design"] == "honest_did") & (
        r["term"] == "Mbar = 1"
    )
    rows = []
    for x in r[keep].itertuples():
        if keyed and str(x.recovery_design):
            design, inf = str(x.recovery_design), str(x.recovery_inference)
        elif x.scenario != "default":
            continue
        else:
            design, inf = inference_key(str(x.design), str(x.inference), str(x.estimand))
        rows.append((design, inf, x.estimate, x.ci_lower, x.ci_upper, x.p_value, x.status))
    cols = ["design", "inference", "estimate", "ci_lower", "ci_upper", "p_value", "status"]
    out = pd.DataFrame(rows, columns=cols)
    return out.drop_duplicates(["design", "inference"]).reset_index(drop=True)


#: Column names (lower case) that hold p-values.
_P_COLUMNS = ("p", "p_value", "p value", "p-value", "p_adjusted", "adjusted p", "p (holm)")


def format_p(p: float) -> str:
    """Write a p-value for readers: ``< 0.001`` below 0.001, else three decimals."""
    if not np.isfinite(p):
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def fit_label(status: str, note: str) -> str:
    """How well a synthetic control fits before the start, from its results row.

    Read from the ratio the note quotes (pre-period RMSPE over the median donor's), not
    from the status alone: a row the recovery study refused has status "refused" and must
    not read "good" when its fit is over :data:`~soteria_eval.sensitivity.synthetic.POOR_FIT`
    times the median donor's.
    """
    import re

    from soteria_eval.sensitivity.synthetic import POOR_FIT

    m = re.search(r"([0-9.]+) times the median donor's", note)
    ratio = float(m.group(1)) if m else float("nan")
    poor = status == "not credible" or (np.isfinite(ratio) and ratio > POOR_FIT)
    label = "poor: not credible" if poor else "good"
    return label + (f" ({m.group(1)}× the median donor's error)" if m else "")


def report_line(run: RunOutputs) -> str:
    """Return the landing page's identification line: title, version, commit, data, seed.

    Built from the run's manifest (no clock: results files stay byte-identical).
    """
    m = run.manifest
    parts = [f"**{m.get('title') or 'Evaluation of Operation Soteria'}**"]
    if m.get("soteria_eval_version"):
        commit = str(m.get("git_commit") or "")[:7]
        parts.append(
            f"soteria-eval {m['soteria_eval_version']}" + (f" ({commit})" if commit else "")
        )
    label = str(m.get("data_label", ""))
    if "synthetic" in label:
        parts.append("data: SYNTHETIC (the package's simulator), not police or CPS records")
    elif label:
        parts.append(f"data: {label}")
    parts.append(f"seed {m.get('seed')}")
    studies = m.get("validation_studies") or {}
    recovery = [n for n in studies.get("recovery", []) if n.startswith("validation study:")]
    if recovery:
        parts.append(recovery[0].split(";")[0])
    return " · ".join(parts)


def p_text(p: float) -> str:
    """Write "p < 0.001" or "p = 0.123" (never "p = < 0.001"); "p not available" if missing."""
    shown = format_p(p)
    if shown == "—":
        return "p not available"
    return f"p {shown}" if shown.startswith("<") else f"p = {shown}"


def styled(frame: pd.DataFrame, precision: int = 3) -> Any:
    """Return a table styled for the book: one number format per column, no index.

    Columns of whole numbers (counts, forces, periods) show as integers with thousands
    separators; p-value columns (named ``p``, ``p_value``, ``Adjusted p`` ...) as
    :func:`format_p`; other numbers with ``precision`` decimals; missing values as "—".
    """
    formats: dict[str, Any] = {}
    for col in frame.columns:
        s = frame[col]
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            continue
        name = str(col).strip().lower()
        vals = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
        finite = vals[np.isfinite(vals)]
        if name in _P_COLUMNS or name.startswith("p ") or name.endswith(" p"):
            formats[col] = lambda v: html.escape(format_p(v))  # the table is HTML: "&lt;"
        elif finite.size and np.all(finite == np.round(finite)) and np.all(np.abs(finite) < 1e15):
            formats[col] = lambda v: "—" if not np.isfinite(v) else f"{v:,.0f}"
        else:
            formats[col] = lambda v, d=precision: "—" if not np.isfinite(v) else f"{v:.{d}f}"
    return frame.style.format(formats, na_rep="—").hide(axis="index")
