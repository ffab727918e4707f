r"""Count interrupted time series: Poisson, quasi-Poisson and negative binomial.

.. math:: \log E[y_t] = \log n_t + \beta_0 + \beta_1 t + \sum_k (\delta_k 1[t \ge t_k] + \gamma_k (t - t_k)_+) + s(t)

with an optional exposure :math:`n_t` (an offset). Effects are rate ratios,
:math:`\exp(\delta_k)`. Standard errors are Newey–West HAC (robust to overdispersion and
autocorrelation); ``family="quasipoisson"`` scales the model-based covariance by the
Pearson dispersion instead, and ``"negbin"`` fits a negative binomial (NB2) with the
dispersion estimated. Fitted with ``statsmodels`` GLM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal, get_args

import numpy as np
import pandas as pd

from soteria_eval.its.covariance import default_lag
from soteria_eval.its.segmented import Interruption, ITSResults, _time_index, segmented_regression

Family = Literal["poisson", "quasipoisson", "negbin"]


def count_its(
    data: pd.DataFrame,
    *,
    outcome: str,
    time: str,
    interruptions: Sequence[Interruption],
    family: Family = "poisson",
    exposure: str | None = None,
    seasonality: Literal["none", "dummies", "fourier"] = "none",
    hac_lag: int | None = None,
) -> ITSResults:
    """Fit a count ITS (see the module docstring); coefficients are on the log scale.

    Returns
    -------
    ITSResults
        ``info["rate_ratios"]`` holds ``exp`` of the estimates with 95% intervals.
    """
    if family not in get_args(Family):
        raise ValueError(f"family must be one of {get_args(Family)}, got {family!r}")
    import statsmodels.api as sm

    y_raw = pd.to_numeric(data[outcome], errors="coerce")
    if (y_raw < 0).any():
        raise ValueError(f"{outcome!r} has negative values; a count model needs counts")
    # Reuse the design (time index, interruptions, seasonality, checks) of the linear model.
    lin = segmented_regression(
        data,
        outcome=outcome,
        time=time,
        interruptions=interruptions,
        seasonality=seasonality,
        errors="ols",
    )
    x = lin.design.to_numpy()
    d = data.iloc[np.argsort(_time_index(data[time])[0], kind="stable")].reset_index(drop=True)
    y = lin.y
    offset = None
    if exposure:
        ex = pd.to_numeric(d[exposure], errors="coerce").to_numpy(dtype=float)
        if np.any(~(ex > 0)):
            raise ValueError(f"exposure {exposure!r} must be positive in every period")
        offset = np.log(ex)
    model = sm.GLM(y, x, family=sm.families.Poisson(), offset=offset)
    if family == "negbin":
        nb = sm.NegativeBinomial(y, x, offset=offset).fit(disp=0, maxiter=200)
        alpha = float(nb.params[-1])
        model = sm.GLM(y, x, family=sm.families.NegativeBinomial(alpha=alpha), offset=offset)
    lag = default_lag(len(y)) if hac_lag is None else hac_lag
    if family == "quasipoisson":
        fit = model.fit(scale="X2")
        inference = "quasi-Poisson (Pearson dispersion)"
    else:
        fit = model.fit(cov_type="HAC", cov_kwds={"maxlags": lag})
        inference = f"{'Poisson' if family == 'poisson' else 'negative binomial'} with Newey–West HAC (lag {lag})"
    idx = lin.design.columns
    params = pd.Series(np.asarray(fit.params), index=idx)
    cov = pd.DataFrame(np.asarray(fit.cov_params()), index=idx, columns=idx)
    se = np.sqrt(np.diag(cov.to_numpy()))
    rr = pd.DataFrame(
        {
            "rate_ratio": np.exp(params),
            "ci_lower": np.exp(params - 1.96 * se),
            "ci_upper": np.exp(params + 1.96 * se),
        }
    )
    return replace(
        lin,
        params=params,
        cov=cov,
        df=pd.Series(np.inf, index=idx),
        inference=inference,
        estimator=f"Count interrupted time series ({family})",
        info={**lin.info, "family": family, "rate_ratios": rr},
        y=y,
        resid_var=0.0,
    )
