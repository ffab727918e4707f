r"""Recovery study: whether the evaluation finds what the simulator planted.

For each of ``S`` seeds the study simulates the world with the programme and the same
world without it (common random numbers, :func:`~soteria_eval.simulate.cases.simulate_coupled`),
aggregates both to the panels the designs use, computes the planted estimands
(:mod:`soteria_eval.estimands`) and runs every design and inference the pipeline reports
(:mod:`soteria_eval.validation.designs`) on the world with the programme — and, for the
size, on the world without it, where the truth is exactly zero.

Per measure, design and inference it reports (``recovery.csv``):

* ``truth`` — the mean over seeds of the estimand the design targets;
* ``bias`` — :math:`\overline{\hat\theta_s - \theta_s}`; ``rel_bias`` — bias over
  :math:`|\bar\theta|` (empty when :math:`|\bar\theta|` is below 1e-9);
* ``rmse`` — :math:`\sqrt{\overline{(\hat\theta_s - \theta_s)^2}}`;
* ``coverage`` — share of seeds whose 95% interval contains :math:`\theta_s` (for WCR and
  randomization inference: whose test of :math:`\theta_s` does not reject at 5%);
* ``size`` — share of no-effect worlds in which the test rejects no effect at 5%.

The per-seed rows are kept (:attr:`RecoveryResults.seeds`) so Monte Carlo errors can be
computed: :meth:`RecoveryResults.mc_errors`. Caching, resuming and the copy shipped with
the release are in :mod:`soteria_eval.validation.studies`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from soteria_eval.validation.designs import (
    NATIONAL_SERIES,
    ROW_COLUMNS,
    DesignSettings,
    ReformedAssignment,
    estimate_area,
    estimate_world,
)

RECOVERY_COLUMNS: tuple[str, ...] = (
    "measure",
    "design",
    "inference",
    "n_seeds",
    "truth",
    "bias",
    "rel_bias",
    "rmse",
    "coverage",
    "size",
    "world",
)
KEY = ["measure", "design", "inference"]


#: Designs run on samples other than the default one.
SAMPLE_DESIGNS: tuple[str, ...] = (
    "twfe", "callaway_santanna", "ppml", "sun_abraham", "imputation", "imputation_trends",
    "twfe_phase", "cs_phase",
)  # fmt: skip


#: Samples on which only some of :data:`SAMPLE_DESIGNS` run. The anticipation window leaves
#: Avon and Somerset's precursor quarters out, so the panel has a gap: the staggered
#: estimators would drop the force, and the question (does the window change the headline
#: design's answer?) concerns TWFE only.
SAMPLE_DESIGNS_BY_SCENARIO: dict[str, tuple[str, ...]] = {
    "anticipation_excluded": ("twfe", "twfe_phase"),
}


#: The design a per-phase design comes with (run on the samples when its parent is run).
_PARENT = {"twfe_phase": "twfe", "cs_phase": "callaway_santanna"}


@dataclass(frozen=True)
class RecoverySettings:
    """Settings of the recovery study.

    Attributes
    ----------
    scale : float
        Simulation scale (1.0: the default data set's size).
    size : bool
        Also run the designs on the worlds without effects (the ``size`` column).
    designs : DesignSettings
        Which designs, measures and how many resampling draws.
    samples : tuple of str
        Rollout scenarios whose samples the DiD designs are run on. ``"default"`` (all 43
        forces) runs every design; any other (e.g. ``"exposed_dropped"``, the headline
        sample without the exposed forces of pathfinder Areas; ``"anticipation_excluded"``,
        that sample without Avon and Somerset's precursor year) runs the DiD designs of
        :data:`SAMPLE_DESIGNS` (or those of :data:`SAMPLE_DESIGNS_BY_SCENARIO`), judged
        against that sample's own estimands.
    world : str
        The simulator's world (:data:`soteria_eval.simulate.config.WORLDS`): ``"ideal"``
        (constant force factors) or ``"calibrated"`` (force trends, persistent shocks and a
        force-varying COVID-19 dip fitted to the Home Office force panel).
    """

    scale: float = 1.0
    size: bool = True
    designs: DesignSettings = field(default_factory=DesignSettings)
    samples: tuple[str, ...] = ("default", "exposed_dropped", "anticipation_excluded")
    world: str = "ideal"

    def __post_init__(self) -> None:
        from soteria_eval.simulate.config import WORLDS

        if self.world not in WORLDS:
            raise ValueError(f"world must be one of {WORLDS}, got {self.world!r}")


def _prepared() -> dict[str, Any]:
    from soteria_eval.data import load_rollout
    from soteria_eval.dictionary import load_catalogue
    from soteria_eval.estimands import DID_WINDOW
    from soteria_eval.rollout import SCENARIOS, treatment_panel

    rollout = load_rollout()
    tp = treatment_panel(
        rollout, level="force", freq="quarter", start=DID_WINDOW[0], end=DID_WINDOW[1]
    )
    samples = {
        sc: treatment_panel(
            rollout, level="force", freq="quarter", start=DID_WINDOW[0], end=DID_WINDOW[1],
            scenario=sc,
        )
        for sc in SCENARIOS
        if sc != "default"
    }  # fmt: skip
    forces = rollout.table[rollout.table["level"] == "force"].set_index("unit")
    exposed = set(
        treatment_panel(rollout, level="force", freq="month", start="2016-01", end="2023-06").query(
            "exposed_ever"
        )["unit"]
    )
    groups = {
        "pathfinders": sorted(forces.index[forces["phase"] == 1]),
        "comparison": sorted(set(forces.index[forces["phase"] == 3]) - exposed),
    }
    area_tp = treatment_panel(
        rollout, level="area", freq="quarter", start=DID_WINDOW[0], end=DID_WINDOW[1]
    )
    return {
        "rollout": rollout, "treatment": tp, "samples": samples, "catalogue": load_catalogue(),
        "assignment": ReformedAssignment.from_treatment(tp),
        "groups": groups, "area_treatment": area_tp,
    }  # fmt: skip


def _quarter_months(window: tuple[str, str]) -> tuple[str, str]:
    q0, q1 = pd.Period(window[0].replace("-", ""), "Q"), pd.Period(window[1].replace("-", ""), "Q")
    return q0.start_time.strftime("%Y-%m"), q1.end_time.strftime("%Y-%m")


def run_seed(
    seed: int, settings: RecoverySettings | None = None, *, timings: dict[str, float] | None = None
) -> pd.DataFrame:
    """Simulate one seed, compute its truth and run every design (one row per estimate).

    Returns the :data:`~soteria_eval.validation.designs.ROW_COLUMNS` plus ``seed`` and
    ``world`` (``"effect"`` or ``"no_effect"``). ``timings`` (if given) receives seconds per
    stage: simulate, aggregate, truth, estimate, estimate_null. Runs with one BLAS thread,
    so the same seed gives the same numbers in any process (parallel workers included).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _run_seed(seed, settings, timings)


def _run_seed(
    seed: int, settings: RecoverySettings | None, timings: dict[str, float] | None
) -> pd.DataFrame:
    from soteria_eval.estimands import DID_WINDOW
    from soteria_eval.panels.aggregate import aggregate_arrays
    from soteria_eval.simulate import SimulationConfig
    from soteria_eval.simulate.area_series import area_series
    from soteria_eval.simulate.cases import case_arrays, simulate_coupled
    from soteria_eval.simulate.config import NO_EFFECTS
    from soteria_eval.simulate.config import world as in_world
    from soteria_eval.simulate.truth import (
        attach_parts,
        cell_truth,
        estimand_truth,
        national_panel,
    )

    st = settings or RecoverySettings()
    prep = _prepared_cached()
    clock = time.perf_counter()
    marks: dict[str, float] = {}

    def mark(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        marks[name] = now - clock
        clock = now

    cfg = in_world(st.world, SimulationConfig(seed=seed, scale=st.scale))
    treated, untreated = simulate_coupled(cfg, rollout=prep["rollout"])
    mark("simulate")
    fq_start, fq_end = _quarter_months(DID_WINDOW)
    want = st.designs.measures
    its_measures = [m for m in NATIONAL_SERIES.values() if want is None or m in want]
    its = st.designs.runs("its_segmented") or st.designs.runs("its_comparative")
    cat = prep["catalogue"]
    if want is not None:  # the force panel holds the measures recorded per force only
        want = tuple(m for m in want if "force" in cat[m].level)
    panels = []
    areas = []
    area_on = st.designs.runs("stacked_dose") or st.designs.runs("twfe_dose")
    for sim, scfg in ((treated, cfg), (untreated, cfg.with_effects(NO_EFFECTS))):
        arrays = case_arrays(sim)
        if area_on:  # the Area-only series (judges' directions, trials) for the dose design
            areas.append(area_series(arrays, scfg, rollout=prep["rollout"]))
        fq = (
            aggregate_arrays(
                arrays, level="force", freq="quarter", start=fq_start, end=fq_end, measures=want
            )
            if want != ()
            else pd.DataFrame(
                columns=["unit", "period", "measure", "value", "numerator", "denominator"]
            )
        )
        fm = aggregate_arrays(arrays, level="force", freq="month", measures=its_measures) if its else None  # fmt: skip
        panels.append((fq, fm))
    mark("aggregate")
    (fq1, fm1), (fq0, fm0) = panels
    cells = {("force", "quarter"): cell_truth(fq1, fq0, cat, level="force", freq="quarter")}
    if fm1 is not None and fm0 is not None:
        cells[("national", "month")] = cell_truth(
            national_panel(fm1, cat), national_panel(fm0, cat), cat, level="national", freq="month"
        )
        cells[("force", "month")] = attach_parts(
            cell_truth(fm1, fm0, cat, level="force", freq="month"), fm1, fm0
        )
    if areas:
        aw, awo = (
            a[(a["period"] >= DID_WINDOW[0]) & (a["period"] <= DID_WINDOW[1])] for a in areas
        )
        cells[("area", "quarter")] = cell_truth(aw, awo, cat, level="area", freq="quarter")
    truth = estimand_truth(cells, prep["rollout"], cat)
    extra = [sc for sc in st.samples if sc != "default"]
    sample_truth = {
        sc: estimand_truth(
            {("force", "quarter"): cells[("force", "quarter")]}, prep["rollout"], cat, scenario=sc
        )
        for sc in extra
    }
    mark("truth")
    common = dict(catalogue=cat, seed=seed, groups=prep["groups"])
    sub = replace(
        st.designs,
        designs=tuple(
            d for d in SAMPLE_DESIGNS if st.designs.runs(d) or st.designs.runs(_PARENT.get(d, d))
        ),
    )

    def world(fq: pd.DataFrame, fm: pd.DataFrame | None, null: bool) -> pd.DataFrame:
        parts = []
        if "default" in st.samples and len(fq):
            t = truth.assign(effect=0.0) if null else truth
            parts.append(estimate_world(fq, fm, treatment=prep["treatment"], truth=t, settings=st.designs, null_world=null, **common))  # fmt: skip
        for sc in extra if len(fq) else ():
            allowed = SAMPLE_DESIGNS_BY_SCENARIO.get(sc, SAMPLE_DESIGNS)
            run_here = tuple(d for d in sub.designs if d in allowed)
            if not run_here:
                continue
            t = sample_truth[sc].assign(effect=0.0) if null else sample_truth[sc]
            from soteria_eval.rollout import reforms_by_exposure

            assign = prep["assignment"] if reforms_by_exposure(sc) else None
            parts.append(estimate_world(fq, None, treatment=prep["samples"][sc], truth=t, settings=replace(sub, designs=run_here), null_world=null, sample=sc, assignment=assign, **common))  # fmt: skip
        if aq is not None and "default" in st.samples:
            t = truth.assign(effect=0.0) if null else truth
            parts.append(estimate_area(aq, prep["area_treatment"], t, cat, settings=st.designs))
        return pd.concat(parts, ignore_index=True)

    aq = areas[0] if areas else None
    out = [world(fq1, fm1, False).assign(world="effect")]
    mark("estimate")
    if st.size:
        aq = areas[1] if areas else None
        out.append(world(fq0, fm0, True).assign(world="no_effect"))
        mark("estimate_null")
    if timings is not None:
        timings.update(marks)
    return pd.concat(out, ignore_index=True).assign(seed=seed)


_PREPARED: dict[str, Any] = {}


def _prepared_cached() -> dict[str, Any]:
    if not _PREPARED:
        _PREPARED.update(_prepared())
    return _PREPARED


@dataclass(frozen=True)
class RecoveryResults:
    """Results of :func:`recovery_study`: per-seed rows and the summary table."""

    seeds: pd.DataFrame
    settings: RecoverySettings
    n_seeds: int
    seed0: int
    #: Where the seeds came from (:func:`soteria_eval.validation.studies.cached_recovery`).
    source: str = "computed"

    def summary(self) -> pd.DataFrame:
        """Return the ``recovery.csv`` table (:data:`RECOVERY_COLUMNS`), sorted by its key."""
        return summarise(self.seeds, world=self.settings.world)

    def mc_errors(self) -> pd.DataFrame:
        """Monte Carlo standard errors of bias, relative bias, coverage and size."""
        return mc_errors(self.seeds)


def _share(values: pd.Series) -> float:
    """Mean of a column of booleans with missing values (the missing ones left out)."""
    v = pd.to_numeric(values, errors="coerce").astype(float)
    return float(v.mean()) if v.notna().any() else np.nan


def summarise(rows: pd.DataFrame, *, world: str = "ideal") -> pd.DataFrame:
    """Summarise per-seed rows into :data:`RECOVERY_COLUMNS` (see the module docstring).

    The pre-trend tests (designs ``pretrend``) have no estimand: their ``size`` is how
    often they reject over every seed of both coupled worlds, as no programme effect
    comes before any start.

    ``world`` names the simulator's world the seeds come from (the ``world`` column; the
    per-seed rows' own ``world`` says whether a row is of the world with or without the
    programme).
    """
    eff = rows[(rows["world"] == "effect") & (rows["inference"] != "failed")].copy()
    eff["err"] = eff["estimate"] - eff["truth"]
    eff = eff[np.isfinite(eff["err"])]
    g = eff.groupby(KEY, sort=True)
    out = pd.DataFrame(
        {
            "n_seeds": g["seed"].nunique(),
            "truth": g["truth"].mean(),
            "bias": g["err"].mean(),
            "rmse": g["err"].apply(lambda e: math.sqrt(float(np.mean(np.square(e))))),
            "coverage": g["covered"].apply(_share),
        }
    ).reset_index()
    denom = out["truth"].abs()
    out["rel_bias"] = np.where(denom > 1e-9, out["bias"] / denom.where(denom > 1e-9, 1.0), np.nan)
    null = rows[(rows["world"] == "no_effect") & (rows["inference"] != "failed")]
    if len(null):
        size = null.groupby(KEY, sort=True)["reject"].apply(_share).rename("size").reset_index()
        out = out.merge(size, on=KEY, how="left")
    else:
        out["size"] = np.nan
    # Tests without an estimand (the pre-trend tests): only how often they reject, in the
    # worlds with and without effects alike (no effect precedes any start in either).
    tests = rows[
        rows["design"].astype(str).str.startswith("pretrend") & (rows["inference"] != "failed")
    ]
    if len(tests) and len(null):  # without the no-effect worlds no size is reported
        g = tests.groupby(KEY, sort=True)
        extra = pd.DataFrame(
            {"n_seeds": g["seed"].nunique(), "size": g["reject"].apply(_share)}
        ).reset_index()
        for c in ("truth", "bias", "rmse", "coverage", "rel_bias"):
            extra[c] = np.nan
        out = pd.concat([out[~out["design"].str.startswith("pretrend")], extra], ignore_index=True)
    out["n_seeds"] = out["n_seeds"].astype("int64")
    out["world"] = world
    return out[list(RECOVERY_COLUMNS)].sort_values(KEY, kind="stable").reset_index(drop=True)


def mc_errors(rows: pd.DataFrame) -> pd.DataFrame:
    r"""Monte Carlo standard errors per measure, design and inference.

    ``bias_se`` is the standard deviation of the errors over :math:`\sqrt S`;
    ``rel_bias_se`` divides it by :math:`|\bar\theta|`; ``coverage_se`` and ``size_se``
    are binomial, :math:`\sqrt{p(1-p)/S}`.
    """
    s = summarise(rows)
    eff = rows[(rows["world"] == "effect") & (rows["inference"] != "failed")].copy()
    eff["err"] = eff["estimate"] - eff["truth"]
    sd = eff.groupby(KEY)["err"].std(ddof=1).rename("err_sd").reset_index()
    s = s.merge(sd, on=KEY, how="left")
    n = s["n_seeds"].clip(lower=1)
    s["bias_se"] = s["err_sd"] / np.sqrt(n)
    denom = s["truth"].abs()
    s["rel_bias_se"] = np.where(denom > 1e-9, s["bias_se"] / denom.where(denom > 1e-9, 1.0), np.nan)
    s["coverage_se"] = np.sqrt(s["coverage"] * (1 - s["coverage"]) / n)
    s["size_se"] = np.sqrt(s["size"] * (1 - s["size"]) / n)
    return s[[*KEY, "n_seeds", "bias_se", "rel_bias_se", "coverage_se", "size_se"]]


def recovery_study(
    n_seeds: int,
    *,
    seed0: int = 1,
    settings: RecoverySettings | None = None,
    n_jobs: int = 1,
    scheduler: str | None = None,
    progress: bool = True,
) -> RecoveryResults:
    """Run the study over seeds ``seed0, seed0 + 1, ..., seed0 + n_seeds - 1``.

    Parameters
    ----------
    n_jobs : int
        Seeds run in parallel (joblib processes).
    scheduler : str, optional
        Address of a ``dask.distributed`` scheduler: the seeds run on that cluster
        (joblib's dask backend).
    progress : bool
        Show a progress bar (tqdm).
    """
    from soteria_eval._scheduler import map_tasks

    if n_seeds < 1:
        raise ValueError(f"n_seeds must be at least 1, got {n_seeds}")
    st = settings or RecoverySettings()
    seeds = range(seed0, seed0 + n_seeds)
    parts = map_tasks(
        run_seed, [(s, st) for s in seeds], n_jobs=n_jobs, scheduler=scheduler,
        progress=progress, desc="recovery",
    )  # fmt: skip
    rows = pd.concat(parts, ignore_index=True)
    rows = rows.sort_values(["seed", "world", *KEY, "estimand"], kind="stable").reset_index(
        drop=True
    )
    return RecoveryResults(seeds=rows, settings=st, n_seeds=n_seeds, seed0=seed0)


def write_recovery(results: RecoveryResults, out: str | Path) -> Path:
    """Write ``recovery.csv``, ``recovery_seeds.csv`` and ``recovery_mc.csv`` atomically."""
    from soteria_eval._io import write_study

    st = results.settings
    return write_study(
        out,
        {"recovery.csv": results.summary(), "recovery_seeds.csv": results.seeds,
         "recovery_mc.csv": results.mc_errors()},
        "recovery.json",
        {"n_seeds": results.n_seeds, "seed0": results.seed0, "scale": st.scale,
         "size": st.size, "world": st.world, "draws": st.designs.n_boot, "synthetic": True},
    )  # fmt: skip


def read_seed_rows(path: str | Path) -> pd.DataFrame:
    """Read ``recovery_seeds.csv`` back (only empty cells are missing; flags as booleans)."""
    rows = pd.read_csv(path, keep_default_na=False, na_values=[""])
    for col in ("covered", "reject"):
        rows[col] = rows[col].map({True: True, False: False, "True": True, "False": False})
    return rows


def with_designs(settings: RecoverySettings, designs: Sequence[str]) -> RecoverySettings:
    """Return settings restricted to some designs."""
    return replace(settings, designs=replace(settings.designs, designs=tuple(designs)))


__all__ = [
    "RECOVERY_COLUMNS",
    "ROW_COLUMNS",
    "RecoveryResults",
    "RecoverySettings",
    "mc_errors",
    "read_seed_rows",
    "recovery_study",
    "run_seed",
    "summarise",
    "with_designs",
    "write_recovery",
]
