"""Panel periods: months, quarters and financial years.

Every panel has one frequency. Periods are written as labels that sort in time order and
read naturally: ``"2021-09"`` (month), ``"2021-Q3"`` (calendar quarter) and ``"2021/22"``
(financial year, April to March). Internally a period is a :class:`pandas.Period`, whose
ordinal gives event time as an integer difference.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

import numpy as np
import pandas as pd

Frequency = Literal["month", "quarter", "fy"]
FREQUENCIES: tuple[str, ...] = get_args(Frequency)

_PANDAS_FREQ: dict[str, str] = {"month": "M", "quarter": "Q-DEC", "fy": "Y-MAR"}
_LABEL_RE: dict[str, re.Pattern[str]] = {
    "month": re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$"),
    "quarter": re.compile(r"^(\d{4})-Q([1-4])$"),
    "fy": re.compile(r"^(\d{4})/(\d{2})$"),
}


def check_frequency(freq: str) -> Frequency:
    """Return ``freq`` if it is a known frequency, else raise a helpful ``ValueError``."""
    if freq not in FREQUENCIES:
        raise ValueError(f"freq must be one of {FREQUENCIES}, got {freq!r}")
    return freq  # type: ignore[return-value]


def infer_frequency(label: str) -> Frequency | None:
    """Return the frequency a period label is written in, or ``None`` if none fits."""
    for freq, pattern in _LABEL_RE.items():
        if pattern.match(label):
            if freq == "fy":
                start, end = int(label[:4]), int(label[5:7])
                if (start + 1) % 100 != end:
                    return None
            return freq  # type: ignore[return-value]
    return None


def parse_period(label: str, freq: Frequency) -> pd.Period:
    """Parse a period label written at ``freq``; raise ``ValueError`` if malformed."""
    check_frequency(freq)
    if infer_frequency(label) != freq:
        example = {"month": "2021-09", "quarter": "2021-Q3", "fy": "2021/22"}[freq]
        raise ValueError(f"{label!r} is not a {freq} label like {example!r}")
    if freq == "month":
        return pd.Period(label, freq="M")
    if freq == "quarter":
        return pd.Period(f"{label[:4]}Q{label[-1]}", freq="Q-DEC")
    return pd.Period(str(int(label[:4]) + 1), freq="Y-MAR")


def period_label(period: pd.Period, freq: Frequency) -> str:
    """Write a :class:`pandas.Period` as this package's label."""
    if freq == "month":
        return f"{period.year:04d}-{period.month:02d}"
    if freq == "quarter":
        return f"{period.year:04d}-Q{period.quarter}"
    end_year = period.qyear if hasattr(period, "qyear") else period.year
    return f"{end_year - 1:04d}/{end_year % 100:02d}"


def date_to_period(dates: pd.Series | pd.DatetimeIndex, freq: Frequency) -> pd.PeriodIndex:
    """Return the period that contains each date."""
    check_frequency(freq)
    return pd.PeriodIndex(pd.DatetimeIndex(dates), freq=_PANDAS_FREQ[freq])


def period_range(start: str, end: str, freq: Frequency) -> list[str]:
    """Return all period labels from ``start`` to ``end`` inclusive."""
    p0, p1 = parse_period(start, freq), parse_period(end, freq)
    if p1 < p0:
        raise ValueError(f"period range runs backwards: {start!r} to {end!r}")
    return [period_label(p, freq) for p in pd.period_range(p0, p1, freq=_PANDAS_FREQ[freq])]


def period_ordinals(labels: pd.Series, freq: Frequency) -> np.ndarray:
    """Return integer ordinals for period labels (consecutive periods differ by 1)."""
    uniq = pd.unique(labels)
    lookup = {lab: parse_period(str(lab), freq).ordinal for lab in uniq}
    return np.asarray(labels.map(lookup), dtype=np.int64)


def pandas_freq(freq: Frequency) -> str:
    """Return the pandas frequency string for a panel frequency."""
    return _PANDAS_FREQ[check_frequency(freq)]


def labels_to_periods(labels: list[str], freq: Frequency) -> pd.PeriodIndex:
    """Parse a list of period labels into a :class:`pandas.PeriodIndex`."""
    return pd.PeriodIndex([parse_period(lab, freq) for lab in labels], freq=pandas_freq(freq))


def period_start(label: str, freq: Frequency) -> pd.Timestamp:
    """Return the first day of a period."""
    return parse_period(label, freq).start_time
