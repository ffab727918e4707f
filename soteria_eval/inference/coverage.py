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
=====================  ==========================================================

For each design and replication, the TWFE DiD coefficient is tested at its true value
(coverage of the 95% interval), at zero under no effect (size) and at zero under an effect
of one residual standard deviation (power), with

* **CR1** — cluster-robust, :math:`t(G-1)`;
* **CR2** — Bell–McCaffrey with Satterthwaite degrees of freedom;
* **WCR** / **WCU** — restricted / unrestricted wild cluster bootstrap, Webb weights;
* **RI** — studentized randomization inference over re-assignments of the treated
  clusters (keeping the adoption dates);
* **SC** — synthetic-control placebo-in-space (post/pre RMSPE rank), single treated unit.

Everything is vectorised over replications (:mod:`soteria_eval.inference._panel_stats`),
so 1,000 replications of every design take seconds. :func:`method_validity` turns the
known failures into rules that the pipeline applies before it reports a method.

References
----------
MacKinnon, J. G. and Webb, M. D. (2017). Wild bootstrap inference for wildly different
cluster sizes. *Journal of Applied Econometrics* 32(2); (2018) The wild bootstrap for few
(treated) clusters. *Econometrics Journal* 21(2).
Conley, T. G. and Taber, C. R. (2011). Inference with "difference in differences" with a
small number of policy changes. *Review of Economics and Statistics* 93(1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
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
CoverageMethod = Literal["CR1", "CR2", "WCR", "WCU", "RI", "SC"]
METHODS: tuple[CoverageMethod, ...] = ("CR1", "CR2", "WCR", "WCU", "RI", "SC")


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
    return simulate_ar1_panels(design.unit_sd, design.phi, design.treatment, effect, n, rng)


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
    """Whether the study runs ``method`` on ``design`` (SC: single treated unit only)."""
    if method == "SC":
        return int((design.start >= 0).sum()) == 1
    return True


def coverage_study(
    designs: Sequence[CoverageDesign] | None = None,
    *,
    methods: Sequence[CoverageMethod] = METHODS,
    n_reps: int = 1000,
    n_boot: int = 399,
    n_reps_sc: int | None = None,
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
    designs = list(soteria_designs(seed) if designs is None else designs)
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
            for start in range(0, reps, chunk):
                m = min(chunk, reps - start)
                null = _simulate(des, 0.0, m, mrng)
                alt = _simulate(des, effect, m, mrng)
                at_truth = alt - effect * des.treatment[None]
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


def method_validity(method: str, *, n_clusters: int, treated_clusters: int) -> tuple[bool, str]:
    """Whether the pipeline may report ``method`` for a design, and why not.

    Rules from the coverage study (and the literature it reproduces):

    * every cluster-robust or bootstrap method needs at least two treated clusters: with
      one, CR1/CR2 intervals cover far less than 95% and the wild bootstrap cannot
      reproduce the treated cluster's deviation (MacKinnon and Webb 2018);
    * randomization inference needs at least ``1/alpha = 20`` distinct assignments to be
      able to reject at 5%: ``C(G, treated) >= 20``;
    * CR1 and CR2 need at least 10 clusters.
    """
    m = method.upper()
    if m.startswith("RI") or m.startswith("RANDOMIZATION"):
        ways = math.comb(n_clusters, treated_clusters)
        if ways < 20:
            return False, f"only {ways} possible assignments: cannot reach p < 0.05"
        return True, ""
    if m.startswith("SC") or m.startswith("SYNTHETIC"):
        return (
            n_clusters >= 20,
            "" if n_clusters >= 20 else "fewer than 20 units for placebo-in-space",
        )
    if treated_clusters < 2:
        return False, (
            f"{method} with a single treated cluster does not control size "
            "(see the coverage study); use randomization inference or synthetic control"
        )
    if m in ("CR1", "CR2") and n_clusters < 10:
        return False, f"{method} with {n_clusters} clusters"
    return True, ""


__all__ = [
    "METHODS",
    "CoverageDesign",
    "coverage_study",
    "method_applies",
    "method_validity",
    "soteria_designs",
]
