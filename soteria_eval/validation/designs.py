"""Each design and inference of the evaluation, run on one simulated world.

:func:`estimate_world` takes the force-by-quarter and force-by-month panels of one
simulated world and the truth it is judged against, and returns one row per measure,
design and inference: the estimate, its 95% interval (where the method gives one),
whether the interval — or, for resampling methods, the test at the true value — covers
the truth, and whether the test rejects no effect. The designs are those the pipeline
reports, specified as it specifies them (:mod:`soteria_eval.evaluation`,
``analyses/national_its.py`` and ``analyses/sensitivity.py``).

=====================  ================  ==========================  =================
design                 inference         estimand (truth)            measures
=====================  ================  ==========================  =================
``twfe``               CR1, CR2, WCR, RI ATT                         all
``callaway_santanna``  analytic, and     ATT                         all
                       t(treated - 1)
``callaway_santanna``  bootstrap         ATT                         primary
``ppml``               CR1               ATT (log rate ratio)        counts
``sun_abraham``        CR1               ATT                         primary
``imputation``         analytic          ATT                         primary
``imputation_trends``  analytic, and     ATT                         primary
                       t(treated - 1)
``honest_did``         Mbar = 1          ATT event average 0..7      primary
``pretrend``           chi2, RI          none (rejections only)      primary
``synthetic_control``  placebo           ATT force f (phase 1)       primary
``its_segmented_12m``  GLS AR(1)         national effect, 12 months  national series
``its_segmented_24m``  GLS AR(1)         national effect, 24 months  national series
``its_comparative``    Driscoll–Kraay    pathfinders, average        national series
``twfe phase 1``/``2`` CR1, CR2          ATT phase 1 / phase 2       primary
``stacked_dose``       CR1, CR2          dose slope                  Area-only
``twfe_dose``          CR1, CR2          dose slope                  Area-only
``callaway_santanna    analytic          ATT phase 1 / phase 2       primary
phase 1``/``2``
=====================  ================  ==========================  =================

The DiD designs also run on the sample of another rollout scenario (the recovery study's
``samples``; by default ``exposed_dropped``, the headline sample without the exposed
forces of pathfinder Areas); their ids then carry it, e.g. ``twfe (exposed_dropped)``,
and they are judged against that sample's own estimands (:func:`sample_design`).

On a sample that drops the exposed forces, RI deals the treatment paths to every force
and re-forms the sample per assignment (:class:`ReformedAssignment`; the design-based
test: permuting within the fixed sample rejected a true null in 10.5% of real fake
rollouts), as the pipeline does.

WCR and RI give a p-value, not an interval here: coverage is then the share of seeds in
which the test of the true value does not reject at 5% (the interval by test inversion
contains the truth exactly when that test does not reject).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from soteria_eval.dictionary import DOMAINS, MeasureCatalogue
from soteria_eval.estimands import (
    COMPARATIVE_WINDOW,
    NATIONAL_HORIZONS,
    PHASE1_MONTH,
    to_analysis_scale,
)

#: National series of each domain (the national ITS): summable primary measures.
NATIONAL_SERIES: dict[str, str] = {
    "volume": "charges",
    "quality": "police_charge_rate",
    "timeliness": "days_referral_to_decision",
    "victim_experience": "victim_does_not_support",
}
ROW_COLUMNS: tuple[str, ...] = (
    "measure",
    "design",
    "inference",
    "estimand",
    "estimate",
    "ci_lower",
    "ci_upper",
    "truth",
    "covered",
    "reject",
)


@dataclass(frozen=True)
class DesignSettings:
    """Which designs to run and with how many draws.

    Attributes
    ----------
    n_boot : int
        Wild bootstrap draws, randomization re-assignments and multiplier-bootstrap draws.
    designs : tuple of str
        Design ids to run (default: all of :data:`DESIGNS`).
    measures : tuple of str, optional
        Measures for the designs run on every measure (default: every measure of the
        force-by-quarter panel).
    honest_grid : int
        Grid points of the HonestDiD confidence set.
    """

    n_boot: int = 399
    designs: tuple[str, ...] = ()
    measures: tuple[str, ...] | None = None
    honest_grid: int = 200

    def runs(self, design: str) -> bool:
        """Whether ``design`` is run."""
        return not self.designs or design in self.designs


DESIGNS: tuple[str, ...] = (
    "twfe",
    "callaway_santanna",
    "ppml",
    "sun_abraham",
    "imputation",
    "imputation_trends",
    "honest_did",
    "synthetic_control",
    "its_segmented",
    "its_comparative",
    "twfe_phase",
    "cs_phase",
    "stacked_dose",
    "twfe_dose",
    "pretrend",
)


def _row(
    measure: str,
    design: str,
    inference: str,
    estimand: str,
    estimate: float,
    lo: float,
    hi: float,
    truth: float,
    p_truth: float | None,
    p_zero: float,
) -> dict[str, Any]:
    if p_truth is not None:
        covered = bool(p_truth > 0.05) if np.isfinite(p_truth) else np.nan
    elif np.isfinite(lo) and np.isfinite(hi) and np.isfinite(truth):
        covered = bool(lo <= truth <= hi)
    else:
        covered = np.nan
    return {
        "measure": measure,
        "design": design,
        "inference": inference,
        "estimand": estimand,
        "estimate": float(estimate),
        "ci_lower": float(lo),
        "ci_upper": float(hi),
        "truth": float(truth),
        "covered": covered,
        "reject": bool(p_zero <= 0.05) if np.isfinite(p_zero) else np.nan,
    }


def _quiet(fn: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


def measure_frame(
    panel: pd.DataFrame, treatment: pd.DataFrame, measure: str, kind: str
) -> pd.DataFrame:
    """One measure's rows joined to the treatment variables, outcome ``y`` on its analysis scale."""
    rows = panel[panel["measure"] == measure]
    d = treatment.merge(rows[["unit", "period", "value"]], on=["unit", "period"], how="left")
    d["y"] = to_analysis_scale(d["value"], kind)
    d["treated_f"] = d["treated"].astype(float)
    return d


class _Frames:
    """Every measure's :func:`measure_frame`, built from one index of the treatment cells."""

    def __init__(self, panel: pd.DataFrame, treatment: pd.DataFrame, units: Sequence[str]) -> None:
        self.treatment = treatment.assign(treated_f=treatment["treated"].astype(float))
        key = pd.MultiIndex.from_arrays([treatment["unit"], treatment["period"]])
        pos = key.get_indexer(pd.MultiIndex.from_arrays([panel["unit"], panel["period"]]))
        self.panel = panel.assign(_pos=pos)[pos >= 0]
        self.by_measure = {m: g for m, g in self.panel.groupby("measure", sort=False)}
        periods = sorted(treatment["period"].unique())
        self.unit_code = pd.Index(list(units)).get_indexer(pd.Index(treatment["unit"]))
        self.period_code = pd.Index(periods).get_indexer(pd.Index(treatment["period"]))
        self.shape = (len(units), len(periods))
        from soteria_eval.rollout import cohort_frame

        numbered, _ = cohort_frame(treatment.assign(_y=0.0), "_y")
        self._t = numbered["t"].to_numpy()
        self._g = numbered["g"].to_numpy()

    def cs_frame(self, d: pd.DataFrame) -> pd.DataFrame:
        """As :func:`~soteria_eval.rollout.cohort_frame` of :meth:`frame`'s result ``d``."""
        gap = np.bincount(self.unit_code, weights=d["y"].isna().to_numpy(), minlength=self.shape[0])
        keep = gap[self.unit_code] == 0
        out: pd.DataFrame = d.assign(t=self._t, g=self._g)[keep]
        return out

    def frame(self, measure: str, kind: str) -> pd.DataFrame:
        """As :func:`measure_frame` (same rows, order and columns)."""
        value = np.full(len(self.treatment), np.nan)
        rows = self.by_measure.get(measure)
        if rows is not None:
            value[rows["_pos"].to_numpy()] = rows["value"].to_numpy(dtype=float)
        d = self.treatment.assign(value=value)
        d["y"] = to_analysis_scale(d["value"], kind)
        return d[[*self.treatment.columns.drop("treated_f"), "value", "y", "treated_f"]]

    def wide(self, y: pd.Series) -> NDArray[np.float64]:
        """Return the outcome as a units × periods array (units in the block's order)."""
        out = np.full(self.shape, np.nan)
        ok = (self.unit_code >= 0) & (self.period_code >= 0)
        out[self.unit_code[ok], self.period_code[ok]] = y.to_numpy(dtype=float)[ok]
        return out


def _cs_fit(e: pd.DataFrame) -> Callable[[], Any]:
    """Callaway–Sant'Anna with not-yet-treated controls on ``e``, fitted once when first asked."""
    from soteria_eval.did import callaway_santanna

    cache: list[Any] = []

    def fit() -> Any:
        if not cache:
            cache.append(
                _quiet(
                    lambda: callaway_santanna(
                        e,
                        outcome="y",
                        unit="unit",
                        time="t",
                        cohort="g",
                        control_group="not_yet_treated",
                    )
                )
            )
        return cache[0]

    return fit


def _cs_phase_rows(
    e: pd.DataFrame, fit: Callable[[], Any], m: str, truths: dict[str, float]
) -> list[dict[str, Any]]:
    """Callaway–Sant'Anna (not-yet-treated controls): each phase's ATT from its cohorts."""
    from soteria_eval.did.phases import phase_att

    res = fit()
    out = []
    for phase in (1, 2):
        for df, name in (("normal", "analytic"), ("treated", "analytic, t(treated - 1)")):
            t = phase_att(res, e, phase, df=df).tidy().iloc[0]
            est = f"ATT phase {phase}"
            out.append(_row(m, f"callaway_santanna phase {phase}", name, est, t["estimate"], t["ci_lower"], t["ci_upper"], truths.get(est, np.nan), None, t["p_value"]))  # fmt: skip
    return out


@dataclass(frozen=True)
class TwfeBlock:
    """The treatment design of the DiD window, prepared once for vectorised TWFE.

    For a balanced panel without covariates every measure shares the two-way demeaned
    treatment, the CR2 adjustment and the randomization re-assignments, so CR1, CR2,
    WCR and RI for all measures (and for the test at the truth and at zero) are computed
    by array algebra (:mod:`soteria_eval.inference._panel_stats`). Equal to
    :func:`~soteria_eval.did.twfe` with ``with_vcov("CR2")``,
    :func:`~soteria_eval.inference.wild.wild_cluster_bootstrap` and
    :func:`~soteria_eval.inference.randomization.randomization_test` on the same panel
    (tests check it).
    """

    units: tuple[str, ...]
    periods: tuple[str, ...]
    treatment: NDArray[np.float64]
    design: Any
    cr2: tuple[NDArray[np.float64], float]

    @classmethod
    def from_treatment(cls, tp: pd.DataFrame) -> TwfeBlock:
        """Build the block from a treatment panel (units in its order, periods sorted)."""
        from soteria_eval.inference.coverage import CoverageDesign, _cr2_parts

        wide = tp.pivot(index="unit", columns="period", values="treated").astype(float)
        units = tuple(str(u) for u in wide.index)
        d = wide.to_numpy()
        first = np.where(d.any(axis=1), d.argmax(axis=1), -1).astype(np.int64)
        des = CoverageDesign(
            "soteria", "Soteria force-by-quarter window", start=first,
            clusters=np.arange(len(units), dtype=np.int64), unit_sd=np.ones(len(units)),
            n_periods=d.shape[1],
        )  # fmt: skip
        if not np.array_equal(des.treatment, d):
            raise ValueError("treatment is not an absorbing staggered design")
        return cls(units, tuple(str(p) for p in wide.columns), d, des, _cr2_parts(des))


def _twfe_block_rows(
    block: TwfeBlock,
    ys: dict[str, NDArray[np.float64]],
    truths: dict[str, float],
    settings: DesignSettings,
    seed: int,
) -> list[dict[str, Any]]:
    """TWFE with CR1, CR2, WCR and RI for every balanced measure at once."""
    from scipy import stats

    from soteria_eval.inference._panel_stats import (
        demean2,
        ri_path_pvalues,
        twfe_cr1,
        wild_pvalues,
    )
    from soteria_eval.inference.coverage import _ri_assignments
    from soteria_eval.inference.wild import draw_weights

    names = sorted(ys)
    if not names:
        return []
    des = block.design
    g = des.n_clusters
    dmat = block.treatment
    y = np.stack([ys[m] for m in names])
    tr = np.array([truths.get(m, np.nan) for m in names])
    beta, se, resid = twfe_cr1(y, demean2(dmat), des.clusters, g)
    adj, df2 = block.cr2
    den = float((demean2(dmat) ** 2).sum())
    se2 = np.sqrt((np.einsum("it,sit->si", adj, resid) ** 2).sum(axis=1)) / den
    q1, q2 = stats.t.ppf(0.975, g - 1), stats.t.ppf(0.975, df2)
    p1 = 2 * stats.t.sf(np.abs(beta / se), g - 1)
    p2 = 2 * stats.t.sf(np.abs(beta / se2), df2)
    rng = np.random.default_rng([seed, 17])
    shifted = np.concatenate([y - np.nan_to_num(tr)[:, None, None] * dmat[None], y])
    v, _ = draw_weights("webb", settings.n_boot, g, rng)
    pw = wild_pvalues(shifted, demean2(dmat), des.clusters, g, v, impose_null=True)
    _, assign = _ri_assignments(des, settings.n_boot, rng)
    pr = ri_path_pvalues(shifted, dmat, assign)
    k = len(names)
    out = []
    for j, m in enumerate(names):
        b = float(beta[j])
        out.append(
            _row(m, "twfe", "CR1", "ATT", b, b - q1 * se[j], b + q1 * se[j], tr[j], None, p1[j])
        )
        out.append(
            _row(m, "twfe", "CR2", "ATT", b, b - q2 * se2[j], b + q2 * se2[j], tr[j], None, p2[j])
        )
        out.append(_row(m, "twfe", "WCR", "ATT", b, np.nan, np.nan, tr[j], pw[j] if np.isfinite(tr[j]) else np.nan, pw[k + j]))  # fmt: skip
        out.append(_row(m, "twfe", "RI", "ATT", b, np.nan, np.nan, tr[j], pr[j] if np.isfinite(tr[j]) else np.nan, pr[k + j]))  # fmt: skip
    return out


def _ri_design(dmat: NDArray[np.float64]) -> Any:
    """Return the coverage study's design of a balanced treatment array (for RI assignments)."""
    from soteria_eval.inference.coverage import CoverageDesign

    n = dmat.shape[0]
    first = np.where(dmat.any(axis=1), dmat.argmax(axis=1), -1).astype(np.int64)
    return CoverageDesign(
        "soteria", "Soteria force-by-quarter window", start=first,
        clusters=np.arange(n, dtype=np.int64), unit_sd=np.ones(n), n_periods=dmat.shape[1],
    )  # fmt: skip


def _twfe_masked_rows(
    y: NDArray[np.float64],
    dmat: NDArray[np.float64],
    m: str,
    truth: float,
    settings: DesignSettings,
    seed: int,
    ri_cache: dict[bytes, Any],
) -> list[dict[str, Any]]:
    """TWFE with CR1, CR2, WCR and RI for one measure whose panel has gaps.

    ``y`` is the units × periods outcome (NaN where a cell is missing or outside the
    sample). The fit uses every observed cell (:func:`~soteria_eval.inference._fwl_stats.masked_twfe`,
    equal to :func:`~soteria_eval.did.twfe`); randomization inference reassigns start
    dates over the units observed in every period, as
    :func:`~soteria_eval.inference.randomization.randomization_test` needs a balanced panel.
    """
    from scipy import stats

    from soteria_eval.inference._fwl_stats import masked_twfe
    from soteria_eval.inference._panel_stats import ri_path_pvalues
    from soteria_eval.inference.coverage import _ri_assignments
    from soteria_eval.inference.wild import draw_weights

    fit = masked_twfe(y, dmat[None])
    b = float(fit.beta[0])
    out = []
    for name, se, df in (
        ("CR1", fit.se_cr1[0], fit.df_cr1),
        ("CR2", fit.se_cr2[0], fit.df_cr2[0]),
    ):
        q = stats.t.ppf(0.975, df)
        p = 2 * stats.t.sf(abs(b / se), df)
        out.append(_row(m, "twfe", name, "ATT", b, b - q * se, b + q * se, truth, None, p))
    rng = np.random.default_rng([seed, 17])
    v, _ = draw_weights("webb", settings.n_boot, fit.n_clusters, rng)
    p_truth = fit.wild_pvalue(truth, v) if np.isfinite(truth) else np.nan
    out.append(_row(m, "twfe", "WCR", "ATT", b, np.nan, np.nan, truth, p_truth, fit.wild_pvalue(0.0, v)))  # fmt: skip
    full = np.isfinite(y).all(axis=1)
    d_sub = dmat[full]
    if d_sub.sum() > 0:
        key = full.tobytes()
        if key not in ri_cache:
            ri_cache[key] = _ri_assignments(_ri_design(d_sub), settings.n_boot, rng)[1]
        assign = ri_cache[key]
        y_sub = y[full]
        tr = truth if np.isfinite(truth) else 0.0
        pr = ri_path_pvalues(np.stack([y_sub - tr * d_sub, y_sub]), d_sub, assign)
        out.append(_row(m, "twfe", "RI", "ATT", b, np.nan, np.nan, truth, pr[0] if np.isfinite(truth) else np.nan, pr[1]))  # fmt: skip
    return out


@dataclass(frozen=True)
class ReformedAssignment:
    """What the re-formed randomization test of a sample that drops exposed forces needs.

    Attributes
    ----------
    units : tuple of str
        Every force the sample was formed from (its exposed forces included).
    periods : tuple of str
        The DiD window's periods, in order.
    treatment : ndarray, units × periods
        The observed 0/1 treatment of all those forces.
    incidence : ndarray, units × CPS Areas
        :func:`soteria_eval.rollout.exposure_groups` as a 0/1 matrix.
    """

    units: tuple[str, ...]
    periods: tuple[str, ...]
    treatment: NDArray[np.float64]
    incidence: NDArray[np.float64]

    @classmethod
    def from_treatment(cls, tp: pd.DataFrame) -> ReformedAssignment:
        """Build it from the all-forces treatment panel."""
        from soteria_eval.inference._reformed_ri import incidence_matrix
        from soteria_eval.rollout import exposure_groups

        wide = tp.pivot(index="unit", columns="period", values="treated").astype(float)
        units = tuple(str(u) for u in wide.index)
        inc = incidence_matrix(units, exposure_groups(units))
        return cls(units, tuple(str(p) for p in wide.columns), wide.to_numpy(), inc)


def _reformed_ri_rows(
    fq: pd.DataFrame,
    assignment: ReformedAssignment,
    measures: Sequence[str],
    catalogue: MeasureCatalogue,
    estimates: dict[str, float],
    truths: dict[str, float],
    settings: DesignSettings,
    seed: int,
) -> list[dict[str, Any]]:
    """Randomization inference that re-forms the exposed-dropped sample per assignment.

    The observed treatment paths are dealt to every force (exposed ones included), each
    assignment's exposed forces are dropped and TWFE is refitted
    (:func:`soteria_eval.inference._reformed_ri.reformed_tstats`); a force with a missing
    quarter keeps its place in the assignment (a treated one still exposes its
    neighbours) and is left out of every fit. The test at the truth subtracts it
    from the observed treated cells. One set of assignments serves every measure with the
    same complete forces.
    """
    from soteria_eval.inference._reformed_ri import reformed_tstats

    units, periods = list(assignment.units), list(assignment.periods)
    dmat = assignment.treatment
    uniq, path_of = np.unique(dmat, axis=0, return_inverse=True)
    path_of = path_of.ravel()
    rng = np.random.default_rng([seed, 23])
    perm = np.argsort(rng.random((settings.n_boot, len(units))), axis=1)
    codes = np.concatenate([path_of[None, :], path_of[perm]])  # observed first
    rows = fq[fq["measure"].isin(measures) & fq["unit"].isin(units) & fq["period"].isin(periods)]
    by_pattern: dict[bytes, list[tuple[str, NDArray[np.float64]]]] = {}
    for m, g in rows.groupby("measure", sort=True):
        wide = (
            g.pivot(index="unit", columns="period", values="value")
            .reindex(index=units, columns=periods)
            .to_numpy(dtype=float)
        )
        y = np.asarray(to_analysis_scale(pd.Series(wide.ravel()), catalogue[str(m)].type))
        y = y.reshape(wide.shape)
        complete = np.isfinite(y).all(axis=1)
        by_pattern.setdefault(complete.tobytes(), []).append((str(m), y))
    out: list[dict[str, Any]] = []
    treat = uniq[codes]  # assignments × units × periods, every force
    for key, items in by_pattern.items():
        keep = np.frombuffer(key, dtype=bool)
        if keep.sum() < 3:
            continue
        series = []
        for m, y in items:
            tr = truths.get(m, np.nan)
            series += [y - np.nan_to_num(tr) * dmat, y]
        # a force with a gap keeps its place in the assignment and is left out of the fits
        _, t = reformed_tstats(np.stack(series), treat, assignment.incidence, keep)
        with np.errstate(invalid="ignore"):
            a = np.abs(t)
            p = np.mean(a >= a[:, :1] * (1 - 1e-12), axis=1)
        p[~np.isfinite(a[:, 0])] = np.nan
        for j, (m, _y) in enumerate(items):
            tr = truths.get(m, np.nan)
            p_truth = p[2 * j] if np.isfinite(tr) else np.nan
            out.append(_row(m, "twfe", "RI", "ATT", estimates.get(m, np.nan), np.nan, np.nan, tr, p_truth, p[2 * j + 1]))  # fmt: skip
    return out


def _phase_masked_rows(
    y: NDArray[np.float64],
    dmat: NDArray[np.float64],
    phase: NDArray[np.float64],
    m: str,
    truths: dict[str, float],
) -> list[dict[str, Any]]:
    """TWFE with one treatment indicator per phase: each phase's ATT, CR1 and CR2."""
    from scipy import stats

    from soteria_eval.inference._fwl_stats import masked_twfe

    fit = masked_twfe(y, np.stack([dmat * (phase == 1), dmat * (phase == 2)]))
    out = []
    for name, se, df in (
        ("CR1", fit.se_cr1, np.full(2, fit.df_cr1)),
        ("CR2", fit.se_cr2, fit.df_cr2),
    ):
        for j, ph in enumerate((1, 2)):
            b = float(fit.beta[j])
            q = stats.t.ppf(0.975, df[j])
            p = 2 * stats.t.sf(abs(b / se[j]), df[j])
            est = f"ATT phase {ph}"
            out.append(_row(m, f"twfe phase {ph}", name, est, b, b - q * se[j], b + q * se[j], truths.get(est, np.nan), None, p))  # fmt: skip
    return out


def _cs_rows(
    fit: Callable[[], Any], m: str, truth: float, primary: bool, settings: DesignSettings, seed: int
) -> list[dict[str, Any]]:
    from soteria_eval.did.phases import simple_att

    res = fit()
    simple = res.aggregate("simple")
    out = []
    for name, agg in (("analytic", simple), ("analytic, t(treated - 1)", simple_att(res, df="treated"))):  # fmt: skip
        t = agg.tidy().iloc[0]
        out.append(_row(m, "callaway_santanna", name, "ATT", t["estimate"], t["ci_lower"], t["ci_upper"], truth, None, t["p_value"]))  # fmt: skip
    if primary:
        b = _quiet(lambda: simple.bootstrap(settings.n_boot, seed=seed))
        t = b.tidy().iloc[0]
        out.append(_row(m, "callaway_santanna", "bootstrap", "ATT", t["estimate"], t["ci_lower"], t["ci_upper"], truth, None, t["p_value"]))  # fmt: skip
    return out


def _pretrend_rows(
    e: pd.DataFrame, fit: Callable[[], Any], m: str, settings: DesignSettings, seed: int
) -> list[dict[str, Any]]:
    """Pre-trend tests of the event study, event times -8 to -2: no truth, only rejections.

    ``pretrend`` / ``chi2``: Callaway–Sant'Anna's dynamic aggregate, Wald with the
    chi-squared reference (what the pipeline reported alone before); ``pretrend`` / ``RI``:
    :func:`~soteria_eval.inference.pretrend.pretrend_randomization_test`. Parallel trends
    hold in the simulator before any start, so every rejection is a false one (or, in the
    ``differential_trend`` world, a detection).
    """
    from soteria_eval.inference.pretrend import pretrend_randomization_test

    out = []
    stat, _, p = _quiet(lambda: fit().aggregate("dynamic", min_e=-8, max_e=7).wald())
    out.append(_row(m, "pretrend", "chi2", "no pre-trend", stat, np.nan, np.nan, np.nan, np.nan, p))  # fmt: skip
    pt = pretrend_randomization_test(
        e, outcome="y", unit="unit", time="t", cohort="g", leads=8, n_draws=settings.n_boot,
        seed=seed,
    )  # fmt: skip
    out.append(_row(m, "pretrend", "RI", "no pre-trend", pt.statistic, np.nan, np.nan, np.nan, np.nan, pt.p_value))  # fmt: skip
    lin = pretrend_randomization_test(
        e, outcome="y", unit="unit", time="t", cohort="g", leads=8, n_draws=settings.n_boot,
        seed=seed, contrast="linear",
    )  # fmt: skip
    out.append(_row(m, "pretrend (linear)", "RI", "no linear pre-trend", lin.statistic, np.nan, np.nan, np.nan, np.nan, lin.p_value))  # fmt: skip
    return out


def _ppml_rows(d: pd.DataFrame, m: str, truth: float) -> list[dict[str, Any]]:
    from soteria_eval.did import ppml

    res = _quiet(
        lambda: ppml(
            d.assign(count=d["value"]),
            outcome="count",
            treatment="treated_f",
            unit="unit",
            time="period",
        )
    )
    t = res.tidy().set_index("term").loc["treated_f"]
    return [_row(m, "ppml", "CR1", "ATT (log rate ratio)", t["estimate"], t["ci_lower"], t["ci_upper"], truth, None, t["p_value"])]  # fmt: skip


def _sa_bjs_rows(e: pd.DataFrame, m: str, truth: float) -> list[dict[str, Any]]:
    from soteria_eval.did import imputation_did, sun_abraham

    out = []
    sa = _quiet(lambda: sun_abraham(e, outcome="y", unit="unit", time="t", cohort="g"))
    t = sa.tidy().set_index("term").loc["overall"]
    out.append(_row(m, "sun_abraham", "CR1", "ATT", t["estimate"], t["ci_lower"], t["ci_upper"], truth, None, t["p_value"]))  # fmt: skip
    bjs = _quiet(lambda: imputation_did(e, outcome="y", unit="unit", time="t", cohort="g"))
    tb = bjs.tidy().set_index("term")
    t = tb.loc["overall"] if "overall" in tb.index else tb.iloc[0]
    out.append(_row(m, "imputation", "analytic", "ATT", t["estimate"], t["ci_lower"], t["ci_upper"], truth, None, t["p_value"]))  # fmt: skip
    return out


def _bjs_trend_rows(e: pd.DataFrame, m: str, truth: float) -> list[dict[str, Any]]:
    """Imputation with unit-specific linear trends (a design robust to linear differential trends).

    Inference: BJS's conservative clustered variance with the normal reference
    (``analytic``) and with :math:`t_{G_1 - 1}`, :math:`G_1` the treated forces
    (``analytic, t(treated - 1)``), as the pipeline reports it.
    """
    from scipy import stats

    from soteria_eval.did import imputation_did

    res = _quiet(
        lambda: imputation_did(e, outcome="y", unit="unit", time="t", cohort="g", unit_trends=True)
    )
    est = float(res.params.iloc[0])
    se = float(np.sqrt(res.cov.iloc[0, 0]))
    g1 = int(res.info["n_treated"])
    out = []
    for name, df in (("analytic", np.inf), ("analytic, t(treated - 1)", g1 - 1)):
        crit = float(stats.norm.ppf(0.975) if not np.isfinite(df) else stats.t.ppf(0.975, df))
        p0 = float(
            2
            * (
                stats.norm.sf(abs(est / se))
                if not np.isfinite(df)
                else stats.t.sf(abs(est / se), df)
            )
        )
        out.append(_row(m, "imputation_trends", name, "ATT", est, est - crit * se, est + crit * se, truth, None, p0))  # fmt: skip
    return out


def _honest_rows(
    e: pd.DataFrame, m: str, truths: dict[str, float], settings: DesignSettings
) -> list[dict[str, Any]]:
    """HonestDiD (relative magnitudes, Mbar = 1) for the average of the post-period effects.

    The target is the headline aggregate, the mean of the event-time effects 0 to
    ``npost - 1`` of the dynamic aggregation, not the first treated quarter (near zero
    under the planted 12-month ramp); its truth is the mean of the planted event-time
    ATTs over the same event times.
    """
    from soteria_eval.did import callaway_santanna
    from soteria_eval.sensitivity import event_study_inputs, honest_sensitivity

    cs = _quiet(
        lambda: callaway_santanna(
            e, outcome="y", unit="unit", time="t", cohort="g",
            control_group="not_yet_treated", base_period="universal",
        )
    )  # fmt: skip
    dyn = _quiet(partial(cs.aggregate, "dynamic", min_e=-8, max_e=7))
    b, v, npre, npost = event_study_inputs(dyn)
    weights = [1.0 / npost] * npost
    hon = _quiet(
        lambda: honest_sensitivity(
            b, v, num_pre=npre, num_post=npost, m_values=(1.0,), l_vec=weights,
            grid_points=settings.honest_grid,
        )
    )  # fmt: skip
    tidy = hon.tidy()
    robust = tidy[tidy["restriction"] != "original"].iloc[0]
    lo, hi = float(robust["lb"]), float(robust["ub"])
    reject = 0.0 if (lo > 0 or hi < 0) else 1.0
    planted = [truths.get(f"ATT event {k:+d}", np.nan) for k in range(npost)]
    truth = float(np.mean(planted)) if planted else np.nan
    theta = float(np.mean(b[npre:]))
    return [_row(m, "honest_did", "Mbar = 1", f"ATT event average 0..{npost - 1}", theta, lo, hi, truth, None, reject)]  # fmt: skip


def _synthetic_rows(d: pd.DataFrame, m: str, truths: dict[str, float]) -> list[dict[str, Any]]:
    from soteria_eval.sensitivity import synthetic_control

    src = d[["unit", "period", "y", "phase", "exposed_ever", "cohort"]]
    src = src[src["y"].notna().groupby(src["unit"]).transform("all")]
    donors = sorted(
        src.loc[(src["phase"] == 3) & ~src["exposed_ever"].astype(bool), "unit"].unique()
    )
    from soteria_eval.sensitivity.synthetic import PLACEBO_SCREEN

    out = []
    placebo_ratios: dict[Any, NDArray[np.float64]] = {}
    placebo_fit: dict[Any, NDArray[np.float64]] = {}
    for force in sorted(src.loc[src["phase"] == 1, "unit"].unique()):
        start = src.loc[src["unit"] == force, "cohort"].iloc[0]
        sub = src[src["unit"].isin([force, *donors])]
        # Donor placebos do not depend on the treated force (same pool, same start): fit
        # them once per start and rank each treated force's ratio among them.
        fit_placebos = start not in placebo_ratios
        sc = _quiet(
            partial(
                synthetic_control, sub, outcome="y", unit="unit", time="period",
                treated_unit=force, start=start, donors=donors, placebo=fit_placebos,
            )
        )  # fmt: skip
        pl = sc.placebos
        if fit_placebos:
            placebo_ratios[start] = pl.loc[~pl["treated"], "ratio"].to_numpy(dtype=float)
            placebo_fit[start] = pl.loc[~pl["treated"], "pre_rmspe"].to_numpy(dtype=float)
        mine = float(pl.loc[pl["treated"], "ratio"].iloc[0])
        # as SyntheticControlResults.screened(): placebos fitting far worse are left out
        comparable = placebo_fit[start] <= PLACEBO_SCREEN * float(
            pl.loc[pl["treated"], "pre_rmspe"].iloc[0]
        )
        ratios = np.append(placebo_ratios[start][comparable], mine)
        p = float(np.mean(ratios >= mine * (1 - 1e-12)))
        out.append(_row(m, "synthetic_control", "placebo", f"ATT force {force}", sc.average_effect, np.nan, np.nan, truths.get(str(force), np.nan), None, p))  # fmt: skip
    return out


def national_series(
    panel: pd.DataFrame, measure: str, kind: str, units: Sequence[str] | None = None
) -> pd.DataFrame:
    """Sum a force-by-month measure over forces (ratios and means from their parts)."""
    rows = panel[panel["measure"] == measure]
    if units is not None:
        rows = rows[rows["unit"].isin(units)]
    g = rows.groupby("period")[["numerator", "denominator"]].sum(min_count=1).reset_index()
    if kind == "count":
        v = g["numerator"]
    else:
        v = g["numerator"] / g["denominator"].where(g["denominator"] > 0)
    g["y"] = to_analysis_scale(v, kind)
    return g[["period", "y"]]


def _its_rows(
    fm: pd.DataFrame, m: str, kind: str, truths: dict[str, float], groups: dict[str, list[str]]
) -> list[dict[str, Any]]:
    from scipy import stats

    from soteria_eval.its import Interruption, comparative_its, segmented_regression

    ints = [
        Interruption("COVID-19", "2020-04", slope=False, programme=False),
        Interruption("phase 1", PHASE1_MONTH),
        Interruption("national model", "2023-07"),
    ]
    out = []
    s = national_series(fm, m, kind)
    s = s[s["y"].notna()]
    res = _quiet(
        lambda: segmented_regression(
            s, outcome="y", time="period", interruptions=ints, seasonality="dummies", errors="ar1"
        )
    )
    eff = res.effect_at(list(NATIONAL_HORIZONS), "phase 1")
    for _, e in eff[eff["kind"] == "at"].iterrows():
        h = int(e["horizon"])
        z = abs(e["estimate"] / e["std_error"]) if e["std_error"] > 0 else np.nan
        p = float(2 * stats.norm.sf(z)) if np.isfinite(z) else np.nan
        name = f"national effect {h} months after phase 1"
        out.append(_row(m, f"its_segmented_{h}m", "GLS AR(1)", name, e["estimate"], e["ci_lower"], e["ci_upper"], truths.get(name, np.nan), None, p))  # fmt: skip
    # Comparative: phase-1 pathfinders against never-exposed national-model forces.
    window = fm[(fm["period"] >= COMPARATIVE_WINDOW[0]) & (fm["period"] <= COMPARATIVE_WINDOW[1])]
    parts = [
        national_series(window, m, kind, members).assign(group=label)
        for label, members in groups.items()
    ]
    two = pd.concat(parts, ignore_index=True)
    ok = two.groupby("period")["y"].transform(lambda v: v.notna().all() and len(v) == 2)
    two = two[ok]
    cres = _quiet(
        lambda: comparative_its(
            two, outcome="y", time="period", group="group", treated="pathfinders",
            interruptions=ints[:2], seasonality="dummies",
        )
    )  # fmt: skip
    months = len(pd.period_range(PHASE1_MONTH, COMPARATIVE_WINDOW[1], freq="M"))
    cum = cres.effect_at([months - 1], "phase 1")
    c = cum[cum["kind"] == "cumulative"].iloc[0]
    est, se = float(c["estimate"]) / months, float(c["std_error"]) / months
    df = float(cres.df.iloc[0]) if hasattr(cres, "df") else np.inf
    q = float(stats.t.ppf(0.975, df)) if np.isfinite(df) else 1.959963984540054
    p = float(2 * stats.t.sf(abs(est / se), df)) if se > 0 else np.nan
    name = "pathfinders, average effect"
    out.append(_row(m, "its_comparative", "Driscoll-Kraay", name, est, est - q * se, est + q * se, truths.get(name, np.nan), None, p))  # fmt: skip
    return out


def estimate_area(
    aq: pd.DataFrame,
    treatment: pd.DataFrame,
    truth: pd.DataFrame,
    catalogue: MeasureCatalogue,
    *,
    settings: DesignSettings,
) -> pd.DataFrame:
    """Run the Area dose designs on the Area-by-quarter panel of the Area-only measures.

    ``stacked_dose`` (:func:`~soteria_eval.did.stacked_dose_did`) and ``twfe_dose`` (TWFE on
    the treated share), each with CR1 and CR2 by Area, judged against the ``dose slope``
    estimand, as :func:`soteria_eval.evaluation.area_dose_rows` reports them.
    """
    from soteria_eval.did import stacked_dose_did, twfe

    truth_map = {
        str(m): float(v)
        for m, est, v in truth[["measure", "estimand", "effect"]].itertuples(index=False)
        if est == "dose slope"
    }
    rows: list[dict[str, Any]] = []
    for m in sorted(aq["measure"].unique()):
        if "force" in catalogue[m].level or (settings.measures is not None and m not in settings.measures):  # fmt: skip
            continue
        part = aq.loc[aq["measure"] == m, ["unit", "period", "value"]]
        d = treatment.merge(part, on=["unit", "period"], how="left")
        d["y"] = to_analysis_scale(d["value"], catalogue[m].type)
        tr = truth_map.get(m, np.nan)
        for design in ("stacked_dose", "twfe_dose"):
            if not settings.runs(design):
                continue
            try:
                if design == "stacked_dose":
                    res = _quiet(partial(stacked_dose_did, d, outcome="y", dose="treated_share", unit="unit", time="period", base="pre_mean", vcov="CR1"))  # fmt: skip
                    term = "dose"
                else:
                    res = _quiet(partial(twfe, d, outcome="y", treatment="treated_share", unit="unit", time="period"))  # fmt: skip
                    term = "treated_share"
                for r, name in ((res, "CR1"), (_quiet(partial(res.with_vcov, "CR2")), "CR2")):
                    t = r.tidy().set_index("term").loc[term]
                    rows.append(_row(m, design, name, "dose slope", t["estimate"], t["ci_lower"], t["ci_upper"], tr, None, t["p_value"]))  # fmt: skip
            except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
                rows.append(_row(m, design, "failed", "", np.nan, np.nan, np.nan, np.nan, None, np.nan))  # fmt: skip
    return pd.DataFrame(rows, columns=list(ROW_COLUMNS))


def estimate_world(
    fq: pd.DataFrame,
    fm: pd.DataFrame | None,
    treatment: pd.DataFrame,
    truth: pd.DataFrame,
    catalogue: MeasureCatalogue,
    *,
    settings: DesignSettings,
    seed: int,
    groups: dict[str, list[str]],
    null_world: bool = False,
    sample: str = "default",
    assignment: ReformedAssignment | None = None,
) -> pd.DataFrame:
    """Run every design on one world (see the module docstring).

    Parameters
    ----------
    fq, fm : pandas.DataFrame
        Force-by-quarter and force-by-month panels (``fm`` may be ``None``: no ITS).
    treatment : pandas.DataFrame
        :func:`~soteria_eval.rollout.treatment_panel` of the DiD window.
    truth : pandas.DataFrame
        Estimand rows (``measure, estimand, unit, effect``) the world is judged against:
        the planted truth, or zeros for a world without effects.
    groups : dict
        ``{"pathfinders": [...], "comparison": [...]}`` for the comparative ITS.
    null_world : bool
        The world has no effect (only the size is wanted): HonestDiD bounds, which are
        not a test of no effect, are skipped.
    sample : str
        The rollout scenario that chose ``treatment``'s units: the design ids of any other
        sample than ``"default"`` carry it, e.g. ``"twfe (exposed_dropped)"``.
    assignment : ReformedAssignment, optional
        For a sample that drops exposed forces: every force's treatment, so the TWFE
        randomization test deals the paths to all forces and re-forms the sample per
        assignment (the design-based test) instead of permuting within the fixed sample.
    """
    truth_map: dict[tuple[str, str], float] = {
        (str(mm), str(est)): float(v)
        for mm, est, v in truth[["measure", "estimand", "effect"]].itertuples(index=False)
    }

    def truth_of(m: str, estimand: str) -> float:
        return truth_map.get((m, estimand), np.nan)

    def truths_for(m: str) -> dict[str, float]:
        return {est: v for (mm, est), v in truth_map.items() if mm == m}

    primaries = {catalogue.primary(dom).id for dom in DOMAINS}
    # The vectorised TWFE needs every unit in every period; a sample with an anticipation
    # window (a unit's periods left out) uses the general estimators.
    rectangular = treatment.groupby("unit").size().nunique() == 1
    block = TwfeBlock.from_treatment(treatment) if settings.runs("twfe") and rectangular else None
    balanced: dict[str, NDArray[np.float64]] = {}
    measures = [
        m
        for m in sorted(fq["measure"].unique())
        if settings.measures is None or m in settings.measures
    ]
    rows: list[dict[str, Any]] = []
    frames = _Frames(fq, treatment, block.units if block is not None else sorted(treatment["unit"].unique()))  # fmt: skip
    dmat = np.nan_to_num(frames.wide(frames.treatment["treated_f"]))
    phase_wide = np.nan_to_num(frames.wide(frames.treatment["phase"].astype(float)))
    ri_cache: dict[bytes, Any] = {}
    for m in measures:
        kind = catalogue[m].type
        d = frames.frame(m, kind)
        att = truth_of(m, "ATT")
        primary = m in primaries
        e = frames.cs_frame(d)  # balanced units, cohorts numbered: for the staggered designs
        cs = _cs_fit(e)  # shared by the overall and the per-phase rows
        jobs: list[tuple[str, Callable[[], list[dict[str, Any]]]]] = []
        wide = frames.wide(d["y"])
        if block is not None and np.isfinite(wide).all():
            balanced[m] = wide
        elif settings.runs("twfe"):  # a gap: forces with a gap are left out of RI only
            jobs.append(("twfe", partial(_twfe_masked_rows, wide, dmat, m, att, settings, seed, ri_cache)))  # fmt: skip
        if settings.runs("callaway_santanna"):
            jobs.append(
                ("callaway_santanna", partial(_cs_rows, cs, m, att, primary, settings, seed))
            )
        if kind == "count" and settings.runs("ppml"):
            jobs.append(("ppml", partial(_ppml_rows, d, m, truth_of(m, "ATT (log rate ratio)"))))
        if primary and (settings.runs("sun_abraham") or settings.runs("imputation")):
            jobs.append(("sun_abraham", partial(_sa_bjs_rows, e, m, att)))
        if primary and settings.runs("imputation_trends"):
            jobs.append(("imputation_trends", partial(_bjs_trend_rows, e, m, att)))
        if primary and settings.runs("pretrend") and sample == "default":
            jobs.append(("pretrend", partial(_pretrend_rows, e, cs, m, settings, seed)))
        if primary and settings.runs("honest_did") and not null_world:
            jobs.append(("honest_did", partial(_honest_rows, e, m, truths_for(m), settings)))
        if primary and settings.runs("twfe_phase"):
            jobs.append(("twfe phase", partial(_phase_masked_rows, wide, dmat, phase_wide, m, truths_for(m))))  # fmt: skip
        if primary and settings.runs("cs_phase"):
            jobs.append(
                ("callaway_santanna phase", partial(_cs_phase_rows, e, cs, m, truths_for(m)))
            )
        if primary and settings.runs("synthetic_control"):
            per_force = {
                e.removeprefix("ATT force "): v
                for e, v in truths_for(m).items()
                if e.startswith("ATT force ")
            }
            jobs.append(("synthetic_control", partial(_synthetic_rows, d, m, per_force)))
        for design, job in jobs:
            try:
                rows.extend(job())
            except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
                rows.append(
                    _row(m, design, "failed", "", np.nan, np.nan, np.nan, np.nan, None, np.nan)
                )
    if block is not None:
        rows.extend(
            _twfe_block_rows(
                block, balanced, {m: truth_of(m, "ATT") for m in balanced}, settings, seed
            )
        )
    if assignment is not None and settings.runs("twfe"):
        fixed = [r for r in rows if r["design"] == "twfe" and r["inference"] == "RI"]
        rows = [r for r in rows if not (r["design"] == "twfe" and r["inference"] == "RI")]
        twfe_b = {
            r["measure"]: r["estimate"]
            for r in rows
            if r["design"] == "twfe" and r["inference"] == "CR1"
        }
        rows.extend(
            _reformed_ri_rows(
                fq, assignment, sorted({r["measure"] for r in fixed} | set(twfe_b)), catalogue,
                twfe_b, {m: truth_of(m, "ATT") for m in twfe_b}, settings, seed,
            )
        )  # fmt: skip
    if fm is not None and (settings.runs("its_segmented") or settings.runs("its_comparative")):
        for m in NATIONAL_SERIES.values():
            if settings.measures is not None and m not in settings.measures:
                continue
            try:
                rows.extend(_its_rows(fm, m, catalogue[m].type, truths_for(m), groups))
            except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
                rows.append(_row(m, "its_segmented", "failed", "", np.nan, np.nan, np.nan, np.nan, None, np.nan))  # fmt: skip
    out = pd.DataFrame(rows, columns=list(ROW_COLUMNS))
    if sample != "default":
        out["design"] = out["design"] + f" ({sample})"
    return out


def sample_design(design: str, scenario: str) -> str:
    """Design id of the recovery study for a design run on a rollout scenario's sample."""
    return design if scenario in ("default", "") else f"{design} ({scenario})"


__all__ = [
    "DESIGNS",
    "NATIONAL_SERIES",
    "DesignSettings",
    "ReformedAssignment",
    "estimate_area",
    "estimate_world",
    "measure_frame",
    "national_series",
    "sample_design",
]
