r"""Callaway and Sant'Anna (2021) group-time average treatment effects.

For each cohort :math:`g` (units first treated in period :math:`g`) and period :math:`t`,

.. math:: ATT(g, t) = E[Y_t - Y_b \mid G = g] - E[Y_t - Y_b \mid C = 1],

where :math:`b` is the base period (the period before :math:`t` for pre-treatment cells
with a *varying* base, otherwise the last period before :math:`g - \delta`, with
:math:`\delta` periods of anticipation) and :math:`C` marks the comparison units: never
treated, or not yet treated by :math:`\max(t, b) + \delta`. With covariates the two-period
comparison uses outcome regression, inverse probability weighting or the doubly robust
estimator of Sant'Anna and Zhao (2020). The estimate of each cell keeps its influence
function, so aggregations (:meth:`CallawaySantAnnaResults.aggregate`) and their standard
errors, clustered or bootstrapped, come from the results object without refitting.

The identifying assumption is parallel trends between each cohort and its comparison
group (conditional on covariates), and no anticipation beyond :math:`\delta` periods.

References
----------
Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple time
periods. *Journal of Econometrics* 225(2), 200–230. The computations follow the R package
``did`` (``att_gt``, ``aggte``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import special, stats

from soteria_eval._options import check_option
from soteria_eval.did._drdid import ESTIMATORS, ESTIMATORS_RC
from soteria_eval.results import Results, html_table, short_repr

ControlGroup = Literal["never_treated", "not_yet_treated"]
Method = Literal["dr", "ipw", "reg"]
BasePeriod = Literal["varying", "universal"]
AggregationType = Literal["simple", "group", "calendar", "dynamic"]
Floats = NDArray[np.float64]

ATT_GT_COLUMNS = (
    "cohort",
    "time",
    "event_time",
    "post",
    "estimate",
    "std_error",
    "ci_lower",
    "ci_upper",
    "n_treated",
    "n_control",
)


@dataclass(frozen=True, repr=False)
class CallawaySantAnnaResults:
    """Group-time ATTs with their influence functions and the settings that made them.

    Attributes
    ----------
    att_gt : pandas.DataFrame
        One row per (cohort, time) cell: columns :data:`ATT_GT_COLUMNS`.
    influence : numpy.ndarray
        Influence functions, units × cells (so ``Var = psi'psi / n²``).
    unit_cohort : numpy.ndarray
        Each unit's cohort (0 for never treated), aligned with ``influence`` rows.
    clusters : numpy.ndarray
        Each unit's cluster code (its own index when clustering by unit).
    settings : mapping
        outcome, unit, time, cohort, control_group, method, covariates, base_period,
        anticipation, alpha, cluster.
    n_dropped : int
        Units dropped (treated in or before the first period, or missing data).
    """

    att_gt: pd.DataFrame
    influence: Floats = field(repr=False)
    unit_cohort: Floats = field(repr=False)
    clusters: NDArray[np.int64] = field(repr=False)
    settings: Mapping[str, Any] = field(default_factory=dict)
    n_dropped: int = 0

    @property
    def n_units(self) -> int:
        """Number of units used."""
        return int(self.influence.shape[0])

    def aggregate(
        self,
        type: AggregationType = "simple",
        *,
        min_e: float = -np.inf,
        max_e: float = np.inf,
        balance_e: int | None = None,
    ) -> AggregatedResults:
        """Aggregate the group-time effects (R ``did::aggte``).

        Parameters
        ----------
        type : {"simple", "group", "calendar", "dynamic"}
            ``simple``: average of post-treatment cells weighted by cohort size;
            ``group``: average effect per cohort, then across cohorts; ``calendar``: per
            period, then across periods; ``dynamic``: per event time (an event study),
            overall the mean over non-negative event times.
        min_e, max_e : float
            Event-time window (dynamic, and the cells used by the other types).
        balance_e : int, optional
            Dynamic only: keep cohorts observed for at least ``balance_e`` periods after
            treatment, so every event time has the same cohorts.

        Returns
        -------
        AggregatedResults
            ``params`` holds ``overall`` and one term per cohort, period or event time;
            the covariance comes from the influence functions, including the
            estimation of the cohort-size weights.
        """
        check_option("type", type, AggregationType)
        if balance_e is not None and type != "dynamic":
            raise ValueError("balance_e applies to type='dynamic' only")
        a = self.att_gt
        att = a["estimate"].to_numpy(dtype=float)
        g = a["cohort"].to_numpy(dtype=float)
        t = a["time"].to_numpy(dtype=float)
        e = a["event_time"].to_numpy(dtype=float)
        psi = self.influence
        n = self.n_units
        cohorts = np.unique(g)
        pg_cohort = np.array([np.mean(self.unit_cohort == c) for c in cohorts])
        pg = pg_cohort[np.searchsorted(cohorts, g)]
        in_window = (e >= min_e) & (e <= max_e)

        def wif(keep: NDArray[np.bool_], groups: Floats, p: Floats) -> Floats:
            # Influence function of estimated weights P(G=g)/sum P(G=g').
            ind = (self.unit_cohort[:, None] == groups[None, :]).astype(float)
            s = p.sum()
            if1 = (ind - p[None, :]) / s
            if2 = (ind - p[None, :]).sum(axis=1, keepdims=True) * (p / s**2)[None, :]
            out: Floats = if1 - if2
            return out

        def weighted(keep: NDArray[np.bool_]) -> tuple[float, Floats]:
            w = pg[keep] / pg[keep].sum()
            est = float(att[keep] @ w)
            inf = psi[:, keep] @ w + wif(keep, g[keep], pg[keep]) @ att[keep]
            return est, inf

        terms: list[str] = []
        ests: list[float] = []
        infs: list[Floats] = []
        if type == "simple":
            keep = (g <= t) & in_window
            est, inf = weighted(keep)
            terms, ests, infs = ["overall"], [est], [inf]
        elif type == "group":
            per_g, inf_g = [], []
            for c in cohorts:
                keep = (g == c) & (g <= t) & in_window
                if not keep.any():
                    continue
                per_g.append(float(att[keep].mean()))
                inf_g.append(psi[:, keep].mean(axis=1))
                terms.append(f"cohort {c:g}")
            att_g = np.array(per_g)
            pgc = np.array(
                [pg_cohort[np.searchsorted(cohorts, float(s.split()[1]))] for s in terms]
            )
            w = pgc / pgc.sum()
            glist = np.array([float(s.split()[1]) for s in terms])
            overall_inf = (
                np.column_stack(inf_g) @ w
                + wif(np.ones(len(glist), dtype=bool), glist, pgc) @ att_g
            )
            terms = ["overall", *terms]
            ests = [float(att_g @ w), *per_g]
            infs = [overall_inf, *inf_g]
        elif type == "dynamic":
            keep_base = in_window.copy()
            if balance_e is not None:
                last = pd.Series(t).groupby(g).max()
                span = last.to_numpy() - last.index.to_numpy(dtype=float)
                ok_cohort = last.index.to_numpy(dtype=float)[span >= balance_e]
                keep_base &= np.isin(g, ok_cohort) & (e <= balance_e)
            per_e, inf_e, evals = [], [], []
            for ev in np.unique(e[keep_base]):
                est, inf = weighted(keep_base & (e == ev))
                per_e.append(est)
                inf_e.append(inf)
                evals.append(ev)
            pos = [i for i, ev in enumerate(evals) if ev >= 0]
            overall = float(np.mean([per_e[i] for i in pos]))
            overall_inf = np.mean(np.column_stack([inf_e[i] for i in pos]), axis=1)
            terms = ["overall", *[f"event {ev:+g}" for ev in evals]]
            ests = [overall, *per_e]
            infs = [overall_inf, *inf_e]
        else:  # calendar
            per_t, inf_t, tl = [], [], []
            for tt in np.unique(t[(g <= t) & in_window]):
                est, inf = weighted((t == tt) & (g <= t) & in_window)
                per_t.append(est)
                inf_t.append(inf)
                tl.append(tt)
            terms = ["overall", *[f"period {x:g}" for x in tl]]
            ests = [float(np.mean(per_t)), *per_t]
            infs = [np.mean(np.column_stack(inf_t), axis=1), *inf_t]
        inf_mat = np.column_stack(infs)
        summed = _cluster_sums(inf_mat, self.clusters)
        cov = summed.T @ summed / n**2
        # A term fixed by normalisation (the universal base period) has no sampling variance.
        fixed = np.all(inf_mat == 0, axis=0)
        cov[fixed, :] = np.nan
        cov[:, fixed] = np.nan
        idx = pd.Index(terms)
        cl = self.settings.get("cluster")
        inference = "analytic (influence function)" + (f", clustered by {cl}" if cl else "")
        return AggregatedResults(
            params=pd.Series(ests, index=idx),
            cov=pd.DataFrame(cov, index=idx, columns=idx),
            df=pd.Series(np.inf, index=idx),
            inference=inference,
            estimator=f"Callaway–Sant'Anna ({type} aggregation)",
            nobs=n,
            n_dropped=self.n_dropped,
            info={
                **self.settings,
                "aggregation": type,
                "n_units": n,
                "n_treated": int((self.unit_cohort > 0).sum()),
            },
            influence=inf_mat,
            clusters=self.clusters,
        )

    def tidy(self) -> pd.DataFrame:
        """Return the group-time effects (same as :attr:`att_gt`)."""
        return self.att_gt.copy()

    def summary(self) -> str:
        """Return a plain-text table of the group-time effects."""
        s = self.settings
        head = (
            f"Callaway–Sant'Anna ATT(g,t): outcome {s['outcome']}, control {s['control_group']}, "
            f"method {s['method']}, base period {s['base_period']}, anticipation {s['anticipation']}\n"
            f"Units: {self.n_units}   Dropped units: {self.n_dropped}\n\n"
        )
        with pd.option_context("display.float_format", "{:.6g}".format, "display.width", 120):
            return head + self.att_gt.to_string(index=False)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        s = self.settings
        return short_repr(
            self,
            [
                f"Callaway–Sant'Anna ATT(g,t) of {s.get('outcome')}",
                f"{len(self.att_gt)} group-time cells",
                f"{self.n_units} units ({self.n_dropped} dropped)",
                f"control {s.get('control_group')}",
                "aggregate() for overall and event-time effects",
            ],
        )

    def _repr_html_(self) -> str:
        return f"<div><p>{self.summary().splitlines()[0]}</p>{html_table(self.att_gt)}</div>"

    def plot(self, **kwargs: Any) -> Any:
        """Heatmap of the group-time effects (:func:`soteria_eval.plotting.group_time_heatmap`)."""
        from soteria_eval.plotting import group_time_heatmap

        return group_time_heatmap(self, **kwargs)


def _influence_se(psi: Floats, clusters: NDArray[np.int64]) -> Floats:
    """Cluster-robust analytic standard errors of columns of (unit) influence functions."""
    se: Floats = np.sqrt(np.sum(_cluster_sums(psi, clusters) ** 2, axis=0)) / psi.shape[0]
    return se


def _cluster_sums(values: Floats, clusters: NDArray[np.int64]) -> Floats:
    """Sum rows of ``values`` within clusters (a no-op when every unit is its own cluster)."""
    g = int(clusters.max()) + 1
    if g == len(clusters) and np.array_equal(clusters, np.arange(g)):
        return values
    ind = np.zeros((len(clusters), g))
    ind[np.arange(len(clusters)), clusters] = 1.0
    out: Floats = ind.T @ values
    return out


@dataclass(frozen=True, repr=False)
class AggregatedResults(Results):
    """An aggregation of group-time effects; keeps influence functions for re-inference."""

    influence: Floats | None = field(default=None, repr=False)
    clusters: NDArray[np.int64] | None = field(default=None, repr=False)

    def bootstrap(
        self, n_boot: int = 999, *, seed: int = 0, weights: str = "rademacher", alpha: float = 0.05
    ) -> AggregatedResults:
        """Multiplier bootstrap (clustered) with a uniform confidence band.

        Rademacher weights by default, as R ``did``'s multiplier bootstrap; Mammen weights
        on request.

        Draws ``n_boot`` vectors of cluster weights at once and perturbs the influence
        functions (one matrix product, no loop over draws). Standard errors are the
        bootstrap interquartile range divided by that of the normal (as R ``did``); the
        uniform band's critical value is the ``1 - alpha`` quantile of the largest
        studentised deviation across the non-overall terms.

        Returns a new results object (``info["uniform_crit"]`` holds the band's critical
        value; ``conf_int(uniform=True)`` uses it).
        """
        if self.influence is None or self.clusters is None:
            raise ValueError("these results keep no influence functions")
        if weights not in ("mammen", "rademacher"):
            raise ValueError(f"weights must be 'mammen' or 'rademacher', got {weights!r}")
        rng = np.random.default_rng(seed)
        n = self.nobs
        g = int(self.clusters.max()) + 1
        summed = _cluster_sums(self.influence, self.clusters)
        # Two-point weights v = a + (b - a) * 1[draw], so v @ S = a * sum(S) + (b - a) * (1[draw] @ S):
        # the draws stay 0/1 (uniform bits for Rademacher, a float32 uniform against p for
        # Mammen) and only one matrix product touches them.
        draw: NDArray[Any]
        if weights == "mammen":
            k = (np.sqrt(5) + 1) / 2
            draw = rng.random((n_boot, g), dtype=np.float32)
            np.greater_equal(draw, np.float32(k / np.sqrt(5)), out=draw)  # 1: weight k
            low, high = 1 - k, k
        else:
            packed = rng.integers(0, 256, size=(n_boot, (g + 7) // 8), dtype=np.uint8)
            draw = np.unpackbits(packed, axis=1, count=g)  # 1: weight +1
            low, high = -1.0, 1.0
        # The 0/1 draws are exact in float32; summed is split into a float32 part and its
        # remainder so two float32 products keep ~1e-7 relative accuracy at half the cost.
        hi = summed.astype(np.float32)
        lo = (summed - hi).astype(np.float32)
        draw32 = draw.astype(np.float32, copy=False)
        prod = (draw32 @ hi).astype(np.float64) + (draw32 @ lo)
        boot = (low * summed.sum(axis=0) + (high - low) * prod) / n
        q = np.quantile(boot, [0.25, 0.75], axis=0)
        se = (q[1] - q[0]) / (special.ndtri(0.75) - special.ndtri(0.25))
        se = np.where(se > 0, se, np.nan)
        band = [i for i, term in enumerate(self.params.index) if term != "overall"] or [0]
        tmax = np.nanmax(np.abs(boot[:, band]) / se[band], axis=1)
        crit = float(np.quantile(tmax, 1 - alpha))
        cov = np.diag(se**2)
        idx = self.params.index
        info = dict(self.info)
        info.update(uniform_crit=crit, n_boot=n_boot, boot_weights=weights, seed=seed)
        return replace(
            self,
            cov=pd.DataFrame(cov, index=idx, columns=idx),
            inference=f"multiplier bootstrap ({weights}, {n_boot} draws, clustered)",
            info=info,
        )

    def wald(self, terms: Sequence[str] | None = None) -> tuple[float, int, float]:
        """Joint Wald test that the given terms are all zero (default: pre-treatment events).

        Returns ``(chi2, df, p_value)``; with few clusters the chi-squared reference is
        optimistic, as for every analytic test here.
        """
        if terms is None:
            terms = [t for t in self.params.index if str(t).startswith("event -")]
        variances = pd.Series(np.diag(self.cov.to_numpy()), index=self.cov.index)
        terms = [t for t in terms if np.isfinite(variances[t])]
        if not terms:
            raise ValueError("no terms to test")
        b = self.params.loc[terms].to_numpy()
        v = self.cov.loc[terms, terms].to_numpy()
        stat = float(b @ np.linalg.pinv(v) @ b)
        k = len(terms)
        return stat, k, float(stats.chi2.sf(stat, k))

    def conf_int(self, alpha: float = 0.05, *, uniform: bool = False) -> pd.DataFrame:
        """Pointwise intervals, or the uniform band after :meth:`bootstrap`."""
        if not uniform:
            return super().conf_int(alpha)
        crit = self.info.get("uniform_crit")
        if crit is None:
            raise ValueError("a uniform band needs bootstrap(): call results.bootstrap() first")
        se = self.std_errors
        return pd.DataFrame(
            {"ci_lower": self.params - crit * se, "ci_upper": self.params + crit * se}
        )

    def plot(self, **kwargs: Any) -> Any:
        """Plot the aggregation: an event study for ``"dynamic"``, else the estimates.

        Calls :func:`soteria_eval.plotting.event_study_plot` or
        :func:`~soteria_eval.plotting.estimate_plot`; returns a matplotlib figure.
        """
        if self.info.get("aggregation") == "dynamic":
            from soteria_eval.plotting import event_study_plot

            kwargs.setdefault("ylabel", f"Effect on {self.info.get('outcome', 'the outcome')}")
            return event_study_plot(self, **kwargs)
        return super().plot(**kwargs)


def _wide_codes(
    d: pd.DataFrame,
    unit: str,
    time: str,
    u_codes: NDArray[np.intp],
    t_codes: NDArray[np.intp],
    y: Floats,
    kept: NDArray[np.bool_],
    n_units: int,
    n_periods: int,
) -> Floats:
    """Units × periods array of ``y`` from the kept rows' codes; NaN where a unit has no row.

    A duplicate (unit, period) row among the kept rows is an error naming the first one.
    """
    cell = u_codes[kept].astype(np.int64) * n_periods + t_codes[kept]
    if len(np.unique(cell)) < len(cell):
        sub = d[kept]
        i = int(np.flatnonzero(sub.duplicated([unit, time]).to_numpy())[0])
        u, t = (getattr(v, "item", lambda v=v: v)() for v in (sub[unit].iloc[i], sub[time].iloc[i]))
        raise ValueError(f"unit {u!r} has more than one row for period {t!r}")
    out = np.full((n_units, n_periods), np.nan)
    out[u_codes[kept], t_codes[kept]] = y[kept]
    return out


def callaway_santanna(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    control_group: ControlGroup = "never_treated",
    method: Method = "dr",
    covariates: Sequence[str] = (),
    base_period: BasePeriod = "varying",
    anticipation: int = 0,
    cluster: str | None = None,
    alpha: float = 0.05,
    allow_unbalanced_panel: bool = False,
) -> CallawaySantAnnaResults:
    """Estimate group-time average treatment effects (see the module docstring).

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel: one row per unit and period. Units missing a period (no row, or a
        missing outcome or covariate) are dropped with a warning and counted in
        ``n_dropped`` — R ``did``'s default — unless ``allow_unbalanced_panel``.
    outcome, unit, time : str
        Column names. ``time`` is numeric (consecutive periods need not differ by 1), or
        the package's period labels (``"2016-Q1"``, ``"2016-01"``, ``"2016/17"``, as
        :func:`~soteria_eval.rollout.treatment_panel` writes them), which are numbered
        1..T in time order (``settings["period_labels"]`` keeps the labels).
    cohort : str
        First treated period of each unit (constant within unit), in the same units as
        ``time``; 0, missing or empty for units never treated. A cohort after the last
        period is not treated in the data: its units are recoded as never treated (as R
        ``did`` does), with a warning that counts them.
    control_group : {"never_treated", "not_yet_treated"}
        Comparison units.
    method : {"dr", "ipw", "reg"}
        Two-period estimator used with covariates (identical without covariates).
    covariates : sequence of str
        Pre-treatment covariates, taken at the base period.
    base_period : {"varying", "universal"}
        Base period of pre-treatment cells.
    anticipation : int
        Periods of anticipation before the cohort's start.
    cluster : str, optional
        Column constant within unit to cluster standard errors on (default: unit).
    alpha : float
        Level of the pointwise confidence intervals.
    allow_unbalanced_panel : bool
        Keep every observed row: each cell is then estimated with the repeated
        cross-section estimators of Sant'Anna and Zhao (2020) on the rows of its two
        periods, and the row influence functions are summed by unit (so standard errors
        stay clustered by unit), as R ``did`` with ``allow_unbalanced_panel = TRUE``.

    Returns
    -------
    CallawaySantAnnaResults
    """
    check_option("control_group", control_group, ControlGroup)
    check_option("method", method, Method)
    check_option("base_period", base_period, BasePeriod)
    if anticipation < 0:
        raise ValueError(f"anticipation must be >= 0, got {anticipation}")
    cols = [outcome, unit, time, cohort, *covariates] + ([cluster] if cluster else [])
    missing = [c for c in dict.fromkeys(cols) if c not in data]
    if missing:
        raise ValueError(f"column(s) not in data: {missing}")
    # The front end works on arrays and unit codes (this runs on every estimate of a study);
    # the frame is only consulted for covariates, clusters and error messages.
    d = data  # only read: nothing below writes into it
    period_labels: tuple[str, ...] = ()
    late_labels: dict[Any, str] = {}
    if not pd.api.types.is_numeric_dtype(d[time]):
        d, period_labels, late_labels = _number_periods(d, unit, time, cohort)
    g_all = pd.to_numeric(d[cohort], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    g_all = np.where(np.isnan(g_all), 0.0, g_all)
    t_all = d[time].to_numpy(dtype=float, na_value=np.nan)
    y_all = d[outcome].to_numpy(dtype=float, na_value=np.nan)
    incomplete = np.isnan(y_all) | np.isnan(t_all)
    for c in covariates:
        incomplete |= d[c].isna().to_numpy()
    n_rows_dropped = 0
    if allow_unbalanced_panel:
        n_rows_dropped = int(incomplete.sum())
        if n_rows_dropped:
            keep = ~incomplete
            d, g_all, t_all, y_all = d[keep], g_all[keep], t_all[keep], y_all[keep]
            incomplete = incomplete[keep]
    u_codes, uniq = pd.factorize(d[unit], sort=True)
    if (u_codes < 0).any():
        raise ValueError(f"{unit!r} is missing in {int((u_codes < 0).sum())} row(s)")
    n_all = len(uniq)
    g_lo = np.full(n_all, np.inf)
    g_hi = np.full(n_all, -np.inf)
    np.minimum.at(g_lo, u_codes, g_all)
    np.maximum.at(g_hi, u_codes, g_all)
    n_varies = int((g_lo != g_hi).sum())
    if n_varies:
        raise ValueError(
            f"{cohort!r} varies within unit for {n_varies} unit(s); it must be the unit's first treated period"
        )
    bad_unit = np.bincount(u_codes[incomplete], minlength=n_all) > 0
    if len(d) == 0 or bad_unit.all():
        raise ValueError(
            f"every unit has a missing {outcome!r} (or covariate) in some period; nothing to estimate"
        )
    tlist = np.unique(t_all[~np.isnan(t_all)])
    first = tlist[0]
    late = g_all > tlist[-1]
    if late.any():
        idx = np.flatnonzero(late)
        late_rows = idx[np.unique(u_codes[idx], return_index=True)[1]]  # first row of each
        unit_values = d[unit].to_numpy()
        names = sorted({late_labels.get(unit_values[r], f"{g_all[r]:g}") for r in late_rows})
        warnings.warn(
            f"{len(late_rows)} unit(s) of cohort(s) "
            f"{names} start after the last period: they are not treated in the data and are "
            "counted as never treated",
            stacklevel=2,
        )
        g_lo = np.where(g_lo > tlist[-1], 0.0, g_lo)
    early_unit = (g_lo > 0) & (g_lo <= first + anticipation)
    if early_unit.any():
        warnings.warn(
            f"{int(early_unit.sum())} unit(s) treated in the first period have no pre-period and are dropped",
            stacklevel=2,
        )
    drop_unit = bad_unit | early_unit
    row_kept = ~drop_unit[u_codes]
    row_t = np.searchsorted(tlist, t_all)
    wide = _wide_codes(d, unit, time, u_codes, row_t, y_all, row_kept, n_all, len(tlist))
    if not allow_unbalanced_panel:
        gap_unit = ~drop_unit & np.isnan(wide).any(axis=1)
        if gap_unit.any() or bad_unit.any():
            warnings.warn(
                f"{int(gap_unit.sum() + bad_unit.sum())} unit(s) not observed in every period are "
                "dropped (balanced panel); use allow_unbalanced_panel=True to keep them",
                stacklevel=2,
            )
        drop_unit = drop_unit | gap_unit
        row_kept = ~drop_unit[u_codes]
        if drop_unit.all():
            raise ValueError("no unit is observed in every period; try allow_unbalanced_panel=True")
    kept_unit = ~drop_unit
    units = pd.Index(uniq[kept_unit], name=unit)
    y = wide[kept_unit]
    new_pos = np.cumsum(kept_unit) - 1  # a kept unit's row in ``units``
    row_unit_all = new_pos[u_codes]
    if allow_unbalanced_panel:
        row_unit = row_unit_all[row_kept]
        row_t = row_t[row_kept]
        row_y = y_all[row_kept]
        row_x = (
            d.loc[row_kept, list(covariates)].to_numpy(dtype=float)
            if covariates
            else np.zeros((int(row_kept.sum()), 0))
        )
    gvec = g_lo[kept_unit]
    cohorts = np.sort(np.unique(gvec[gvec > 0]))
    if len(cohorts) == 0:
        raise ValueError("no treated cohort in the data")
    if control_group == "never_treated" and not (gvec == 0).any():
        raise ValueError(
            "control_group='never_treated' needs never-treated units (cohort 0 or missing); there are none — use 'not_yet_treated'"
        )
    for c in cohorts:
        if (gvec == c).sum() == 1:
            warnings.warn(
                f"cohort {c:g} has a single unit: its effects rest on one unit", stacklevel=2
            )
    kept_rows = d.loc[row_kept, list(dict.fromkeys(cols))] if (covariates or cluster) else d
    xcov = None
    if covariates and not allow_unbalanced_panel:
        xw = {
            c: kept_rows.pivot(index=unit, columns=time, values=c).loc[units].to_numpy(dtype=float)
            for c in covariates
        }
        xcov = np.stack([xw[c] for c in covariates], axis=2)  # units × periods × k
    estimator = ESTIMATORS[method]
    n = len(units)
    rows: list[tuple[Any, ...]] = []
    infs: list[Floats] = []
    z = special.ndtri(1 - alpha / 2)
    varying = base_period == "varying"
    for g in cohorts:
        pre_idx = np.flatnonzero(tlist + anticipation < g)
        last_pre = int(pre_idx[-1])
        t_range = range(1, len(tlist)) if varying else range(len(tlist))
        for ti in t_range:
            tn = tlist[ti]
            base = ti - 1 if varying else last_pre
            if g - anticipation <= tn:
                base = last_pre
            post = bool(g <= tn)
            if not varying and base == ti:
                rows.append(
                    (g, tn, tn - g, post, 0.0, np.nan, np.nan, np.nan, int((gvec == g).sum()), 0)
                )
                infs.append(np.zeros(n))
                continue
            treat = gvec == g
            if control_group == "never_treated":
                ctrl = gvec == 0
            else:
                ctrl = (gvec == 0) | ((gvec > max(tn, tlist[base]) + anticipation) & (gvec != g))
            if not ctrl.any():
                continue
            sub = treat | ctrl
            if allow_unbalanced_panel:
                # Repeated cross-sections on the cell's rows; row influence summed by unit.
                in_cell = sub[row_unit] & ((row_t == ti) | (row_t == base))
                post_r = (row_t[in_cell] == ti).astype(float)
                d_r = treat[row_unit[in_cell]].astype(float)
                rc = ESTIMATORS_RC["reg" if not covariates else method]
                att, psi_rows = rc(row_y[in_cell], post_r, d_r, row_x[in_cell])
                psi: Floats = np.bincount(
                    row_unit[in_cell], weights=psi_rows * (n / in_cell.sum()), minlength=n
                ).astype(float)
            else:
                dy = y[sub, ti] - y[sub, base]
                dd = treat[sub].astype(float)
                if xcov is None:
                    m1, m0 = dy[dd == 1].mean(), dy[dd == 0].mean()
                    p1, p0 = dd.mean(), 1 - dd.mean()
                    att = float(m1 - m0)
                    psi_sub = dd * (dy - m1) / p1 - (1 - dd) * (dy - m0) / p0
                else:
                    x = xcov[sub][:, min(base, ti), :]
                    att, psi_sub = estimator(dy, dd, x)
                psi = np.zeros(n)
                psi[sub] = psi_sub * (n / sub.sum())
            infs.append(psi)
            rows.append(
                (
                    g,
                    tn,
                    tn - g,
                    post,
                    att,
                    np.nan,
                    np.nan,
                    np.nan,
                    int(treat.sum()),
                    int(ctrl.sum()),
                )
            )
    if not infs:
        raise ValueError(
            "no (cohort, period) cell has comparison units: every cohort lacks a never- or not-yet-treated comparison"
        )
    influence = np.column_stack(infs)
    if cluster is not None:
        per_cl = kept_rows.groupby(unit)[cluster].nunique()
        if (per_cl > 1).any():
            raise ValueError(f"cluster {cluster!r} must be constant within unit")
        # Each unit's first row, in the order of ``units``.
        first_row = np.unique(row_unit_all[row_kept], return_index=True)[1]
        per_unit = kept_rows[cluster].iloc[first_row]
        clusters = pd.factorize(per_unit, sort=True)[0].astype(np.int64)
    else:
        clusters = np.arange(n, dtype=np.int64)
    # Standard errors from the influence functions (clustered); a cell with no influence
    # (the universal base period's reference cell) has none.
    se = _influence_se(influence, clusters)
    se[np.abs(influence).sum(axis=0) == 0] = np.nan
    cells = dict(
        zip(ATT_GT_COLUMNS, (np.asarray(col) for col in zip(*rows, strict=True)), strict=True)
    )
    cells["std_error"] = se
    cells["ci_lower"] = cells["estimate"] - z * se
    cells["ci_upper"] = cells["estimate"] + z * se
    return CallawaySantAnnaResults(
        att_gt=pd.DataFrame(cells, columns=list(ATT_GT_COLUMNS)),
        influence=influence,
        unit_cohort=gvec,
        clusters=clusters,
        settings={
            "outcome": outcome, "unit": unit, "time": time, "cohort": cohort,
            "control_group": control_group, "method": method, "covariates": tuple(covariates),
            "base_period": base_period, "anticipation": anticipation, "alpha": alpha, "cluster": cluster,
            "allow_unbalanced_panel": allow_unbalanced_panel, "period_labels": period_labels,
        },
        n_dropped=int(drop_unit.sum()) if not allow_unbalanced_panel else n_rows_dropped,
    )  # fmt: skip


def _number_periods(
    d: pd.DataFrame, unit: str, time: str, cohort: str
) -> tuple[pd.DataFrame, tuple[str, ...], dict[Any, str]]:
    """Give the package's period labels the numbers 1..T in time order; cohorts the same way.

    A cohort label after the last period gets T + 1 (not treated in the data); one before
    the first period gets 1 (treated from the start, so without a pre-period). Returns the
    frame, the labels in order, and the late cohort label of each unit with one.
    """
    from soteria_eval.periods import infer_frequency, parse_period

    labels = sorted({str(v) for v in d[time].dropna()})
    freqs = {infer_frequency(v) for v in labels}
    if len(freqs) != 1 or None in freqs:
        bad = next((v for v in labels if infer_frequency(v) is None), labels[0] if labels else "")
        raise ValueError(
            f"{time!r} must be numeric or the package's period labels of one frequency "
            f"('2016-Q1', '2016-01' or '2016/17'); got {bad!r}. Number the periods first, "
            "e.g. with soteria_eval.rollout.cohort_frame (adds t and g columns)"
        )
    freq = freqs.pop()
    assert freq is not None
    order = sorted(labels, key=lambda v: parse_period(v, freq).ordinal)
    pos = {v: i + 1 for i, v in enumerate(order)}
    first, last = parse_period(order[0], freq).ordinal, parse_period(order[-1], freq).ordinal

    def cohort_number(v: Any) -> float:
        if (
            v is None
            or (isinstance(v, float) and np.isnan(v))
            or str(v) in ("", "0", "nan", "<NA>")
        ):
            return 0.0
        label = str(v)
        if infer_frequency(label) != freq:
            raise ValueError(
                f"{cohort!r} holds {label!r}, not a {freq} label like the periods of {time!r}"
            )
        if label in pos:
            return float(pos[label])
        o = parse_period(label, freq).ordinal
        if o > last:
            return float(len(order) + 1)
        if o < first:
            return 1.0
        raise ValueError(f"{cohort!r} holds {label!r}, which is not one of the periods of {time!r}")

    out = d.copy()
    out[time] = d[time].astype(str).map(pos).astype(float)
    out[cohort] = [cohort_number(v) for v in d[cohort].astype(object)]
    late = out[cohort] > len(order)
    return (
        out,
        tuple(order),
        dict(zip(d.loc[late, unit], d.loc[late, cohort].astype(str), strict=True)),
    )
