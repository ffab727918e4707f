"""Simulated CPS-Area series that case records do not hold.

Two catalogue measures come from other systems: judges' directions complied with on time
(the CPS directions log) and trials that go ahead as listed (HMCTS trial effectiveness).
They are simulated per CPS Area and quarter from the simulated cases' court activity:
about three directions per case reaching court, and 1.6 listings per trial. The share on
time follows the published national path (82.4% in 2016/17, nearly 96% in 2020/21, CPS
Rape Strategy Update 2022); trial effectiveness dips with the COVID-19 backlog. Programme
effects scale with the Area's treated share of caseload.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from soteria_eval.data import load_rollout
from soteria_eval.geography import load_geography
from soteria_eval.panels.aggregate import PANEL_COLUMNS, CaseArrays, _period_codes
from soteria_eval.periods import date_to_period, period_label
from soteria_eval.rollout import Rollout, treatment_panel
from soteria_eval.simulate.config import EffectSizes, SimulationConfig

DIRECTIONS_ON_TIME = (
    ("2016-04-01", 0.80),
    ("2017-04-01", 0.845),
    ("2020-04-01", 0.955),
    ("2021-04-01", 0.96),
    ("2026-03-31", 0.96),
)
TRIALS_EFFECTIVE = (
    ("2016-01-01", 0.47),
    ("2020-03-22", 0.47),
    ("2020-04-01", 0.33),
    ("2021-06-01", 0.40),
    ("2023-06-01", 0.45),
    ("2026-03-31", 0.47),
)
DIRECTIONS_PER_CASE = 3.0
LISTINGS_PER_TRIAL = 1.6
#: Programme effects at full treated share (absolute change in the proportion).
EFFECT_DIRECTIONS = 0.02
EFFECT_TRIALS = 0.05


def _path(dates: pd.DatetimeIndex, knots: tuple[tuple[str, float], ...]) -> np.ndarray:
    xs = np.array([np.datetime64(d, "D").astype(np.int64) for d, _ in knots], dtype=float)
    ys = np.array([v for _, v in knots])
    days = np.asarray(dates.values.astype("datetime64[D]").astype(np.int64), dtype=float)
    out: np.ndarray = np.interp(days, xs, ys)
    return out


def area_series(
    cases: pd.DataFrame | CaseArrays,
    config: SimulationConfig,
    *,
    threshold: int = 10,
    rollout: Rollout | None = None,
) -> pd.DataFrame:
    """Return area-by-quarter rows for ``judges_directions_on_time`` and ``trials_effective``."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 7]))
    geo = load_geography()
    areas = list(geo.areas)
    start, end = config.start, config.end
    q0 = date_to_period(pd.DatetimeIndex([pd.Timestamp(f"{start}-01")]), "quarter")[0]
    q1 = date_to_period(pd.DatetimeIndex([pd.Period(end, "M").end_time.normalize()]), "quarter")[0]
    quarters = pd.period_range(q0, q1, freq="Q-DEC")
    labels = [period_label(q, "quarter") for q in quarters]

    a = cases if isinstance(cases, CaseArrays) else CaseArrays.from_frame(cases)
    # Each case's CPS Area, the Metropolitan Police's cases split between London North
    # and London South by case id (as the Area panels split them).
    area_code, area_units = a.unit_codes("area", geo)
    case_area = np.array([areas.index(u) for u in area_units], dtype=np.int64)[area_code]

    def counts(date_col: str) -> np.ndarray:
        q = _period_codes(a.day[date_col], "quarter", quarters[0], len(quarters))
        ok = q >= 0
        key = case_area[ok] * len(quarters) + q[ok]
        table = np.bincount(key, minlength=len(areas) * len(quarters))
        return table.reshape(len(areas), len(quarters)).astype(float)

    hearings = counts("first_hearing_date")
    trials = counts("trial_date")
    tp = treatment_panel(
        rollout or load_rollout(), level="area", freq="quarter", start=labels[0], end=labels[-1]
    )
    # The Area effects follow the phase-1 effect on charging (none in a null world).
    effect_on = 1.0 if config.effects.get(1, EffectSizes()).charge_share != 0 else 0.0
    share = (
        tp.pivot(index="unit", columns="period", values="treated_share")
        .reindex(index=areas, columns=labels)
        .to_numpy()
    )
    mid = pd.DatetimeIndex([q.start_time + pd.Timedelta(days=45) for q in quarters])
    rows = []
    for measure, base, per, path, eff in (
        (
            "judges_directions_on_time",
            hearings,
            DIRECTIONS_PER_CASE,
            DIRECTIONS_ON_TIME,
            EFFECT_DIRECTIONS * effect_on,
        ),
        (
            "trials_effective",
            trials,
            LISTINGS_PER_TRIAL,
            TRIALS_EFFECTIVE,
            EFFECT_TRIALS * effect_on,
        ),
    ):
        # Inversion at fixed uniforms: runs with and without effects stay coupled.
        u_den, u_num = rng.random(base.shape), rng.random(base.shape)
        den = stats.poisson.ppf(u_den, base * per).astype(np.int64)
        p = np.clip(_path(mid, path)[None, :] + eff * share, 0, 1)
        num = stats.binom.ppf(u_num, den, p).astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.where(den > 0, num / den, np.nan)
        rows.append(
            pd.DataFrame(
                {
                    "level": "area",
                    "unit": np.repeat(areas, len(labels)),
                    "period": np.tile(labels, len(areas)),
                    "measure": measure,
                    "value": value.ravel(),
                    "numerator": num.ravel().astype(float),
                    "denominator": den.ravel().astype(float),
                    "small_cell": ((den > 0) & (den < threshold)).ravel(),
                    "synthetic": True,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)[list(PANEL_COLUMNS)]


def to_financial_years(quarterly: pd.DataFrame) -> pd.DataFrame:
    """Sum quarterly numerators and denominators into whole financial years."""
    q = quarterly.copy()
    year = q["period"].str[:4].astype(int)
    quarter = q["period"].str[-1].astype(int)
    end_year = np.where(quarter >= 2, year + 1, year)
    q["fy"] = [f"{y - 1}/{y % 100:02d}" for y in end_year]
    n_quarters = q.groupby(["unit", "measure", "fy"])["period"].transform("size")
    q = q[n_quarters == 4]
    g = q.groupby(["level", "unit", "fy", "measure"], as_index=False)[
        ["numerator", "denominator"]
    ].sum()
    g["value"] = g["numerator"] / g["denominator"].where(g["denominator"] > 0)
    g["small_cell"] = (g["denominator"] > 0) & (g["denominator"] < 10)
    g["synthetic"] = True
    return g.rename(columns={"fy": "period"})[list(PANEL_COLUMNS)]
