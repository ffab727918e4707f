"""Attrition funnel: shares fall along the journey; small cells are suppressed with what follows."""

from __future__ import annotations

import pandas as pd
import pytest

from soteria_eval.data import load_rollout
from soteria_eval.disclosure import SUPPRESSED, check_no_small_cells
from soteria_eval.panels.attrition import attrition_funnel
from soteria_eval.simulate import SimulationConfig, simulate_cases


@pytest.fixture(scope="module")
def cases() -> pd.DataFrame:
    return simulate_cases(SimulationConfig(scale=0.05, seed=4))


def test_shares_fall_along_the_journey(cases: pd.DataFrame) -> None:
    t = attrition_funnel(cases, load_rollout())
    assert set(t["group"]) == {"pathfinder", "exposed_control", "comparison"}
    assert (
        t["year"].min() == 2016 and t["year"].max() == 2023
    )  # two years of follow-up before 2025-12
    for _, row in t.groupby(["group", "year"]):
        shares = pd.to_numeric(row["share_of_reports"], errors="coerce").dropna().to_numpy()
        assert shares[0] == 1.0 and (shares[1:] <= shares[:-1] + 1e-12).all()
    check_no_small_cells(t, ["cases"])


def test_subgroup_split_and_suppression(cases: pd.DataFrame) -> None:
    t = attrition_funnel(cases, load_rollout(), subgroup="victim_age_band", threshold=10)
    assert set(t["value"]) <= {"0-15", "16-24", "25-39", "40+", "unknown"}
    check_no_small_cells(t, ["cases"])
    for _, row in t.groupby(["group", "year", "value"]):
        flags = (row["cases"] == SUPPRESSED).to_numpy()
        if flags.any():  # once suppressed, every later stage is suppressed too
            assert flags[flags.argmax() :].all()
    with pytest.raises(ValueError, match="subgroup must be one of"):
        attrition_funnel(cases, load_rollout(), subgroup="hair_colour")


def test_missing_subgroup_values_are_counted_in_no_cell(cases: pd.DataFrame) -> None:
    """A case whose subgroup is missing belongs to no subgroup row (as grouping drops it)."""
    from soteria_eval.panels.attrition import raw_funnel

    c = cases.copy()
    c.loc[c.index[::7], "victim_age_band"] = None
    t = raw_funnel(c, load_rollout(), subgroup="victim_age_band")
    full = raw_funnel(c, load_rollout())
    reported = t[t["stage"] == "reported"]["cases"].sum()
    assert set(t["value"]) <= {"0-15", "16-24", "25-39", "40+", "unknown"}
    in_years = c["report_date"].dt.year.between(t["year"].min(), t["year"].max())
    missing = int((c["victim_age_band"].isna() & in_years).sum())
    assert missing > 0
    assert reported == full[full["stage"] == "reported"]["cases"].sum() - missing
