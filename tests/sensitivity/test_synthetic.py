"""Synthetic control and synthetic DiD against diff-diff 3.13.0 (``make_synth_fixtures.py``)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from soteria_eval.sensitivity.synthetic import (
    simplex_least_squares,
    synthetic_control,
    synthetic_did,
)
from tests.conftest import REPO

REF = REPO / "tests" / "reference"
R = json.loads((REF / "synth_fixtures.json").read_text())


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return pd.read_csv(REF / "data" / "synth_panel.csv")


def test_synthetic_control_matches_diff_diff(panel: pd.DataFrame) -> None:
    sc = synthetic_control(
        panel[~panel["unit"].isin([1, 2])], outcome="y", unit="unit", time="time",
        treated_unit=0, start=R["start"],
    )  # fmt: skip
    ref = pd.Series(R["sc_weights"])
    ref.index = ref.index.astype(int)
    np.testing.assert_allclose(sc.weights.reindex(ref.index).fillna(0), ref, atol=1e-8)
    assert sc.average_effect == pytest.approx(R["sc_att"], rel=1e-8)
    p = sc.placebos
    assert len(p) == 28 and p["treated"].sum() == 1
    mine = p.loc[p["treated"], "ratio"].iloc[0]
    assert sc.p_value == pytest.approx((p["ratio"] >= mine).mean())
    assert list(sc.tidy().columns) == [
        "unit", "estimate", "pre_rmspe", "ratio", "fit_ratio", "pre_fit", "p_value",
        "n_placebos", "n_screened_out", "inference",
    ]  # fmt: skip
    fig = sc.plot(title="unit 0")
    assert len(fig.axes) == 2


def test_simplex_solution_satisfies_kkt() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, 12)), rng.normal(size=20)
    w = simplex_least_squares(a, b)
    grad = 2 * (a.T @ (a @ w - b))
    active = w > 1e-8
    mu = grad[active].mean()
    # Stationarity on the support, and no profitable direction off it.
    np.testing.assert_allclose(grad[active], mu, atol=1e-10)
    assert (grad[~active] >= mu - 1e-10).all()
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()


def test_synthetic_did_matches_diff_diff(panel: pd.DataFrame) -> None:
    sd = synthetic_did(
        panel, outcome="y", unit="unit", time="time", treated_units=[0, 1, 2],
        start=R["start"], n_placebo=100, seed=1,
    )  # fmt: skip
    # diff-diff (as R synthdid) stops its Frank–Wolfe iterations early; we solve exactly.
    assert sd.estimate == pytest.approx(R["sdid_att"], rel=1e-4)
    uw = pd.Series(R["sdid_unit_weights"])
    uw.index = uw.index.astype(int)
    np.testing.assert_allclose(sd.unit_weights.reindex(uw.index), uw, atol=5e-4)
    tw = pd.Series(R["sdid_time_weights"])
    tw.index = tw.index.astype(int)
    np.testing.assert_allclose(sd.time_weights.reindex(tw.index), tw, atol=5e-4)
    row = sd.tidy().iloc[0]
    assert row["std_error"] > 0 and row["ci_lower"] < 2.0 < row["ci_upper"]
    # The path's post-minus-pre gap, time-weighted, is the estimate.
    p = sd.path
    gap = p["treated"] - p["synthetic"]
    assert gap[p["post"]].mean() == pytest.approx(sd.estimate, rel=1e-8)
    assert len(sd.plot().axes) == 2


def test_bad_input(panel: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="balanced panel"):
        synthetic_control(
            panel.iloc[1:], outcome="y", unit="unit", time="time", treated_unit=0, start=16
        )
    with pytest.raises(ValueError, match="not in column"):
        synthetic_control(panel, outcome="y", unit="unit", time="time", treated_unit=99, start=16)
    with pytest.raises(ValueError, match="two pre-periods"):
        synthetic_control(panel, outcome="y", unit="unit", time="time", treated_unit=0, start=1)
    with pytest.raises(ValueError, match="more control units"):
        synthetic_did(
            panel[panel["unit"] < 6], outcome="y", unit="unit", time="time",
            treated_units=[0, 1, 2], start=16,
        )  # fmt: skip


def _screen_panel() -> pd.DataFrame:
    """Unit 0 treated at t = 10; units 0-8 track a common factor; unit 9 is erratic."""
    rng = np.random.default_rng(3)
    t = np.arange(16)
    f = np.sin(t / 3)
    rows = []
    for u in range(10):
        noise = 0.05 if u < 9 else 3.0
        load = 1.45 if u == 0 else 1 + 0.1 * u  # the treated unit inside the donors' range
        y = load * f + rng.normal(0, noise, t.size) + (2.0 if u == 0 else 0) * (t >= 10)
        rows += [{"unit": u, "time": int(k), "y": float(v)} for k, v in zip(t, y, strict=True)]
    return pd.DataFrame(rows)


def test_screening_drops_placebos_that_fit_far_worse() -> None:
    """Abadie et al. (2010): a placebo fitting 5x worse than the treated unit is left out."""
    from soteria_eval.sensitivity.synthetic import PLACEBO_SCREEN

    d = _screen_panel()
    sc = synthetic_control(d, outcome="y", unit="unit", time="time", treated_unit=0, start=10)
    sc5 = sc.screened()
    mine = sc.placebos.loc[sc.placebos["treated"], "pre_rmspe"].iloc[0]
    worse = sc.placebos.loc[sc.placebos["pre_rmspe"] > PLACEBO_SCREEN * mine, "unit"]
    assert 9 in set(worse)  # the erratic unit
    assert set(sc5.placebos["unit"]) == set(sc.placebos["unit"]) - set(worse)
    assert sc5.n_screened_out == len(worse) and sc5.screen == PLACEBO_SCREEN
    assert "placebo:9" not in sc5.path.columns and "placebo:9" in sc.path.columns
    kept = sc5.placebos
    r0 = kept.loc[kept["treated"], "ratio"].iloc[0]
    assert sc5.p_value == pytest.approx((kept["ratio"] >= r0 * (1 - 1e-12)).mean())
    assert sc5.average_effect == sc.average_effect  # the estimate does not change
    assert len(sc.placebos) == 10  # the original is untouched
    row = sc5.tidy().iloc[0]
    assert row["n_screened_out"] == len(worse) and "left out" in row["inference"]
    with pytest.raises(ValueError, match="positive"):
        sc.screened(0)


def test_a_treated_unit_outside_the_donors_reach_has_a_poor_fit() -> None:
    """Scale the treated unit far above every donor: no convex combination reaches it."""
    from soteria_eval.sensitivity.synthetic import POOR_FIT

    d = _screen_panel()
    d = d[d["unit"] != 9]
    good = synthetic_control(d, outcome="y", unit="unit", time="time", treated_unit=0, start=10)
    d.loc[d["unit"] == 0, "y"] = 5 + 4 * d.loc[d["unit"] == 0, "y"]
    bad = synthetic_control(d, outcome="y", unit="unit", time="time", treated_unit=0, start=10)
    assert good.pre_fit == "good" and good.fit_ratio < POOR_FIT
    assert bad.pre_fit == "poor" and bad.fit_ratio > POOR_FIT
    med = bad.placebos.loc[~bad.placebos["treated"], "pre_rmspe"].median()
    assert bad.fit_ratio == pytest.approx(bad.placebos["pre_rmspe"].iloc[0] / med)
