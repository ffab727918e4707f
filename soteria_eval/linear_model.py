"""Least squares with absorbed fixed effects: the engine under TWFE, 2x2 DiD and ITS.

:func:`fit_absorbed` drops (and counts) incomplete rows, absorbs the fixed effects,
solves for the remaining coefficients and computes the requested covariance. The
returned :class:`LinearResults` keeps what re-inference needs, so
:meth:`LinearResults.with_vcov` gives a new results object with another covariance
without refitting.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from soteria_eval._linalg import Absorber, FloatArray, IntArray, collinear_columns, solve_ols
from soteria_eval.covariance import Covariance, LinearFit, compute_vcov
from soteria_eval.results import Results

#: Below this many clusters, cluster-robust t tests over-reject; a warning says so.
FEW_CLUSTERS = 20


class FewClustersWarning(UserWarning):
    """Cluster-robust inference with few clusters (or few treated clusters)."""


def codes_of(values: pd.Series) -> IntArray:
    """Return 0-based integer codes of a column's values (sorted order)."""
    codes, _ = pd.factorize(values, sort=True)
    return np.asarray(codes, dtype=np.int64)


def _as_float(values: pd.Series, index: pd.Index) -> FloatArray:
    """Return a column as floats aligned with ``index`` (non-numbers and missing: NaN)."""
    if not values.index.equals(index):
        values = values.reindex(index)
    if pd.api.types.is_numeric_dtype(values.dtype):
        return np.asarray(values.to_numpy(dtype=float, na_value=np.nan), dtype=np.float64)
    return np.asarray(
        pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan),
        dtype=np.float64,
    )


@dataclass(frozen=True, repr=False)
class LinearResults(Results):
    """Results of a linear model; re-inference returns a new object."""

    fit: LinearFit | None = field(default=None, repr=False)
    source: pd.DataFrame | None = field(default=None, repr=False)
    rows: IntArray | None = field(default=None, repr=False)

    def with_vcov(
        self, vcov: str, *, cluster: str | None = None, fe_dof: str = "full"
    ) -> LinearResults:
        """Return a copy with another covariance estimator (the estimates are unchanged).

        Parameters
        ----------
        vcov : {"iid", "HC1", "CR0", "CR1", "CR2"}
            Covariance estimator.
        cluster : str, optional
            Column of the data passed at fit time to cluster on (default: the one used
            at fit time).
        fe_dof : {"full", "nested", "lm", "fixest"}
            How fixed effects count in CR1's small-sample factor.
        """
        if self.fit is None or self.source is None or self.rows is None:
            raise ValueError("these results keep no fit to re-infer from")
        col = cluster or self.info.get("cluster")
        if col is not None and col not in self.source:
            raise ValueError(f"cluster column {col!r} is not in the data")
        clusters = (
            codes_of(self.source[col].iloc[self.rows])
            if col is not None and vcov.startswith("CR")
            else None
        )
        cov = compute_vcov(self.fit, vcov, clusters, fe_dof)
        return _with_cov(self, cov, col)


def _with_cov(res: LinearResults, cov: Covariance, cluster: str | None) -> LinearResults:
    names = res.params.index
    info = dict(res.info)
    info.update(vcov=cov.name, cluster=cluster, n_clusters=cov.n_clusters)
    inference = cov.description + (
        f" by {cluster}" if cluster and cov.name.startswith("CR") else ""
    )
    return replace(
        res,
        cov=pd.DataFrame(cov.cov, index=names, columns=names),
        df=pd.Series(cov.df, index=names),
        inference=inference,
        info=info,
        overrides={},
    )


def fit_absorbed(
    data: pd.DataFrame,
    *,
    outcome: str,
    regressors: Mapping[str, pd.Series | str],
    absorb: Sequence[str] = (),
    weights: str | None = None,
    intercept: bool = False,
    cluster: str | None = None,
    vcov: str = "CR1",
    fe_dof: str = "full",
    estimator: str = "Linear model",
    info: Mapping[str, Any] | None = None,
) -> LinearResults:
    """Fit ``outcome ~ regressors + fixed effects`` by (weighted) least squares.

    Parameters
    ----------
    data : pandas.DataFrame
        Input rows.
    outcome : str
        Outcome column.
    regressors : mapping of term name to column name or Series
        The coefficients to estimate (aligned with ``data``'s index).
    absorb : sequence of str
        Columns whose levels are fixed effects, absorbed rather than estimated.
    weights : str, optional
        Column of non-negative observation weights.
    intercept : bool
        Add a constant (only meaningful without fixed effects).
    cluster : str, optional
        Cluster column for CR covariances.
    vcov : str
        Covariance estimator (:mod:`soteria_eval.covariance`).
    fe_dof : {"full", "nested", "lm", "fixest"}
        Fixed-effect degrees of freedom in CR1's small-sample factor.
    estimator : str
        Name shown in summaries.
    info : mapping, optional
        Extra facts to store in ``results.info``.

    Returns
    -------
    LinearResults

    Raises
    ------
    ValueError
        For missing columns, collinear regressors, negative weights or too few clusters.
    """
    needed = [outcome, *absorb] + ([weights] if weights else []) + ([cluster] if cluster else [])
    missing = [c for c in needed if c not in data]
    if missing:
        raise ValueError(f"column(s) not in data: {missing}")
    names = list(regressors)
    y_all = _as_float(data[outcome], data.index)
    x_all = np.empty((len(data), len(names)))
    for j, k in enumerate(names):
        v = regressors[k]
        x_all[:, j] = _as_float(data[v] if isinstance(v, str) else v, data.index)
    extra_cols = list(
        dict.fromkeys([*absorb] + ([weights] if weights else []) + ([cluster] if cluster else []))
    )
    complete_arr = np.isfinite(y_all) & np.isfinite(x_all).all(axis=1)
    for c in extra_cols:
        complete_arr &= data[c].notna().to_numpy()
    n_dropped = int((~complete_arr).sum())
    if not complete_arr.any():
        raise ValueError("no complete rows to fit")
    used = data.loc[complete_arr, extra_cols]
    y = y_all[complete_arr]
    x = x_all[complete_arr]
    if intercept:
        x = np.column_stack([np.ones(len(y)), x])
        names = ["(Intercept)", *names]
    w: FloatArray | None = None
    if weights:
        w = used[weights].to_numpy(dtype=float)
        if (w < 0).any():
            raise ValueError(f"weights column {weights!r} has negative values")
    absorber = Absorber.build([codes_of(used[c]) for c in absorb], w)
    y_t = absorber.demean(y)
    x_t = absorber.demean(x)
    bad = collinear_columns(x_t if w is None else x_t * np.sqrt(w)[:, None], names)
    if bad:
        raise ValueError(
            f"regressor(s) {bad} are collinear with the fixed effects or other regressors "
            "(e.g. constant within units or periods); drop them"
        )
    sw = None if w is None else np.sqrt(w)
    if sw is not None:
        x_t, y_t = x_t * sw[:, None], y_t * sw
    beta, bread = solve_ols(x_t, y_t)
    resid = y_t - x_t @ beta
    fit = LinearFit(
        x=x_t, resid=resid, bread=bread, absorber=absorber, sqrt_w=sw, k_fe=absorber.dof()
    )
    clusters = codes_of(used[cluster]) if cluster is not None and vcov.startswith("CR") else None
    if clusters is not None:
        g = int(np.unique(clusters).size)
        if g < FEW_CLUSTERS:
            warnings.warn(
                f"only {g} clusters: {vcov} t tests over-reject with few (treated) clusters; "
                "prefer a wild cluster bootstrap or randomization inference",
                FewClustersWarning,
                stacklevel=3,
            )
    cov = compute_vcov(fit, vcov, clusters, fe_dof)
    base_info: dict[str, Any] = {
        "outcome": outcome,
        "absorb": tuple(absorb),
        "weights": weights,
        "fe_dof": fe_dof,
    }
    base_info.update(info or {})
    idx = pd.Index(names)
    res = LinearResults(
        params=pd.Series(beta, index=idx),
        cov=pd.DataFrame(cov.cov, index=idx, columns=idx),
        df=pd.Series(cov.df, index=idx),
        inference="",
        estimator=estimator,
        nobs=len(y),
        n_dropped=n_dropped,
        info=base_info,
        fit=fit,
        source=data,
        rows=np.flatnonzero(complete_arr),
    )
    return _with_cov(res, cov, cluster)
