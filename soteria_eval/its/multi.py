r"""Multi-unit interrupted time series: each area its own series, and all areas pooled.

Per unit :math:`i`, the segmented regression of :func:`~soteria_eval.its.segmented_regression`
with the unit's own programme start :math:`t_i` (phase 1 or phase 2) gives the unit's level
and slope change :math:`\delta_i, \gamma_i` with Newey–West HAC errors. Units that share a
start date share a design, so they are fitted together in one least-squares solve.

Pooled, with unit fixed effects (and, by default, unit-specific trends):

.. math:: y_{it} = \alpha_i + \beta_i t + \delta\,1(t \ge t_i) + \gamma\,(t - t_i)_+
          + s(t) + \sum_k \eta_k z_{kt} + \varepsilon_{it}

:math:`\delta, \gamma` are the average level and slope changes, :math:`z_{kt}` common
shocks (e.g. COVID-19) and :math:`s(t)` common seasonality. Standard errors are
Driscoll–Kraay, robust to autocorrelation and to correlation between areas in the same
period.

References
----------
Bernal, J. L., Cummins, S. and Gasparrini, A. (2017). Interrupted time series regression
for the evaluation of public health interventions. *International Journal of Epidemiology*.
Driscoll, J. C. and Kraay, A. C. (1998). *Review of Economics and Statistics* 80(4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import special

from soteria_eval.its.covariance import default_lag, newey_west, newey_west_many
from soteria_eval.its.segmented import (
    Interruption,
    ITSResults,
    Seasonality,
    _design,
    _time_index,
    outcome_rate,
)
from soteria_eval.results import TIDY_COLUMNS, Results

PROGRAMME = "programme"


@dataclass(frozen=True)
class _UnitBatch:
    """The per-unit fits of the units that share a design, as arrays (one column per unit)."""

    units: tuple[str, ...]
    design: pd.DataFrame
    interruptions: tuple[Interruption, ...]
    beta: NDArray[np.float64]  # p × m
    covs: NDArray[np.float64]  # m × p × p
    y: NDArray[np.float64]  # n × m
    resid_var: NDArray[np.float64]  # m
    labels: tuple[str, ...]
    inference: str
    info: Mapping[str, Any]

    def result(self, k: int) -> ITSResults:
        idx = self.design.columns
        n, p = self.design.shape
        return ITSResults(
            params=pd.Series(self.beta[:, k], index=idx),
            cov=pd.DataFrame(self.covs[k], index=idx, columns=idx),
            df=pd.Series(float(n - p), index=idx),
            inference=self.inference,
            estimator="Interrupted time series (segmented regression)",
            nobs=n,
            info={**self.info, "unit": self.units[k]},
            design=self.design,
            y=self.y[:, k],
            labels=self.labels,
            interruptions=self.interruptions,
            resid_var=float(self.resid_var[k]),
        )


@dataclass(frozen=True, repr=False)
class MultiUnitITSResults(Results):
    """Pooled effects (``params``), with every unit's own fit (:attr:`unit_results`)."""

    batches: tuple[_UnitBatch, ...] = field(default=(), repr=False)

    @property
    def unit_results(self) -> Mapping[str, ITSResults]:
        """Map each unit to its own segmented regression (:class:`ITSResults`).

        Built on access from the batched fits: counterfactual, plot and effects per unit.
        """
        return {u: b.result(k) for b in self.batches for k, u in enumerate(b.units)}

    unit_effects: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def by_unit(self, alpha: float = 0.05) -> pd.DataFrame:
        """Return the programme terms of every unit's fit: ``unit`` then :data:`TIDY_COLUMNS`."""
        e = self.unit_effects
        est, se, df = (e[c].to_numpy(dtype=float) for c in ("estimate", "std_error", "df"))
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = est / se
        crit = special.stdtrit(df, 1 - alpha / 2)  # stats.t.ppf without its overhead
        cols = {
            "unit": e["unit"].to_numpy(),
            "term": e["term"].to_numpy(),
            "estimate": est,
            "std_error": se,
            "statistic": stat,
            "df": df,
            "p_value": 2 * special.stdtr(df, -np.abs(stat)),
            "ci_lower": est - crit * se,
            "ci_upper": est + crit * se,
            "inference": e["inference"].to_numpy(),
        }
        return pd.DataFrame({c: cols[c] for c in ("unit", *TIDY_COLUMNS)})


def multi_unit_its(
    data: pd.DataFrame,
    *,
    outcome: str,
    time: str,
    unit: str,
    start: str | None = None,
    interruptions: Sequence[Interruption] = (),
    slope: bool = True,
    seasonality: Seasonality = "none",
    fourier_terms: int = 2,
    exposure: str | None = None,
    per: float = 1.0,
    unit_trends: bool = True,
    hac_lag: int | None = None,
    exclude: Sequence[str | int] = (),
) -> MultiUnitITSResults:
    """Fit every unit's segmented regression and the pooled fixed-effects model.

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel: one row per unit and period; every unit covers the same consecutive
        periods.
    outcome, time, unit : str
        Columns.
    start : str, optional
        Column with each unit's programme start period (constant within a unit); it
        becomes an interruption named ``"programme"``.
    interruptions : sequence of Interruption
        Interruptions common to every unit (shocks such as COVID-19, or a common
        programme date when ``start`` is not given).
    slope : bool
        Estimate a slope change at the unit's start as well as a level change.
    unit_trends : bool
        Pooled model with a trend per unit (``True``) or one common trend.
    seasonality, fourier_terms, exposure, per, hac_lag, exclude
        As in :func:`~soteria_eval.its.segmented_regression`.

    Returns
    -------
    MultiUnitITSResults
        ``params`` holds the pooled common terms (unit intercepts and trends are
        nuisance and not reported); :meth:`~MultiUnitITSResults.by_unit` the per-unit
        effects.
    """
    need = [outcome, time, unit] + [c for c in (start, exposure) if c]
    missing = [c for c in need if c not in data]
    if missing:
        raise ValueError(f"column(s) not in data: {missing}")
    if start is None and not any(i.programme for i in interruptions):
        raise ValueError("give a start column or at least one programme interruption")
    # Arrays, not pivots and group-bys: this runs once per measure, over many measures.
    d = data  # only read: nothing below writes into it
    y_all = outcome_rate(d, outcome, time, exposure, per).to_numpy()
    if np.isnan(y_all).any():
        row = d.iloc[int(np.flatnonzero(np.isnan(y_all))[0])]
        raise ValueError(f"{outcome!r} is missing (unit {row[unit]!r}, period {row[time]!r})")
    u_codes, u_values = pd.factorize(d[unit], sort=True)
    p_codes, p_values = pd.factorize(d[time], sort=True)
    n_periods, m = len(p_values), len(u_values)
    cell = u_codes.astype(np.int64) * n_periods + p_codes
    # Balanced: every (unit, period) cell holds exactly one row.
    per_cell = np.bincount(cell, minlength=m * n_periods).reshape(m, n_periods)
    unbalanced = (per_cell != 1).any(axis=1)
    if unbalanced.any():
        bad_unit = u_values[int(np.flatnonzero(unbalanced)[0])]
        raise ValueError(
            f"unit {bad_unit!r} does not have exactly one row in every period: "
            "multi-unit ITS needs a balanced panel"
        )
    y_sorted = np.empty((n_periods, m))
    y_sorted[p_codes, u_codes] = y_all
    t, labels, freq = _periods(p_values)
    order = np.argsort(t)
    t, labels = t[order], [labels[i] for i in order]
    y_mat = y_sorted[order]
    if len(np.flatnonzero(np.diff(t) != 1)):
        raise ValueError("the periods must be consecutive")
    units = [str(u) for u in u_values]
    if start is not None:
        s_codes, s_values = pd.factorize(d[start], sort=False)  # missing: -1
        lo = np.full(m, np.iinfo(np.int64).max)
        hi = np.full(m, -2)
        np.minimum.at(lo, u_codes, s_codes)
        np.maximum.at(hi, u_codes, s_codes)
        if (lo != hi).any():
            raise ValueError(
                f"{start!r} varies within unit {u_values[int(np.flatnonzero(lo != hi)[0])]!r}"
            )
        if (hi < 0).any():
            raise ValueError(
                f"unit {u_values[int(np.flatnonzero(hi < 0)[0])]!r} has no programme start in {start!r}"
            )
        start_of: list[object] = list(np.asarray(s_values, dtype=object)[hi])
    n, m = len(t), len(units)
    lag = default_lag(n) if hac_lag is None else hac_lag

    def its_for(at: object) -> list[Interruption]:
        own = [] if at is None else [Interruption(PROGRAMME, at, slope=slope)]  # type: ignore[arg-type]
        return [*own, *interruptions]

    # Per unit: one solve per distinct start date.
    batches: list[_UnitBatch] = []
    groups: dict[object, list[int]] = {}
    for j in range(m):
        groups.setdefault(None if start is None else start_of[j], []).append(j)
    effects = []
    for at, cols in groups.items():
        its = its_for(at)
        design = _cached_design(t, labels, freq, its, seasonality, fourier_terms, exclude)
        x = design.to_numpy()
        p = x.shape[1]
        bread = np.linalg.inv(x.T @ x)
        y = y_mat[:, cols]
        beta = bread @ x.T @ y
        resid = y - x @ beta
        covs = newey_west_many(x, resid, bread, lag)
        s2 = (resid**2).sum(axis=0) / (n - p)
        idx = design.columns
        inference = f"OLS with Newey–West HAC (lag {lag})"
        for name in (f"{k}:{i.name}" for i in its if i.programme for k in ("level", "slope")):
            if name in idx:
                c = idx.get_loc(name)
                effects.append(
                    (cols, name, beta[c], np.sqrt(covs[:, c, c]), float(n - p), inference)
                )
        batches.append(
            _UnitBatch(
                units=tuple(units[j] for j in cols), design=design, interruptions=tuple(its),
                beta=beta, covs=covs, y=y, resid_var=s2, labels=tuple(labels), inference=inference,
                info={"outcome": outcome, "n_periods": n, "hac_lag": lag},
            )
        )  # fmt: skip
    # Pooled: stack the unit designs; intercepts (and trends) become unit-specific.
    nuisance = ["(Intercept)"] + (["time"] if unit_trends else [])
    firsts = {}
    for at, b in zip(groups, batches, strict=True):
        keep = [j for j, c in enumerate(b.design.columns) if c not in nuisance]
        firsts[at] = ([str(b.design.columns[j]) for j in keep], b.design.to_numpy()[:, keep])
    names = next(iter(firsts.values()))[0]
    if any(f[0] != names for f in firsts.values()):
        raise ValueError("units' designs differ in their common terms")
    common_x = np.empty((m, n, len(names)))
    for at, cols in groups.items():
        common_x[cols] = firsts[at][1]
    # The unit intercepts (and trends) are partialled out unit by unit (Frisch–Waugh–
    # Lovell): every unit has the same periods, so one projection serves all. The common
    # terms' estimates, residuals and Driscoll–Kraay covariance equal those of the
    # regression with a dummy (and a trend) per unit.
    own = np.column_stack([np.ones(n), np.arange(n, dtype=float)] if unit_trends else [np.ones(n)])
    proj = own @ np.linalg.pinv(own)
    x_tilde = common_x - proj @ common_x
    y_tilde = (y_mat - proj @ y_mat).T  # m × n
    x = x_tilde.reshape(m * n, -1)
    xtx = x.T @ x
    if np.linalg.matrix_rank(xtx) < x.shape[1]:
        raise ValueError(
            "the pooled design is collinear: with one common start date, unit trends and "
            "a common slope change cannot all be told apart from the shocks; set unit_trends=False "
            "or drop a common interruption"
        )
    pooled_bread: NDArray[np.float64] = np.asarray(np.linalg.inv(xtx), dtype=np.float64)
    beta = pooled_bread @ (x.T @ y_tilde.reshape(-1))
    resid = y_tilde.reshape(-1) - x @ beta
    scores = (x_tilde * resid.reshape(m, n)[:, :, None]).sum(axis=0)  # period sums, n × k
    cov = newey_west(scores, np.ones(n), pooled_bread, lag)
    k = len(names)
    idx = pd.Index(names)
    return MultiUnitITSResults(
        params=pd.Series(beta[:k], index=idx),
        cov=pd.DataFrame(cov[:k, :k], index=idx, columns=idx),
        df=pd.Series(float(n - 1), index=idx),
        inference=f"pooled OLS with unit fixed effects{' and trends' if unit_trends else ''}, "
        f"Driscoll–Kraay HAC (lag {lag})",
        estimator="Multi-unit interrupted time series",
        nobs=n * m,
        info={
            "outcome": outcome,
            "n_units": m,
            "n_periods": n,
            "hac_lag": lag,
            "unit_trends": unit_trends,
            "starts": {} if start is None else {u: str(start_of[j]) for j, u in enumerate(units)},
        },
        batches=tuple(batches),
        unit_effects=_effects_table(effects, units),
    )


def _periods(values: pd.Index) -> tuple[NDArray[np.float64], list[str], str | None]:
    """Numeric positions, labels and frequency of the distinct periods (parsed once)."""
    labels = tuple(values.astype(str)) if not pd.api.types.is_numeric_dtype(values) else None
    if labels is None:
        return _time_index(pd.Series(values))
    t, lab, freq = _parsed_labels(labels)
    return t.copy(), list(lab), freq


@lru_cache(maxsize=64)
def _parsed_labels(
    labels: tuple[str, ...],
) -> tuple[NDArray[np.float64], tuple[str, ...], str | None]:
    t, lab, freq = _time_index(pd.Series(labels, dtype=object))
    return t, tuple(lab), freq


_DESIGNS: dict[tuple[Any, ...], tuple[NDArray[np.float64], list[str], pd.Index]] = {}


def _cached_design(
    t: NDArray[np.float64],
    labels: list[str],
    freq: str | None,
    its: Sequence[Interruption],
    seasonality: Seasonality,
    fourier_terms: int,
    exclude: Sequence[str | int],
) -> pd.DataFrame:
    """:func:`_design`, built once per distinct design (many measures share a few designs).

    Each call returns a new frame over a copy of the cached matrix, so no result shares
    (or can alter) another's design.
    """
    key = (tuple(t), tuple(labels), freq, tuple(its), seasonality, fourier_terms, tuple(exclude))
    if key not in _DESIGNS:
        if len(_DESIGNS) > 256:
            _DESIGNS.clear()
        d = _design(t, labels, freq, its, seasonality, fourier_terms, exclude)
        _DESIGNS[key] = (d.to_numpy(dtype=float), list(d.columns), d.index)
    x, columns, index = _DESIGNS[key]
    return pd.DataFrame(x.copy(), columns=columns, index=index)


def _effects_table(
    effects: list[tuple[list[int], str, Any, Any, float, str]], units: list[str]
) -> pd.DataFrame:
    """One row per unit and programme term, in unit order then term."""
    if not effects:
        return pd.DataFrame(columns=["unit", "term", "estimate", "std_error", "df", "inference"])
    unit = np.concatenate([np.asarray(cols, dtype=np.int64) for cols, *_ in effects])
    sizes = [len(cols) for cols, *_ in effects]
    term = np.repeat(np.array([e[1] for e in effects], dtype=str), sizes)
    order = np.lexsort((term, unit))  # stable: unit order, then term

    def stack(i: int) -> NDArray[np.float64]:
        return np.concatenate(
            [
                np.broadcast_to(np.asarray(e[i], dtype=float), (n,))
                for e, n in zip(effects, sizes, strict=True)
            ]
        )[order]

    inference = np.repeat(np.array([e[5] for e in effects], dtype=object), sizes)[order]
    return pd.DataFrame(
        {
            "unit": np.asarray(units, dtype=object)[unit[order]],
            "term": term[order].astype(object),
            "estimate": stack(2),
            "std_error": stack(3),
            "df": stack(4),
            "inference": inference,
        }
    )


__all__ = ["MultiUnitITSResults", "multi_unit_its"]
