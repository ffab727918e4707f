"""Two-way fixed effects (TWFE) and 2x2 difference-in-differences."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from soteria_eval.linear_model import LinearResults, fit_absorbed


def _unit_counts(data: pd.DataFrame, unit: str, treatment: str) -> dict[str, int]:
    ever = data.groupby(unit)[treatment].max()
    return {"n_units": int(ever.size), "n_treated": int((ever > 0).sum())}


def twfe(
    data: pd.DataFrame,
    *,
    outcome: str,
    treatment: str,
    unit: str,
    time: str,
    covariates: Sequence[str] = (),
    weights: str | None = None,
    cluster: str | None = None,
    vcov: str = "CR1",
    fe_dof: str = "full",
) -> LinearResults:
    r"""Two-way fixed-effects regression with absorbed unit and period effects.

    .. math:: y_{it} = \alpha_i + \lambda_t + \beta D_{it} + X_{it}'\gamma + \varepsilon_{it}

    ``beta`` is the DiD estimate. Under staggered adoption with effects that vary over
    time or cohort it is a weighted average of 2x2 comparisons with possibly negative
    weights (Goodman-Bacon 2021; de Chaisemartin and D'Haultfœuille 2020): use the
    Callaway–Sant'Anna or imputation estimators there.

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel, one row per unit and period.
    outcome, treatment, unit, time : str
        Column names; ``treatment`` is 0/1 (or a treated share in [0, 1]).
    covariates : sequence of str
        Time-varying controls.
    weights : str, optional
        Observation weights (WLS).
    cluster : str, optional
        Cluster column (default: ``unit``).
    vcov : {"CR1", "CR2", "CR0", "HC1", "iid"}
        Covariance estimator; CR2 uses Satterthwaite degrees of freedom.
    fe_dof : {"full", "nested", "lm", "fixest"}
        Whether fixed effects nested in the clusters count in CR1's small-sample factor:
        ``"full"`` (alias ``"lm"``, R ``lm`` + ``sandwich::vcovCL(type = "HC1")``) or
        ``"nested"`` (alias ``"fixest"``, R ``fixest::feols`` defaults); see
        :mod:`soteria_eval.covariance`.

    Returns
    -------
    LinearResults
        Term ``treatment`` (and covariates). ``n_dropped`` counts incomplete rows.

    References
    ----------
    Angrist, J. and Pischke, J.-S. (2009). *Mostly Harmless Econometrics*, ch. 5.
    """
    cl = cluster or unit
    counts = _unit_counts(data.dropna(subset=[treatment]), unit, treatment)
    return fit_absorbed(
        data,
        outcome=outcome,
        regressors={treatment: treatment, **{c: c for c in covariates}},
        absorb=(unit, time),
        weights=weights,
        cluster=cl,
        vcov=vcov,
        fe_dof=fe_dof,
        estimator="Two-way fixed effects DiD",
        info={
            **counts,
            "n_periods": int(data[time].nunique()),
            "unit": unit,
            "time": time,
            "treatment": treatment,
        },
    )


def did_2x2(
    data: pd.DataFrame,
    *,
    outcome: str,
    treated: str,
    post: str,
    cluster: str | None = None,
    weights: str | None = None,
    vcov: str = "CR1",
) -> LinearResults:
    r"""Canonical 2x2 difference-in-differences by regression.

    .. math:: y = \alpha + \gamma G + \lambda P + \delta (G \times P) + \varepsilon

    ``delta`` (term ``"treated:post"``) equals
    :math:`(\bar y_{G=1,P=1} - \bar y_{G=1,P=0}) - (\bar y_{G=0,P=1} - \bar y_{G=0,P=0})`,
    which :func:`did_means` computes from the four cell means.

    Parameters
    ----------
    data : pandas.DataFrame
        Rows for both groups and both periods.
    outcome : str
        Outcome column.
    treated, post : str
        Boolean (or 0/1) columns: the unit is in the treated group; the row is after
        the start.
    cluster : str, optional
        Cluster column; required for the CR estimators.
    weights : str, optional
        Observation weights.
    vcov : str
        Covariance estimator.
    """
    g = data[treated].astype(float)
    p = data[post].astype(float)
    cells = pd.crosstab(g, p)
    if cells.shape != (2, 2) or (cells.to_numpy() == 0).any():
        raise ValueError(
            f"a 2x2 DiD needs rows in all four cells of {treated!r} x {post!r}; got counts\n{cells}"
        )
    return fit_absorbed(
        data,
        outcome=outcome,
        regressors={"treated": g, "post": p, "treated:post": g * p},
        intercept=True,
        weights=weights,
        cluster=cluster,
        vcov=vcov if cluster is not None or not vcov.startswith("CR") else "HC1",
        estimator="2x2 difference-in-differences",
        info={"treated": treated, "post": post},
    )


def did_means(data: pd.DataFrame, *, outcome: str, treated: str, post: str) -> pd.DataFrame:
    """Return the four cell means and the 2x2 DiD computed from them.

    Returns
    -------
    pandas.DataFrame
        Index ``treated`` (False, True), columns ``pre, post, change``; the attribute
        ``attrs["did"]`` holds the difference in changes.
    """
    d = data.dropna(subset=[outcome, treated, post])
    g = d[treated].astype(bool).to_numpy()
    p = d[post].astype(bool).to_numpy()
    y = d[outcome].to_numpy(dtype=float)
    cell = np.array(
        [[y[(g == gi) & (p == pi)].mean() for pi in (False, True)] for gi in (False, True)]
    )
    means = pd.DataFrame(
        cell, index=pd.Index([False, True], name="treated"), columns=["pre", "post"]
    )
    means["change"] = cell[:, 1] - cell[:, 0]
    means.attrs["did"] = float((cell[1, 1] - cell[1, 0]) - (cell[0, 1] - cell[0, 0]))
    return means
