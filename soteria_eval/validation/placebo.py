r"""Fake rollouts on a real panel: the size of each design's test where no programme ran.

A simulator can only show that a design recovers what it planted under the dynamics it
was built with. Real force panels have force-specific trends, serially correlated
shocks and shocks shared by groups of forces, which is where few-treated inference
breaks. The placebo study places Soteria-shaped fake rollouts on a real force × period
panel from *before* any programme, where every true effect is zero, and counts how often
each design and inference rejects no effect at 5%: its real size.

Fake rollouts (:class:`PlaceboSettings`):

``pathfinders``
    ``n_treated`` forces drawn at random (5, as the pathfinders), one start drawn
    uniformly between the ``first_start``-th and ``last_start``-th period of the window.
``phased``
    the same, and ``phase2_treated`` more forces (7, as phase 2) that start
    ``phase2_gap`` periods later (5 quarters: September 2021 to October 2022); a phase
    2 start after the window leaves those forces untreated.

Each draw is run on two samples, as the pipeline runs its DiD designs: every force
(``default``), and without the forces *exposed* to the fake programme
(``exposed_dropped``: forces of a treated force's CPS Area not treated themselves, as
:func:`soteria_eval.rollout.treatment_panel` drops them).

Designs and inferences carry the labels of the recovery study (``results.csv``'s
``recovery_design`` and ``recovery_inference``), so each headline finds its row:
``twfe`` with ``CR1``, ``CR2``, ``WCR`` (restricted, Webb weights) and ``RI``
(studentized permutation of the draw's paths over its sample), and
``callaway_santanna`` with ``analytic`` (not-yet-treated controls, simple aggregate,
normal reference) and ``analytic, t(treated - 1)`` (the same, t with the treated forces
minus one degrees of freedom: :func:`soteria_eval.did.phases.simple_att`), and
``imputation_trends`` with the same two references (imputation with force-specific
linear trends, the trend-robust design).
Every statistic is computed for all draws by array algebra
(:mod:`soteria_eval.validation._placebo_kernels`), except Callaway–Sant'Anna in the
phased rollout, which calls :func:`soteria_eval.did.callaway_santanna` per draw.

``size`` is the share of draws whose p-value is at most 0.05, ``mc_se`` its binomial
Monte Carlo standard error :math:`\sqrt{\hat p(1-\hat p)/n}`.

References
----------
Bertrand, M., Duflo, E. and Mullainathan, S. (2004). How much should we trust
differences-in-differences estimates? *Quarterly Journal of Economics* 119(1), 249–275.

MacKinnon, J. G. and Webb, M. D. (2020). Randomization inference for
difference-in-differences with few treated clusters. *Journal of Econometrics* 218(2),
435–450.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from soteria_eval.validation._placebo_kernels import (
    Paths,
    one_cohort_cs,
    permuted_codes,
    reformed_ri_pvalues,
    ri_pvalues,
    trend_imputation,
    twfe_draws,
    wcr_pvalues,
)

#: Columns of ``placebo.csv``: the six the study is read by, then its context.
PLACEBO_COLUMNS: tuple[str, ...] = (
    "outcome",
    "design",
    "inference",
    "n_draws",
    "size",
    "mc_se",
    "rollout",
    "n_failed",
    "n_units",
    "first_period",
    "last_period",
    "data_label",
)
DRAW_COLUMNS: tuple[str, ...] = (
    "draw", "rollout", "sample", "design", "inference", "estimate", "p_value",
)  # fmt: skip
ROLLOUTS: tuple[str, ...] = ("pathfinders", "phased")
SAMPLES: tuple[str, ...] = ("default", "exposed_dropped")
#: Draws handled together (fixed, so results do not depend on the number of workers).
CHUNK = 50
ALPHA = 0.05
#: Label of Callaway–Sant'Anna's analytic standard error with a t(treated - 1) reference.
TREATED_T = "analytic, t(treated - 1)"

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]


@dataclass(frozen=True)
class PlaceboSettings:
    """What fake rollouts to draw and how to test them.

    Attributes
    ----------
    n_draws : int
        Fake rollouts per rollout shape.
    n_treated : int
        Forces in the first phase.
    first_start, last_start : int
        Earliest and latest first treated period of phase 1, counted from 1 (the 9th to
        17th quarter of a 21-quarter window leaves at least 8 periods before and 4 after).
    phase2_treated, phase2_gap : int
        Forces of the second phase of the ``phased`` rollout and how many periods after
        phase 1 they start.
    n_boot : int
        Wild bootstrap draws (Webb weights) and randomization re-assignments per draw.
    rollouts : tuple of str
        Rollout shapes, from :data:`ROLLOUTS`.
    samples : tuple of str
        Samples, from :data:`SAMPLES`.
    seed : int
        Seed of the fake rollouts and of every resampling draw.
    """

    n_draws: int = 1000
    n_treated: int = 5
    first_start: int = 9
    last_start: int = 17
    phase2_treated: int = 7
    phase2_gap: int = 5
    n_boot: int = 999
    rollouts: tuple[str, ...] = ROLLOUTS
    samples: tuple[str, ...] = SAMPLES
    seed: int = 20210901

    def check(self, n_units: int, n_periods: int) -> None:
        """Raise ``ValueError`` when the settings do not fit a panel of this shape."""
        if self.n_draws < 1:
            raise ValueError(f"n_draws must be at least 1, got {self.n_draws}")
        if self.n_boot < 19:
            raise ValueError(f"n_boot must be at least 19 for a 5% test, got {self.n_boot}")
        bad = set(self.rollouts) - set(ROLLOUTS) or set(self.samples) - set(SAMPLES)
        if bad or not self.rollouts or not self.samples:
            raise ValueError(
                f"rollouts must be among {ROLLOUTS} and samples among {SAMPLES}, "
                f"got {self.rollouts} and {self.samples}"
            )
        if not 2 <= self.first_start <= self.last_start <= n_periods:
            raise ValueError(
                f"starts must satisfy 2 <= first_start <= last_start <= {n_periods} "
                f"(periods in the window), got {self.first_start} and {self.last_start}"
            )
        needed = self.n_treated + (self.phase2_treated if "phased" in self.rollouts else 0)
        if self.n_treated < 1 or needed + 2 > n_units:
            raise ValueError(
                f"{needed} fake treated units need at least {needed + 2} units; "
                f"the panel has {n_units}"
            )
        if self.phase2_gap < 1:
            raise ValueError(f"phase2_gap must be at least 1, got {self.phase2_gap}")


@dataclass(frozen=True)
class PlaceboResults:
    """A placebo study: one row per draw and test, and the size of each test.

    Attributes
    ----------
    draws : pandas.DataFrame
        Columns :data:`DRAW_COLUMNS`.
    outcome : str
        Name of the outcome studied.
    units, periods : tuple of str
        The panel's units (after units with a gap were left out) and periods.
    left_out : tuple of str
        Units left out because a cell of theirs was missing or not positive on a log
        scale (counted, never silently dropped).
    settings : PlaceboSettings
    data_label : str
        ``"real (published)"`` for the Home Office panels, otherwise what the caller says.
    notes : tuple of str
        What was left out and why, in words.
    """

    draws: pd.DataFrame
    outcome: str
    units: tuple[str, ...]
    periods: tuple[str, ...]
    left_out: tuple[str, ...]
    settings: PlaceboSettings
    data_label: str = "real (published)"
    notes: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> pd.DataFrame:
        """Return the size of each design and inference (columns :data:`PLACEBO_COLUMNS`)."""
        d = self.draws
        ok = d["p_value"].notna()
        d = d.assign(_ok=ok, _reject=ok & (d["p_value"] <= ALPHA))
        g = d.groupby(["rollout", "design", "inference"], sort=True)
        out = g.agg(n_draws=("_ok", "sum"), rejections=("_reject", "sum"), total=("_ok", "size"))
        out = out.reset_index()
        n = out["n_draws"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            size = out["rejections"].to_numpy(dtype=float) / n
        out["size"] = size
        out["mc_se"] = np.sqrt(size * (1 - size) / n)
        out["n_failed"] = out["total"] - out["n_draws"]
        out["outcome"] = self.outcome
        out["n_units"] = len(self.units)
        out["first_period"] = self.periods[0]
        out["last_period"] = self.periods[-1]
        out["data_label"] = self.data_label
        out["n_draws"] = out["n_draws"].astype(int)
        return out[list(PLACEBO_COLUMNS)]


def _design(base: str, sample: str) -> str:
    return base if sample == "default" else f"{base} ({sample})"


def fake_rollouts(n_units: int, n_periods: int, rollout: str, settings: PlaceboSettings) -> Paths:
    """Draw ``settings.n_draws`` fake rollouts of one shape (independent of chunking)."""
    rng = np.random.default_rng([settings.seed, ROLLOUTS.index(rollout)])
    b = settings.n_draws
    order = np.argsort(rng.random((b, n_units)), axis=1)
    codes = np.zeros((b, n_units), dtype=np.int64)
    rows = np.arange(b)[:, None]
    codes[rows, order[:, : settings.n_treated]] = 1
    if rollout == "phased":
        k2 = settings.n_treated + settings.phase2_treated
        codes[rows, order[:, settings.n_treated : k2]] = 2
    start = rng.integers(settings.first_start - 1, settings.last_start, size=b).astype(np.int64)
    start2 = start + (settings.phase2_gap if rollout == "phased" else n_periods)
    return Paths(codes=codes, start=start, start2=start2)


def exposure_incidence(units: Sequence[str]) -> Floats | None:
    """Units × CPS Areas incidence of the territorial forces (None if any unit is not one).

    The groups are :func:`soteria_eval.rollout.exposure_groups` (the Metropolitan Police
    belongs to London South, the Area through which the documented rollout treated it).
    """
    from soteria_eval.inference._reformed_ri import incidence_matrix
    from soteria_eval.rollout import exposure_groups

    try:
        groups = exposure_groups(units)
    except ValueError:
        return None
    return incidence_matrix(units, groups)


def sample_mask(treat: Floats, incidence: Floats | None, sample: str) -> Bools:
    """Units kept in each draw's sample (draws × units).

    ``exposed_dropped`` leaves out every unit that, in some period, is not treated while
    a CPS Area serving it has a treated force.
    """
    n_draws, n_units, _ = treat.shape
    if sample == "default":
        return np.ones((n_draws, n_units), dtype=bool)
    if incidence is None:
        raise ValueError("the exposed_dropped sample needs territorial forces as units")
    area_on = np.einsum("cnt,na->cat", treat, incidence) > 0
    exposed = (np.einsum("cat,na->cnt", area_on.astype(float), incidence) > 0) & (treat == 0)
    out: Bools = ~exposed.any(axis=2)
    return out


def _webb(rng: np.random.Generator, shape: tuple[int, ...]) -> Floats:
    six = np.array([-math.sqrt(1.5), -1.0, -math.sqrt(0.5), math.sqrt(0.5), 1.0, math.sqrt(1.5)])
    out: Floats = six[rng.integers(0, 6, size=shape)]
    return out


def _cs_package(y: Floats, paths: Paths, mask: Bools) -> tuple[Floats, Floats, Floats]:
    """Callaway–Sant'Anna (not-yet-treated controls) per draw, by the package's estimator.

    Returns the simple ATT and its p-values with the normal and the t(treated - 1)
    reference (:func:`soteria_eval.did.phases.simple_att`).
    """
    from soteria_eval.did import callaway_santanna
    from soteria_eval.did.phases import simple_att

    n_units, n_periods = y.shape
    est = np.full(len(paths.start), np.nan)
    p_normal, p_treated = est.copy(), est.copy()
    time = np.tile(np.arange(1, n_periods + 1), n_units)
    unit = np.repeat(np.arange(n_units), n_periods)
    for b in range(len(paths.start)):
        keep = np.repeat(mask[b], n_periods)
        cohort_of = np.array([0, paths.start[b] + 1, paths.start2[b] + 1])[paths.codes[b]]
        cohort_of = np.where(cohort_of > n_periods, 0, cohort_of)
        frame = pd.DataFrame(
            {"u": unit[keep], "t": time[keep], "g": np.repeat(cohort_of, n_periods)[keep],
             "y": y.ravel()[keep]}
        )  # fmt: skip
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = callaway_santanna(
                    frame, outcome="y", unit="u", time="t", cohort="g",
                    control_group="not_yet_treated",
                )  # fmt: skip
                normal = simple_att(res).tidy().iloc[0]
                treated = simple_att(res, df="treated").tidy().iloc[0]
        except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
            continue
        est[b] = float(normal["estimate"])
        p_normal[b], p_treated[b] = float(normal["p_value"]), float(treated["p_value"])
    return est, p_normal, p_treated


def _chunk_rows(
    y: Floats,
    paths: Paths,
    incidence: Floats | None,
    rollout: str,
    first_draw: int,
    settings: PlaceboSettings,
) -> pd.DataFrame:
    """Every test of a chunk of draws, as rows of :data:`DRAW_COLUMNS`."""
    n_periods = y.shape[1]
    treat = paths.treatment(n_periods)
    draw = first_draw + np.arange(len(paths.start))
    rng = np.random.default_rng([settings.seed, ROLLOUTS.index(rollout), first_draw, 7])
    parts: list[pd.DataFrame] = []

    def add(sample: str, design: str, inference: str, est: Floats, p: Floats) -> None:
        parts.append(
            pd.DataFrame(
                {"draw": draw, "rollout": rollout, "sample": sample,
                 "design": _design(design, sample), "inference": inference,
                 "estimate": est, "p_value": p}
            )
        )  # fmt: skip

    for sample in settings.samples:
        if sample != "default" and incidence is None:
            continue
        mask = sample_mask(treat, incidence, sample)
        with np.errstate(invalid="ignore", divide="ignore"):
            fit = twfe_draws(y, treat, mask)
            add(sample, "twfe", "CR1", fit.beta, fit.p_cr1)
            add(sample, "twfe", "CR2", fit.beta, fit.p_cr2)
            v = _webb(rng, (len(draw), settings.n_boot, y.shape[0]))
            add(sample, "twfe", "WCR", fit.beta, wcr_pvalues(fit, v))
            if sample == "default":
                assign = permuted_codes(paths.codes, mask, settings.n_boot, rng)
                p_ri = ri_pvalues(fit, paths, assign)
            else:  # the sample depends on who is treated: re-form it per assignment
                assert incidence is not None
                p_ri = reformed_ri_pvalues(y, paths, incidence, settings.n_boot, rng)
            add(sample, "twfe", "RI", fit.beta, p_ri)
            if rollout == "pathfinders":
                cs = one_cohort_cs(y, paths, mask)
                add(sample, "callaway_santanna", "analytic", cs.att, cs.p_value)
                add(sample, "callaway_santanna", TREATED_T, cs.att, cs.p_treated)
            else:
                est, p, p_treated = _cs_package(y, paths, mask)
                add(sample, "callaway_santanna", "analytic", est, p)
                add(sample, "callaway_santanna", TREATED_T, est, p_treated)
            bjs = trend_imputation(y, paths, mask)
            add(sample, "imputation_trends", "analytic", bjs.att, bjs.p_value)
            add(sample, "imputation_trends", TREATED_T, bjs.att, bjs.p_treated)
    return pd.concat(parts, ignore_index=True)


def _subset(paths: Paths, lo: int, hi: int) -> Paths:
    return Paths(paths.codes[lo:hi], paths.start[lo:hi], paths.start2[lo:hi])


def placebo_study(
    y: pd.DataFrame,
    *,
    outcome: str,
    settings: PlaceboSettings | None = None,
    n_jobs: int = 1,
    scheduler: str | None = None,
    progress: bool = False,
    data_label: str = "real (published)",
) -> PlaceboResults:
    """Run fake rollouts on a wide outcome panel.

    Parameters
    ----------
    y : pandas.DataFrame
        Units × periods (index: units, columns: periods in time order), on the analysis
        scale (log counts, rates in percentage points), from :func:`wide_outcome`. Units
        with a missing cell are left out and listed in ``left_out``.
    outcome : str
        The outcome's name, as reported.
    settings : PlaceboSettings, optional
    n_jobs : int
        Chunks of draws run in parallel (joblib processes). Results do not depend on it.
    scheduler : str, optional
        Address of a ``dask.distributed`` scheduler (joblib's dask backend).
    progress : bool
        Show a progress bar.
    data_label : str
        What the data are, carried into every output row.

    Returns
    -------
    PlaceboResults
    """
    from soteria_eval._scheduler import map_tasks

    st = settings or PlaceboSettings()
    values = y.to_numpy(dtype=float)
    complete = np.isfinite(values).all(axis=1)
    left_out = tuple(str(u) for u in y.index[~complete])
    units = tuple(str(u) for u in y.index[complete])
    arr = np.ascontiguousarray(values[complete])
    st.check(len(units), arr.shape[1])
    incidence = exposure_incidence(units)
    tasks = []
    for rollout in st.rollouts:
        paths = fake_rollouts(len(units), arr.shape[1], rollout, st)
        for lo in range(0, st.n_draws, CHUNK):
            hi = min(lo + CHUNK, st.n_draws)
            tasks.append((rollout, lo, _subset(paths, lo, hi)))
    parts = map_tasks(
        _chunk_rows, [(arr, p, incidence, r, lo, st) for r, lo, p in tasks], n_jobs=n_jobs,
        scheduler=scheduler, progress=progress, desc="placebo",
    )  # fmt: skip
    draws = pd.concat(parts, ignore_index=True)
    draws = draws.sort_values(["rollout", "design", "inference", "draw"], kind="stable")
    notes: tuple[str, ...] = ()
    if left_out:
        notes = (f"{len(left_out)} unit(s) left out for a missing cell: {', '.join(left_out)}",)
    return PlaceboResults(
        draws=draws.reset_index(drop=True)[list(DRAW_COLUMNS)], outcome=outcome, units=units,
        periods=tuple(str(p) for p in y.columns), left_out=left_out, settings=st,
        data_label=data_label, notes=notes,
    )  # fmt: skip


def wide_outcome(
    data: pd.DataFrame,
    outcome: str,
    *,
    rate: tuple[str, str] | None = None,
    unit: str = "unit",
    period: str = "period",
    scale: str | None = None,
    window: tuple[str, str] | None = None,
) -> pd.DataFrame:
    """Put one outcome of a long force × period table into a wide panel on its analysis scale.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit and period.
    outcome : str
        A count column (analysed as its log), or the name given to the rate.
    rate : (str, str), optional
        Numerator and denominator columns: the outcome is ``100 * numerator / denominator``
        in percentage points.
    unit, period : str
        Column names; periods sort in time order as strings (``2014-Q2``).
    scale : {"log", "level"}, optional
        How to analyse ``outcome`` when it is not a rate (default ``"log"``; a cell of 0
        or less then counts as missing).
    window : (str, str), optional
        First and last period kept.

    Returns
    -------
    pandas.DataFrame
        Units × periods, NaN where a cell is missing or cannot be put on the scale.
    """
    if rate is not None:
        num, den = rate
        missing = [c for c in (unit, period, num, den) if c not in data.columns]
        if missing:
            raise ValueError(f"column(s) {missing} not in the panel")
        with np.errstate(divide="ignore", invalid="ignore"):
            d = data[den].to_numpy(dtype=float)
            values = np.where(d > 0, 100.0 * data[num].to_numpy(dtype=float) / d, np.nan)
    else:
        missing = [c for c in (unit, period, outcome) if c not in data.columns]
        if missing:
            raise ValueError(f"column(s) {missing} not in the panel")
        raw = data[outcome].to_numpy(dtype=float)
        if (scale or "log") == "log":
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.where(raw > 0, np.log(np.where(raw > 0, raw, 1.0)), np.nan)
        elif scale == "level":
            values = raw
        else:
            raise ValueError(f"scale must be 'log' or 'level', got {scale!r}")
    long = pd.DataFrame({"u": data[unit].astype(str), "p": data[period].astype(str), "v": values})
    if window is not None:
        long = long[(long["p"] >= window[0]) & (long["p"] <= window[1])]
    dup = long.duplicated(["u", "p"], keep=False)
    if dup.any():
        first = long[dup].iloc[0]
        raise ValueError(f"unit {first['u']!r} has more than one row for period {first['p']!r}")
    out = long.pivot(index="u", columns="p", values="v").sort_index(axis=1)
    out.index.name, out.columns.name = unit, period
    return out


def write_placebo(results: PlaceboResults, out: str | Path) -> Path:
    """Write ``placebo.csv``, ``placebo_draws.csv`` and ``placebo.json`` atomically."""
    from soteria_eval._io import write_study

    settings = {
        k: list(v) if isinstance(v, tuple) else v for k, v in vars(results.settings).items()
    }
    return write_study(
        out,
        {"placebo.csv": results.summary(), "placebo_draws.csv": results.draws},
        "placebo.json",
        {"outcome": results.outcome, "units": list(results.units),
         "left_out": list(results.left_out), "periods": list(results.periods),
         "notes": list(results.notes), "data_label": results.data_label, "settings": settings},
    )  # fmt: skip


def size_table(results: Mapping[str, PlaceboResults]) -> pd.DataFrame:
    """Stack the summaries of several outcomes' studies."""
    return pd.concat([r.summary() for r in results.values()], ignore_index=True)
