r"""Coverage study: how honest each inference method is in the designs Soteria actually has.

Monte Carlo on the real designs (40 quarters; the programme starts in quarter 20, phase 2
five quarters later), with heteroskedastic units (log-normal standard deviations), AR(1)
errors and, in one design, unequal clusters (forces clustered by CPS Area):

=====================  ==========================================================
``areas_5_of_14``      14 CPS Areas, 5 treated (Area-level panel)
``forces_5_of_43``     43 forces, 5 treated
``forces_19_of_43``    43 forces, 5 treated in quarter 20 and 14 in quarter 25
``forces_in_5_areas``  43 forces clustered by their 14 Areas; the forces of 5 Areas
                       treated (clusters of 1 to 6 forces)
``one_force_of_43``    a single treated force: what any "effect in South Wales" is
``soteria_actual``     the evaluation's own design: 43 forces, the DiD window's 22
                       quarters, the real rollout, and the simulator's ramp,
                       spillover onto exposed forces and anticipation
                       (:func:`actual_design`)
=====================  ==========================================================

For each design and replication, the TWFE DiD coefficient is tested at its true value
(coverage of the 95% interval), at zero under no effect (size) and at zero under an effect
of one residual standard deviation (power), with

* **CR1** — cluster-robust, :math:`t(G-1)`;
* **CR2** — Bell–McCaffrey with Satterthwaite degrees of freedom;
* **WCR** / **WCU** — restricted / unrestricted wild cluster bootstrap, Webb weights;
* **RI** — studentized randomization inference over re-assignments of the treated
  clusters (keeping the adoption dates);
* **SC** — synthetic-control placebo-in-space (post/pre RMSPE rank), single treated unit;
* **CS** / **CS-boot** — Callaway–Sant'Anna (not-yet-treated, simple aggregation),
  analytic and multiplier-bootstrap intervals, and **PPML** (on counts) — on the
  evaluation's own design only, one replication at a time (:data:`SLOW_METHODS`).

With a ramp the TWFE coefficient is judged against the ATT over treated cells, as the
recovery study judges it.

Everything is vectorised over replications (:mod:`soteria_eval.inference._panel_stats`),
so 1,000 replications of every design take seconds. :func:`method_validity` reads the
evidence — a run of the study, or the shipped reference (:func:`reference_coverage`) —
and refuses a method outside the 90–98% coverage band (:func:`coverage_verdicts`).

References
----------
MacKinnon, J. G. and Webb, M. D. (2017). Wild bootstrap inference for wildly different
cluster sizes. *Journal of Applied Econometrics* 32(2); (2018) The wild bootstrap for few
(treated) clusters. *Econometrics Journal* 21(2).
Conley, T. G. and Taber, C. R. (2011). Inference with "difference in differences" with a
small number of policy changes. *Review of Economics and Statistics* 93(1).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from soteria_eval._options import check_option
from soteria_eval.inference._panel_stats import (
    demean2,
    ri_block_pvalues,
    ri_path_pvalues,
    simulate_ar1_panels,
    twfe_cr1,
    wild_pvalues,
)

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
CoverageMethod = Literal["CR1", "CR2", "WCR", "WCU", "RI", "SC", "CS", "CS-boot", "PPML"]
METHODS: tuple[CoverageMethod, ...] = ("CR1", "CR2", "WCR", "WCU", "RI", "SC", "CS", "CS-boot", "PPML")  # fmt: skip
#: Methods fitted one replication at a time, on the evaluation's own design only.
SLOW_METHODS: tuple[CoverageMethod, ...] = ("CS", "CS-boot", "PPML")


@dataclass(frozen=True)
class CoverageDesign:
    """A panel design for the study."""

    name: str
    label: str
    start: Ints  # first treated period per unit, -1 never
    clusters: Ints
    unit_sd: Floats
    n_periods: int = 40
    phi: float = 0.5
    info: dict[str, Any] = field(default_factory=dict)
    effect_shape: Floats | None = None  # units × periods intensity (default: the treatment)

    @property
    def n_units(self) -> int:
        """Number of units."""
        return len(self.start)

    @property
    def n_clusters(self) -> int:
        """Number of clusters."""
        return int(self.clusters.max()) + 1

    @property
    def treated_clusters(self) -> int:
        """Number of clusters with a treated unit."""
        return len(np.unique(self.clusters[self.start >= 0]))

    @property
    def treatment(self) -> Floats:
        """Units × periods treatment indicator."""
        t = np.arange(self.n_periods)
        return ((self.start[:, None] >= 0) & (t[None, :] >= self.start[:, None])).astype(float)

    @property
    def shape(self) -> Floats:
        """Units × periods intensity of the effect: the treatment, or a ramp with spillover."""
        return self.treatment if self.effect_shape is None else self.effect_shape

    def att(self, effect: float) -> float:
        """Return the ATT the coefficient is tested against: mean effect over treated cells."""
        d = self.treatment
        return float(effect * self.shape[d > 0].mean()) if self.effect_shape is not None else effect

    @property
    def block(self) -> bool:
        """One common start (a block design)."""
        return len(np.unique(self.start[self.start >= 0])) == 1


def soteria_designs(seed: int = 0) -> list[CoverageDesign]:
    """Return the five designs of the module docstring (real force-to-Area sizes).

    Unit standard deviations are log-normal (sd 0.5 on the log scale); Area-level units
    are scaled by one over the square root of the Area's number of forces. In the
    single-force design the treated force has the median standard deviation, so the
    result is about the method, not about an unusually noisy or quiet force.
    """
    from soteria_eval.geography import load_geography

    rng = np.random.default_rng(seed)
    geo = load_geography()
    forces = list(geo.forces)
    areas = list(geo.areas)
    phase1_names = ("Cymru/Wales", "London South", "North East", "South West", "West Midlands")
    phase1 = [areas.index(a) for a in phase1_names]

    def home(force: str) -> int:
        # A force in two Areas (the Met) is clustered with the one it was a pathfinder in.
        options = geo.force_areas[force]
        return areas.index(next((a for a in options if a in phase1_names), options[0]))

    force_area = np.array([home(f) for f in forces], dtype=np.int64)
    sizes = np.bincount(force_area, minlength=len(areas))

    def sd(n: int) -> Floats:
        return np.asarray(np.exp(rng.normal(0.0, 0.5, n)), dtype=float)

    def starts(n: int, groups: Sequence[tuple[Any, int]]) -> Ints:
        s = np.full(n, -1, dtype=np.int64)
        for members, at in groups:
            s[list(members)] = at
        return s

    own = np.arange(43, dtype=np.int64)
    single_sd = sd(43)
    single_sd[0] = float(np.median(single_sd))
    area_sd = sd(len(areas)) / np.sqrt(np.maximum(sizes, 1))
    return [
        CoverageDesign("areas_5_of_14", "14 Areas, 5 treated", starts(14, [(phase1, 20)]),
                       np.arange(14, dtype=np.int64), area_sd),
        CoverageDesign("forces_5_of_43", "43 forces, 5 treated", starts(43, [(range(5), 20)]), own, sd(43)),
        CoverageDesign("forces_19_of_43", "43 forces, 19 treated (5 + 14)",
                       starts(43, [(range(5), 20), (range(5, 19), 25)]), own, sd(43)),
        CoverageDesign("forces_in_5_areas", "43 forces in 14 Areas, 5 Areas treated",
                       starts(43, [(np.flatnonzero(np.isin(force_area, phase1)), 20)]), force_area, sd(43)),
        CoverageDesign("one_force_of_43", "1 force of 43 treated", starts(43, [([0], 20)]), own, single_sd),
    ]  # fmt: skip


def _simulate(design: CoverageDesign, effect: float, n: int, rng: np.random.Generator) -> Floats:
    return simulate_ar1_panels(design.unit_sd, design.phi, design.shape, effect, n, rng)


def actual_design(seed: int = 0) -> CoverageDesign:
    """Return the evaluation's own design: 43 forces, DiD window, real rollout, ramp, spillover.

    Units are the 43 forces (clustered by force), periods the quarters of
    :data:`~soteria_eval.estimands.DID_WINDOW` and the adoption dates those of the bundled
    rollout (phase 1, then phase 2). The effect is not a step: each force-quarter carries
    the simulator's programme intensity averaged over the quarter's days
    (:class:`~soteria_eval.simulate.cases.SimulationConfig` defaults), so it ramps up after
    each start, spills over onto the exposed forces of pathfinder CPS Areas and starts
    early in Avon and Somerset (anticipation). The TWFE coefficient is judged against
    the ATT over treated force-quarters (:meth:`CoverageDesign.att`).
    """
    from soteria_eval.data import load_rollout
    from soteria_eval.estimands import DID_WINDOW
    from soteria_eval.geography import load_geography
    from soteria_eval.rollout import treatment_panel
    from soteria_eval.simulate import SimulationConfig
    from soteria_eval.simulate.cases import _day, _Timing

    rollout, geo = load_rollout(), load_geography()
    tp = treatment_panel(
        rollout, level="force", freq="quarter", start=DID_WINDOW[0], end=DID_WINDOW[1]
    )
    wide = tp.pivot(index="unit", columns="period", values="treated").astype(float)
    forces = [str(u) for u in wide.index]
    d = wide.to_numpy()
    start = np.where(d.any(axis=1), d.argmax(axis=1), -1).astype(np.int64)
    timing = _Timing(SimulationConfig(), rollout, geo, forces)
    quarters = [pd.Period(str(q).replace("-", ""), "Q") for q in wide.columns]
    shape = np.zeros(d.shape)
    for j, q in enumerate(quarters):
        days = np.arange(_day(str(q.start_time.date())), _day(str(q.end_time.date())) + 1)
        for i in range(len(forces)):
            shape[i, j] = timing.intensity(days, np.full(days.size, i, dtype=np.int64)).mean()
    rng = np.random.default_rng([seed, 43])
    return CoverageDesign(
        "soteria_actual",
        "43 forces, real rollout, ramp and spillover (DiD window)",
        start,
        np.arange(len(forces), dtype=np.int64),
        np.asarray(np.exp(rng.normal(0.0, 0.5, len(forces))), dtype=float),
        n_periods=d.shape[1],
        info={"units": forces, "periods": [str(p) for p in wide.columns]},
        effect_shape=shape,
    )


def _cr2_parts(design: CoverageDesign) -> tuple[Floats, float]:
    """Per-row CR2-adjusted treatment regressor (unit-major order) and its Satterthwaite df."""
    from soteria_eval.covariance import cr2_adjusted_design
    from soteria_eval.did import twfe
    from soteria_eval.linear_model import codes_of

    n, t = design.n_units, design.n_periods
    frame = pd.DataFrame(
        {
            "u": np.repeat(np.arange(n), t),
            "t": np.tile(np.arange(t), n),
            "c": np.repeat(design.clusters, t),
            "D": design.treatment.ravel(),
            "y": np.random.default_rng(0).normal(size=n * t),
        }
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = twfe(frame, outcome="y", treatment="D", unit="u", time="t", cluster="c")
    assert fit.fit is not None and fit.rows is not None
    if not np.array_equal(fit.rows, np.arange(n * t)):
        raise RuntimeError("the template fit reordered rows")
    adj_x, df = cr2_adjusted_design(fit.fit, codes_of(frame["c"]))
    return adj_x[:, 0].reshape(n, t), float(df[0])


def _ri_assignments(
    design: CoverageDesign, n_perm: int, rng: np.random.Generator
) -> tuple[str, Any]:
    """Re-assignments for randomization inference, observed first (all of them when few)."""
    from soteria_eval.inference.randomization import _assignments

    if design.n_clusters == design.n_units:
        _, codes = np.unique(design.treatment, axis=0, return_inverse=True)
        codes = codes.ravel().astype(np.int64)
        blocks, _, exact = _assignments(codes, n_perm, n_perm + 1, rng)
        rows = np.vstack(list(blocks))
        # Exact enumeration does not put the observed assignment first: prepend it.
        return "path", np.vstack([codes[None, :], rows]) if exact else rows
    if not design.block:
        raise ValueError("cluster-level randomization inference needs one start date")
    treated = np.zeros(design.n_clusters, dtype=bool)
    treated[np.unique(design.clusters[design.start >= 0])] = True
    return "block", np.vstack(
        [treated[None, :], rng.permuted(np.tile(treated, (n_perm, 1)), axis=1)]
    )


def _sc_pvalues(y: Floats, design: CoverageDesign) -> Floats:
    """Placebo-in-space p-values (post/pre RMSPE ratio rank) of the single treated unit."""
    from soteria_eval.sensitivity.synthetic import simplex_least_squares

    treated = int(np.flatnonzero(design.start >= 0)[0])
    first = int(design.start[treated])
    out = np.empty(len(y))
    n = design.n_units
    for s in range(len(y)):
        ratios = np.empty(n)
        for u in range(n):
            donors = (
                [j for j in range(n) if j not in (u, treated)]
                if u != treated
                else [j for j in range(n) if j != u]
            )
            w = simplex_least_squares(y[s, donors, :first].T, y[s, u, :first])
            gap = y[s, u] - w @ y[s, donors]
            ratios[u] = math.sqrt(np.mean(gap[first:] ** 2) / np.mean(gap[:first] ** 2))
        out[s] = np.mean(ratios >= ratios[treated] * (1 - 1e-12))
    return out


def _pvalues(
    y: Floats,
    design: CoverageDesign,
    method: CoverageMethod,
    parts: dict[str, Any],
    rng: np.random.Generator,
    n_boot: int,
) -> Floats:
    """p-values of H0: beta = 0 for every replication of ``y``."""
    from soteria_eval.inference.wild import draw_weights

    d = parts["d"]
    g = design.n_clusters
    if method in ("CR1", "CR2"):
        beta, se, resid = twfe_cr1(y, d, design.clusters, g)
        if method == "CR1":
            return np.asarray(2 * stats.t.sf(np.abs(beta / se), g - 1), dtype=float)
        adj, df = parts["cr2"]
        den = float((d**2).sum())
        ind = np.zeros((design.n_units, g))
        ind[np.arange(design.n_units), design.clusters] = 1.0
        sc = np.einsum("it,sit->si", adj, resid) @ ind
        se2 = np.sqrt((sc**2).sum(axis=1)) / den
        return np.asarray(2 * stats.t.sf(np.abs(beta / se2), df), dtype=float)
    if method in ("WCR", "WCU"):
        v, _ = draw_weights("webb", n_boot, g, rng)
        return wild_pvalues(y, d, design.clusters, g, v, impose_null=method == "WCR")
    if method == "RI":
        kind, assign = parts["ri"]
        if kind == "path":
            return ri_path_pvalues(y, design.treatment, assign)
        post = (np.arange(design.n_periods) >= int(design.start.max())).astype(float)
        return ri_block_pvalues(y, post, design.clusters, assign)
    return _sc_pvalues(y, design)


def method_applies(design: CoverageDesign, method: CoverageMethod) -> bool:
    """Whether the study runs ``method`` on ``design``.

    SC needs a single treated unit; Callaway–Sant'Anna and PPML (:data:`SLOW_METHODS`)
    run on the evaluation's own design (:func:`actual_design`) only.
    """
    if method in SLOW_METHODS:
        return design.effect_shape is not None and "units" in design.info
    if method == "SC":
        return int((design.start >= 0).sum()) == 1
    return True


def _frame(y: Floats, design: CoverageDesign) -> pd.DataFrame:
    """One replication as the long frame the staggered estimators take (``t``, ``g`` from 1)."""
    n, t = y.shape
    return pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n), t),
            "t": np.tile(np.arange(1, t + 1), n),
            "g": np.repeat(np.where(design.start >= 0, design.start + 1, 0), t),
            "treated_f": design.treatment.ravel(),
            "y": y.ravel(),
        }
    )


def _slow_counts(
    design: CoverageDesign,
    method: CoverageMethod,
    reps: int,
    effect: float,
    rng: np.random.Generator,
    n_boot: int,
    alpha: float,
) -> Floats:
    r"""Count (covered, rejects under no effect, rejects under the effect) over ``reps``.

    Callaway–Sant'Anna (not-yet-treated comparisons, simple aggregation; analytic or
    multiplier bootstrap) is judged against the design's ATT on the AR(1) panels. PPML
    gets counts: force means log-normal around 30 a quarter, AR(1) log-scale noise (sd
    0.15, overdispersion), and the effect multiplies the mean by
    :math:`\exp(0.1 \times \text{effect} \times \text{intensity})` (with the default
    effect, +10% at full intensity: about the planted effect on charges);
    and the truth is the log rate ratio over treated force-quarters,
    :math:`\log \sum \mu_1 / \sum \mu_0`, of each replication's expected counts.
    """
    import warnings

    from soteria_eval.did import callaway_santanna, ppml

    counts = np.zeros(3)
    treated = design.treatment > 0
    for _ in range(reps):
        if method == "PPML":
            log_mu = np.log(30.0) + rng.normal(0.0, 0.8, design.n_units)[:, None]
            noise = simulate_ar1_panels(np.full(design.n_units, 0.15), design.phi, design.shape, 0.0, 1, rng)[0]  # fmt: skip
            mu0 = np.exp(log_mu + noise)
            mu1 = mu0 * np.exp(0.1 * effect * design.shape)
            truth = float(np.log(mu1[treated].sum() / mu0[treated].sum()))
            worlds = [rng.poisson(mu0), rng.poisson(mu1)]
        else:
            truth = design.att(effect)
            worlds = [_simulate(design, 0.0, 1, rng)[0], _simulate(design, effect, 1, rng)[0]]
        fits: list[Any] = []
        for y in worlds:
            e = _frame(np.asarray(y, dtype=float), design)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if method == "PPML":
                    res = ppml(e, outcome="y", treatment="treated_f", unit="unit", time="t")
                    row = res.tidy().set_index("term").loc["treated_f"]
                else:
                    cs = callaway_santanna(
                        e, outcome="y", unit="unit", time="t", cohort="g",
                        control_group="not_yet_treated",
                    ).aggregate("simple")  # fmt: skip
                    if method == "CS-boot":
                        cs = cs.bootstrap(n_boot, seed=int(rng.integers(2**31)))
                    row = cs.tidy().iloc[0]
            fits.append(row)
        null, alt = fits
        counts[0] += float(alt["ci_lower"]) <= truth <= float(alt["ci_upper"])
        counts[1] += float(null["p_value"]) <= alpha
        counts[2] += float(alt["p_value"]) <= alpha
    return counts


def coverage_study(
    designs: Sequence[CoverageDesign] | None = None,
    *,
    methods: Sequence[CoverageMethod] = METHODS,
    n_reps: int = 1000,
    n_boot: int = 399,
    n_reps_sc: int | None = None,
    n_reps_slow: int = 200,
    alpha: float = 0.05,
    effect_sd: float = 1.0,
    seed: int = 0,
    chunk: int = 100,
) -> pd.DataFrame:
    """Run the study (see the module docstring).

    Parameters
    ----------
    n_boot : int
        Wild bootstrap draws and randomization re-assignments per replication.
    n_reps_sc : int, optional
        Replications for synthetic control (43 fits per replication; default ``n_reps``).
    n_reps_slow : int
        Replications for Callaway–Sant'Anna and PPML on the evaluation's own design
        (fitted one at a time; at most ``n_reps``).
    effect_sd : float
        The alternative's effect, in units of the median unit standard deviation.

    Returns
    -------
    pandas.DataFrame
        ``design, label, method, n_clusters, treated_clusters, coverage, size, power,
        coverage_mc_se, n_reps, alpha``; one row per design and method.
    """
    for method in methods:
        check_option("method", method, CoverageMethod)
    designs = list([*soteria_designs(seed), actual_design(seed)] if designs is None else designs)
    rows = []
    for k, des in enumerate(designs):
        rng = np.random.default_rng([seed, k])
        effect = effect_sd * float(np.median(des.unit_sd))
        parts: dict[str, Any] = {"d": demean2(des.treatment)}
        if "CR2" in methods:
            parts["cr2"] = _cr2_parts(des)
        if "RI" in methods:
            parts["ri"] = _ri_assignments(des, n_boot, rng)
        for method in methods:
            if not method_applies(des, method):
                continue
            reps = n_reps if method != "SC" or n_reps_sc is None else n_reps_sc
            counts = np.zeros(3)
            mrng = np.random.default_rng([seed, k, METHODS.index(method)])
            if method in SLOW_METHODS:
                reps = min(reps, n_reps_slow)
                counts = _slow_counts(des, method, reps, effect, mrng, n_boot, alpha)
            for start in range(0, reps if method not in SLOW_METHODS else 0, chunk):
                m = min(chunk, reps - start)
                null = _simulate(des, 0.0, m, mrng)
                alt = _simulate(des, effect, m, mrng)
                at_truth = alt - des.att(effect) * des.treatment[None]
                counts[0] += np.sum(_pvalues(at_truth, des, method, parts, mrng, n_boot) > alpha)
                counts[1] += np.sum(_pvalues(null, des, method, parts, mrng, n_boot) <= alpha)
                counts[2] += np.sum(_pvalues(alt, des, method, parts, mrng, n_boot) <= alpha)
            cov, size, power = counts / reps
            rows.append(
                {
                    "design": des.name,
                    "label": des.label,
                    "method": method,
                    "n_clusters": des.n_clusters,
                    "treated_clusters": des.treated_clusters,
                    "coverage": cov,
                    "size": size,
                    "power": power,
                    "coverage_mc_se": math.sqrt(cov * (1 - cov) / reps),
                    "n_reps": reps,
                    "alpha": alpha,
                }
            )
    return pd.DataFrame(rows)


#: The coverage study at its defaults (1,000 replications, 200 for the slow methods, seed
#: 0), shipped with the package so that :func:`method_validity` has evidence without
#: re-running it. Regenerated by ``python -m soteria_eval.inference.coverage``; a
#: ``make validate`` test checks that a fresh run reproduces it exactly.
REFERENCE_FILE = Path(__file__).with_name("coverage_reference.csv")


@functools.lru_cache(maxsize=1)
def reference_coverage() -> pd.DataFrame:
    """Return the shipped coverage study (:data:`REFERENCE_FILE`)."""
    return pd.read_csv(REFERENCE_FILE)


def coverage_verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """Apply the evaluation's refusal rule to a coverage-study table.

    The rule is the recovery study's (:mod:`soteria_eval.validation.verdicts`): a method is
    refused in a design when its 95% intervals cover the truth in fewer than 90% or more
    than 98% of replications. ``borderline`` marks coverage within two binomial Monte
    Carlo standard errors (at the threshold) of the band's edge.

    Returns the table's ``design, label, method, n_clusters, treated_clusters, coverage,
    n_reps`` with ``passed``, ``borderline`` and ``reason``.
    """
    from soteria_eval.validation.verdicts import COVERAGE_BAND

    lo, hi = COVERAGE_BAND
    out = table[
        ["design", "label", "method", "n_clusters", "treated_clusters", "coverage", "n_reps"]
    ].copy()
    cov = out["coverage"].to_numpy(dtype=float)
    n = out["n_reps"].to_numpy(dtype=float)
    edge = np.where(np.abs(cov - lo) <= np.abs(cov - hi), lo, hi)
    out["passed"] = (cov >= lo) & (cov <= hi)
    out["borderline"] = np.abs(cov - edge) < 2 * np.sqrt(edge * (1 - edge) / n)
    out["reason"] = [
        ""
        if ok
        else f"coverage {c:.0%} outside {lo:.0%}–{hi:.0%} in the coverage study's design "
        f"'{label}' ({int(r):,} replications)"
        for ok, c, label, r in zip(out["passed"], cov, out["label"], n, strict=True)
    ]
    return out.reset_index(drop=True)


def _study_method(method: str) -> str | None:
    m = method.upper()
    if m.startswith("RI") or m.startswith("RANDOMIZATION"):
        return "RI"
    if m.startswith("SC") or m.startswith("SYNTHETIC"):
        return "SC"
    for k in ("CS-BOOT", "WCR", "WCU", "CR2", "CR1", "PPML", "CS"):
        if m.startswith(k):
            return {"CS-BOOT": "CS-boot"}.get(k, k)
    return None


def method_validity(
    method: str,
    *,
    n_clusters: int,
    treated_clusters: int,
    coverage: pd.DataFrame | None = None,
    design: str | None = None,
) -> tuple[bool, str]:
    """Whether the pipeline may report ``method`` for a design, and why not, from evidence.

    The verdict is the coverage study's (:func:`coverage_verdicts`) for the study design
    closest to the one at hand: ``design`` if given, otherwise among the designs with a
    single treated cluster when ``treated_clusters`` is 1 and with several otherwise, the
    one nearest in numbers of clusters and treated clusters (relative distance; the
    evaluation's own design, ``soteria_actual``, wins ties). ``coverage`` is a
    coverage-study table (default: the shipped :func:`reference_coverage`).

    One rule is arithmetic, not evidence: randomization inference needs at least
    ``1/alpha = 20`` distinct assignments to be able to reject at 5%, ``C(G, treated) >= 20``.
    A method the study does not run is allowed, and the reason says it is not covered.
    """
    m = _study_method(method)
    if m == "RI":
        ways = math.comb(n_clusters, treated_clusters)
        if ways < 20:
            return False, f"only {ways} possible assignments: cannot reach p < 0.05"
    if m is None:
        return True, f"{method} is not covered by the coverage study"
    table = coverage_verdicts(reference_coverage() if coverage is None else coverage)
    rows = table[table["method"] == m]
    if design is not None:
        rows = rows[rows["design"] == design]
    else:
        single = rows["treated_clusters"] == 1
        rows = rows[single] if treated_clusters <= 1 else rows[~single]
        if len(rows):
            dist = (rows["n_clusters"] - n_clusters).abs() / rows["n_clusters"] + (
                rows["treated_clusters"] - treated_clusters
            ).abs() / rows["treated_clusters"]
            rank = dist + np.where(rows["design"] == "soteria_actual", -1e-9, 0.0)
            rows = rows.loc[[rank.idxmin()]]
    if rows.empty:
        return True, f"{method} is not covered by the coverage study for this design"
    v = rows.iloc[0]
    if bool(v["passed"]):
        return True, ""
    return False, str(v["reason"]) + (" (borderline)" if bool(v["borderline"]) else "")


def _write_reference() -> None:  # pragma: no cover - run by hand to refresh the reference
    table = coverage_study()
    table.to_csv(REFERENCE_FILE, index=False, float_format="%.10g", lineterminator="\n")


if __name__ == "__main__":  # pragma: no cover
    _write_reference()


__all__ = [
    "METHODS",
    "REFERENCE_FILE",
    "SLOW_METHODS",
    "CoverageDesign",
    "actual_design",
    "coverage_study",
    "coverage_verdicts",
    "method_applies",
    "method_validity",
    "reference_coverage",
    "soteria_designs",
]
