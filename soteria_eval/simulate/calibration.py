"""Calibration: simulated national aggregates against published figures.

Each target names the published figure, its period and source (the CPS Rape Strategy
Update 2022, CPS quarterly data, Home Office outcomes and MoJ court statistics, as
collected in the project's domain brief). Counts are scaled by the simulation's
``scale``. Home Office outcome rates for a year of *recorded* offences are computed as
the published tables are: outcomes assigned by the time of publication, taken here to be
four months after the year ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Relative tolerance of the calibration.
TOLERANCE = 0.10


@dataclass(frozen=True)
class Target:
    """A published figure the simulator should reproduce."""

    name: str
    period: str
    published: float
    unit: str
    source: str
    compute: Callable[[pd.DataFrame], float]
    count: bool = False


def _between(s: pd.Series, start: str, end: str) -> pd.Series:
    return (s >= pd.Timestamp(start)) & (s <= pd.Timestamp(end))


def _reports(start: str, end: str) -> Callable[[pd.DataFrame], float]:
    return lambda c: float(_between(c["report_date"], start, end).sum())


def _referrals(start: str, end: str) -> Callable[[pd.DataFrame], float]:
    return lambda c: float(_between(c["referral_date"], start, end).sum())


def _charges(start: str, end: str) -> Callable[[pd.DataFrame], float]:
    return lambda c: float(
        (_between(c["charge_decision_date"], start, end) & c["charge_decision"].eq("charge")).sum()
    )


def _outcome_rate(
    code: str, start: str, end: str, published_on: str
) -> Callable[[pd.DataFrame], float]:
    def f(c: pd.DataFrame) -> float:
        cohort = _between(c["report_date"], start, end)
        hit = cohort & c["outcome"].eq(code) & (c["outcome_date"] <= pd.Timestamp(published_on))
        return float(hit.sum() / cohort.sum())

    return f


def _report_to_charge_median(start: str, end: str) -> Callable[[pd.DataFrame], float]:
    def f(c: pd.DataFrame) -> float:
        sel = _between(c["charge_decision_date"], start, end) & c["charge_decision"].eq("charge")
        return float(
            np.median((c.loc[sel, "charge_decision_date"] - c.loc[sel, "report_date"]).dt.days)
        )

    return f


def _offence_to_charge_median(start: str, end: str) -> Callable[[pd.DataFrame], float]:
    # MoJ counts defendants whose case was completed in the year.
    def f(c: pd.DataFrame) -> float:
        sel = _between(c["completion_date"], start, end) & c["charge_decision"].eq("charge")
        return float(
            np.median((c.loc[sel, "charge_decision_date"] - c.loc[sel, "offence_date"]).dt.days)
        )

    return f


def _referral_to_charge_mean(start: str, end: str) -> Callable[[pd.DataFrame], float]:
    def f(c: pd.DataFrame) -> float:
        sel = _between(c["charge_decision_date"], start, end) & c["charge_decision"].eq("charge")
        return float(
            np.mean((c.loc[sel, "charge_decision_date"] - c.loc[sel, "referral_date"]).dt.days)
        )

    return f


def _guilty_plea_share(start: str, end: str) -> Callable[[pd.DataFrame], float]:
    def f(c: pd.DataFrame) -> float:
        sel = _between(c["first_hearing_date"], start, end)
        return float(c.loc[sel, "guilty_plea_first_hearing"].astype(bool).mean())

    return f


SU = "CPS Rape Strategy Update (February 2022)"
CPSQ = "CPS quarterly data"
HO = "Home Office police recorded crime and outcomes"

TARGETS: tuple[Target, ...] = (
    Target("recorded rapes", "2019/20", 58_967, "offences", f"{SU}; {HO}", _reports("2019-04-01", "2020-03-31"), True),
    Target("recorded rapes", "2020/21", 55_569, "offences", f"{SU}; {HO}", _reports("2020-04-01", "2021-03-31"), True),
    Target("recorded rapes", "year to June 2021", 61_158, "offences", f"{SU}; {HO}", _reports("2020-07-01", "2021-06-30"), True),
    Target("CPS rape receipts", "2019/20", 2_747, "suspects", SU, _referrals("2019-04-01", "2020-03-31"), True),
    Target("CPS rape receipts", "2020/21", 3_539, "suspects", SU, _referrals("2020-04-01", "2021-03-31"), True),
    Target("CPS rape receipts", "Q3 2021/22", 1_097, "suspects", CPSQ, _referrals("2021-10-01", "2021-12-31"), True),
    Target("suspects charged", "Q3 2021/22", 550, "suspects", CPSQ, _charges("2021-10-01", "2021-12-31"), True),
    Target("recorded rapes charged", "year to June 2021", 0.014, "proportion", HO, _outcome_rate("1", "2020-07-01", "2021-06-30", "2021-10-31")),
    Target("closed: victim does not support action", "year to June 2021", 0.412, "proportion", HO, _outcome_rate("16", "2020-07-01", "2021-06-30", "2021-10-31")),
    Target("median days report to charge", "year to June 2021", 489, "days", HO, _report_to_charge_median("2020-07-01", "2021-06-30")),
    Target("mean days police referral to charge", "2016/17", 67, "days", SU, _referral_to_charge_mean("2016-04-01", "2017-03-31")),
    Target("mean days police referral to charge", "year to June 2020", 145.0, "days", CPSQ, _referral_to_charge_mean("2019-07-01", "2020-06-30")),
    Target("mean days police referral to charge", "2020/21", 146, "days", SU, _referral_to_charge_mean("2020-04-01", "2021-03-31")),
    Target("mean days police referral to charge", "year to September 2021", 159.8, "days", SU, _referral_to_charge_mean("2020-10-01", "2021-09-30")),
    Target("mean days police referral to charge", "Q3 2021/22", 153.2, "days", CPSQ, _referral_to_charge_mean("2021-10-01", "2021-12-31")),
    Target("guilty pleas at first Crown Court hearing", "2016/17", 0.19, "proportion", SU, _guilty_plea_share("2016-04-01", "2017-03-31")),
    Target("guilty pleas at first Crown Court hearing", "2020/21", 0.30, "proportion", SU, _guilty_plea_share("2020-04-01", "2021-03-31")),
    Target("median days offence to charge (rape defendants)", "2018", 394.5, "days", "Ministry of Justice criminal court statistics", _offence_to_charge_median("2018-01-01", "2018-12-31")),
)  # fmt: skip


def _directions_on_time(area_quarters: pd.DataFrame, start: str, end: str) -> float:
    d = area_quarters[area_quarters["measure"] == "judges_directions_on_time"]
    keep = (d["period"] >= start) & (d["period"] <= end)
    return float(d.loc[keep, "numerator"].sum() / d.loc[keep, "denominator"].sum())


#: Targets computed from the simulated Area series (not from case records).
AREA_TARGETS: tuple[tuple[str, str, float, str, str], ...] = (
    ("judges' directions complied with on time", "2016/17", 0.824, "2016-Q2", "2017-Q1"),
    ("judges' directions complied with on time", "2020/21", 0.96, "2020-Q2", "2021-Q1"),
)


def calibration_report(
    cases: pd.DataFrame, scale: float = 1.0, area_quarters: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Compare simulated aggregates with the published figures.

    ``area_quarters`` (the simulated Area series) adds the judges'-directions targets.

    Returns
    -------
    pandas.DataFrame
        Columns ``target, period, unit, published, simulated, relative_error,
        within_tolerance, source``; counts are compared after scaling the published figure
        by ``scale``.
    """
    rows = []
    for t in TARGETS:
        published = t.published * (scale if t.count else 1.0)
        sim = t.compute(cases)
        rel = (sim - published) / published
        rows.append(
            (t.name, t.period, t.unit, published, sim, rel, abs(rel) <= TOLERANCE, t.source)
        )
    if area_quarters is not None:
        for name, period, published, q0, q1 in AREA_TARGETS:
            sim = _directions_on_time(area_quarters, q0, q1)
            rel = (sim - published) / published
            rows.append(
                (name, period, "proportion", published, sim, rel, abs(rel) <= TOLERANCE, SU)
            )
    return pd.DataFrame(
        rows,
        columns=[
            "target",
            "period",
            "unit",
            "published",
            "simulated",
            "relative_error",
            "within_tolerance",
            "source",
        ],
    )
