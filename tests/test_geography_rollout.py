from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from soteria_eval.data import load_rollout
from soteria_eval.geography import load_geography
from soteria_eval.periods import period_range
from soteria_eval.rollout import SCENARIOS, RolloutScenario, treatment_panel


def test_geography_counts_and_met_split() -> None:
    geo = load_geography()
    assert len(geo.forces) == 43 and len(geo.areas) == 14
    assert geo.force_areas["Metropolitan Police"] == ("London North", "London South")
    assert geo.area_share[("Metropolitan Police", "London South")] == 0.5
    assert set(geo.area_forces("North East")) == {"Durham", "Cleveland", "Northumbria"}
    with pytest.raises(ValueError, match="did you mean 'Cymru/Wales'"):
        geo.check_units(["Cymru Wales"], "area")


def test_default_rollout_phases() -> None:
    t = load_rollout().table
    forces = t[t["level"] == "force"]
    assert sorted(forces.loc[forces["phase"] == 1, "unit"]) == [
        "Avon and Somerset",
        "Durham",
        "Metropolitan Police",
        "South Wales",
        "West Midlands",
    ]
    assert (forces.loc[forces["phase"] == 2, "start_date"] == pd.Timestamp("2022-10-01")).all()
    unconfirmed = forces[~forces["confirmed"]]
    assert (
        len(unconfirmed) == 31 and (unconfirmed["start_date"] == pd.Timestamp("2023-07-10")).all()
    )


def test_treatment_panel_quarterly_force() -> None:
    tp = treatment_panel(
        load_rollout(), level="force", freq="quarter", start="2020-Q1", end="2024-Q4"
    )
    assert tp["unit"].nunique() == 43 and len(tp) == 43 * 20
    durham = tp[tp["unit"] == "Durham"].set_index("period")
    assert durham.loc["2021-Q3", "cohort"] == "2021-Q3"
    assert durham.loc["2021-Q3", "event_time"] == 0 and durham.loc["2021-Q2", "event_time"] == -1
    assert not durham.loc["2021-Q2", "treated"] and durham.loc["2021-Q3", "treated"]
    # Northumbria shares CPS North East with Durham: an exposed control until it joins.
    nb = tp[tp["unit"] == "Northumbria"].set_index("period")
    assert nb.loc["2021-Q3", "exposed_control"] and nb.loc["2022-Q3", "exposed_control"]
    assert not nb.loc["2022-Q4", "exposed_control"] and nb.loc["2022-Q4", "treated"]
    assert not nb.loc["2021-Q2", "exposed_control"]
    exposed = set(tp.loc[tp["exposed_ever"], "unit"])
    assert {
        "Cleveland",
        "Devon and Cornwall",
        "Gloucestershire",
        "Gwent",
        "Staffordshire",
        "Warwickshire",
        "West Mercia",
        "Dorset",
        "Cumbria",
        "Lancashire",
    } <= exposed
    assert "Kent" not in exposed and "City of London" not in exposed
    # Everybody is treated once the national model starts.
    assert tp.loc[tp["period"] == "2023-Q3", "treated"].all()


def test_first_full_period_rule_and_june_launch() -> None:
    ro = load_rollout()
    sc = RolloutScenario("x", first_period="first_full")
    m = treatment_panel(
        ro, level="force", freq="month", start="2023-05", end="2023-09", scenario=sc
    )
    kent = m[m["unit"] == "Kent"].set_index("period")
    assert kent.loc["2023-08", "event_time"] == 0  # 10 July start: first full month is August
    q = treatment_panel(
        ro,
        level="force",
        freq="quarter",
        start="2021-Q1",
        end="2021-Q4",
        scenario="launch_june_2021",
    )
    assert q.loc[q["unit"] == "Durham", "cohort"].iloc[0] == "2021-Q2"


def test_unconfirmed_as_phase2_and_exposed_drop() -> None:
    ro = load_rollout()
    tp = treatment_panel(
        ro, level="force", freq="fy", start="2019/20", end="2024/25", scenario="unconfirmed_phase2"
    )
    kent = tp[tp["unit"] == "Kent"].set_index("period")
    assert kent.loc["2022/23", "treated"] and kent.loc["2022/23", "phase"] == 2
    dropped = treatment_panel(
        ro, level="force", freq="fy", start="2019/20", end="2024/25", scenario="exposed_dropped"
    )
    assert dropped["unit"].nunique() == 43 - 13
    assert not dropped["exposed_ever"].any()
    assert set(SCENARIOS) >= {
        "default",
        "launch_june_2021",
        "unconfirmed_phase2",
        "exposed_dropped",
        "exposed_separate",
    }


def test_area_treated_share() -> None:
    ta = treatment_panel(load_rollout(), level="area", freq="fy", start="2020/21", end="2023/24")
    ne = ta[ta["unit"] == "North East"].set_index("period")
    # Durham from 2021/22, Northumbria from 2022/23, Cleveland with the national model.
    np.testing.assert_allclose(ne["treated_share"].to_numpy(), [0, 1 / 3, 2 / 3, 1])
    ln = ta[ta["unit"] == "London North"].set_index("period")
    # Half the Met's caseload against the whole of City of London (equal weights).
    assert ln.loc["2021/22", "treated_share"] == pytest.approx(0.5 / 1.5)
    assert not ln.loc["2021/22", "treated"]


def test_bad_scenario_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="exposed_controls must be one of"):
        RolloutScenario("x", exposed_controls="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown scenario"):
        treatment_panel(
            load_rollout(),
            level="force",
            freq="fy",
            start="2019/20",
            end="2020/21",
            scenario="nope",
        )
    with pytest.raises(ValueError, match="level must be one of"):
        treatment_panel(
            load_rollout(),
            level="region",
            freq="fy",  # type: ignore[arg-type]
            start="2019/20",
            end="2020/21",
        )


def test_anticipation_window_leaves_out_the_precursor_quarters() -> None:
    """Avon and Somerset's 12 months before its September 2021 start: 2020-Q3 to 2021-Q2."""
    ro = load_rollout()
    kw = dict(level="force", freq="quarter", start="2019-Q1", end="2023-Q2")
    base = treatment_panel(ro, scenario="exposed_dropped", **kw)  # type: ignore[arg-type]
    ant = treatment_panel(ro, scenario="anticipation_excluded", **kw)  # type: ignore[arg-type]
    avon_base = set(base.loc[base["unit"] == "Avon and Somerset", "period"])
    avon = set(ant.loc[ant["unit"] == "Avon and Somerset", "period"])
    assert avon_base - avon == {"2020-Q3", "2020-Q4", "2021-Q1", "2021-Q2"}
    # every other unit and every treated period is untouched
    rest = ant[ant["unit"] != "Avon and Somerset"].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        rest, base[base["unit"] != "Avon and Somerset"].reset_index(drop=True)
    )
    assert ant.loc[ant["unit"] == "Avon and Somerset", "treated"].sum() == 8
    # by month the window is the 12 months themselves; by year, the one year it touches
    monthly = treatment_panel(ro, level="force", freq="month", start="2019-01", end="2023-06",
                              scenario="anticipation_excluded")  # fmt: skip
    gone = set(period_range("2019-01", "2023-06", "month")) - set(
        monthly.loc[monthly["unit"] == "Avon and Somerset", "period"]
    )
    assert gone == set(period_range("2020-09", "2021-08", "month"))
    with pytest.raises(ValueError, match="anticipation_months"):
        RolloutScenario("x", anticipation_months=-1)
