"""Diagnostics and sensitivity analyses for interrupted time series.

Each function returns a tidy table: residual autocorrelation (ACF and the Ljung–Box test),
placebo interruptions in the pre-period (a real-looking effect at a date when nothing
happened warns that the model misreads the series), and sensitivity of the estimates to
the start of the window and to leaving out chosen periods (e.g. the COVID-19 months).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from soteria_eval.its.segmented import Interruption, ITSResults, segmented_regression


def residual_diagnostics(res: ITSResults, lags: int = 12) -> pd.DataFrame:
    """Residual autocorrelation by lag with the Ljung–Box statistic and p-value."""
    from statsmodels.stats.diagnostic import acorr_ljungbox
    from statsmodels.tsa.stattools import acf

    x = res.design[res.params.index].to_numpy()
    resid = res.y - x @ res.params.to_numpy()
    lags = min(lags, len(resid) // 2 - 1)
    r = acf(resid, nlags=lags, fft=False)[1:]
    lb = acorr_ljungbox(resid, lags=list(range(1, lags + 1)))
    return pd.DataFrame(
        {
            "lag": np.arange(1, lags + 1),
            "acf": r,
            "ljung_box": lb["lb_stat"].to_numpy(),
            "p_value": lb["lb_pvalue"].to_numpy(),
        }
    )


def placebo_interruptions(
    data: pd.DataFrame,
    *,
    outcome: str,
    time: str,
    dates: Sequence[str | int],
    before: str | int,
    **kwargs: Any,
) -> pd.DataFrame:
    """Fit a fake interruption at each date, using only periods before ``before``.

    Returns one row per placebo date with the level and slope change estimates.
    """
    t = data[time]
    keep = t.astype(str) < str(before) if not pd.api.types.is_numeric_dtype(t) else t < before
    pre = data[keep]
    rows = []
    for at in dates:
        r = segmented_regression(
            pre, outcome=outcome, time=time, interruptions=[Interruption("placebo", at)], **kwargs
        )
        ci = r.conf_int()
        for term in ("level:placebo", "slope:placebo"):
            rows.append(
                (
                    str(at),
                    term.split(":")[0],
                    r.params[term],
                    r.std_errors[term],
                    ci.loc[term, "ci_lower"],
                    ci.loc[term, "ci_upper"],
                )
            )
    return pd.DataFrame(
        rows, columns=["placebo_date", "change", "estimate", "std_error", "ci_lower", "ci_upper"]
    )


def window_sensitivity(
    data: pd.DataFrame,
    *,
    outcome: str,
    time: str,
    interruptions: Sequence[Interruption],
    starts: Sequence[str | int],
    term: str,
    **kwargs: Any,
) -> pd.DataFrame:
    """Re-estimate ``term`` with the series starting at each of ``starts``."""
    rows = []
    for s in starts:
        t = data[time]
        keep = t.astype(str) >= str(s) if not pd.api.types.is_numeric_dtype(t) else t >= s
        r = segmented_regression(
            data[keep], outcome=outcome, time=time, interruptions=interruptions, **kwargs
        )
        ci = r.conf_int().loc[term]
        rows.append(
            (
                str(s),
                int(keep.sum()),
                r.params[term],
                r.std_errors[term],
                ci["ci_lower"],
                ci["ci_upper"],
            )
        )
    return pd.DataFrame(
        rows, columns=["start", "n_periods", "estimate", "std_error", "ci_lower", "ci_upper"]
    )


def exclusion_sensitivity(
    data: pd.DataFrame,
    *,
    outcome: str,
    time: str,
    interruptions: Sequence[Interruption],
    exclude: Sequence[str | int],
    term: str,
    **kwargs: Any,
) -> pd.DataFrame:
    """Compare ``term`` with and without the ``exclude`` periods (e.g. the COVID-19 months)."""
    rows = []
    for label, ex in (("all periods", ()), (f"{len(exclude)} period(s) excluded", tuple(exclude))):
        r = segmented_regression(
            data, outcome=outcome, time=time, interruptions=interruptions, exclude=ex, **kwargs
        )
        ci = r.conf_int().loc[term]
        rows.append((label, r.params[term], r.std_errors[term], ci["ci_lower"], ci["ci_upper"]))
    return pd.DataFrame(
        rows, columns=["specification", "estimate", "std_error", "ci_lower", "ci_upper"]
    )
