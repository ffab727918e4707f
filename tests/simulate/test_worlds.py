"""Named worlds: the calibrated world adds real force dynamics and keeps the truth exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from soteria_eval.panels.aggregate import aggregate_arrays
from soteria_eval.simulate import NO_EFFECTS, SimulationConfig
from soteria_eval.simulate.cases import case_arrays, simulate_arrays, simulate_coupled
from soteria_eval.simulate.config import WORLDS, world
from soteria_eval.simulate.dynamics import CALIBRATED, IDEAL, panel_dynamics

SMALL = SimulationConfig(scale=0.1, seed=5)


def _reports(sim) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    panel = aggregate_arrays(case_arrays(sim), level="force", freq="quarter",
                             start="2016-01", end="2021-06", measures=("recorded_rapes",))  # fmt: skip
    return panel.pivot(index="unit", columns="period", values="value")


def test_worlds_are_named_and_the_default_is_ideal() -> None:
    assert WORLDS == ("ideal", "calibrated", "differential_trend")
    assert world("differential_trend").treated_trend == pytest.approx(0.127 / 21)
    assert world("calibrated").treated_trend == 0.0
    assert SimulationConfig().dynamics == IDEAL
    assert world("calibrated").dynamics == CALIBRATED
    assert world("ideal", world("calibrated")).dynamics == IDEAL
    with pytest.raises(ValueError, match="world must be one of"):
        world("nice")


def test_ideal_world_is_unchanged_by_the_dynamics_code() -> None:
    """No draw and no factor without dynamics: the ideal world is the simulator as before."""
    a = simulate_arrays(SMALL)
    b = simulate_arrays(world("ideal", SMALL))
    np.testing.assert_array_equal(a.day["report"], b.day["report"])
    np.testing.assert_array_equal(a.case_no, b.case_no)


def test_calibrated_world_moves_forces_and_keeps_the_truth_exact() -> None:
    cal = world("calibrated", SMALL)
    _, untreated = simulate_coupled(cal)
    alone = simulate_arrays(cal.with_effects(NO_EFFECTS))
    np.testing.assert_array_equal(alone.case_no, untreated.case_no)  # same draws: exact truth
    for k in alone.day:
        np.testing.assert_array_equal(alone.day[k], untreated.day[k])
    ideal = _reports(simulate_arrays(SMALL.with_effects(NO_EFFECTS)))
    real = _reports(untreated)
    assert ideal.shape == real.shape
    # force-quarter deviations grow: the calibrated world has force dynamics on top of the
    # Poisson noise of the ideal one, and the variance it adds is the real panel's (same
    # reports, so the Poisson part is shared; within a factor 2 on one small world)
    d_ideal = panel_dynamics(np.log(ideal.clip(lower=1)))
    d_cal = panel_dynamics(np.log(real.clip(lower=1)))
    added = d_cal["resid_sd"] ** 2 - d_ideal["resid_sd"] ** 2
    assert 0.5 < added / 0.1057**2 < 2.0
    assert d_cal["trend_sd"] > d_ideal["trend_sd"]


def test_differential_trend_moves_only_the_treated_forces() -> None:
    from soteria_eval.data import load_rollout
    from soteria_eval.simulate.cases import _treated_trend

    base = SimulationConfig(scale=0.1, seed=5).with_effects(NO_EFFECTS)
    flat = _reports(simulate_arrays(world("calibrated", base)))
    tilted = _reports(simulate_arrays(world("differential_trend", base)))
    phase = load_rollout().table.query("level == 'force'").set_index("unit")["phase"]
    treated = [f for f in flat.index if phase[f] in (1, 2)]
    others = [f for f in flat.index if phase[f] == 3]
    late = [c for c in flat.columns if c >= "2020-Q1"]

    def share(p: pd.DataFrame) -> float:  # the treated forces' share of late reports
        return float(
            p.loc[treated, late].to_numpy().sum() / p.loc[treated + others, late].to_numpy().sum()
        )

    # about +7% for the treated forces by 2020-23 (0.006 a quarter), nothing for the others
    assert share(tilted) / share(flat) > 1.03
    q = pd.period_range("2017-Q4", "2023-Q2", freq="Q-DEC")
    tr = _treated_trend(0.01, load_rollout(), ["Durham", "Kent"], q)
    np.testing.assert_allclose(tr[0, [0, 1, -1]], [-0.01, 0.0, 0.21])  # zero in 2018-Q1
    assert (tr[1] == 0).all()  # Kent: national model, no trend
