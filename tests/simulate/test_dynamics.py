"""Force dynamics: the process, its measurement, and its calibration to the real panel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from soteria_eval.simulate.dynamics import (
    CALIBRATED,
    CALIBRATED_RATE,
    IDEAL,
    TOLERANCE,
    ForceDynamics,
    panel_dynamics,
    real_targets,
    simulated_dynamics,
)


def test_ideal_world_has_no_dynamics() -> None:
    q = pd.period_range("2018-Q1", periods=10, freq="Q-DEC")
    z = np.random.default_rng(0).standard_normal((4, 10))
    assert not IDEAL.active
    assert np.array_equal(IDEAL.draw(4, q, z, z[:, 0], z[:, 1]), np.zeros((4, 10)))


def test_the_process_is_the_stated_ar1_with_trends() -> None:
    rng = np.random.default_rng(1)
    q = pd.period_range("2010-Q1", periods=400, freq="Q-DEC")
    d = ForceDynamics(trend_sd=0.0, shock_sd=0.2, ar1=0.6)
    u = d.draw(300, q, rng.standard_normal((300, 400)), np.zeros(300), np.zeros(300))
    assert u.std() == pytest.approx(0.2, rel=0.03)  # stationary from the first quarter
    assert u[:, 0].std() == pytest.approx(0.2, rel=0.1)
    rho = (u[:, 1:] * u[:, :-1]).sum() / (u[:, :-1] ** 2).sum()
    assert rho == pytest.approx(0.6, abs=0.02)
    t = ForceDynamics(trend_sd=0.01).draw(
        3, q[:5], np.zeros((3, 5)), np.array([1.0, -2, 0]), np.zeros(3)
    )
    np.testing.assert_allclose(t[0], 0.01 * (np.arange(5) - 2))
    np.testing.assert_allclose(t[1], -0.02 * (np.arange(5) - 2))
    covid = ForceDynamics(covid_sd=0.1).draw(
        1, pd.period_range("2019-Q4", "2021-Q1", freq="Q-DEC"), np.zeros((1, 6)), np.zeros(1),
        np.ones(1),
    )  # fmt: skip
    np.testing.assert_allclose(covid[0], [0, 0, 0.1, 0.1, 0, 0])  # 2020-Q2 and Q3
    with pytest.raises(ValueError, match="ar1"):
        ForceDynamics(ar1=1.0)


def test_panel_dynamics_recovers_a_known_trend_spread() -> None:
    rng = np.random.default_rng(2)
    slopes = rng.normal(0, 0.05, 500)
    t = np.arange(21) - 10
    y = slopes[:, None] * t[None, :] + rng.normal(0, 0.1, (500, 21)) + rng.normal(size=(500, 1))
    d = panel_dynamics(y)
    assert d["trend_sd"] == pytest.approx(0.05, rel=0.05)
    assert d["resid_sd"] == pytest.approx(0.1, rel=0.05)
    # white noise: detrending 21 periods biases the autocorrelation down, by about -2/T
    assert -0.15 < d["ar1"] < 0


@pytest.mark.parametrize(("process", "dynamics", "n_forces"), [
    ("volume", CALIBRATED, 43), ("rate", CALIBRATED_RATE, 35),
])  # fmt: skip
def test_calibrated_dynamics_match_the_real_panel(
    process: str, dynamics: ForceDynamics, n_forces: int
) -> None:
    """Issue 29: trend spread, residual spread and autocorrelation within ±25% of the real panel."""
    real = real_targets()
    real = real[real["process"] == process].set_index("statistic")["real"]
    sims = [simulated_dynamics(dynamics, n_forces=n_forces, seed=s) for s in range(60)]
    for stat in ("trend_sd", "resid_sd", "ar1"):
        mean = float(np.mean([s[stat] for s in sims]))
        assert abs(mean / real[stat] - 1) <= TOLERANCE, (stat, mean, real[stat])
    # and the ideal world is far from them: the check can tell
    ideal = simulated_dynamics(IDEAL, n_forces=n_forces)
    assert ideal["resid_sd"] < 0.2 * real["resid_sd"]


def test_real_targets_name_their_source() -> None:
    t = real_targets()
    assert set(t["process"]) == {"volume", "rate"}
    assert t["source"].str.contains("Home Office all-offences").all()
    vol = t[t["process"] == "volume"].set_index("statistic")["real"]
    assert vol["resid_sd"] == pytest.approx(0.1057, abs=5e-4)
    assert vol["ar1"] == pytest.approx(0.2136, abs=5e-4)
