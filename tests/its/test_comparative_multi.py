"""Comparative and multi-unit ITS against R sandwich::vcovPL (Driscoll–Kraay) and identities."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from soteria_eval.its import (
    Interruption,
    comparative_its,
    multi_unit_its,
    newey_west,
    newey_west_many,
    segmented_regression,
)
from soteria_eval.its.bootstrap import its_wild_bootstrap
from soteria_eval.plotting import its_plot
from tests.conftest import REPO

REF = REPO / "tests" / "reference"
ITS = [Interruption("covid", 30, programme=False), Interruption("programme", 60)]


@pytest.fixture(scope="module")
def two_series() -> pd.DataFrame:
    return pd.read_csv(REF / "its_comparative.csv")


@pytest.mark.parametrize("lag", [3, 5])
def test_pooled_comparative_matches_sandwich_vcovpl(two_series: pd.DataFrame, lag: int) -> None:
    r = json.loads((REF / "its_comparative.json").read_text())
    res = comparative_its(
        two_series,
        outcome="y",
        time="t",
        group="g",
        treated="treated",
        interruptions=ITS,
        seasonality="fourier",
        fourier_terms=1,
        hac_lag=lag,
    )
    np.testing.assert_allclose(res.params[r["terms"]], r["coef"], rtol=1e-10)
    np.testing.assert_allclose(res.std_errors[r["terms"]], r[f"dk_se_lag{lag}"], rtol=1e-10)


@pytest.mark.parametrize("seasonality", ["fourier", "dummies"])
def test_seasonality_shared_matches_r_with_uninteracted_seasons(
    two_series: pd.DataFrame, seasonality: str
) -> None:
    """tests/reference/its_comparative_shared.R: y ~ (t + covid + level + slope) * G + season."""
    r = json.loads((REF / "its_comparative_shared.json").read_text())
    kw = dict(outcome="y", time="t", group="g", treated="treated", interruptions=ITS,
              seasonality=seasonality, fourier_terms=1, seasonality_shared=True)  # fmt: skip
    dk = comparative_its(two_series, hac_lag=3, **kw)  # type: ignore[arg-type]
    ols = comparative_its(two_series, errors="ols", **kw)  # type: ignore[arg-type]
    ref = r[seasonality]
    np.testing.assert_allclose(dk.params[r["terms"]], ref["coef"], rtol=1e-10)
    np.testing.assert_allclose(dk.std_errors[r["terms"]], ref["dk_se_lag3"], rtol=1e-10)
    np.testing.assert_allclose(ols.std_errors[r["terms"]], ref["classical_se"], rtol=1e-10)
    assert not [c for c in dk.params.index if c.startswith(("treated:season", "treated:sin"))]
    assert dk.info["seasonality_shared"] is True
    with pytest.raises(ValueError, match="seasonality_shared needs approach='pooled'"):
        comparative_its(two_series, approach="difference", **kw)  # type: ignore[arg-type]


def test_pooled_equals_difference_series(two_series: pd.DataFrame) -> None:
    kw = dict(outcome="y", time="t", group="g", treated="treated", interruptions=ITS)
    pooled = comparative_its(two_series, **kw)  # type: ignore[arg-type]
    diff = comparative_its(two_series, approach="difference", **kw)  # type: ignore[arg-type]
    for term in ("level:programme", "slope:programme", "level:covid"):
        assert pooled.params[f"treated:{term}"] == pytest.approx(diff.params[term], rel=1e-10)
        assert pooled.std_errors[f"treated:{term}"] == pytest.approx(
            diff.std_errors[term], rel=1e-10
        )
    pd.testing.assert_frame_equal(pooled.effect_at([0, 12]), diff.effect_at([0, 12]))
    # Both counterfactuals are on the treated series' scale and carry the comparison.
    for res in (pooled, diff):
        cf = res.counterfactual()
        treated_y = two_series.loc[two_series["g"] == "treated", "y"].to_numpy()
        np.testing.assert_allclose(cf["observed"], treated_y)
        assert "comparison" in cf
        np.testing.assert_allclose(cf["effect"].iloc[:60], 0.0, atol=1e-12)
    # The difference form takes any error model.
    ar = comparative_its(two_series, approach="difference", errors="ar1", **kw)  # type: ignore[arg-type]
    assert "AR(1)" in ar.inference
    fig = its_plot(pooled, title="comparative")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "comparison series" in labels


def test_comparative_bad_input(two_series: pd.DataFrame) -> None:
    kw = dict(outcome="y", time="t", group="g", interruptions=ITS)
    with pytest.raises(ValueError, match="not found in column 'g'"):
        comparative_its(two_series, treated="nope", **kw)  # type: ignore[arg-type]
    three = pd.concat([two_series, two_series.assign(g="other")])
    with pytest.raises(ValueError, match="exactly two series"):
        comparative_its(three, treated="treated", **kw)  # type: ignore[arg-type]
    short = two_series.drop(index=two_series.index[(two_series["g"] == "treated")][-1:])
    with pytest.raises(ValueError, match="same periods"):
        comparative_its(short.reset_index(drop=True), treated="treated", **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs approach='difference'"):
        comparative_its(two_series, treated="treated", errors="ar1", **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return pd.read_csv(REF / "its_multi.csv")


def test_multi_unit_pooled_matches_sandwich_and_units_match_single_fits(
    panel: pd.DataFrame,
) -> None:
    r = json.loads((REF / "its_multi.json").read_text())
    covid = [Interruption("covid", 20, programme=False)]
    res = multi_unit_its(
        panel, outcome="y", time="t", unit="unit", start="start", interruptions=covid, hac_lag=3
    )
    np.testing.assert_allclose(res.params[r["terms"]], r["coef"], rtol=1e-9)
    np.testing.assert_allclose(res.std_errors[r["terms"]], r["dk_se_lag3"], rtol=1e-9)
    by_unit = res.by_unit()
    assert list(by_unit["unit"].unique()) == [f"u{k}" for k in range(6)]
    for unit, start in (("u1", 36), ("u4", 44)):
        one = segmented_regression(
            panel[panel["unit"] == unit],
            outcome="y",
            time="t",
            interruptions=[Interruption("programme", start), *covid],
            hac_lag=3,
        )
        rows = by_unit[by_unit["unit"] == unit].set_index("term")
        np.testing.assert_allclose(
            rows["estimate"], one.params[["level:programme", "slope:programme"]], rtol=1e-10
        )
        np.testing.assert_allclose(
            rows["std_error"], one.std_errors[["level:programme", "slope:programme"]], rtol=1e-10
        )
    assert res.info["starts"]["u4"] == "44"
    assert res.unit_results["u0"].counterfactual()["effect"].iloc[:36].abs().max() < 1e-12


def test_multi_unit_bad_input(panel: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="balanced panel"):
        multi_unit_its(panel.iloc[1:], outcome="y", time="t", unit="unit", start="start")
    varying = panel.assign(start=np.where(panel["t"] > 50, 40, panel["start"]))
    with pytest.raises(ValueError, match="varies within unit"):
        multi_unit_its(varying, outcome="y", time="t", unit="unit", start="start")
    with pytest.raises(ValueError, match="start column or at least one programme"):
        multi_unit_its(panel, outcome="y", time="t", unit="unit")
    with pytest.raises(ValueError, match="missing"):
        multi_unit_its(
            panel.assign(y=panel["y"].where(panel.index != 5)),
            outcome="y",
            time="t",
            unit="unit",
            start="start",
        )


def test_newey_west_many_equals_one_at_a_time() -> None:
    rng = np.random.default_rng(0)
    x = np.c_[np.ones(50), np.arange(50.0), rng.normal(size=50)]
    e = rng.normal(size=(50, 4))
    bread = np.linalg.inv(x.T @ x)
    many = newey_west_many(x, e, bread, 4)
    for k in range(4):
        np.testing.assert_allclose(many[k], newey_west(x, e[:, k], bread, 4), rtol=1e-12)


def test_block_wild_bootstrap_pooled_equals_difference(two_series: pd.DataFrame) -> None:
    kw = dict(outcome="y", time="t", group="g", treated="treated", interruptions=ITS)
    pooled = comparative_its(two_series, **kw)  # type: ignore[arg-type]
    diff = comparative_its(two_series, approach="difference", **kw)  # type: ignore[arg-type]
    a = its_wild_bootstrap(pooled, "treated:level:programme", block=12, n_boot=999, seed=4)
    b = its_wild_bootstrap(diff, "level:programme", block=12, n_boot=999, seed=4)
    wa, wb = a.info["wild"]["treated:level:programme"], b.info["wild"]["level:programme"]
    # Same draws, same studentized statistic up to the small-sample factor: same p-value.
    assert wa["p_value"] == wb["p_value"] and wa["n_blocks"] == 8
    assert wa["ci_lower"] == pytest.approx(wb["ci_lower"], rel=1e-6)
    row = a.tidy().set_index("term").loc["treated:level:programme"]
    assert "blocks of 12 periods" in row["inference"] and row["p_value"] == wa["p_value"]
    # Re-inference returns a new object.
    assert "wild" not in pooled.info
    with pytest.raises(ValueError, match="errors='hac' or 'ols'"):
        its_wild_bootstrap(
            comparative_its(two_series, approach="difference", errors="ar1", **kw),  # type: ignore[arg-type]
            "level:programme",
        )
    with pytest.raises(ValueError, match="too few to bootstrap"):
        its_wild_bootstrap(diff, "level:programme", block=40)


def test_multi_unit_results_do_not_share_a_cached_design(panel: pd.DataFrame) -> None:
    """Designs are built once per distinct design; each result still owns its copy."""
    kw = {"outcome": "y", "time": "t", "unit": "unit", "start": "start", "hac_lag": 3}
    a = multi_unit_its(panel, **kw)  # type: ignore[arg-type]
    b = multi_unit_its(panel.assign(y=panel["y"] * 2), **kw)  # type: ignore[arg-type]
    da, db = a.unit_results["u0"].design, b.unit_results["u0"].design
    pd.testing.assert_frame_equal(da, db)
    da.iloc[:, :] = 0.0
    assert (b.unit_results["u0"].design.to_numpy() != 0).any()
    again = multi_unit_its(panel, **kw)  # type: ignore[arg-type]
    pd.testing.assert_series_equal(again.params, a.params)
    np.testing.assert_allclose(b.by_unit()["estimate"], 2 * a.by_unit()["estimate"], rtol=1e-10)
