r"""Segmented regression for interrupted time series.

.. math:: y_t = \beta_0 + \beta_1 t + \sum_k \big[\delta_k 1(t \ge t_k) + \gamma_k (t - t_k) 1(t \ge t_k)\big]
          + s(t) + \varepsilon_t

Each interruption :math:`t_k` (phase 1, phase 2, the national model, or a shock such as
COVID-19) has a level change :math:`\delta_k` and, optionally, a slope change
:math:`\gamma_k`; :math:`s(t)` is seasonality by month (or quarter) dummies or Fourier
terms. Errors: OLS with Newey–West HAC standard errors, or GLS with AR(1) errors (REML).
The counterfactual is the fitted series with the programme's interruption terms set to
zero (shocks such as COVID-19 are kept), so the effect at a horizon :math:`h` after
:math:`t_k` is :math:`\delta_k + \gamma_k h` plus the terms of earlier interruptions.

The identifying assumption is that, without the programme, the pre-interruption trend
(and seasonality) would have continued; nothing else changed at the interruption.

References
----------
Wagner, A. K. et al. (2002). Segmented regression analysis of interrupted time series
studies in medication use research. *Journal of Clinical Pharmacy and Therapeutics* 27.
Bernal, J. L., Cummins, S. and Gasparrini, A. (2017). Interrupted time series regression
for the evaluation of public health interventions. *International Journal of Epidemiology*.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from soteria_eval._options import check_option
from soteria_eval.its.covariance import default_lag, gls_ar1, newey_west
from soteria_eval.periods import infer_frequency, parse_period, period_label
from soteria_eval.results import Results

Errors = Literal["hac", "ar1", "ols"]
Seasonality = Literal["none", "dummies", "fourier"]
Floats = NDArray[np.float64]


@dataclass(frozen=True)
class Interruption:
    """A date at which the series may change level and slope."""

    name: str
    at: str | int
    slope: bool = True
    programme: bool = True


@dataclass(frozen=True)
class ITSResults(Results):
    """Segmented-regression results with what counterfactuals and effects need."""

    design: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    y: Floats = field(default_factory=lambda: np.zeros(0), repr=False)
    labels: tuple[str, ...] = ()
    interruptions: tuple[Interruption, ...] = ()
    resid_var: float = 0.0

    def counterfactual(self, alpha: float = 0.05) -> pd.DataFrame:
        """Observed, fitted and counterfactual series with confidence and prediction bands.

        Returns
        -------
        pandas.DataFrame
            ``period, observed, fitted, counterfactual, cf_lower, cf_upper, pi_lower,
            pi_upper, effect``: the counterfactual sets every programme interruption's
            terms to zero; bands are pointwise (confidence: the mean; prediction: a new
            observation).
        """
        x = self.design[self.params.index].to_numpy()
        x_cf = x.copy()
        for j, term in enumerate(self.params.index):
            if any(
                term in (f"level:{i.name}", f"slope:{i.name}")
                for i in self.interruptions
                if i.programme
            ):
                x_cf[:, j] = 0.0
        b = self.params.to_numpy()
        v = self.cov.to_numpy()
        fitted, cf = x @ b, x_cf @ b
        se = np.sqrt(np.einsum("ij,jk,ik->i", x_cf, v, x_cf))
        z = stats.norm.ppf(1 - alpha / 2)
        se_pred = np.sqrt(se**2 + self.resid_var)
        return pd.DataFrame(
            {
                "period": list(self.labels),
                "observed": self.y,
                "fitted": fitted,
                "counterfactual": cf,
                "cf_lower": cf - z * se,
                "cf_upper": cf + z * se,
                "pi_lower": cf - z * se_pred,
                "pi_upper": cf + z * se_pred,
                "effect": fitted - cf,
            }
        )

    def effect_at(
        self, horizons: Sequence[int], interruption: str | None = None, alpha: float = 0.05
    ) -> pd.DataFrame:
        """Effect ``h`` periods after an interruption, and the cumulative effect, with SEs.

        The effect is the linear combination of the programme terms at that period (delta
        method, exact for a linear model); the cumulative effect sums the effects from
        the interruption to ``h``.
        """
        progs = [i for i in self.interruptions if i.programme]
        if not progs:
            raise ValueError("the model has no programme interruption")
        target = (
            progs[0]
            if interruption is None
            else next((i for i in progs if i.name == interruption), None)
        )
        if target is None:
            raise ValueError(
                f"unknown interruption {interruption!r}; known: {[i.name for i in progs]}"
            )
        x = self.design[self.params.index].to_numpy()
        start = int(np.flatnonzero(self.design[f"level:{target.name}"].to_numpy() > 0)[0])
        mask = np.array(
            [
                any(t in (f"level:{i.name}", f"slope:{i.name}") for i in progs)
                for t in self.params.index
            ]
        )
        b, v = self.params.to_numpy(), self.cov.to_numpy()
        z = stats.norm.ppf(1 - alpha / 2)
        rows = []
        for h in horizons:
            idx = start + h
            if idx >= len(x):
                raise ValueError(f"horizon {h} lies beyond the end of the series")
            c = np.where(mask, x[idx], 0.0)
            cum = np.where(mask[None, :], x[start : idx + 1], 0.0).sum(axis=0)
            for kind, vec in (("at", c), ("cumulative", cum)):
                est, se = float(vec @ b), float(np.sqrt(vec @ v @ vec))
                rows.append((h, kind, self.labels[idx], est, se, est - z * se, est + z * se))
        return pd.DataFrame(
            rows,
            columns=["horizon", "kind", "period", "estimate", "std_error", "ci_lower", "ci_upper"],
        )


def _time_index(values: pd.Series) -> tuple[Floats, list[str], str | None]:
    if pd.api.types.is_numeric_dtype(values):
        t = values.to_numpy(dtype=float)
        return t, [str(int(v)) for v in t], None
    labels = values.astype(str).tolist()
    freqs = {infer_frequency(lab) for lab in labels}
    if len(freqs) != 1 or None in freqs:
        raise ValueError(
            "time must be integers or period labels of one frequency (2021-09, 2021-Q3, 2021/22)"
        )
    freq = freqs.pop()
    t = np.array([parse_period(lab, freq).ordinal for lab in labels], dtype=float)  # type: ignore[arg-type]
    return t, labels, freq


def segmented_regression(
    data: pd.DataFrame,
    *,
    outcome: str,
    time: str,
    interruptions: Sequence[Interruption],
    seasonality: Seasonality = "none",
    fourier_terms: int = 2,
    exposure: str | None = None,
    per: float = 1.0,
    errors: Errors = "hac",
    hac_lag: int | None = None,
    alpha: float = 0.05,
    exclude: Sequence[str | int] = (),
) -> ITSResults:
    """Fit a segmented regression (see the module docstring).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per period, in any order; consecutive periods, no gaps.
    outcome, time : str
        Columns; ``time`` holds integers or period labels (``2021-09``, ``2021-Q3``).
    interruptions : sequence of Interruption
        Dates (in the same form as ``time``) with level and slope changes; ``programme``
        marks those the counterfactual removes.
    seasonality : {"none", "dummies", "fourier"}
        Month (or quarter) dummies, or ``fourier_terms`` sine–cosine pairs.
    exposure : str, optional
        Divide the outcome by this column (times ``per``) to model a rate.
    errors : {"hac", "ar1", "ols"}
        Newey–West HAC (lag ``hac_lag``, default :func:`~soteria_eval.its.covariance.default_lag`),
        GLS with AR(1) errors (REML), or classical OLS.
    exclude : sequence, optional
        Periods whose observations should not inform the fit (e.g. the COVID-19 months):
        each gets its own dummy, which removes it while keeping the series consecutive.

    Returns
    -------
    ITSResults
    """
    check_option("errors", errors, Errors)
    check_option("seasonality", seasonality, Seasonality)
    missing = [c for c in (outcome, time) + ((exposure,) if exposure else ()) if c not in data]
    if missing:
        raise ValueError(f"column(s) not in data: {missing}")
    d = data.copy()
    t, labels, freq = _time_index(d[time])
    order = np.argsort(t)
    t, labels = t[order], [labels[i] for i in order]
    d = d.iloc[order].reset_index(drop=True)
    gaps = np.flatnonzero(np.diff(t) != 1)
    if len(gaps):
        raise ValueError(
            f"the series has a gap after {labels[gaps[0]]}: periods must be consecutive"
        )
    y = pd.to_numeric(d[outcome], errors="coerce").to_numpy(dtype=float)
    if exposure:
        ex = pd.to_numeric(d[exposure], errors="coerce").to_numpy(dtype=float)
        if np.any(~(ex > 0)):
            raise ValueError(f"exposure {exposure!r} must be positive in every period")
        y = y / ex * per
    if np.isnan(y).any():
        raise ValueError(f"{outcome!r} is missing in {int(np.isnan(y).sum())} period(s)")
    tt = t - t[0]
    cols: dict[str, Floats] = {"(Intercept)": np.ones_like(tt), "time": tt}
    for it in interruptions:
        at = float(it.at) if freq is None else float(parse_period(str(it.at), freq).ordinal)  # type: ignore[arg-type]
        k = at - t[0]
        if not 0 < k < len(tt):
            raise ValueError(
                f"interruption {it.name!r} at {it.at} lies outside the series ({labels[0]} to {labels[-1]})"
            )
        cols[f"level:{it.name}"] = (tt >= k).astype(float)
        if it.slope:
            cols[f"slope:{it.name}"] = np.where(tt >= k, tt - k, 0.0)
    season_period = {"month": 12, "quarter": 4}.get(freq or "", 12)
    if seasonality == "dummies":
        pos = t.astype(int) % season_period
        for s in range(1, season_period):
            cols[f"season:{s}"] = (pos == s).astype(float)
    elif seasonality == "fourier":
        # Position in the year, 1..12 (or 1..4): the calendar month for monthly labels.
        position = (t.astype(int) % season_period) + 1
        for j in range(1, fourier_terms + 1):
            cols[f"sin{j}"] = np.sin(2 * np.pi * j * position / season_period)
            cols[f"cos{j}"] = np.cos(2 * np.pi * j * position / season_period)
    for v in exclude:
        lab = str(v)
        if lab not in labels:
            raise ValueError(f"excluded period {lab!r} is not in the series")
        cols[f"exclude:{lab}"] = (np.array(labels) == lab).astype(float)
    design = pd.DataFrame(cols)
    x = design.to_numpy()
    n, p = x.shape
    names = [str(c) for c in design.columns]
    breaks = [float(np.argmax(cols[c])) for c in names if c.startswith("level:")]
    first_break = min(breaks) if breaks else float(n)
    n_break_terms = len([c for c in names if c.startswith(("level:", "slope:", "exclude:"))])
    if first_break < p - n_break_terms:
        raise ValueError(
            f"only {int(first_break)} pre-interruption periods for {p} parameters: too few to fit the pre-period"
        )
    if errors == "ar1":
        beta, cov, phi, sigma = gls_ar1(x, y)
        resid_var = sigma**2
        inference = f"GLS with AR(1) errors (REML, phi = {phi:.3f})"
        extra = {"phi": phi, "sigma": sigma}
    else:
        bread = np.linalg.inv(x.T @ x)
        beta = bread @ x.T @ y
        resid = y - x @ beta
        resid_var = float(resid @ resid) / (n - p)
        if errors == "hac":
            lag = default_lag(n) if hac_lag is None else hac_lag
            cov = newey_west(x, resid, bread, lag)
            inference = f"OLS with Newey–West HAC (lag {lag})"
            extra = {"hac_lag": lag}
        else:
            cov = resid_var * bread
            inference = "OLS (classical)"
            extra = {}
    idx = design.columns
    info: Mapping[str, object] = {
        "outcome": outcome,
        "n_periods": n,
        "errors": errors,
        "seasonality": seasonality,
        **extra,
    }
    return ITSResults(
        params=pd.Series(beta, index=idx),
        cov=pd.DataFrame(cov, index=idx, columns=idx),
        df=pd.Series(float(n - p), index=idx),
        inference=inference,
        estimator="Interrupted time series (segmented regression)",
        nobs=n,
        info=dict(info),
        design=design,
        y=y,
        labels=tuple(labels),
        interruptions=tuple(interruptions),
        resid_var=resid_var,
    )


__all__ = ["ITSResults", "Interruption", "period_label", "segmented_regression"]
