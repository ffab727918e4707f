"""Callaway–Sant'Anna on the package's own period labels (treatment_panel output)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from soteria_eval.data import load_rollout
from soteria_eval.did import callaway_santanna
from soteria_eval.rollout import cohort_frame, treatment_panel


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    tp = treatment_panel(
        load_rollout(), level="force", freq="quarter", start="2016-Q1", end="2023-Q2"
    )
    rng = np.random.default_rng(3)
    return tp.assign(y=rng.normal(size=len(tp)) + tp["treated"] * 1.0)


def test_period_labels_give_the_same_estimates_as_numbered_periods(panel: pd.DataFrame) -> None:
    with pytest.warns(
        UserWarning, match=r"31 unit\(s\) of cohort\(s\) \['2023-Q3'\] start after the last period"
    ):
        lab = callaway_santanna(
            panel,
            outcome="y",
            unit="unit",
            time="period",
            cohort="cohort",
            control_group="not_yet_treated",
        )
    num, _ = cohort_frame(panel, "y")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # cohort_frame already codes the late cohort as 0
        ref = callaway_santanna(
            num, outcome="y", unit="unit", time="t", cohort="g", control_group="not_yet_treated"
        )
    pd.testing.assert_frame_equal(lab.att_gt, ref.att_gt)
    assert (
        lab.settings["period_labels"][0] == "2016-Q1"
        and lab.settings["period_labels"][-1] == "2023-Q2"
    )


def test_a_late_numeric_cohort_is_counted_as_never_treated_with_a_warning(
    panel: pd.DataFrame,
) -> None:
    num, _ = cohort_frame(panel, "y")
    late = num.assign(g=np.where(num["g"] == 0, 31, num["g"]))  # starts after period 30
    with pytest.warns(UserWarning, match="counted as never treated"):
        res = callaway_santanna(
            late, outcome="y", unit="unit", time="t", cohort="g", control_group="not_yet_treated"
        )
    ref = callaway_santanna(
        num, outcome="y", unit="unit", time="t", cohort="g", control_group="not_yet_treated"
    )
    pd.testing.assert_frame_equal(res.att_gt, ref.att_gt)


def test_labels_that_are_not_periods_name_the_converter(panel: pd.DataFrame) -> None:
    bad = panel.assign(period=panel["period"].str.replace("-Q", " quarter "))
    with pytest.raises(ValueError, match=r"soteria_eval\.rollout\.cohort_frame"):
        callaway_santanna(bad, outcome="y", unit="unit", time="period", cohort="cohort")
    mixed = panel.assign(cohort=panel["cohort"].str.replace("-Q", "/"))
    with pytest.raises(ValueError, match="not a quarter label"):
        callaway_santanna(mixed, outcome="y", unit="unit", time="period", cohort="cohort")
