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
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from soteria_eval._options import check_option
from soteria_eval.its.covariance import default_lag, gls_ar, gls_ar1, newey_west
from soteria_eval.periods import infer_frequency, parse_period, period_label
from soteria_eval.results import Results

Errors = Literal["hac", "ar1", "ar", "arima", "ols"]
PhaseIn = Literal["exclude", "ramp"]
Seasonality = Literal["none", "dummies", "fourier"]
GlsMethod = Literal["reml", "ml"]
Floats = NDArray[np.float64]


@dataclass(frozen=True)
class Interruption:
    """A date at which the series may change level and slope.

    Parameters
    ----------
    name : str
        Used in term names (``level:<name>``, ``slope:<name>``).
    at : str or int
        First period of the interruption, in the form of the series' time column.
    slope : bool
        Estimate a slope change as well as a level change.
    programme : bool
        The counterfactual removes this interruption (``False`` for shocks such as
        COVID-19, which stay in the counterfactual).
    phase_in : int
        Length of a phase-in window starting at ``at``, in periods.
    phase_in_method : {"exclude", "ramp"}
        ``"exclude"``: each window period gets its own dummy (it does not inform the fit)
        and the level and slope changes start after the window, so the level change is
        the jump at the end of the phase-in. ``"ramp"``: the level change is phased in
        linearly, reaching its full size in the window's last period; the slope change
        starts at ``at``.
    """

    name: str
    at: str | int
    slope: bool = True
    programme: bool = True
    phase_in: int = 0
    phase_in_method: PhaseIn = "exclude"

    def __post_init__(self) -> None:
        check_option("phase_in_method", self.phase_in_method, PhaseIn)
        if self.phase_in < 0:
            raise ValueError(f"phase_in must be >= 0 periods, got {self.phase_in}")


@dataclass(frozen=True, repr=False)
class ITSResults(Results):
    """Segmented-regression results with what counterfactuals and effects need.

    Attributes
    ----------
    design : pandas.DataFrame
        The design rows of the series the counterfactual describes.
    y : numpy.ndarray
        The modelled outcome of that series.
    effect_terms : tuple of str
        The terms the counterfactual removes; by default the level and slope terms of
        the programme interruptions (a comparative ITS removes only the treated series'
        differential terms).
    baseline : numpy.ndarray, optional
        Added to every series of :meth:`counterfactual` (a difference-series ITS adds the
        comparison series back, so the output is on the treated series' scale).
    comparison : numpy.ndarray, optional
        The comparison series, for plots.
    """

    design: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    y: Floats = field(default_factory=lambda: np.zeros(0), repr=False)
    labels: tuple[str, ...] = ()
    interruptions: tuple[Interruption, ...] = ()
    resid_var: float = 0.0
    effect_terms: tuple[str, ...] = ()
    baseline: Floats | None = field(default=None, repr=False)
    comparison: Floats | None = field(default=None, repr=False)

    def _effect_mask(self) -> NDArray[np.bool_]:
        terms = self.effect_terms or tuple(
            f"{kind}:{i.name}"
            for i in self.interruptions
            if i.programme
            for kind in ("level", "slope")
        )
        return np.array([t in terms for t in self.params.index])

    def plot(self, **kwargs: Any) -> Any:
        """Observed, fitted and counterfactual series (:func:`soteria_eval.plotting.its_plot`).

        The y label defaults to the outcome's name; returns a matplotlib figure.
        """
        from soteria_eval.plotting import its_plot

        kwargs.setdefault("ylabel", str(self.info.get("outcome", "")))
        return its_plot(self, **kwargs)

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
        x_cf = np.where(self._effect_mask()[None, :], 0.0, x)
        b = self.params.to_numpy()
        v = self.cov.to_numpy()
        fitted, cf = x @ b, x_cf @ b
        se = np.sqrt(np.einsum("ij,jk,ik->i", x_cf, v, x_cf))
        z = stats.norm.ppf(1 - alpha / 2)
        se_pred = np.sqrt(se**2 + self.resid_var)
        effect = fitted - cf
        base = np.zeros(len(cf)) if self.baseline is None else self.baseline
        window = [c for c in self.design.columns if str(c).startswith("phase_in:")]
        if window:
            # Phase-in periods are absorbed by their own dummies: no effect is estimated there.
            effect[self.design[window].to_numpy().sum(axis=1) > 0] = np.nan
        return pd.DataFrame(
            {
                "period": list(self.labels),
                "observed": self.y + base,
                "fitted": fitted + base,
                "counterfactual": cf + base,
                "cf_lower": cf + base - z * se,
                "cf_upper": cf + base + z * se,
                "pi_lower": cf + base - z * se_pred,
                "pi_upper": cf + base + z * se_pred,
                "effect": effect,
                **({} if self.comparison is None else {"comparison": self.comparison}),
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
        mask = self._effect_mask()
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


def _ordered(data: pd.DataFrame, time: str) -> tuple[pd.DataFrame, Floats, list[str], str | None]:
    """Sort one series by time and check the periods are consecutive."""
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
    return d, t, labels, freq


def outcome_rate(
    d: pd.DataFrame, outcome: str, time: str, exposure: str | None, per: float
) -> pd.Series:
    """Return the outcome, divided by ``exposure`` (times ``per``) if given; check exposure > 0.

    The error names the first period (and the row) with a zero, negative or missing
    exposure.
    """
    y = pd.to_numeric(d[outcome], errors="coerce").astype(float)
    if not exposure:
        return y
    ex = pd.to_numeric(d[exposure], errors="coerce")
    bad = ~(ex > 0)
    if bad.any():
        first = d.index[bad.to_numpy()][0]
        raise ValueError(
            f"exposure {exposure!r} must be positive in every period; row {first} "
            f"(period {d.loc[first, time]}) has {d.loc[first, exposure]}"
        )
    return y / ex * per


def _design(
    t: Floats,
    labels: list[str],
    freq: str | None,
    interruptions: Sequence[Interruption],
    seasonality: Seasonality,
    fourier_terms: int,
    exclude: Sequence[str | int],
) -> pd.DataFrame:
    """Build the segmented-regression design for one consecutive series, with checks."""
    tt = t - t[0]
    cols: dict[str, Floats] = {"(Intercept)": np.ones_like(tt), "time": tt}
    for it in interruptions:
        at = float(it.at) if freq is None else float(parse_period(str(it.at), freq).ordinal)  # type: ignore[arg-type]
        k = at - t[0]
        if not 0 < k < len(tt):
            raise ValueError(
                f"interruption {it.name!r} at {it.at} lies outside the series ({labels[0]} to {labels[-1]})"
            )
        w = it.phase_in
        if w and not k + w < len(tt):
            raise ValueError(
                f"the phase-in window of {it.name!r} ({w} periods from {it.at}) runs past the end of the series"
            )
        if w and it.phase_in_method == "exclude":
            for j in range(int(k), int(k) + w):
                cols[f"phase_in:{it.name}:{labels[j]}"] = (tt == j).astype(float)
            k = k + w
            cols[f"level:{it.name}"] = (tt >= k).astype(float)
        elif w:
            cols[f"level:{it.name}"] = np.clip((tt - k + 1) / w, 0.0, 1.0)
        else:
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
    breaks = [float(np.flatnonzero(cols[c] > 0)[0]) for c in names if c.startswith("level:")]
    breaks += [float(np.flatnonzero(cols[c] > 0)[0]) for c in names if c.startswith("phase_in:")]
    first_break = min(breaks) if breaks else float(n)
    n_break_terms = len(
        [c for c in names if c.startswith(("level:", "slope:", "exclude:", "phase_in:"))]
    )
    if first_break < p - n_break_terms:
        raise ValueError(
            f"only {int(first_break)} pre-interruption periods for {p} parameters: too few to fit the pre-period"
        )
    return design


def _fit_arima(
    design: pd.DataFrame, y: Floats, order: tuple[int, int, int]
) -> tuple[Floats, Floats, float, list[str], dict[str, object]]:
    """Regression with ARIMA errors by exact ML (statsmodels SARIMAX, numerical Hessian)."""
    import warnings

    from statsmodels.tsa.statespace.sarimax import SARIMAX

    if len(order) != 3 or any(int(o) < 0 for o in order):
        raise ValueError(f"arima_order must be three non-negative integers, got {order}")
    exog = design.drop(columns="(Intercept)") if order[1] > 0 else design
    model = SARIMAX(y, exog=exog.to_numpy(), order=tuple(int(o) for o in order), trend="n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(disp=0, method="bfgs", maxiter=2000, cov_type="approx")
    if not fit.mle_retvals.get("converged", True):
        raise RuntimeError(f"the ARIMA{tuple(order)} errors model did not converge")
    k = exog.shape[1]
    params = np.asarray(fit.params, dtype=float)
    cov = np.asarray(fit.cov_params(), dtype=float)[:k, :k]
    names = list(fit.model.param_names[k:])
    extra: dict[str, object] = {
        "arima_order": list(order),
        "arima_params": dict(zip(names, params[k:].round(12).tolist(), strict=True)),
        "loglik": float(fit.llf),
    }
    return params[:k], cov, float(params[-1]), [str(c) for c in exog.columns], extra


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
    ar_order: int = 1,
    arima_order: tuple[int, int, int] = (1, 0, 0),
    hac_adjust: bool = False,
    gls_method: GlsMethod = "reml",
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
    errors : {"hac", "ar1", "ar", "arima", "ols"}
        Newey–West HAC (lag ``hac_lag``, default :func:`~soteria_eval.its.covariance.default_lag`);
        GLS with AR(1) errors (REML, closed-form transform); GLS with AR(``ar_order``)
        errors (REML, :func:`~soteria_eval.its.covariance.gls_ar`); regression with ARIMA
        errors of order ``arima_order`` fitted by exact maximum likelihood with statsmodels
        ``SARIMAX`` (normal reference distribution; with differencing, ``d > 0``, the
        intercept is not identified and is dropped); or classical OLS.
    exclude : sequence, optional
        Periods whose observations should not inform the fit (e.g. the COVID-19 months):
        each gets its own dummy, which removes it while keeping the series consecutive.
    hac_adjust : bool
        Multiply the Newey–West covariance by :math:`n/(n-k)`, as R
        ``sandwich::NeweyWest(adjust = TRUE)`` (default ``False``, as ``adjust = FALSE``).
    gls_method : {"reml", "ml"}
        How the AR errors' correlation is estimated for ``errors="ar1"`` or ``"ar"``: as
        ``nlme::gls(method = "REML")`` (default) or ``method = "ML"``.

    Returns
    -------
    ITSResults
    """
    check_option("errors", errors, Errors)
    check_option("gls_method", gls_method, GlsMethod)
    check_option("seasonality", seasonality, Seasonality)
    missing = [c for c in (outcome, time) + ((exposure,) if exposure else ()) if c not in data]
    if missing:
        raise ValueError(f"column(s) not in data: {missing}")
    d, t, labels, freq = _ordered(data, time)
    y = outcome_rate(d, outcome, time, exposure, per).to_numpy(dtype=float)
    if np.isnan(y).any():
        raise ValueError(f"{outcome!r} is missing in {int(np.isnan(y).sum())} period(s)")
    design = _design(t, labels, freq, interruptions, seasonality, fourier_terms, exclude)
    x = design.to_numpy()
    n, p = x.shape
    df = float(n - p)
    extra: dict[str, object]
    if errors == "ar1" or (errors == "ar" and ar_order == 1):
        beta, cov, phi, sigma = gls_ar1(x, y, method=gls_method.upper())
        resid_var = sigma**2
        inference = f"GLS with AR(1) errors ({gls_method.upper()}, phi = {phi:.3f})"
        extra = {"phi": phi, "sigma": sigma}
    elif errors == "ar":
        beta, cov, phis, sigma = gls_ar(x, y, ar_order, method=gls_method.upper())
        resid_var = sigma**2
        inference = f"GLS with AR({ar_order}) errors ({gls_method.upper()}, phi = {np.round(phis, 3).tolist()})"
        extra = {"phi": phis.tolist(), "sigma": sigma}
    elif errors == "arima":
        beta, cov, resid_var, terms, extra = _fit_arima(design, y, arima_order)
        design = design[terms]
        inference = f"regression with ARIMA{tuple(arima_order)} errors (exact ML, SARIMAX)"
        df = float("inf")
    else:
        bread = np.linalg.inv(x.T @ x)
        beta = bread @ x.T @ y
        resid = y - x @ beta
        resid_var = float(resid @ resid) / (n - p)
        if errors == "hac":
            lag = default_lag(n) if hac_lag is None else hac_lag
            cov = newey_west(x, resid, bread, lag, adjust=hac_adjust)
            inference = f"OLS with Newey–West HAC (lag {lag}" + (
                ", n/(n-k) adjusted)" if hac_adjust else ")"
            )
            extra = {"hac_lag": lag, "hac_adjust": hac_adjust}
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
        df=pd.Series(df, index=idx),
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
