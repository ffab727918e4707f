r"""Power and minimum detectable effect by simulation, for the actual design.

The design is what the evaluation has: which units are treated from when, how many
periods, and the noise of the measure estimated from its pre-programme data
(:meth:`PowerDesign.from_panel`): two-way demeaned pre-period residuals give each unit's
standard deviation :math:`s_i` and a pooled AR(1) coefficient :math:`\phi`. Outcomes are
simulated as

.. math:: y_{it} = \tau D_{it} + u_{it}, \qquad u_{it} = \phi u_{i,t-1} + \varepsilon_{it},
          \quad \varepsilon_{it} \sim N\big(0, s_i^2(1-\phi^2)\big)

(unit and period effects are absorbed by every estimator used, so they are left out), and
each replication is analysed with the inference the evaluation reports:

``cr1``
    TWFE with CR1 standard errors and :math:`t(G-1)` critical values;
``wcr``
    TWFE with the restricted wild cluster bootstrap (Webb weights);
``ri``
    TWFE with studentized randomization inference (Monte Carlo re-assignments);
``cs``
    Callaway–Sant'Anna simple aggregate (never-treated controls) with its analytic SE;
``its``
    segmented regression of the treated units' mean series (level change at the first
    start, Newey–West SEs).

The TWFE and ITS methods are computed for all replications at once with array algebra
(the TWFE statistics of a balanced panel are linear in the outcomes); the
Callaway–Sant'Anna method refits each replication. Replications are split into chunks run
by :mod:`joblib` (``n_jobs``, any backend, including ``"dask"`` for a
``dask.distributed`` cluster), with a progress bar.
"""

from __future__ import annotations

import warnings
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
    ri_path_pvalues,
    simulate_ar1_panels,
    twfe_cr1,
    wild_pvalues,
)

Floats = NDArray[np.float64]
PowerMethod = Literal["cr1", "wcr", "ri", "cs", "its"]


@dataclass(frozen=True)
class PowerDesign:
    """A staggered (or block) design and the noise of one measure.

    Attributes
    ----------
    units : tuple
        Unit labels.
    n_periods : int
        Number of periods (0 .. n_periods - 1).
    start : numpy.ndarray
        Each unit's first treated period index, or -1 if never treated in the window.
    unit_sd : numpy.ndarray
        Each unit's residual standard deviation.
    phi : float
        AR(1) coefficient of the residuals.
    """

    units: tuple[Any, ...]
    n_periods: int
    start: NDArray[np.int64]
    unit_sd: Floats
    phi: float
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not -1 < self.phi < 1:
            raise ValueError(f"phi must lie in (-1, 1), got {self.phi}")
        if len(self.start) != len(self.units) or len(self.unit_sd) != len(self.units):
            raise ValueError("start and unit_sd need one value per unit")
        if not (self.start >= 0).any():
            raise ValueError("the design has no treated unit")
        if (self.start == 0).any():
            raise ValueError("a treated unit has no pre-period (start at period 0)")

    @property
    def treatment(self) -> Floats:
        """The ``units × periods`` treatment indicator."""
        t = np.arange(self.n_periods)
        st = self.start[:, None]
        return ((st >= 0) & (t[None, :] >= st)).astype(float)

    @classmethod
    def from_panel(
        cls,
        data: pd.DataFrame,
        *,
        outcome: str,
        unit: str,
        time: str,
        start: str,
    ) -> PowerDesign:
        """Estimate the design from a balanced panel's pre-programme periods.

        ``start`` is a unit-level column with the first treated value of ``time`` (missing
        or 0 for units never treated in the window).
        """
        for c in (outcome, unit, time, start):
            if c not in data:
                raise ValueError(f"column {c!r} not in data")
        if data.empty:
            raise ValueError("the panel has no rows (every unit may have been left out)")
        wide = data.pivot(index=unit, columns=time, values=outcome).sort_index(axis=1)
        if wide.isna().to_numpy().any():
            bad = wide.index[wide.isna().any(axis=1).to_numpy()][0]
            raise ValueError(
                f"unit {bad!r} is missing {outcome!r} in some period: need a balanced panel"
            )
        periods = list(wide.columns)
        st = data.groupby(unit)[start].first().reindex(wide.index)
        pos = {p: i for i, p in enumerate(periods)}
        start_idx = np.array(
            [pos.get(v, -1) if pd.notna(v) and v != 0 else -1 for v in st], dtype=np.int64
        )
        if not (start_idx >= 0).any():
            raise ValueError(
                f"no unit has a start inside the panel's periods ({periods[0]} to {periods[-1]})"
            )
        first = int(start_idx[start_idx >= 0].min())
        if first < 3:
            raise ValueError(f"only {first} pre-programme periods: too few to estimate the noise")
        y = wide.to_numpy(dtype=float)[:, :first]
        e = y - y.mean(axis=1, keepdims=True) - y.mean(axis=0, keepdims=True) + y.mean()
        n, t = e.shape
        sd = np.sqrt((e**2).sum(axis=1) / max(t - 1, 1) * n / max(n - 1, 1))
        sd = np.where(sd > 0, sd, np.median(sd[sd > 0]) if (sd > 0).any() else 1.0)
        phi = float((e[:, 1:] * e[:, :-1]).sum() / (e[:, :-1] ** 2).sum())
        phi = float(np.clip(phi, -0.95, 0.95))
        return cls(
            units=tuple(wide.index),
            n_periods=len(periods),
            start=start_idx,
            unit_sd=sd,
            phi=phi,
            info={"outcome": outcome, "periods": [str(p) for p in periods], "pre_periods": first},
        )


def simulate_outcomes(
    design: PowerDesign, effect: float, n_sims: int, rng: np.random.Generator
) -> Floats:
    """Draw ``n_sims`` panels (``sims × units × periods``) from the design."""
    return simulate_ar1_panels(design.unit_sd, design.phi, design.treatment, effect, n_sims, rng)


def _units(design: PowerDesign) -> tuple[NDArray[np.int64], int]:
    n = len(design.units)
    return np.arange(n, dtype=np.int64), n


def _reject_cr1(y: Floats, design: PowerDesign, alpha: float) -> NDArray[np.bool_]:
    cl, g = _units(design)
    beta, se, _ = twfe_cr1(y, demean2(design.treatment), cl, g)
    crit = stats.t.ppf(1 - alpha / 2, g - 1)
    out: NDArray[np.bool_] = np.abs(beta / se) > crit
    return out


def _reject_wcr(
    y: Floats, design: PowerDesign, alpha: float, n_boot: int, rng: np.random.Generator
) -> NDArray[np.bool_]:
    from soteria_eval.inference.wild import draw_weights

    cl, g = _units(design)
    v, _ = draw_weights("webb", n_boot, g, rng)
    p = wild_pvalues(y, demean2(design.treatment), cl, g, v, impose_null=True)
    out: NDArray[np.bool_] = p <= alpha
    return out


def _path_codes(design: PowerDesign) -> NDArray[np.int64]:
    _, path_of = np.unique(design.treatment, axis=0, return_inverse=True)
    return np.asarray(path_of.ravel(), dtype=np.int64)


def _reject_ri(
    y: Floats, design: PowerDesign, alpha: float, n_perm: int, rng: np.random.Generator
) -> NDArray[np.bool_]:
    """Studentized RI with the same Monte Carlo re-assignments for every replication."""
    path_of = _path_codes(design)
    assign = np.vstack([path_of[None, :], rng.permuted(np.tile(path_of, (n_perm, 1)), axis=1)])
    out: NDArray[np.bool_] = ri_path_pvalues(y, design.treatment, assign) <= alpha
    return out


def _reject_its(y: Floats, design: PowerDesign, alpha: float) -> NDArray[np.bool_]:
    from soteria_eval.its.covariance import default_lag, newey_west_many

    treated = design.start >= 0
    first = int(design.start[treated].min())
    series = y[:, treated, :].mean(axis=1).T  # periods × sims
    t = np.arange(design.n_periods, dtype=float)
    x = np.c_[np.ones_like(t), t, t >= first, np.where(t >= first, t - first, 0.0)]
    bread = np.linalg.inv(x.T @ x)
    beta = bread @ x.T @ series
    resid = series - x @ beta
    cov = newey_west_many(x, resid, bread, default_lag(len(t)))
    tstat = beta[2] / np.sqrt(cov[:, 2, 2])
    crit = stats.t.ppf(1 - alpha / 2, len(t) - x.shape[1])
    out: NDArray[np.bool_] = np.abs(tstat) > crit
    return out


def _reject_cs(y: Floats, design: PowerDesign, alpha: float) -> NDArray[np.bool_]:
    from soteria_eval.did import callaway_santanna

    n, t = len(design.units), design.n_periods
    unit = np.repeat(np.arange(n), t)
    time = np.tile(np.arange(1, t + 1), n)
    cohort = np.repeat(np.where(design.start >= 0, design.start + 1, 0), t)
    out = np.empty(len(y), dtype=bool)
    for s in range(len(y)):
        d = pd.DataFrame({"u": unit, "t": time, "g": cohort, "y": y[s].ravel()})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            agg = callaway_santanna(d, outcome="y", unit="u", time="t", cohort="g").aggregate(
                "simple"
            )
        p = float(agg.tidy().set_index("term")["p_value"].loc["overall"])
        out[s] = p <= alpha
    return out


def _chunk(
    design: PowerDesign,
    effect: float,
    n_sims: int,
    method: str,
    alpha: float,
    n_boot: int,
    seed: Sequence[int],
) -> NDArray[np.bool_]:
    rng = np.random.default_rng(list(seed))
    y = simulate_outcomes(design, effect, n_sims, rng)
    if method == "cr1":
        return _reject_cr1(y, design, alpha)
    if method == "wcr":
        return _reject_wcr(y, design, alpha, n_boot, rng)
    if method == "ri":
        return _reject_ri(y, design, alpha, n_boot, rng)
    if method == "its":
        return _reject_its(y, design, alpha)
    return _reject_cs(y, design, alpha)


@dataclass(frozen=True, repr=False)
class PowerResults:
    """Rejection rates by effect size.

    Attributes
    ----------
    table : pandas.DataFrame
        ``effect, power, mc_se, n_sims, method, alpha``.
    """

    table: pd.DataFrame
    design: PowerDesign = field(repr=False)

    def tidy(self) -> pd.DataFrame:
        """Return the table."""
        return self.table.copy()

    def mde(self, power: float = 0.8) -> float:
        """Smallest effect reaching ``power`` (linear interpolation between grid effects).

        Uses the positive effects only; ``nan`` if no grid effect reaches it.
        """
        t = self.table[self.table["effect"] > 0].sort_values("effect")
        above = np.flatnonzero(t["power"].to_numpy() >= power)
        if not len(above):
            return float("nan")
        j = int(above[0])
        e, p = t["effect"].to_numpy(), t["power"].to_numpy()
        if j == 0:
            return float(e[0])
        return float(e[j - 1] + (power - p[j - 1]) * (e[j] - e[j - 1]) / (p[j] - p[j - 1]))

    def __repr__(self) -> str:
        from soteria_eval.results import short_repr

        t = self.table
        return short_repr(
            self,
            [
                f"power at {len(t)} effect sizes",
                f"{int(t['n_sims'].max())} simulations each",
                f"MDE (80%) = {self.mde():.3g}",
            ],
        )

    def plot(self, *, title: str = "") -> Any:
        """Power against effect size with Monte Carlo intervals and the 80% line."""
        from soteria_eval.plotting import power_plot

        return power_plot(self, title=title)


def power_curve(
    design: PowerDesign,
    effects: Sequence[float],
    *,
    n_sims: int = 500,
    method: PowerMethod = "cr1",
    alpha: float = 0.05,
    n_boot: int = 999,
    seed: int = 0,
    n_jobs: int = 1,
    backend: str = "loky",
    chunk_size: int = 100,
    progress: bool = False,
) -> PowerResults:
    """Simulate the rejection rate of the design's test at each effect size.

    Parameters
    ----------
    design : PowerDesign
        From :meth:`PowerDesign.from_panel` (or built directly).
    effects : sequence of float
        Effect sizes in the outcome's units (include 0 to see the size).
    n_sims : int
        Replications per effect.
    method : {"cr1", "wcr", "ri", "cs", "its"}
        The analysis and inference of each replication (module docstring).
    n_boot : int
        Wild bootstrap draws (``wcr``) or re-assignments (``ri``) per replication.
    seed : int
        Root seed: chunk ``k`` of effect ``j`` uses ``(seed, j, k)``, so results do not
        depend on ``n_jobs``, ``backend`` or scheduling.
    n_jobs, backend : int, str
        :class:`joblib.Parallel` settings; ``backend="dask"`` runs on the active
        ``dask.distributed`` client.
    chunk_size : int
        Replications per task.
    progress : bool
        Show a progress bar (tqdm) over tasks.
    """
    import joblib
    from tqdm.auto import tqdm

    check_option("method", method, PowerMethod)
    if n_sims < 1 or chunk_size < 1:
        raise ValueError("n_sims and chunk_size must be positive")
    tasks = []
    for j, eff in enumerate(effects):
        for k, start in enumerate(range(0, n_sims, chunk_size)):
            size = min(chunk_size, n_sims - start)
            tasks.append((j, float(eff), size, (seed, j, k)))
    hits = np.zeros(len(effects))
    # parallel_config (not Parallel(backend=...)) also resolves external backends such as
    # "dask", which joblib registers on first use.
    with joblib.parallel_config(backend=backend, n_jobs=n_jobs):
        results = joblib.Parallel(return_as="generator")(
            joblib.delayed(_chunk)(design, eff, size, method, alpha, n_boot, key)
            for _, eff, size, key in tasks
        )
        for (j, _, _, _), rejected in tqdm(
            zip(tasks, results, strict=True),
            total=len(tasks),
            disable=not progress,
            desc=f"power ({method})",
        ):
            hits[j] += float(np.sum(rejected))
    power = hits / n_sims
    table = pd.DataFrame(
        {
            "effect": [float(e) for e in effects],
            "power": power,
            "mc_se": np.sqrt(power * (1 - power) / n_sims),
            "n_sims": n_sims,
            "method": method,
            "alpha": alpha,
        }
    )
    return PowerResults(table=table, design=design)


__all__ = ["PowerDesign", "PowerResults", "power_curve", "simulate_outcomes"]
