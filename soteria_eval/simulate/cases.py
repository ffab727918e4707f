"""The case-level simulator: one record per suspect-case, from report to court.

Each case follows the journey described in the CPS Rape Strategy Update (2022): a report
to the police; an investigation ending in a Home Office outcome, or a referral to the CPS
(with optional early advice), action plans and a charging decision; then court, with a
guilty plea at the first hearing or a trial. Everything is drawn at once for all cases
with numpy (no loop over cases); the same seed gives the same records.

Structure built in: force sizes (a documented proxy) and force-specific referral rates;
optional force dynamics (trends, persistent and shared shocks calibrated to the real
force panel: :mod:`soteria_eval.simulate.dynamics`) on report volume and referral rate;
national trends and seasonality; COVID-19 from 23 March 2020 (a dip in reports and a
court backlog); the early-advice series break (April 2022); programme effects per phase
that build up over ``ramp_months``, a spillover onto exposed controls and anticipation in
Avon and Somerset. Events after the extract date are not observed (right-censoring).
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from soteria_eval.data import load_rollout
from soteria_eval.datasets import force_size_proxy
from soteria_eval.geography import Geography, load_geography
from soteria_eval.panels.aggregate import CaseArrays
from soteria_eval.rollout import Rollout
from soteria_eval.simulate.config import (
    COVID_REPORT_DIP,
    FORCE_RATE_FACTORS,
    RECORDED_RAPES_BY_FY,
    EffectSizes,
    SimulationConfig,
)
from soteria_eval.simulate.dynamics import ForceDynamics

Days = NDArray[np.int64]
Floats = NDArray[np.float64]

COVID_START = "2020-03-23"
EARLY_ADVICE_BREAK = "2022-04-01"

# Time paths of baseline rates and delays: (ISO date, value) knots, linear in between.
# Tuned so that the calibration report (soteria_eval.simulate.calibration) lands within
# ±10% of the published figures; see that module for the targets and their sources.
REFERRAL_RATE = (
    ("2012-04-01", 0.15),
    ("2015-04-01", 0.135),
    ("2017-04-01", 0.09),
    ("2018-04-01", 0.052),
    ("2018-10-01", 0.041),
    ("2019-04-01", 0.041),
    ("2019-10-01", 0.0876),
    ("2020-10-01", 0.1095),
    ("2021-06-01", 0.0882),
    ("2026-03-31", 0.0882),
)
REFERRAL_LAG = (
    ("2012-04-01", 210.0),
    ("2016-04-01", 260.0),
    ("2018-04-01", 446.0),
    ("2020-04-01", 669.0),
    ("2021-06-01", 680.0),
    ("2026-03-31", 680.0),
)
DECISION_BASE = (
    ("2016-04-01", 42.0),
    ("2018-04-01", 101.0),
    ("2020-04-01", 181.0),
    ("2021-06-01", 195.0),
    ("2021-10-01", 150.0),
    ("2026-03-31", 150.0),
)
ACTION_PLANS = (("2016-04-01", 1.0), ("2020-04-01", 1.8), ("2026-03-31", 1.8))
GUILTY_PLEA = (
    ("2016-04-01", 0.21),
    ("2017-04-01", 0.21),
    ("2020-04-01", 0.335),
    ("2026-03-31", 0.335),
)
EARLY_ADVICE = (("2016-01-01", 0.04), ("2021-06-01", 0.12), ("2026-03-31", 0.15))
ISVA = (("2016-01-01", 0.40), ("2021-06-01", 0.55), ("2026-03-31", 0.60))
BACKLOG = (("2020-03-22", 1.0), (COVID_START, 1.6), ("2021-06-01", 1.7), ("2023-06-01", 1.4), ("2026-03-31", 1.3))  # fmt: skip

# Change in the share of CPS decisions that are to charge, by referral date: calibrates
# the 550 suspects charged in Q3 2021/22 (CPS quarterly data) against 1,097 receipts.
CHARGE_SHIFT = (("2021-03-01", 0.0), ("2021-07-01", -0.05), ("2026-03-31", -0.05))

REF_SIGMA = 0.61  # log-scale spread of days from report to referral (slow path)
P_NON_RECENT = 0.12  # reports of offences a year or more earlier
P_FAST = 0.18  # referrals fast-tracked (e.g. a suspect in custody)
P_CHARGE = 0.55  # CPS decisions to charge, slow path
P_CHARGE_FAST = 0.79  # CPS decisions to charge, fast path
FAST_REFERRAL = 83.0  # median days from report to referral, fast path
FAST_DECISION = 24.0  # median days from referral to decision, fast path
DAYS_PER_PLAN = 25.0
P_WITHDRAW = 0.12
P_LATE_PLEA = 0.25
P_CONVICT_AT_TRIAL = 0.55
P_VRR = 0.12
P_NOT_REFERRED = {"16": 0.50, "18": 0.08, "other": 0.10}  # the rest: 14/15
OUTCOME_DELAY = {"16": (75.0, 1.0), "14/15": (220.0, 0.8), "18": (60.0, 0.8), "other": (150.0, 0.9)}

#: Police outcome codes as the simulator numbers them (index = code number).
OUTCOME_CODES: tuple[str, ...] = ("1", "14", "15", "16", "18", "other")
DECISIONS: tuple[str, ...] = ("charge", "nfa", "admin_finalised")
VICTIM_AGE_BANDS: tuple[str, ...] = ("0-15", "16-24", "25-39", "40+", "unknown")
VICTIM_SEXES: tuple[str, ...] = ("female", "male", "unknown")
SUSPECT_AGE_BANDS: tuple[str, ...] = ("10-17", "18-24", "25-39", "40+", "unknown")

CASE_COLUMNS: tuple[str, ...] = (
    "case_id", "force", "offence_date", "report_date", "outcome", "outcome_date", "early_advice",
    "early_advice_date", "referral_date", "action_plans", "charge_decision", "charge_decision_date",
    "first_hearing_date", "guilty_plea_first_hearing", "trial_date", "verdict", "completion_date",
    "isva_engaged", "withdrew_after_charge", "vrr_request", "satisfaction", "domestic_abuse",
    "non_recent", "victim_age_band", "victim_sex", "suspect_age_band", "synthetic",
)  # fmt: skip


#: Longest gap between offence and report, in days (70 years).
MAX_OFFENCE_LAG = 70 * 365


def _day(iso: str) -> int:
    return int(np.datetime64(iso, "D").astype(np.int64))


def _path(days: Days, knots: Sequence[tuple[str, float]]) -> Floats:
    xs = np.array([_day(d) for d, _ in knots], dtype=float)
    ys = np.array([v for _, v in knots], dtype=float)
    out: Floats = np.interp(days.astype(float), xs, ys)
    return out


@functools.cache
def _force_shares_cached() -> tuple[tuple[str, float], ...]:
    return tuple(force_size_proxy().items())


def _force_shares() -> dict[str, float]:
    """Each force's share of national caseload (read once per process)."""
    return dict(_force_shares_cached())


def _category(u: Floats, p: Sequence[float]) -> NDArray[np.int8]:
    """Category index of each case, with probabilities ``p``, from its uniform ``u``."""
    out: NDArray[np.int8] = np.searchsorted(np.cumsum(p)[:-1], u, side="right").astype(np.int8)
    return out


def _monthly_reports(cfg: SimulationConfig) -> tuple[pd.PeriodIndex, Floats]:
    """Return expected national reports per month of the window (FY totals, seasonality, COVID)."""
    first = pd.Period(cfg.start, freq="M") - 12 * cfg.burn_in_years
    months = pd.period_range(first, cfg.end, freq="M")
    fy_end = np.where(months.month >= 4, months.year + 1, months.year)
    # Weights within each FY: summer peak and the COVID dip.
    full = pd.period_range(f"{fy_end.min() - 1}-04", f"{fy_end.max()}-03", freq="M")
    season = 1 + 0.08 * np.sin(2 * np.pi * (full.month - 4) / 12)
    dip = np.array([COVID_REPORT_DIP.get(str(p), 1.0) for p in full])
    w = pd.Series(season * dip, index=full.astype(str))
    full_fy = np.where(full.month >= 4, full.year + 1, full.year)
    totals = pd.Series(w.to_numpy()).groupby(full_fy).transform("sum").to_numpy()
    labels = [f"{y - 1}/{y % 100:02d}" for y in full_fy]
    missing = sorted({lab for lab in labels if lab not in RECORDED_RAPES_BY_FY})
    if missing:
        raise ValueError(
            f"no expected recorded rapes for financial year(s) {missing}; extend RECORDED_RAPES_BY_FY"
        )
    target = np.array([RECORDED_RAPES_BY_FY[lab] for lab in labels])
    expected = pd.Series(target * w.to_numpy() / totals, index=full.astype(str))
    return months, expected.loc[months.astype(str)].to_numpy()


def _dynamics(
    dyn: ForceDynamics, name: str, rs: _Streams, n_f: int, quarters: pd.PeriodIndex
) -> Floats:
    """Force × quarter log factors of one process (zeros without dynamics; no draw then)."""
    if not dyn.active:
        return np.zeros((n_f, len(quarters)))
    n_q = len(quarters)
    z = rs.normal(f"dynamics_{name}", n_f * n_q).reshape(n_f, n_q)
    return dyn.draw(n_f, quarters, z, rs.normal(f"dynamics_{name}_trend", n_f),
                    rs.normal(f"dynamics_{name}_covid", n_f))  # fmt: skip


def _treated_trend(
    slope: float, rollout: Rollout, forces: Sequence[str], quarters: pd.PeriodIndex
) -> Floats:
    """Log factors of a linear trend for the forces of phases 1 and 2 (zero in 2018-Q1).

    It reaches ``21 * slope`` in 2023-Q2, the end of the DiD window: a violation of
    parallel trends that no design is told about.
    """
    from soteria_eval.estimands import DID_WINDOW

    t = rollout.table
    phase = t[t["level"] == "force"].set_index("unit")["phase"]
    treated = np.array([int(phase.get(f, 3)) in (1, 2) for f in forces], dtype=float)
    start = pd.Period(DID_WINDOW[0].replace("-Q", "Q"), freq="Q-DEC")
    q = np.array([(p - start).n for p in quarters], dtype=float)
    out: Floats = slope * treated[:, None] * q[None, :]
    return out


def _ramp(x: Floats) -> Floats:
    return np.clip(x, 0.0, 1.0)


class _Timing:
    """Per-force start dates and the programme intensity at any date.

    The intensity of force :math:`f` on day :math:`t` is the largest of three parts:

    * its own effect, ramping linearly from 0 at its start :math:`s_f` to 1 after
      ``ramp_months``;
    * the spillover from its CPS Area's first start :math:`a_f` (``spillover`` times the
      Area's ramp), which an exposed control keeps after its own start;
    * anticipation (``anticipation_share`` from ``anticipation_months`` before the start),
      likewise kept after the start.

    Each part is non-decreasing in time, so the intensity is too: a force never loses
    effect on the day it joins (its own ramp takes over only once it exceeds the
    spillover or anticipation level it already had).
    """

    def __init__(
        self, cfg: SimulationConfig, rollout: Rollout, geo: Geography, forces: Sequence[str]
    ) -> None:
        t = rollout.table
        ft = t[t["level"] == "force"].set_index("unit")
        at = t[t["level"] == "area"].set_index("unit")
        missing = [f for f in forces if f not in ft.index]
        if missing:
            raise ValueError(f"the rollout has no start date for force(s) {missing[:5]}")
        self.start = np.array(
            [_day(str(ft.loc[f, "start_date"])[:10]) for f in forces], dtype=np.int64
        )
        self.phase = ft.loc[list(forces), "phase"].to_numpy(dtype=np.int64)
        area_start = []
        for f in forces:
            days = [
                _day(str(at.loc[a, "start_date"])[:10]) for a in geo.force_areas[f] if a in at.index
            ]
            area_start.append(min(days) if days else 10**9)
        self.area_start = np.array(area_start, dtype=np.int64)
        self.antic = np.array([f in cfg.anticipation_forces for f in forces])
        self.cfg = cfg
        self._table: Floats | None = None
        self._first = 0
        self._sizes = {
            name: np.array(
                [getattr(cfg.effects.get(p, EffectSizes()), name) for p in (1, 2, 3)], dtype=float
            )
            for name in EffectSizes.__dataclass_fields__
        }

    def intensity(self, day: Days, force: NDArray[np.int64]) -> Floats:
        """Programme intensity (0 to 1) of each force on each day (see the class docstring)."""
        cfg = self.cfg
        s, a = self.start[force], self.area_start[force]
        if cfg.ramp_months == 0:
            own = (day >= s).astype(float)
            spill = cfg.spillover * (day >= a)
        else:
            ramp_days = cfg.ramp_months * 30.4375
            own = _ramp((day - s) / ramp_days)
            spill = cfg.spillover * _ramp((day - a) / ramp_days)
        early = (
            cfg.anticipation_share
            * self.antic[force]
            * (day >= s - cfg.anticipation_months * 30.4375)
        )
        return np.asarray(np.maximum(np.maximum(own, spill), early), dtype=float)

    def tabulate(self, first_day: int, last_day: int) -> None:
        """Tabulate the intensity of every force on every day of a range (a fast lookup)."""
        days = np.arange(first_day, last_day + 1, dtype=np.int64)
        n_f = len(self.start)
        f = np.repeat(np.arange(n_f, dtype=np.int64), len(days))
        self._table = self.intensity(np.tile(days, n_f), f).reshape(n_f, len(days))
        self._first = first_day

    def _lookup(self, day: Days, force: NDArray[np.int64]) -> Floats:
        if self._table is None:
            return self.intensity(day, force)
        idx = np.clip(day - self._first, 0, self._table.shape[1] - 1)
        out: Floats = self._table[force, idx]
        return out

    def effect(self, field: str, day: Days, force: NDArray[np.int64]) -> Floats:
        """Effect of one :class:`EffectSizes` field on each case: size of its phase x intensity."""
        sizes = self._sizes[field]
        if not sizes.any():
            return np.zeros(day.shape)
        return np.asarray(sizes[self.phase[force] - 1] * self._lookup(day, force), dtype=float)


class _Streams:
    """One independent random generator per simulated variable (common random numbers).

    Each variable draws from its own stream, seeded by the simulation seed and the
    variable's name, and always draws the same number of values whatever the effects. So
    two runs with the same seed, one with effects and one without, use the same random
    numbers for every case: their difference is the effect, not noise.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._cache: dict[str, NDArray[Any]] = {}

    def __call__(self, name: str) -> np.random.Generator:
        key = zlib.crc32(name.encode("utf-8"))
        return np.random.default_rng(np.random.SeedSequence([self.seed, key]))

    def uniform(self, name: str, n: int) -> Floats:
        """``n`` uniforms on [0, 1) from the stream ``name`` (cached: coupled runs share them)."""
        if name not in self._cache:
            self._cache[name] = self(name).random(n)
        out: Floats = self._cache[name]
        return out

    def normal(self, name: str, n: int) -> Floats:
        """``n`` standard normals from the stream ``name`` (cached)."""
        if name not in self._cache:
            self._cache[name] = self(name).standard_normal(n)
        out: Floats = self._cache[name]
        return out

    def counts(self, name: str, lam: Floats) -> NDArray[np.int64]:
        """Poisson counts with means ``lam`` (flattened) from the stream ``name`` (cached)."""
        if name not in self._cache:
            self._cache[name] = self(name).poisson(lam).ravel()
        out: NDArray[np.int64] = self._cache[name]
        return out

    def lognormal(self, name: str, median: Floats | float, sigma: float, n: int) -> Floats:
        """Log-normal values with the given median and log-scale sd (one normal each)."""
        return np.asarray(median * np.exp(sigma * self.normal(name, n)), dtype=float)


def _poisson_inverse(lam: Floats, u: Floats) -> NDArray[np.int64]:
    """Poisson draws by inversion of the CDF at uniforms ``u`` (monotone in ``lam``).

    Inversion uses exactly one uniform per draw, so the draws of a coupled run with a
    different ``lam`` stay paired (a larger mean never gives a smaller count).
    """
    k = np.zeros(lam.shape, dtype=np.int64)
    p = np.exp(-lam)
    cdf = p.copy()
    active = u > cdf
    j = 0
    while active.any():
        j += 1
        idx = np.flatnonzero(active)
        p[idx] *= lam[idx] / j
        cdf[idx] += p[idx]
        k[idx] = j
        still = u[idx] > cdf[idx]
        # Guard against round-off in the far tail (cdf can stall just below u).
        still &= p[idx] > 1e-300
        active[idx] = still
    return k


def _dates(days: Days, observed: NDArray[np.bool_]) -> NDArray[np.datetime64]:
    out = days.astype("datetime64[D]").astype("datetime64[s]")
    out[~observed] = np.datetime64("NaT")
    return out


def _nullable_bool(values: NDArray[np.bool_], known: NDArray[np.bool_]) -> pd.arrays.BooleanArray:
    arr = pd.array(values, dtype="boolean")
    arr[~known] = pd.NA
    return arr


@dataclass(frozen=True)
class SimulatedCases:
    """Simulated case journeys as numpy arrays, before they become a case-records table.

    Dates are integer days since 1970-01-01; ``seen_*`` say which events the extract can
    see. Rows are the kept cases (reports in the window, and burn-in reports with an event
    in it) sorted by force, report date and case number; ``case_no`` numbers every drawn
    report in order of report date and force, so the same report has the same number in
    coupled runs with and without effects.
    """

    forces: tuple[str, ...]
    force: NDArray[np.int64]
    case_no: NDArray[np.int64]
    day: dict[str, Days]
    seen: dict[str, NDArray[np.bool_]]
    values: dict[str, NDArray[Any]]
    extract: int
    window: tuple[str, str]

    @property
    def n(self) -> int:
        """Number of kept cases."""
        return len(self.force)

    def case_ids(self, rows: NDArray[np.int64] | None = None) -> NDArray[np.object_]:
        """Case ids (``S0000001``, ...) of all rows or of the given rows."""
        nos = self.case_no if rows is None else self.case_no[rows]
        return np.array([f"S{k:07d}" for k in nos.tolist()], dtype=object)


def simulate_arrays(
    config: SimulationConfig | None = None,
    *,
    rollout: Rollout | None = None,
    geography: Geography | None = None,
    streams: _Streams | None = None,
) -> SimulatedCases:
    """Simulate case journeys as arrays (the core of :func:`simulate_cases`).

    Every variable draws from its own random stream (:class:`_Streams`) a fixed number of
    values, so runs with the same seed and different effects are coupled: the same
    reports, the same people and the same random numbers, differing only through the
    effects. This is what makes the truth of :mod:`soteria_eval.simulate.truth` exact.
    Pass the same ``streams`` to two calls to reuse the draws (the second call is faster).
    """
    cfg = config or SimulationConfig()
    rs = streams if streams is not None else _Streams(cfg.seed)
    if rs.seed != cfg.seed:
        raise ValueError("the random streams were made for another seed")
    geo = geography or load_geography()
    ro = rollout or load_rollout()
    forces = list(geo.forces)
    n_f = len(forces)
    shares = _force_shares()
    share = np.array([shares[f] for f in forces])
    months, national = _monthly_reports(cfg)
    lam = np.outer(national, share) * cfg.scale
    # Force dynamics (trends, persistent and shared shocks) on volume and referral rate:
    # one draw per force and quarter, the same in the worlds with and without effects.
    quarters = months.asfreq("Q-DEC").unique()
    q_of_month = quarters.get_indexer(months.asfreq("Q-DEC"))
    u_volume = _dynamics(cfg.dynamics, "volume", rs, n_f, quarters)
    u_rate = _dynamics(cfg.rate_dynamics, "rate", rs, n_f, quarters)
    if cfg.treated_trend:  # the differential-trend world: the same in both coupled worlds
        trend = _treated_trend(cfg.treated_trend, ro, forces, quarters)
        u_volume, u_rate = u_volume + trend, u_rate + trend
    if cfg.dynamics.active or cfg.treated_trend:
        lam = lam * np.exp(u_volume[:, q_of_month]).T
    counts = rs.counts("reports", lam)
    n = int(counts.sum())
    month_idx = np.repeat(np.repeat(np.arange(len(months)), n_f), counts)
    force = np.repeat(np.tile(np.arange(n_f, dtype=np.int64), len(months)), counts)
    m_start = np.array([_day(str(p.start_time.date())) for p in months], dtype=np.int64)
    m_len = np.array([p.days_in_month for p in months], dtype=np.int64)
    report = m_start[month_idx] + np.floor(rs.uniform("report_day", n) * m_len[month_idx]).astype(
        np.int64
    )
    extract = _day(cfg.extract_date) if cfg.extract_date else _day(str(months[-1].end_time.date()))
    timing = _Timing(cfg, ro, geo, forces)
    # Intensity is constant before the earliest anticipation and after every ramp ends,
    # so a table over the simulated years (clipped at its ends) gives it exactly.
    timing.tabulate(int(m_start[0]) - 1, max(extract, int(timing.start.max())) + 3 * 366)

    # Force referral-rate factors: published contrasts where known, log-normal otherwise.
    fac = np.exp(cfg.force_rate_sd * rs.normal("force_rate", n_f) - cfg.force_rate_sd**2 / 2)
    for i, f in enumerate(forces):
        if f in FORCE_RATE_FACTORS:
            fac[i] = FORCE_RATE_FACTORS[f]
    fac /= np.sum(fac * share)

    # Case and person attributes.
    domestic = rs.uniform("domestic", n) < 0.40
    non_recent = rs.uniform("non_recent", n) < P_NON_RECENT
    offence = np.where(
        non_recent,
        # Non-recent: a year or more before the report, and at most 70 years (a lifetime).
        report
        - np.clip(rs.lognormal("offence_old", 2900.0, 0.8, n), 365, MAX_OFFENCE_LAG).astype(
            np.int64
        ),
        report
        - np.minimum(-7.0 * np.log1p(-rs.uniform("offence_recent", n)), 364).astype(np.int64),
    )
    v_age = _category(rs.uniform("victim_age", n), [0.2, 0.3, 0.3, 0.17, 0.03])
    v_sex = _category(rs.uniform("victim_sex", n), [0.89, 0.10, 0.01])
    s_age = _category(rs.uniform("suspect_age", n), [0.12, 0.2, 0.33, 0.3, 0.05])

    # Referral to the CPS, early advice and action plans.
    rate_factor = fac[force]
    if cfg.rate_dynamics.active or cfg.treated_trend:
        rate_factor = rate_factor * np.exp(u_rate[force, q_of_month[month_idx]])
    p_ref = np.clip(
        _path(report, REFERRAL_RATE) * rate_factor * (1 + timing.effect("referral", report, force)),
        0,
        0.95,
    )
    referred = rs.uniform("referred", n) < p_ref
    # A share of referrals is fast-tracked (e.g. a suspect in custody): referral within
    # days and a quick decision; the rest follow the slow path of a full investigation.
    fast = rs.uniform("fast", n) < P_FAST
    z_ref = rs.normal("referral_lag", n)
    ref_lag = np.floor(
        np.where(
            fast,
            FAST_REFERRAL * np.exp(0.8 * z_ref),
            _path(report, REFERRAL_LAG) * np.exp(REF_SIGMA * z_ref),
        )
    ).astype(np.int64)
    referral = report + ref_lag
    p_ea = np.clip(_path(report, EARLY_ADVICE) + timing.effect("early_advice", report, force), 0, 1)
    asked = rs.uniform("early_advice", n) < p_ea
    ea_day = np.where(
        referred,
        report
        + np.floor(ref_lag * (0.2 + 0.6 * rs.uniform("early_advice_share", n))).astype(np.int64),
        report + np.floor(rs.lognormal("early_advice_lag", 45.0, 0.6, n)).astype(np.int64),
    )
    recorded_ea = asked & (
        (ea_day >= _day(EARLY_ADVICE_BREAK))
        | (rs.uniform("early_advice_recorded", n) < cfg.early_advice_recording)
    )
    plan_mean = np.maximum(
        _path(referral, ACTION_PLANS) * (1 + timing.effect("action_plans", referral, force)), 0
    )
    plans = np.where(fast, 0, _poisson_inverse(plan_mean, rs.uniform("action_plans", n)))
    dec_median = np.where(fast, FAST_DECISION, _path(referral, DECISION_BASE))
    dec_lag = rs.lognormal("decision_lag", dec_median, 0.7, n) * (
        1 + timing.effect("decision_time", referral, force)
    )
    decision = referral + np.floor(np.maximum(dec_lag, 0) + DAYS_PER_PLAN * plans).astype(np.int64)
    p_charge = np.clip(
        np.where(fast, P_CHARGE_FAST, P_CHARGE)
        + _path(referral, CHARGE_SHIFT)
        + timing.effect("charge_share", referral, force),
        0,
        1,
    )
    u = rs.uniform("charge", n)
    charged = referred & (u < p_charge)
    nfa = referred & ~charged & (u < p_charge + (1 - p_charge) * 0.55)
    admin = referred & ~charged & ~nfa

    # Police outcomes.
    p16 = np.clip(
        P_NOT_REFERRED["16"] * (1 + timing.effect("victim_no_support", report, force)), 0, 1
    )
    u = rs.uniform("police_outcome", n)
    cut18 = p16 + P_NOT_REFERRED["18"]
    cut_other = cut18 + P_NOT_REFERRED["other"]
    # Outcome group: 0 "16", 1 "18", 2 "other", 3 evidential (14/15), 4 charged.
    group = np.where(u < p16, 0, np.where(u < cut18, 1, np.where(u < cut_other, 2, 3)))
    u_after = rs.uniform("outcome_after_cps", n)
    group = np.where(nfa, np.where(u_after < 0.8, 3, 0), group)
    group = np.where(admin, np.where(u_after < 0.5, 3, 0), group)
    group = np.where(charged, 4, group)
    # One normal draw per case, scaled by the delay of whichever outcome the case gets.
    z_delay = rs.normal("outcome_delay", n)
    d_median = np.array([OUTCOME_DELAY[k][0] for k in ("16", "18", "other", "14/15")] + [0.0])
    d_sigma = np.array([OUTCOME_DELAY[k][1] for k in ("16", "18", "other", "14/15")] + [0.0])
    delay = d_median[group] * np.exp(d_sigma[group] * z_delay)
    outcome_day = np.where(
        charged,
        decision,
        np.where(
            nfa,
            decision + np.floor(rs.lognormal("nfa_outcome_lag", 20.0, 0.5, n)).astype(np.int64),
            np.where(
                admin,
                decision
                + np.floor(rs.lognormal("admin_outcome_lag", 90.0, 0.7, n)).astype(np.int64),
                report + np.floor(delay).astype(np.int64),
            ),
        ),
    )
    # Codes of OUTCOME_CODES: evidential difficulties split into 14 (30%) and 15.
    evid14 = rs.uniform("evidential_code", n) < 0.3
    code = np.array([3, 4, 5, 0, 0], dtype=np.int8)[group]  # 16, 18, other, (14/15), 1
    code[group == 3] = np.where(evid14[group == 3], 1, 2)
    code[group == 4] = 0
    code = code.astype(np.int8)

    # Court.
    first_hearing = decision + np.floor(rs.lognormal("first_hearing", 28.0, 0.3, n)).astype(
        np.int64
    )
    backlog = _path(first_hearing, BACKLOG)
    withdrew = charged & (
        rs.uniform("withdrawal", n)
        < P_WITHDRAW * (1 + timing.effect("withdrawal", decision, force))
    )
    p_gp = np.clip(
        _path(first_hearing, GUILTY_PLEA) + timing.effect("guilty_plea", first_hearing, force), 0, 1
    )
    gp = charged & ~withdrew & (rs.uniform("guilty_plea", n) < p_gp)
    rest = charged & ~withdrew & ~gp
    late = rest & (rs.uniform("late_plea", n) < P_LATE_PLEA)
    trial = rest & ~late
    trial_day = first_hearing + np.floor(rs.lognormal("trial", 260.0 * backlog, 0.5, n)).astype(
        np.int64
    )
    z_done = rs.normal("completion", n)
    completion = np.select(
        [withdrew, gp, late, trial],
        [
            first_hearing + np.floor(120.0 * np.exp(0.6 * z_done)).astype(np.int64),
            first_hearing + np.floor(35.0 * np.exp(0.3 * z_done)).astype(np.int64),
            first_hearing + np.floor(150.0 * backlog * np.exp(0.6 * z_done)).astype(np.int64),
            trial_day + np.floor(8.0 * np.exp(0.4 * z_done)).astype(np.int64),
        ],
        default=0,
    )
    convicted = gp | late | (trial & (rs.uniform("verdict", n) < P_CONVICT_AT_TRIAL))

    # Victim experience.
    isva = rs.uniform("isva", n) < np.clip(
        _path(report, ISVA) + timing.effect("isva", report, force), 0, 1
    )
    vrr = nfa & (rs.uniform("vrr", n) < P_VRR)
    score_mean = (
        2.9 + 0.4 * isva + 0.5 * charged - 0.3 * nfa + timing.effect("satisfaction", report, force)
    )
    score = np.clip(np.rint(score_mean + 0.9 * rs.normal("satisfaction", n)), 1, 5).astype(np.int64)
    surveyed = rs.uniform("surveyed", n) < cfg.survey_share

    # What the extract can see.
    seen_ref = referred & (referral <= extract)
    seen_dec = seen_ref & (decision <= extract)
    seen_out = (outcome_day <= extract) & (~referred | seen_dec)
    seen_fh = seen_dec & charged & (first_hearing <= extract)
    seen_trial = seen_fh & trial & (trial_day <= extract)
    seen_done = seen_fh & (completion <= extract)
    seen_ea = (
        recorded_ea
        & (ea_day <= extract)
        & (~referred | (ea_day <= np.where(seen_ref, referral, extract)))
    )

    # Keep every report in the window, and burn-in reports with an event inside it.
    w0 = _day(f"{cfg.start}-01")
    last_event = np.maximum.reduce(
        [
            np.where(seen_ref, referral, 0),
            np.where(seen_dec, decision, 0),
            np.where(seen_out, outcome_day, 0),
            np.where(seen_fh, first_hearing, 0),
            np.where(seen_done, completion, 0),
        ]
    )
    # Case numbers follow report date then force (then draw order), over every drawn
    # report; kept rows are ordered by force then case number (so by report date).
    case_no = np.empty(n, dtype=np.int64)
    case_no[np.argsort(report * 64 + force, kind="stable")] = np.arange(1, n + 1)
    keep = (report >= w0) | (last_event >= w0)
    rows = np.flatnonzero(keep)
    rows = rows[np.argsort(force[rows] * (n + 1) + case_no[rows], kind="stable")]

    decision_label = np.where(charged, 0, np.where(nfa, 1, 2)).astype(np.int8)
    day = {
        "offence": offence, "report": report, "outcome": outcome_day, "early_advice": ea_day,
        "referral": referral, "decision": decision, "first_hearing": first_hearing,
        "trial": trial_day, "completion": completion,
    }  # fmt: skip
    seen = {
        "referral": seen_ref, "decision": seen_dec, "outcome": seen_out, "first_hearing": seen_fh,
        "trial": seen_trial, "completion": seen_done, "early_advice": seen_ea,
        "surveyed": surveyed & seen_out,
    }  # fmt: skip
    values: dict[str, NDArray[Any]] = {
        "code": code, "plans": plans, "decision_label": decision_label, "charged": charged,
        "nfa": nfa, "gp": gp, "withdrew": withdrew, "convicted": convicted, "isva": isva,
        "vrr": vrr, "score": score, "domestic": domestic, "non_recent": non_recent,
        "victim_age_band": v_age, "victim_sex": v_sex, "suspect_age_band": s_age,
    }  # fmt: skip
    return SimulatedCases(
        forces=tuple(forces),
        force=force[rows],
        case_no=case_no[rows],
        day={k: v[rows] for k, v in day.items()},
        seen={k: v[rows] for k, v in seen.items()},
        values={k: v[rows] for k, v in values.items()},
        extract=int(extract),
        window=(cfg.start, cfg.end),
    )


def simulate_cases(
    config: SimulationConfig | None = None,
    *,
    rollout: Rollout | None = None,
    geography: Geography | None = None,
) -> pd.DataFrame:
    """Simulate case records for all 43 forces (see the module docstring).

    Parameters
    ----------
    config : SimulationConfig, optional
        Settings (default: :class:`SimulationConfig()`, about 600,000 cases, 2016–2025).
    rollout : Rollout, optional
        Who starts when (default: the bundled rollout); effects follow it.
    geography : Geography, optional
        Forces and CPS Areas (default: the bundled ones).

    Returns
    -------
    pandas.DataFrame
        Columns of the ``case_records`` schema, sorted by force, report date and case id;
        ``synthetic`` is true on every row and ``attrs["synthetic"]`` is ``True``.
    """
    return cases_frame(simulate_arrays(config, rollout=rollout, geography=geography))


def _labels(names: Sequence[str], codes: NDArray[Any]) -> NDArray[np.str_]:
    out: NDArray[np.str_] = np.array(names)[codes]
    return out


def cases_frame(sim: SimulatedCases) -> pd.DataFrame:
    """Turn simulated arrays into a case-records table (the ``case_records`` schema)."""
    d, s, v = sim.day, sim.seen, sim.values
    n = sim.n
    charged, nfa = v["charged"], v["nfa"]
    withdrew = v["withdrew"]
    verdict = pd.Series(np.where(v["convicted"], "convicted", "acquitted"), dtype=object).where(
        ~withdrew, None
    )
    frame = pd.DataFrame(
        {
            "case_id": sim.case_ids(),
            "force": np.array(sim.forces, dtype=object)[sim.force],
            "offence_date": _dates(d["offence"], np.ones(n, dtype=bool)),
            "report_date": _dates(d["report"], np.ones(n, dtype=bool)),
            "outcome": np.where(s["outcome"], _labels(OUTCOME_CODES, v["code"]), "open"),
            "outcome_date": _dates(d["outcome"], s["outcome"]),
            "early_advice": pd.array(s["early_advice"], dtype="boolean"),
            "early_advice_date": _dates(d["early_advice"], s["early_advice"]),
            "referral_date": _dates(d["referral"], s["referral"]),
            "action_plans": pd.array(np.where(s["decision"], v["plans"], 0), dtype="Int64"),
            "charge_decision": pd.Series(
                _labels(DECISIONS, v["decision_label"]), dtype=object
            ).where(s["decision"], None),
            "charge_decision_date": _dates(d["decision"], s["decision"]),
            "first_hearing_date": _dates(d["first_hearing"], s["first_hearing"]),
            "guilty_plea_first_hearing": _nullable_bool(v["gp"], s["first_hearing"]),
            "trial_date": _dates(d["trial"], s["trial"]),
            "verdict": verdict.where(s["completion"], None),
            "completion_date": _dates(d["completion"], s["completion"]),
            "isva_engaged": pd.array(v["isva"], dtype="boolean"),
            "withdrew_after_charge": _nullable_bool(
                withdrew & s["completion"], s["decision"] & charged
            ),
            "vrr_request": _nullable_bool(v["vrr"], s["decision"] & nfa),
            "satisfaction": pd.array(np.where(s["surveyed"], v["score"], 0), dtype="Int64"),
            "domestic_abuse": pd.array(v["domestic"], dtype="boolean"),
            "non_recent": pd.array(v["non_recent"], dtype="boolean"),
            "victim_age_band": _labels(VICTIM_AGE_BANDS, v["victim_age_band"]).astype(object),
            "victim_sex": _labels(VICTIM_SEXES, v["victim_sex"]).astype(object),
            "suspect_age_band": _labels(SUSPECT_AGE_BANDS, v["suspect_age_band"]).astype(object),
            "synthetic": pd.array(np.ones(n, dtype=bool), dtype="boolean"),
        }
    )
    frame.loc[~s["decision"], "action_plans"] = pd.NA
    frame.loc[~s["surveyed"], "satisfaction"] = pd.NA
    frame.attrs["synthetic"] = True
    frame.attrs["extract_date"] = str(np.datetime64(sim.extract, "D"))
    frame.attrs["window"] = sim.window
    result: pd.DataFrame = frame[list(CASE_COLUMNS)]
    return result


def case_arrays(sim: SimulatedCases) -> CaseArrays:
    """Return the measures' view of simulated cases without building a table (fast path).

    Equal to ``CaseArrays.from_frame(cases_frame(sim))`` for every measure, a few times
    faster; the recovery study aggregates each simulated world this way.
    """
    d, s, v = sim.day, sim.seen, sim.values

    def dates(name: str, seen: NDArray[np.bool_] | None) -> Floats:
        x = d[name].astype(float)
        return x if seen is None else np.where(seen, x, np.nan)

    met_rows = np.flatnonzero(np.array(sim.forces)[sim.force] == "Metropolitan Police")
    return CaseArrays(
        n=sim.n,
        day={
            "offence_date": dates("offence", None),
            "report_date": dates("report", None),
            "outcome_date": dates("outcome", s["outcome"]),
            "early_advice_date": dates("early_advice", s["early_advice"]),
            "referral_date": dates("referral", s["referral"]),
            "charge_decision_date": dates("decision", s["decision"]),
            "first_hearing_date": dates("first_hearing", s["first_hearing"]),
            "trial_date": dates("trial", s["trial"]),
            "completion_date": dates("completion", s["completion"]),
        },
        flag={
            "early_advice": s["early_advice"],
            "guilty_plea_first_hearing": v["gp"] & s["first_hearing"],
            "isva_engaged": v["isva"],
            "withdrew_after_charge": v["withdrew"] & s["completion"],
            "vrr_request": v["vrr"] & s["decision"],
        },
        text={
            "outcome": np.where(s["outcome"], _labels(OUTCOME_CODES, v["code"]), "open"),
            "charge_decision": np.where(s["decision"], _labels(DECISIONS, v["decision_label"]), ""),
            "verdict": np.where(
                s["completion"] & ~v["withdrew"],
                np.where(v["convicted"], "convicted", "acquitted"),
                "",
            ),
        },
        num={
            "action_plans": np.where(s["decision"], v["plans"].astype(float), np.nan),
            "satisfaction": np.where(s["surveyed"], v["score"].astype(float), np.nan),
        },
        extract=float(sim.extract),
        force_code=sim.force,
        forces=sim.forces,
        met_case_ids=sim.case_ids(met_rows),
        window=sim.window,
        synthetic=True,
    )


def simulate_coupled(
    config: SimulationConfig | None = None,
    *,
    rollout: Rollout | None = None,
    geography: Geography | None = None,
) -> tuple[SimulatedCases, SimulatedCases]:
    """Simulate one world with the programme and the same world without it.

    Both use the same random numbers (drawn once), so every difference between them is
    caused by the programme: the potential outcomes of every case under both.

    Returns
    -------
    tuple of SimulatedCases
        ``(with_programme, without_programme)``; the second has no effect in any phase.
    """
    from soteria_eval.simulate.config import NO_EFFECTS

    cfg = config or SimulationConfig()
    streams = _Streams(cfg.seed)
    geo = geography or load_geography()
    ro = rollout or load_rollout()
    treated = simulate_arrays(cfg, rollout=ro, geography=geo, streams=streams)
    untreated = simulate_arrays(
        cfg.with_effects(NO_EFFECTS), rollout=ro, geography=geo, streams=streams
    )
    return treated, untreated
