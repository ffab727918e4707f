r"""Comparative interrupted time series: a treated series against a comparison series.

Two forms, which give the same point estimates when the design is the same:

* **pooled** — both series stacked, every segmented-regression term interacted with a
  treated indicator :math:`G`:

  .. math:: y_{gt} = x_t'\beta + G\,x_t'\theta + \varepsilon_{gt}

  The programme effect is the *differential* level and slope change,
  :math:`\theta_{\text{level}}, \theta_{\text{slope}}`: whatever changed in the comparison
  series at the same date (:math:`\beta_{\text{level}}`) is not credited to the programme.
  Standard errors are Driscoll–Kraay (Newey–West on the per-period scores), robust to the
  two series being correlated in the same period.
* **difference** — the segmented regression of :math:`d_t = y_{1t} - y_{0t}`, with any of
  the error models of :func:`~soteria_eval.its.segmented_regression` (HAC, AR(p), ARIMA).

The identifying assumption is weaker than a single-series ITS: without the programme, the
*gap* between the series would have kept its pre-period trend.

References
----------
Linden, A. (2015). Conducting interrupted time-series analysis for single- and
multiple-group comparisons. *The Stata Journal* 15(2).
Bernal, J. L., Cummins, S. and Gasparrini, A. (2018). The use of controls in interrupted
time series studies of public health interventions. *International Journal of
Epidemiology* 47(6).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import replace
from typing import Literal

import numpy as np
import pandas as pd

from soteria_eval._options import check_option
from soteria_eval.its.covariance import default_lag, driscoll_kraay
from soteria_eval.its.segmented import (
    Errors,
    Interruption,
    ITSResults,
    Seasonality,
    _design,
    _ordered,
    outcome_rate,
    segmented_regression,
)

Approach = Literal["pooled", "difference"]


def _split(
    data: pd.DataFrame,
    outcome: str,
    time: str,
    group: str,
    treated: Hashable,
    exposure: str | None,
    per: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    missing = [
        c for c in (outcome, time, group) + ((exposure,) if exposure else ()) if c not in data
    ]
    if missing:
        raise ValueError(f"column(s) not in data: {missing}")
    groups = pd.unique(data[group])
    if treated not in set(groups):
        raise ValueError(f"treated value {treated!r} not found in column {group!r}")
    if len(groups) != 2:
        raise ValueError(
            f"column {group!r} must hold exactly two series (treated and comparison), found "
            f"{len(groups)}; aggregate the comparison units first, or use multi_unit_its"
        )
    out = []
    for is_treated in (False, True):
        part = data.loc[(data[group] == treated) == is_treated].copy()
        if part[time].duplicated().any():
            raise ValueError(
                f"the {'treated' if is_treated else 'comparison'} series repeats a period"
            )
        part["_y"] = outcome_rate(part, outcome, time, exposure, per)
        out.append(_ordered(part, time)[0])
    if out[0][time].astype(str).tolist() != out[1][time].astype(str).tolist():
        raise ValueError("the treated and comparison series must cover the same periods")
    return out[0], out[1]


def comparative_its(
    data: pd.DataFrame,
    *,
    outcome: str,
    time: str,
    group: str,
    treated: Hashable,
    interruptions: Sequence[Interruption],
    approach: Approach = "pooled",
    seasonality: Seasonality = "none",
    fourier_terms: int = 2,
    exposure: str | None = None,
    per: float = 1.0,
    errors: Errors = "hac",
    hac_lag: int | None = None,
    exclude: Sequence[str | int] = (),
    ar_order: int = 1,
    arima_order: tuple[int, int, int] = (1, 0, 0),
    seasonality_shared: bool = False,
) -> ITSResults:
    """Fit a comparative ITS (see the module docstring).

    Parameters
    ----------
    data : pandas.DataFrame
        Two series in long form: one row per period and ``group`` value.
    group, treated : str, hashable
        The column naming the series and the value marking the treated one.
    approach : {"pooled", "difference"}
        Stacked with interactions (Driscoll–Kraay HAC, or classical OLS with
        ``errors="ols"``), or the difference series with any ``errors`` model.
    seasonality, fourier_terms, exposure, per, hac_lag, exclude
        As in :func:`~soteria_eval.its.segmented_regression`.
    seasonality_shared : bool
        Pooled form only: one set of seasonal terms for both series (not interacted with
        the treated indicator), as most published comparative ITS models in R write it
        (``y ~ (t + level + slope) * treated + season``). Default ``False``: every term,
        seasonal ones included, is interacted, which equals the difference-series model.

    Returns
    -------
    ITSResults
        Its counterfactual is on the treated series' scale and carries the comparison
        series; the programme terms are ``treated:level:<name>`` and
        ``treated:slope:<name>`` (pooled) or ``level:<name>``, ``slope:<name>`` of the
        difference (difference).
    """
    check_option("approach", approach, Approach)
    check_option("errors", errors, Errors)
    comp, trt = _split(data, outcome, time, group, treated, exposure, per)
    y0, y1 = comp["_y"].to_numpy(dtype=float), trt["_y"].to_numpy(dtype=float)
    if np.isnan(y0).any() or np.isnan(y1).any():
        raise ValueError(f"{outcome!r} is missing in some period(s) of the two series")
    if seasonality_shared and approach != "pooled":
        raise ValueError(
            "seasonality_shared needs approach='pooled': the difference series has one set of "
            "seasonal terms, the difference of the two series' own"
        )
    if approach == "difference":
        diff = pd.DataFrame({time: trt[time].to_numpy(), "difference": y1 - y0})
        res = segmented_regression(
            diff,
            outcome="difference",
            time=time,
            interruptions=interruptions,
            seasonality=seasonality,
            fourier_terms=fourier_terms,
            errors=errors,
            hac_lag=hac_lag,
            exclude=exclude,
            ar_order=ar_order,
            arima_order=arima_order,
        )
        return replace(
            res,
            estimator="Comparative ITS (difference series)",
            baseline=y0,
            comparison=y0,
            info={**res.info, "outcome": outcome, "approach": approach},
        )
    if errors not in ("hac", "ols"):
        raise ValueError(
            f"errors={errors!r} needs approach='difference'; the pooled form supports 'hac' and 'ols'"
        )
    _, t, labels, freq = _ordered(trt, time)
    base = _design(t, labels, freq, interruptions, seasonality, fourier_terms, exclude)
    n = len(base)
    x0 = base.to_numpy()
    seasonal = [str(c).startswith(("season:", "sin", "cos")) for c in base.columns]
    inter = [not sv for sv in seasonal] if seasonality_shared else [True] * len(seasonal)
    x1 = x0[:, inter]
    x = np.block([[x0, np.zeros_like(x1)], [x0, x1]])
    names = [str(c) for c in base.columns] + [
        f"treated:{c}" for c, keep in zip(base.columns, inter, strict=True) if keep
    ]
    y = np.concatenate([y0, y1])
    bread = np.linalg.inv(x.T @ x)
    beta = bread @ x.T @ y
    resid = y - x @ beta
    p = x.shape[1]
    resid_var = float(resid @ resid) / (2 * n - p)
    if errors == "hac":
        lag = default_lag(n) if hac_lag is None else hac_lag
        period = np.tile(np.arange(n), 2)
        cov = driscoll_kraay(x, resid, period, bread, lag)
        inference = f"pooled OLS with Driscoll–Kraay HAC (lag {lag})"
        extra: dict[str, object] = {"hac_lag": lag}
        df = float(n - x0.shape[1])
    else:
        cov = resid_var * bread
        inference = "pooled OLS (classical)"
        extra = {}
        df = float(2 * n - p)
    idx = pd.Index(names)
    programme = {i.name for i in interruptions if i.programme}
    effect_terms = tuple(
        f"treated:{kind}:{name}" for name in programme for kind in ("level", "slope")
    )
    design = pd.DataFrame(x[n:], columns=idx)
    return ITSResults(
        params=pd.Series(beta, index=idx),
        cov=pd.DataFrame(cov, index=idx, columns=idx),
        df=pd.Series(df, index=idx),
        inference=inference,
        estimator="Comparative ITS (pooled, interacted)",
        nobs=2 * n,
        info={
            "outcome": outcome,
            "n_periods": n,
            "approach": approach,
            "errors": errors,
            "seasonality_shared": seasonality_shared,
            **extra,
        },
        design=design,
        y=y1,
        labels=tuple(labels),
        interruptions=tuple(interruptions),
        resid_var=resid_var,
        effect_terms=effect_terms,
        comparison=y0,
    )


__all__ = ["Approach", "comparative_its"]
