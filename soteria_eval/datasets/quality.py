"""Data-quality checks for the bundled published outcomes data.

The Home Office outcomes series by force has known quirks (see the dataset's provenance):
a records-system gap (Greater Manchester 2019/20), zeros that stand for missing values
(2014/15 recorded-basis columns for some forces), erratic years (North Yorkshire
2017/18 to 2020/21) and recorded-basis figures that are a fraction of the closed-basis
ones. These checks find such rows by rule, so new quirks in refreshed data are found too.
Flagged rows are shown to the user and excluded from models only explicitly, with the
count reported.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

#: Thresholds of the checks (ratios to the force's own median over full years).
COVERAGE_GAP_RATIO = 0.35
OUTLIER_LOW, OUTLIER_HIGH = 0.5, 2.0
PARTIAL_RECORDED_RATIO = 0.5
#: A year-on-year change by more than this factor (either way) is a jump, for counts of
#: at least ``JUMP_MIN_COUNT`` in both years (small counts are noisy by nature).
JUMP_FACTOR = 1.8
JUMP_MIN_COUNT = 50
#: Most recent financial years in which the recorded basis is right-censored.
CENSORED_RECENT_YEARS = 2

FLAG_COLUMNS: tuple[str, ...] = (
    "force",
    "fy",
    "column",
    "check",
    "severity",
    "value",
    "reference",
    "detail",
)


def outcomes_quality_flags(
    data: pd.DataFrame, part_years: str | Sequence[str] | None = ("2025/26",)
) -> pd.DataFrame:
    """Flag suspect rows of the sexual-offences outcomes table.

    Checks (each row of the result is one flag):

    ``zero_as_missing``
        Both recorded-basis columns are 0 while the force charged cases on the closed
        basis: the zeros stand for missing data.
    ``partial_recorded``
        Recorded-basis charges are under ``PARTIAL_RECORDED_RATIO`` of closed-basis charges
        in a year old enough not to be right-censored: partial coverage.
    ``coverage_gap``
        Closed-basis charges are under ``COVERAGE_GAP_RATIO`` of the force's median year:
        a gap in the force's outcomes data.
    ``outlier``
        Closed-basis charges are outside ``[OUTLIER_LOW, OUTLIER_HIGH]`` times the force's
        median year (and not already a coverage gap): an erratic year.
    ``jump``
        Closed-basis charges change by more than ``JUMP_FACTOR`` times from the previous
        year (both years at least ``JUMP_MIN_COUNT``): an erratic series.
    ``part_year``
        The financial year is incomplete (information only).

    Parameters
    ----------
    data : pandas.DataFrame
        Columns ``force, fy, closed_oocd, closed_charge, recorded_oocd, recorded_charge``.
    part_years : str, sequence of str or None
        Labels of incomplete financial years (any number), excluded from the medians and
        from the checks that compare a year with them. Default: the bundled file's
        2025/26.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FLAG_COLUMNS`, sorted by force, year and check.
    """
    parts: tuple[str, ...] = (
        ()
        if part_years is None
        else (part_years,)
        if isinstance(part_years, str)
        else tuple(part_years)
    )
    d = data.reset_index(drop=True)
    full = ~d["fy"].isin(parts)
    med = d[full].groupby("force")["closed_charge"].median()
    ref = d["force"].map(med).astype(float)
    ratio = d["closed_charge"] / ref.replace(0, np.nan)
    years = sorted(d["fy"].unique())
    censored = set(years[-CENSORED_RECENT_YEARS:])
    flags: list[pd.DataFrame] = []

    def add(
        mask: pd.Series, column: str, check: str, severity: str, refv: pd.Series, detail: str
    ) -> None:
        m = mask.fillna(False).to_numpy(dtype=bool)
        if m.any():
            flags.append(
                pd.DataFrame(
                    {
                        "force": d.loc[m, "force"],
                        "fy": d.loc[m, "fy"],
                        "column": column,
                        "check": check,
                        "severity": severity,
                        "value": d.loc[m, column].astype(float),
                        "reference": refv[m].astype(float),
                        "detail": detail,
                    }
                )
            )

    zero = (d["recorded_charge"] == 0) & (d["recorded_oocd"] == 0) & (d["closed_charge"] > 0)
    add(
        zero,
        "recorded_charge",
        "zero_as_missing",
        "warning",
        d["closed_charge"],
        "recorded-basis outcomes are 0 while closed-basis charges are not: missing data stored as zero",
    )
    partial = (
        ~zero
        & ~d["fy"].isin(censored)
        & (d["recorded_charge"] < PARTIAL_RECORDED_RATIO * d["closed_charge"])
    )
    add(
        partial,
        "recorded_charge",
        "partial_recorded",
        "warning",
        d["closed_charge"],
        f"recorded-basis charges are under {PARTIAL_RECORDED_RATIO:.0%} of closed-basis charges: partial coverage",
    )
    gap = full & (ratio < COVERAGE_GAP_RATIO)
    add(
        gap,
        "closed_charge",
        "coverage_gap",
        "warning",
        ref,
        f"closed-basis charges are under {COVERAGE_GAP_RATIO:.0%} of the force's median year: a gap in its outcomes data",
    )
    outlier = full & ~gap & ((ratio < OUTLIER_LOW) | (ratio > OUTLIER_HIGH))
    add(
        outlier,
        "closed_charge",
        "outlier",
        "warning",
        ref,
        f"closed-basis charges are outside {OUTLIER_LOW}-{OUTLIER_HIGH} times the force's median year: an erratic year",
    )
    d = d.assign(_o=d["fy"].str[:4].astype(int)).sort_values(["force", "_o"])
    prev = d.groupby("force")["closed_charge"].shift(1)
    prev_full = d.groupby("force")["fy"].shift(1).isin(parts).eq(False)
    both = (d["closed_charge"] >= JUMP_MIN_COUNT) & (prev >= JUMP_MIN_COUNT) & full & prev_full
    fold = np.exp(np.abs(np.log(d["closed_charge"].where(both) / prev.where(both))))
    add(
        pd.Series(fold > JUMP_FACTOR, index=d.index),
        "closed_charge",
        "jump",
        "warning",
        prev,
        f"closed-basis charges changed more than {JUMP_FACTOR} times from the previous year: an erratic series",
    )
    d = d.sort_index()
    if parts:
        add(
            ~full,
            "closed_charge",
            "part_year",
            "info",
            ref,
            "incomplete financial year (April to December only)",
        )
    if not flags:
        return pd.DataFrame(columns=list(FLAG_COLUMNS))
    out = pd.concat(flags, ignore_index=True)
    return out.sort_values(["force", "fy", "check"], kind="stable").reset_index(drop=True)


#: Columns of :func:`quarterly_quality_flags`: a flag names the financial quarter too.
QUARTER_FLAG_COLUMNS: tuple[str, ...] = (
    "force",
    "fy",
    "q",
    "column",
    "check",
    "severity",
    "value",
    "reference",
    "detail",
)
#: Measures of the quarterly file checked for coverage gaps (large enough to be stable).
GAP_MEASURES: tuple[str, ...] = ("t1", "oocd", "positive", "assigned")
#: A force's median quarter must reach this for its gaps to be judged.
GAP_MIN_MEDIAN = 50


def quarterly_quality_flags(data: pd.DataFrame) -> pd.DataFrame:
    """Flag suspect cells of the all-offences outcomes table by force and quarter.

    Checks (each row of the result is one flag of one cell):

    ``not_supplied``
        Every recorded-basis count of the row is 0 while the closed basis has assigned
        outcomes: the recorded basis was not supplied (flagged on each recorded-basis
        ``t1``, ``oocd``, ``positive`` and ``assigned`` column).
    ``coverage_gap``
        A ``t1``, ``oocd``, ``positive`` or ``assigned`` count is under
        ``COVERAGE_GAP_RATIO`` of the force's median quarter for that column (medians of
        at least ``GAP_MIN_MEDIAN``; recorded-basis rows not supplied left out): a gap in
        the force's outcomes data, such as Greater Manchester's records-system change in
        2019/20 or the partial outcome coverage of early 2014/15.
    ``negative_count``
        A count below zero (a published correction).
    ``ex_fraud_above_all``
        A count without fraud exceeds the count with every offence (``info``: by a few).

    Parameters
    ----------
    data : pandas.DataFrame
        The table's columns (``force, fy, q`` and the 40 counts).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`QUARTER_FLAG_COLUMNS`, sorted by force, year, quarter, column and check.
    """
    d = data.reset_index(drop=True)
    counts = [c for c in d.columns if c.startswith(("closed_", "recorded_"))]
    flags: list[pd.DataFrame] = []

    def add(mask: NDArray[np.bool_], column: str, check: str, severity: str,
            ref: pd.Series | float, detail: str) -> None:  # fmt: skip
        if mask.any():
            refv = ref[mask] if isinstance(ref, pd.Series) else ref
            flags.append(
                pd.DataFrame(
                    {"force": d.loc[mask, "force"], "fy": d.loc[mask, "fy"], "q": d.loc[mask, "q"],
                     "column": column, "check": check, "severity": severity,
                     "value": d.loc[mask, column].astype(float), "reference": refv,
                     "detail": detail}
                )
            )  # fmt: skip

    recorded = [c for c in counts if c.startswith("recorded_")]
    absent = (d[recorded] == 0).all(axis=1) & (d["closed_all_assigned"] > 0)
    for c in counts:
        measure = c.rsplit("_", 1)[1]
        if c.startswith("recorded_") and measure in GAP_MEASURES:
            add(absent.to_numpy(), c, "not_supplied", "warning", d["closed_all_assigned"].astype(float),
                "every recorded-basis count is 0 while the closed basis has outcomes: "
                "the recorded basis was not supplied")  # fmt: skip
        if measure in GAP_MEASURES:
            usable = ~absent if c.startswith("recorded_") else pd.Series(True, index=d.index)
            med = d[c].where(usable).groupby(d["force"]).transform("median").astype(float)
            judged = usable & (med >= GAP_MIN_MEDIAN)
            gap = judged & (d[c] < COVERAGE_GAP_RATIO * med)
            add(gap.to_numpy(), c, "coverage_gap", "warning", med,
                f"under {COVERAGE_GAP_RATIO:.0%} of the force's median quarter: a gap in its "
                "outcomes data")  # fmt: skip
        add((d[c] < 0).to_numpy(), c, "negative_count", "warning", 0.0,
            "a negative count (a published correction)")  # fmt: skip
        if "_ex_fraud_" in c:
            full = c.replace("_ex_fraud_", "_all_")
            add((d[c] > d[full]).to_numpy(), c, "ex_fraud_above_all", "info",
                d[full].astype(float), "the count without fraud exceeds the count of all offences")  # fmt: skip
    if not flags:
        return pd.DataFrame(columns=list(QUARTER_FLAG_COLUMNS))
    out = pd.concat(flags, ignore_index=True)
    return out.sort_values(["force", "fy", "q", "column", "check"], kind="stable").reset_index(
        drop=True
    )
