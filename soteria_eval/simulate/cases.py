"""The case-level simulator: one record per suspect-case, from report to court.

Each case follows the journey described in the CPS Rape Strategy Update (2022): a report
to the police; an investigation ending in a Home Office outcome, or a referral to the CPS
(with optional early advice), action plans and a charging decision; then court, with a
guilty plea at the first hearing or a trial. Everything is drawn at once for all cases
with numpy (no loop over cases); the same seed gives the same records.

Structure built in: force sizes (a documented proxy) and force-specific referral rates;
national trends and seasonality; COVID-19 from 23 March 2020 (a dip in reports and a
court backlog); the early-advice series break (April 2022); programme effects per phase
that build up over ``ramp_months``, a spillover onto exposed controls and anticipation in
Avon and Somerset. Events after the extract date are not observed (right-censoring).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from soteria_eval.data import load_rollout
from soteria_eval.datasets import force_size_proxy
from soteria_eval.geography import Geography, load_geography
from soteria_eval.rollout import Rollout
from soteria_eval.simulate.config import (
    COVID_REPORT_DIP,
    FORCE_RATE_FACTORS,
    RECORDED_RAPES_BY_FY,
    EffectSizes,
    SimulationConfig,
)

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

CASE_COLUMNS: tuple[str, ...] = (
    "case_id", "force", "offence_date", "report_date", "outcome", "outcome_date", "early_advice",
    "early_advice_date", "referral_date", "action_plans", "charge_decision", "charge_decision_date",
    "first_hearing_date", "guilty_plea_first_hearing", "trial_date", "verdict", "completion_date",
    "isva_engaged", "withdrew_after_charge", "vrr_request", "satisfaction", "domestic_abuse",
    "non_recent", "victim_age_band", "victim_sex", "suspect_age_band", "synthetic",
)  # fmt: skip


def _day(iso: str) -> int:
    return int(np.datetime64(iso, "D").astype(np.int64))


def _path(days: Days, knots: Sequence[tuple[str, float]]) -> Floats:
    xs = np.array([_day(d) for d, _ in knots], dtype=float)
    ys = np.array([v for _, v in knots], dtype=float)
    out: Floats = np.interp(days.astype(float), xs, ys)
    return out


def _lognormal(rng: np.random.Generator, median: Floats | float, sigma: float, n: int) -> Floats:
    out: Floats = np.asarray(median * np.exp(sigma * rng.standard_normal(n)), dtype=float)
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


def _ramp(x: Floats) -> Floats:
    return np.clip(x, 0.0, 1.0)


class _Timing:
    """Per-force start dates and the programme intensity at any date."""

    def __init__(
        self, cfg: SimulationConfig, rollout: Rollout, geo: Geography, forces: Sequence[str]
    ) -> None:
        t = rollout.table
        ft = t[t["level"] == "force"].set_index("unit")
        at = t[t["level"] == "area"].set_index("unit")
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

    def intensity(self, day: Days, force: NDArray[np.int64]) -> Floats:
        cfg = self.cfg
        ramp_days = max(cfg.ramp_months * 30.4375, 1e-9)
        s, a = self.start[force], self.area_start[force]
        own = _ramp((day - s) / ramp_days + (1.0 if cfg.ramp_months == 0 else 0.0)) * (day >= s)
        spill = (
            cfg.spillover
            * _ramp((day - a) / ramp_days + (1.0 if cfg.ramp_months == 0 else 0.0))
            * (day >= a)
            * (day < s)
        )
        early = (
            cfg.anticipation_share
            * self.antic[force]
            * (day >= s - cfg.anticipation_months * 30.4375)
            * (day < s)
        )
        return np.asarray(np.maximum(np.maximum(own, spill), early), dtype=float)

    def effect(self, field: str, day: Days, force: NDArray[np.int64]) -> Floats:
        sizes = np.array(
            [getattr(self.cfg.effects.get(p, EffectSizes()), field) for p in (1, 2, 3)]
        )
        return np.asarray(sizes[self.phase[force] - 1] * self.intensity(day, force), dtype=float)


def _dates(days: Days, observed: NDArray[np.bool_]) -> NDArray[np.datetime64]:
    out = days.astype("datetime64[D]").astype("datetime64[s]")
    out[~observed] = np.datetime64("NaT")
    return out


def _nullable_bool(values: NDArray[np.bool_], known: NDArray[np.bool_]) -> pd.arrays.BooleanArray:
    arr = pd.array(values, dtype="boolean")
    arr[~known] = pd.NA
    return arr


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
    cfg = config or SimulationConfig()
    rng = np.random.default_rng(cfg.seed)
    geo = geography or load_geography()
    ro = rollout or load_rollout()
    forces = list(geo.forces)
    n_f = len(forces)
    shares = force_size_proxy()
    share = np.array([shares[f] for f in forces])
    months, national = _monthly_reports(cfg)
    lam = np.outer(national, share) * cfg.scale
    counts = rng.poisson(lam).ravel()
    n = int(counts.sum())
    month_idx = np.repeat(np.repeat(np.arange(len(months)), n_f), counts)
    force = np.repeat(np.tile(np.arange(n_f, dtype=np.int64), len(months)), counts)
    m_start = np.array([_day(str(p.start_time.date())) for p in months], dtype=np.int64)
    m_len = np.array([p.days_in_month for p in months], dtype=np.int64)
    report = m_start[month_idx] + np.floor(rng.random(n) * m_len[month_idx]).astype(np.int64)
    extract = _day(cfg.extract_date) if cfg.extract_date else _day(str(months[-1].end_time.date()))
    timing = _Timing(cfg, ro, geo, forces)

    # Force referral-rate factors: published contrasts where known, log-normal otherwise.
    fac = np.exp(cfg.force_rate_sd * rng.standard_normal(n_f) - cfg.force_rate_sd**2 / 2)
    for i, f in enumerate(forces):
        if f in FORCE_RATE_FACTORS:
            fac[i] = FORCE_RATE_FACTORS[f]
    fac /= np.sum(fac * share)

    # Case and person attributes.
    domestic = rng.random(n) < 0.40
    non_recent = rng.random(n) < P_NON_RECENT
    offence = np.where(
        non_recent,
        report - np.maximum(365, _lognormal(rng, 2900.0, 0.8, n)).astype(np.int64),
        report - np.minimum(rng.exponential(7.0, n), 364).astype(np.int64),
    )
    v_age = rng.choice(
        np.array(["0-15", "16-24", "25-39", "40+", "unknown"]), n, p=[0.2, 0.3, 0.3, 0.17, 0.03]
    )
    v_sex = rng.choice(np.array(["female", "male", "unknown"]), n, p=[0.89, 0.10, 0.01])
    s_age = rng.choice(
        np.array(["10-17", "18-24", "25-39", "40+", "unknown"]), n, p=[0.12, 0.2, 0.33, 0.3, 0.05]
    )

    # Referral to the CPS, early advice and action plans.
    p_ref = np.clip(
        _path(report, REFERRAL_RATE) * fac[force] * (1 + timing.effect("referral", report, force)),
        0,
        0.95,
    )
    referred = rng.random(n) < p_ref
    # A share of referrals is fast-tracked (e.g. a suspect in custody): referral within
    # days and a quick decision; the rest follow the slow path of a full investigation.
    fast = rng.random(n) < P_FAST
    ref_lag = np.floor(
        np.where(
            fast,
            _lognormal(rng, FAST_REFERRAL, 0.8, n),
            _lognormal(rng, _path(report, REFERRAL_LAG), REF_SIGMA, n),
        )
    ).astype(np.int64)
    referral = report + ref_lag
    p_ea = np.clip(_path(report, EARLY_ADVICE) + timing.effect("early_advice", report, force), 0, 1)
    asked = rng.random(n) < p_ea
    ea_day = np.where(
        referred,
        report + np.floor(ref_lag * rng.uniform(0.2, 0.8, n)).astype(np.int64),
        report + np.floor(_lognormal(rng, 45.0, 0.6, n)).astype(np.int64),
    )
    recorded_ea = asked & (
        (ea_day >= _day(EARLY_ADVICE_BREAK)) | (rng.random(n) < cfg.early_advice_recording)
    )
    plans = np.where(
        fast,
        0,
        rng.poisson(
            np.maximum(
                _path(referral, ACTION_PLANS)
                * (1 + timing.effect("action_plans", referral, force)),
                0,
            )
        ),
    )
    dec_median = np.where(fast, FAST_DECISION, _path(referral, DECISION_BASE))
    dec_lag = _lognormal(rng, dec_median, 0.7, n) * (
        1 + timing.effect("decision_time", referral, force)
    )
    decision = referral + np.floor(np.maximum(dec_lag, 0) + DAYS_PER_PLAN * plans).astype(np.int64)
    p_charge = np.clip(
        np.where(fast, P_CHARGE_FAST, P_CHARGE) + timing.effect("charge_share", referral, force),
        0,
        1,
    )
    u = rng.random(n)
    charged = referred & (u < p_charge)
    nfa = referred & ~charged & (u < p_charge + (1 - p_charge) * 0.55)
    admin = referred & ~charged & ~nfa

    # Police outcomes.
    p16 = np.clip(
        P_NOT_REFERRED["16"] * (1 + timing.effect("victim_no_support", report, force)), 0, 1
    )
    u = rng.random(n)
    cut18 = p16 + P_NOT_REFERRED["18"]
    cut_other = cut18 + P_NOT_REFERRED["other"]
    code = np.where(
        u < p16, "16", np.where(u < cut18, "18", np.where(u < cut_other, "other", "14/15"))
    )
    u_after = rng.random(n)
    code = np.where(nfa, np.where(u_after < 0.8, "14/15", "16"), code)
    code = np.where(admin, np.where(u_after < 0.5, "14/15", "16"), code)
    code = np.where(charged, "1", code)
    evid = np.where(rng.random(n) < 0.3, "14", "15")
    delay = np.zeros(n)
    for key, (median, sigma) in OUTCOME_DELAY.items():
        sel = code == key
        delay[sel] = _lognormal(rng, median, sigma, int(sel.sum()))
    outcome_day = np.where(
        charged,
        decision,
        np.where(
            nfa,
            decision + np.floor(_lognormal(rng, 20.0, 0.5, n)).astype(np.int64),
            np.where(
                admin,
                decision + np.floor(_lognormal(rng, 90.0, 0.7, n)).astype(np.int64),
                report + np.floor(delay).astype(np.int64),
            ),
        ),
    )
    code = np.where(code == "14/15", evid, code)

    # Court.
    first_hearing = decision + np.floor(_lognormal(rng, 28.0, 0.3, n)).astype(np.int64)
    backlog = _path(first_hearing, BACKLOG)
    withdrew = charged & (
        rng.random(n) < P_WITHDRAW * (1 + timing.effect("withdrawal", decision, force))
    )
    p_gp = np.clip(
        _path(first_hearing, GUILTY_PLEA) + timing.effect("guilty_plea", first_hearing, force), 0, 1
    )
    gp = charged & ~withdrew & (rng.random(n) < p_gp)
    rest = charged & ~withdrew & ~gp
    late = rest & (rng.random(n) < P_LATE_PLEA)
    trial = rest & ~late
    trial_day = first_hearing + np.floor(_lognormal(rng, 260.0 * backlog, 0.5, n)).astype(np.int64)
    completion = np.select(
        [withdrew, gp, late, trial],
        [
            first_hearing + np.floor(_lognormal(rng, 120.0, 0.6, n)).astype(np.int64),
            first_hearing + np.floor(_lognormal(rng, 35.0, 0.3, n)).astype(np.int64),
            first_hearing + np.floor(_lognormal(rng, 150.0 * backlog, 0.6, n)).astype(np.int64),
            trial_day + np.floor(_lognormal(rng, 8.0, 0.4, n)).astype(np.int64),
        ],
        default=0,
    )
    convicted = gp | late | (trial & (rng.random(n) < P_CONVICT_AT_TRIAL))

    # Victim experience.
    isva = rng.random(n) < np.clip(_path(report, ISVA) + timing.effect("isva", report, force), 0, 1)
    vrr = nfa & (rng.random(n) < P_VRR)
    score_mean = (
        2.9 + 0.4 * isva + 0.5 * charged - 0.3 * nfa + timing.effect("satisfaction", report, force)
    )
    score = np.clip(np.rint(score_mean + 0.9 * rng.standard_normal(n)), 1, 5).astype(np.int64)
    surveyed = rng.random(n) < cfg.survey_share

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

    decision_label = np.where(charged, "charge", np.where(nfa, "nfa", "admin_finalised"))
    verdict = pd.Series(np.where(convicted, "convicted", "acquitted"), dtype=object).where(
        ~withdrew, None
    )
    frame = pd.DataFrame(
        {
            "force": np.array(forces, dtype=object)[force],
            "offence_date": _dates(offence, np.ones(n, dtype=bool)),
            "report_date": _dates(report, np.ones(n, dtype=bool)),
            "outcome": np.where(seen_out, code, "open"),
            "outcome_date": _dates(outcome_day, seen_out),
            "early_advice": pd.array(seen_ea, dtype="boolean"),
            "early_advice_date": _dates(ea_day, seen_ea),
            "referral_date": _dates(referral, seen_ref),
            "action_plans": pd.array(np.where(seen_dec, plans, 0), dtype="Int64"),
            "charge_decision": pd.Series(decision_label, dtype=object).where(seen_dec, None),
            "charge_decision_date": _dates(decision, seen_dec),
            "first_hearing_date": _dates(first_hearing, seen_fh),
            "guilty_plea_first_hearing": _nullable_bool(gp, seen_fh),
            "trial_date": _dates(trial_day, seen_trial),
            "verdict": pd.Series(verdict, dtype=object).where(seen_done, None),
            "completion_date": _dates(completion, seen_done),
            "isva_engaged": pd.array(isva, dtype="boolean"),
            "withdrew_after_charge": _nullable_bool(withdrew & seen_done, seen_dec & charged),
            "vrr_request": _nullable_bool(vrr, seen_dec & nfa),
            "satisfaction": pd.array(np.where(surveyed & seen_out, score, 0), dtype="Int64"),
            "domestic_abuse": pd.array(domestic, dtype="boolean"),
            "non_recent": pd.array(non_recent, dtype="boolean"),
            "victim_age_band": v_age.astype(object),
            "victim_sex": v_sex.astype(object),
            "suspect_age_band": s_age.astype(object),
            "synthetic": pd.array(np.ones(n, dtype=bool), dtype="boolean"),
        }
    )
    # Keep every report in the window, and burn-in reports with an event inside it.
    w0 = _day(f"{cfg.start}-01")
    events = np.column_stack(
        [
            np.where(seen_ref, referral, 0),
            np.where(seen_dec, decision, 0),
            np.where(seen_out, outcome_day, 0),
            np.where(seen_fh, first_hearing, 0),
            np.where(seen_done, completion, 0),
        ]
    )
    keep = (report >= w0) | (events.max(axis=1) >= w0)
    frame.loc[~seen_dec, "action_plans"] = pd.NA
    frame.loc[~(surveyed & seen_out), "satisfaction"] = pd.NA
    frame = frame.loc[keep]
    frame = frame.sort_values(["report_date", "force"], kind="stable").reset_index(drop=True)
    frame.insert(0, "case_id", "S" + pd.Series(np.arange(1, n + 1)).astype(str).str.zfill(7))
    frame = frame.sort_values(["force", "report_date", "case_id"], kind="stable").reset_index(
        drop=True
    )
    frame.attrs["synthetic"] = True
    frame.attrs["extract_date"] = str(np.datetime64(extract, "D"))
    frame.attrs["window"] = (cfg.start, cfg.end)
    result: pd.DataFrame = frame[list(CASE_COLUMNS)]
    return result
