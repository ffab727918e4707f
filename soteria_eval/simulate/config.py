"""Settings of the case-level simulator: volumes, rates, delays and programme effects.

Every number here is either a calibration anchor taken from a published figure (the
source is named) or a documented modelling assumption. :func:`calibration_report`
compares the simulated national aggregates with the published figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from soteria_eval.simulate.dynamics import IDEAL, ForceDynamics


@dataclass(frozen=True)
class EffectSizes:
    """Programme effects at full intensity (zero means no effect).

    Attributes
    ----------
    referral : float
        Relative change in the probability that a report is referred to the CPS
        (volume). 0.25 means 25% more referrals.
    charge_share : float
        Absolute change in the share of CPS decisions that are to charge (quality).
    action_plans : float
        Relative change in the expected number of CPS action plans (quality).
    guilty_plea : float
        Absolute change in the probability of a guilty plea at the first hearing.
    decision_time : float
        Relative change in days from referral to charging decision (timeliness).
    victim_no_support : float
        Relative change in the probability that an investigation not referred to the CPS
        closes because the victim does not support action (victim experience).
    isva : float
        Absolute change in the probability that a victim is supported by an ISVA.
    withdrawal : float
        Relative change in the probability that a victim withdraws after charge.
    satisfaction : float
        Shift in the mean satisfaction score (1–5 scale).
    early_advice : float
        Absolute change in the probability that the police ask for early advice.
    """

    referral: float = 0.0
    charge_share: float = 0.0
    action_plans: float = 0.0
    guilty_plea: float = 0.0
    decision_time: float = 0.0
    victim_no_support: float = 0.0
    isva: float = 0.0
    withdrawal: float = 0.0
    satisfaction: float = 0.0
    early_advice: float = 0.0

    def scaled(self, factor: float) -> EffectSizes:
        """Return every effect multiplied by ``factor``."""
        return EffectSizes(**{k: v * factor for k, v in self.__dict__.items()})


#: The default injected effects (the same for every phase).
DEFAULT_EFFECTS = EffectSizes(
    referral=0.25,
    charge_share=0.06,
    action_plans=-0.30,
    guilty_plea=0.05,
    decision_time=-0.20,
    victim_no_support=-0.15,
    isva=0.10,
    withdrawal=-0.25,
    satisfaction=0.30,
    early_advice=0.15,
)
NO_EFFECTS = EffectSizes()

#: Expected recorded rapes per financial year, England and Wales. 2019/20 and 2020/21 are
#: published (CPS Rape Strategy Update 2022, Home Office); 2021/22 is set so the year to
#: June 2021 matches the published 61,158. Other years are assumptions (a smooth path).
RECORDED_RAPES_BY_FY: Mapping[str, float] = MappingProxyType(
    {
        "2012/13": 27_000,
        "2013/14": 31_000,
        "2014/15": 36_000,
        "2015/16": 41_000,
        "2016/17": 46_000,
        "2017/18": 51_000,
        "2018/19": 56_500,
        "2019/20": 58_967,
        "2020/21": 55_569,
        "2021/22": 68_500,
        "2022/23": 67_500,
        "2023/24": 68_500,
        "2024/25": 70_000,
        "2025/26": 71_000,
    }
)

#: Monthly multipliers for COVID-19 (lockdown from 23 March 2020).
COVID_REPORT_DIP: Mapping[str, float] = MappingProxyType(
    {
        "2020-03": 0.93,
        "2020-04": 0.72,
        "2020-05": 0.82,
        "2020-06": 0.94,
        "2021-01": 0.93,
        "2021-02": 0.95,
    }
)

#: Referral probability multipliers for forces with published police charge rates that
#: differ from the average (2018/19–2020/21: Durham 7.1%; Metropolitan Police 2.3%;
#: Avon and Somerset and Greater Manchester under 2%). Other forces draw a log-normal factor.
FORCE_RATE_FACTORS: Mapping[str, float] = MappingProxyType(
    {
        "Durham": 2.6,
        "Metropolitan Police": 0.85,
        "Avon and Somerset": 0.65,
        "Greater Manchester": 0.65,
    }
)


@dataclass(frozen=True)
class SimulationConfig:
    """Settings of one simulation.

    Attributes
    ----------
    start, end : str
        First and last months of the window (``YYYY-MM``). Reports in the window are all
        kept; so are reports from the ``burn_in_years`` before it whose case has any event
        (referral, decision, outcome, hearing) inside the window, so that early periods
        see the charges and hearings of older reports as real data would.
    burn_in_years : int
        Years of reports simulated before the window.
    extract_date : str or None
        The date the extract is taken: events after it are not observed (cases still
        open are right-censored). Default: the last day of ``end``.
    seed : int
        Seed of the random generator.
    scale : float
        Multiplies every volume (0.1 gives a tenth of the cases, for quick tests).
    effects : mapping of phase to EffectSizes
        Programme effects at full intensity, per phase (1, 2, 3).
    ramp_months : int
        Months over which an effect builds up linearly from the start date.
    spillover : float
        Share of the effect that exposed controls receive from their CPS Area's start.
    anticipation_forces : tuple of str
        Forces whose effect starts early (Avon and Somerset's Project Bluestone).
    anticipation_months : int
        How many months early.
    anticipation_share : float
        Share of the effect during the anticipation period.
    early_advice_recording : float
        Probability that an early advice request before April 2022 is recorded (the
        series break: early advice was counted separately only from 2022).
    survey_share : float
        Share of reports whose victim answers the satisfaction survey.
    force_rate_sd : float
        Log-scale standard deviation of force referral-rate factors.
    dynamics, rate_dynamics : ForceDynamics
        Force × quarter dynamics of report volume and of the referral rate
        (:mod:`soteria_eval.simulate.dynamics`). Default: none (the ``ideal`` world);
        :func:`world` gives the ``calibrated`` one.
    treated_trend : float
        A linear trend (log points per quarter, zero in 2018-Q1) on the report volume and
        referral rate of the forces of phases 1 and 2 only, in both coupled worlds: a
        violation of parallel trends (the ``differential_trend`` world).
    """

    start: str = "2016-01"
    end: str = "2025-12"
    extract_date: str | None = None
    burn_in_years: int = 3
    seed: int = 20210901
    scale: float = 1.0
    effects: Mapping[int, EffectSizes] = field(
        default_factory=lambda: MappingProxyType(
            {1: DEFAULT_EFFECTS, 2: DEFAULT_EFFECTS, 3: DEFAULT_EFFECTS}
        )
    )
    ramp_months: int = 12
    spillover: float = 0.3
    anticipation_forces: tuple[str, ...] = ("Avon and Somerset",)
    anticipation_months: int = 12
    anticipation_share: float = 0.5
    early_advice_recording: float = 0.5
    survey_share: float = 0.08
    force_rate_sd: float = 0.3
    dynamics: ForceDynamics = IDEAL
    rate_dynamics: ForceDynamics = IDEAL
    treated_trend: float = 0.0

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise ValueError(f"scale must be positive, got {self.scale}")
        for name in ("spillover", "anticipation_share", "early_advice_recording", "survey_share"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ValueError(f"{name} must lie in [0, 1], got {v}")
        if self.ramp_months < 0 or self.anticipation_months < 0:
            raise ValueError("ramp_months and anticipation_months must be >= 0")
        unknown = set(self.effects) - {1, 2, 3}
        if unknown:
            raise ValueError(f"effects are keyed by phase 1, 2 or 3; got {sorted(unknown)}")

    def with_effects(self, effects: EffectSizes) -> SimulationConfig:
        """Return a copy with the same effects in every phase."""
        from dataclasses import replace

        return replace(self, effects=MappingProxyType({1: effects, 2: effects, 3: effects}))


#: Named worlds of the simulator: ``ideal`` (force factors constant, as the designs
#: assume), ``calibrated`` (force trends, persistent shocks and a force-varying COVID-19
#: dip on volume and referral rate, fitted to the Home Office force panel) and
#: ``differential_trend`` (calibrated, and the treated forces drift on a trend of
#: :data:`STRESS_TREND` log points a quarter).
WORLDS: tuple[str, ...] = ("ideal", "calibrated", "differential_trend")
#: The differential trend of the stress world: 0.127 log points (the planted effect on
#: charges, averaged over the headline sample's treated quarters) reached over the 21
#: quarters from 2018-Q1 to 2023-Q2.
STRESS_TREND = 0.127 / 21


def world(name: str, config: SimulationConfig | None = None) -> SimulationConfig:
    """Return ``config`` (default settings if None) in the named world of :data:`WORLDS`."""
    from dataclasses import replace

    from soteria_eval.simulate.dynamics import CALIBRATED, CALIBRATED_RATE

    if name not in WORLDS:
        raise ValueError(f"world must be one of {WORLDS}, got {name!r}")
    cfg = config or SimulationConfig()
    if name == "ideal":
        return replace(cfg, dynamics=IDEAL, rate_dynamics=IDEAL, treated_trend=0.0)
    trend = STRESS_TREND if name == "differential_trend" else 0.0
    return replace(cfg, dynamics=CALIBRATED, rate_dynamics=CALIBRATED_RATE, treated_trend=trend)
