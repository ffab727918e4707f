"""Programme rollout: who starts when, and the treatment variables derived from it.

The rollout is a table that users edit (the bundled default is
``data_dictionary/data/rollout.csv``): one row per unit (police force or CPS Area)
with its phase, start date and whether its phase is confirmed. From it,
:func:`treatment_panel` derives for any panel frequency the treated indicator, the first
treated period (cohort), event time, the *exposed control* flag (a force not yet treated
whose CPS Area is) and the Area-level treated share.

Named :class:`RolloutScenario` objects change the documented assumptions without editing
the file: the phase-1 launch date, whether unconfirmed forces joined in phase 2 or with
the national model, and what to do with exposed controls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from soteria_eval._options import check_option
from soteria_eval.geography import Geography, load_geography
from soteria_eval.periods import (
    Frequency,
    date_to_period,
    labels_to_periods,
    pandas_freq,
    period_label,
    period_range,
)

UnconfirmedAs = Literal["phase3", "phase2"]
ExposedControls = Literal["keep", "drop", "separate"]
FirstPeriod = Literal["contains_start", "first_full"]
Level = Literal["force", "area"]

ROLLOUT_COLUMNS: tuple[str, ...] = ("unit", "level", "phase", "start_date", "confirmed", "note")


@dataclass(frozen=True)
class RolloutScenario:
    """A named set of assumptions applied to the rollout table.

    Parameters
    ----------
    name : str
        Label written into results (``scenario`` column).
    phase1_start : str or None
        ISO date that replaces the start of every phase-1 unit (e.g. ``"2021-06-01"``,
        the date police sources give); ``None`` keeps the file's dates.
    unconfirmed_as : {"phase3", "phase2"}
        Where units whose phase is not confirmed go: the national model (as in the file)
        or phase 2, taking the start date of the confirmed phase-2 units at their level.
    exposed_controls : {"keep", "drop", "separate"}
        Exposed controls (forces not yet treated whose CPS Area is) are kept as controls,
        dropped from the panel, or kept and flagged so models can estimate a spillover.
    first_period : {"contains_start", "first_full"}
        The first treated period is the one containing the start date, or the first
        period that starts on or after it.
    anticipation_units : tuple of str
        Units whose outcomes may move before their start (Avon and Somerset ran a
        precursor of the programme from 2019/20).
    anticipation_months : int
        For those units, the periods in the ``anticipation_months`` before the start are
        left out of the panel: they are neither clean pre-periods nor treated (an
        anticipation window).
    """

    name: str = "default"
    phase1_start: str | None = None
    unconfirmed_as: UnconfirmedAs = "phase3"
    exposed_controls: ExposedControls = "keep"
    first_period: FirstPeriod = "contains_start"
    anticipation_units: tuple[str, ...] = ()
    anticipation_months: int = 0

    def __post_init__(self) -> None:
        if self.anticipation_months < 0:
            raise ValueError(f"anticipation_months must be >= 0, got {self.anticipation_months}")
        check_option("unconfirmed_as", self.unconfirmed_as, UnconfirmedAs)
        check_option("exposed_controls", self.exposed_controls, ExposedControls)
        check_option("first_period", self.first_period, FirstPeriod)
        if self.phase1_start is not None:
            try:
                pd.Timestamp(self.phase1_start)
            except ValueError as exc:
                raise ValueError(
                    f"phase1_start must be an ISO date, got {self.phase1_start!r}"
                ) from exc


#: The named scenarios every evaluation can refer to.
SCENARIOS: Mapping[str, RolloutScenario] = {
    s.name: s
    for s in (
        RolloutScenario("default"),
        RolloutScenario("launch_june_2021", phase1_start="2021-06-01"),
        RolloutScenario("unconfirmed_phase2", unconfirmed_as="phase2"),
        RolloutScenario("exposed_dropped", exposed_controls="drop"),
        RolloutScenario("exposed_separate", exposed_controls="separate"),
        RolloutScenario(
            "anticipation_excluded",
            exposed_controls="drop",
            anticipation_units=("Avon and Somerset",),
            anticipation_months=12,
        ),
    )
}


def get_scenario(scenario: str | RolloutScenario | None) -> RolloutScenario:
    """Return a scenario by name (or pass one through); ``None`` is the default."""
    if scenario is None:
        return SCENARIOS["default"]
    if isinstance(scenario, RolloutScenario):
        return scenario
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; known: {sorted(SCENARIOS)}")
    return SCENARIOS[scenario]


@dataclass(frozen=True)
class Rollout:
    """A validated rollout table (see :func:`soteria_eval.data.load_rollout`).

    Attributes
    ----------
    table : pandas.DataFrame
        Columns ``unit, level, phase, start_date, confirmed, note`` with ``start_date`` as
        a timestamp and ``confirmed`` as bool.
    """

    table: pd.DataFrame

    def units(self, level: Level) -> tuple[str, ...]:
        """Return the units with a rollout entry at a level."""
        return tuple(self.table.loc[self.table["level"] == level, "unit"])

    def phase_start(self, phase: int, level: Level) -> pd.Timestamp:
        """Return the start date shared by the confirmed units of a phase at a level."""
        t = self.table
        dates = t.loc[(t["level"] == level) & (t["phase"] == phase) & t["confirmed"], "start_date"]
        uniq = dates.unique()
        if len(uniq) != 1:
            raise ValueError(
                f"phase {phase} at {level} level has {len(uniq)} distinct confirmed start "
                "dates; cannot tell which one unconfirmed units would take"
            )
        return pd.Timestamp(uniq[0])

    def apply(self, scenario: str | RolloutScenario | None) -> Rollout:
        """Return the rollout with a scenario's assumptions applied (never in place)."""
        sc = get_scenario(scenario)
        t = self.table.copy()
        if sc.unconfirmed_as == "phase2":
            for level in ("force", "area"):
                rows = (t["level"] == level) & ~t["confirmed"] & (t["phase"] == 3)
                if rows.any():
                    t.loc[rows, "start_date"] = self.phase_start(2, level)
                    t.loc[rows, "phase"] = 2
        if sc.phase1_start is not None:
            t.loc[t["phase"] == 1, "start_date"] = pd.Timestamp(sc.phase1_start)
        return replace(self, table=t)


def _first_periods(starts: pd.Series, freq: Frequency, rule: FirstPeriod) -> pd.PeriodIndex:
    periods = date_to_period(starts, freq)
    if rule == "first_full":
        starts_idx = pd.DatetimeIndex(starts)
        late = np.asarray(starts_idx.normalize() > periods.start_time)
        periods = pd.PeriodIndex(
            [p + 1 if bump else p for p, bump in zip(periods, late, strict=True)]
        )
    return periods


def treatment_panel(
    rollout: Rollout,
    *,
    level: Level,
    freq: Frequency,
    start: str,
    end: str,
    scenario: str | RolloutScenario | None = None,
    geography: Geography | None = None,
    weights: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Derive treatment variables for every unit and period.

    Parameters
    ----------
    rollout : Rollout
        The rollout table.
    level : {"force", "area"}
        Panel unit.
    freq : {"month", "quarter", "fy"}
        Panel frequency.
    start, end : str
        First and last period labels (inclusive), written at ``freq``.
    scenario : str or RolloutScenario, optional
        Assumptions to apply (default: the file as it is).
    geography : Geography, optional
        Force-to-Area mapping (default: the bundled one).
    weights : mapping of force to float, optional
        Caseload weights used for the Area-level treated share (default: equal).

    Returns
    -------
    pandas.DataFrame
        One row per unit and period with columns ``unit, period, event_time, cohort,
        phase, treated, exposed_control, exposed_ever, treated_share, group``. ``cohort``
        is the label of the first treated period; ``event_time`` is the period minus the
        cohort (0 in the first treated period). ``treated_share`` is, for an Area, the
        weighted share of its forces' caseload that is treated in the period (forces served
        by two Areas count by their split); for a force it equals ``treated``. ``group`` is
        ``"pathfinder"`` (phase 1), ``"exposed_control"`` (ever an exposed control) or
        ``"comparison"``. With ``exposed_controls="drop"`` the exposed forces are removed;
        with an anticipation window, the listed units' periods inside it are removed.
    """
    check_option("level", level, Level)
    sc = get_scenario(scenario)
    geo = geography or load_geography()
    ro = rollout.apply(sc)
    periods = period_range(start, end, freq)
    ordinals = np.asarray(labels_to_periods(periods, freq).asi8)

    def cohort_ordinals(lvl: Level) -> tuple[list[str], np.ndarray, np.ndarray]:
        t = ro.table[ro.table["level"] == lvl]
        first = _first_periods(t["start_date"], freq, sc.first_period)
        return list(t["unit"]), np.asarray(first.asi8), np.asarray(t["phase"], dtype=np.int64)

    units, cohort_ord, phase = cohort_ordinals(level)
    treated = ordinals[None, :] >= cohort_ord[:, None]  # units x periods

    # Exposure and treated share need both levels.
    f_units, f_cohort, _ = cohort_ordinals("force")
    a_units, a_cohort, _ = cohort_ordinals("area")
    f_treated = ordinals[None, :] >= f_cohort[:, None]
    a_treated = dict(zip(a_units, ordinals[None, :] >= a_cohort[:, None], strict=True))
    f_pos = {u: i for i, u in enumerate(f_units)}

    n_p = len(periods)
    if level == "force":
        exposed = np.zeros((len(units), n_p), dtype=bool)
        for i, u in enumerate(units):
            area_on = np.zeros(n_p, dtype=bool)
            for a in geo.force_areas.get(u, ()):
                if a in a_treated:
                    area_on |= a_treated[a]
            exposed[i] = area_on & ~treated[i]
        share = treated.astype(float)
    else:
        exposed = np.zeros((len(units), n_p), dtype=bool)
        share = np.zeros((len(units), n_p))
        for i, a in enumerate(units):
            forces = [f for f in geo.area_forces(a) if f in f_pos]
            w = np.array(
                [geo.area_share[(f, a)] * (weights[f] if weights else 1.0) for f in forces]
            )
            if w.sum() > 0:
                share[i] = w @ f_treated[[f_pos[f] for f in forces]] / w.sum()

    n_u = len(units)
    out = pd.DataFrame(
        {
            "unit": np.repeat(units, n_p),
            "period": np.tile(periods, n_u),
            "event_time": (ordinals[None, :] - cohort_ord[:, None]).ravel(),
            "cohort": np.repeat(
                [
                    period_label(p, freq)
                    for p in pd.PeriodIndex.from_ordinals(cohort_ord, freq=pandas_freq(freq))  # type: ignore[attr-defined]
                ],
                n_p,
            ),
            "phase": np.repeat(phase, n_p),
            "treated": treated.ravel(),
            "exposed_control": exposed.ravel(),
            "exposed_ever": np.repeat(exposed.any(axis=1), n_p),
            "treated_share": share.ravel(),
        }
    )
    out["group"] = np.where(
        out["phase"] == 1,
        "pathfinder",
        np.where(out["exposed_ever"], "exposed_control", "comparison"),
    )
    if sc.exposed_controls == "drop":
        out = out.loc[~out["exposed_ever"]].reset_index(drop=True)
    if sc.anticipation_months and sc.anticipation_units:
        per = {"month": 1, "quarter": 3, "fy": 12}[freq]
        k = -(-sc.anticipation_months // per)  # periods that touch the window
        window = out["unit"].isin(sc.anticipation_units) & out["event_time"].between(-k, -1)
        out = out.loc[~window].reset_index(drop=True)
    return out


def reforms_by_exposure(scenario: str | RolloutScenario | None) -> bool:
    """Whether a scenario's sample is "every force but the exposed ones", and nothing else.

    Such a sample can be re-formed for any reassignment of the treatment
    (:func:`exposure_groups`); one that also cuts an anticipation window out of some
    forces' periods cannot, and keeps its randomization test within the fixed sample.
    """
    sc = get_scenario(scenario)
    return sc.exposed_controls == "drop" and not (sc.anticipation_months and sc.anticipation_units)


def exposure_groups(
    units: Sequence[str], rollout: Rollout | None = None, geography: Geography | None = None
) -> dict[str, list[str]]:
    """Return the CPS Area through which each force can expose its neighbours.

    A force served by several Areas (the Metropolitan Police: London North and South)
    belongs to the Area through which the rollout treated it (the one with the earliest
    start; London South), as :func:`treatment_panel` exposes only that Area's other forces
    while the other Area has not started. With these groups, "untreated while a group
    serving it has a treated force" reproduces the ``exposed_dropped`` sample of the
    bundled rollout (a test checks it) and can be applied to any reassignment
    (:func:`soteria_eval.inference.randomization.randomization_test`'s ``exposure``).

    Raises
    ------
    ValueError
        If a unit is not a territorial force of the geography.
    """
    from soteria_eval.data import load_rollout

    geo = geography or load_geography()
    table = (rollout or load_rollout()).table
    area_start = table[table["level"] == "area"].set_index("unit")["start_date"].astype(str)
    unknown = [u for u in units if u not in geo.force_areas]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a territorial force of the geography")
    out: dict[str, list[str]] = {}
    for u in units:
        served = sorted(geo.force_areas[u])
        if len(served) > 1:
            served = [min(served, key=lambda a: (area_start.get(a, "9999"), a))]
        out[str(u)] = served
    return out


def cohort_frame(panel: pd.DataFrame, outcome: str = "y") -> tuple[pd.DataFrame, int]:
    """Give a treatment panel's periods and cohorts the numbers 1..T that staggered DiD uses.

    Adds ``t`` (the period's position, from 1) and ``g`` (the position of the unit's cohort,
    0 when the unit is not treated inside the panel's periods) to a
    :func:`treatment_panel` frame holding ``outcome``. Units with a missing outcome in any
    period are left out (Callaway–Sant'Anna's balanced panel).

    Returns
    -------
    tuple of (pandas.DataFrame, int)
        The frame and how many units were left out.
    """
    periods = sorted(panel["period"].unique())
    pos = {p: i for i, p in enumerate(periods)}
    e = panel.assign(t=panel["period"].map(pos) + 1)
    e["g"] = np.where(e["cohort"].isin(pos), e["cohort"].map(pos).fillna(-1) + 1, 0)
    keep = e[outcome].notna().groupby(e["unit"]).transform("all")
    return e[keep], int(e.loc[~keep, "unit"].nunique())
