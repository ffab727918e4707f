"""Leave-one-out, placebo dates and comparison-group sensitivity: identities with direct fits."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from soteria_eval.did import twfe
from soteria_eval.linear_model import FewClustersWarning
from soteria_eval.plotting import estimate_plot
from soteria_eval.sensitivity.leave_out import (
    comparison_sensitivity,
    leave_one_out,
    placebo_dates,
)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    rng = np.random.default_rng(8)
    n, t = 16, 12
    d = pd.DataFrame({"u": np.repeat(np.arange(n), t), "t": np.tile(np.arange(t), n)})
    d["area"] = d["u"] // 4
    d["exposed"] = d["u"].isin([4, 5])
    d["D"] = ((d["u"] < 3) & (d["t"] >= 8)).astype(float)
    # Unit 0 carries most of the effect: leaving it out should move the estimate most.
    effect = np.where(d["u"] == 0, 3.0, 0.5)
    d["y"] = effect * d["D"] + rng.normal(size=n)[d["u"]] + 0.1 * d["t"] + rng.normal(size=len(d))
    return d


def fit(d: pd.DataFrame):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        return twfe(d, outcome="y", treatment="D", unit="u", time="t")


def test_leave_one_out_rows_equal_direct_fits(panel: pd.DataFrame) -> None:
    out = leave_one_out(panel, fit, unit="u", term="D", only=[0, 1, 2])
    assert list(out["dropped"]) == ["none", "0", "1", "2"]
    direct = fit(panel[panel["u"] != 1])
    row = out.set_index("dropped").loc["1"]
    assert row["estimate"] == pytest.approx(direct.params["D"])
    assert row["n_units"] == 15
    # The unit that carries the effect moves the estimate most.
    moves = (out["estimate"] - out["estimate"].iloc[0]).abs().iloc[1:]
    assert moves.idxmax() == out.index[out["dropped"] == "0"][0]
    by_area = leave_one_out(panel, fit, unit="u", term="D", group="area", only=[1, 2])
    assert list(by_area["n_units"]) == [16, 12, 12]
    fig = estimate_plot(out, label="run")
    assert fig.axes


def test_placebo_dates_use_pre_period_only(panel: pd.DataFrame) -> None:
    def est(d: pd.DataFrame, start: int):  # type: ignore[no-untyped-def]
        return fit(d.assign(D=((d["u"] < 3) & (d["t"] >= start)).astype(float)))

    out = placebo_dates(panel, est, unit="u", time="t", first_treated=8, shifts=[2, 4], term="D")
    assert list(out["run"]) == ["placebo start 6", "placebo start 4"]
    pre = panel[panel["t"] < 8]
    direct = fit(pre.assign(D=((pre["u"] < 3) & (pre["t"] >= 6)).astype(float)))
    assert out["estimate"].iloc[0] == pytest.approx(direct.params["D"])
    # No effect exists before period 8: the placebo intervals cover zero here.
    assert ((out["ci_lower"] < 0) & (out["ci_upper"] > 0)).all()
    with pytest.raises(ValueError, match="outside the pre-period"):
        placebo_dates(panel, est, unit="u", time="t", first_treated=8, shifts=[8], term="D")


def test_comparison_sensitivity(panel: pd.DataFrame) -> None:
    out = comparison_sensitivity(panel, fit, unit="u", exposed="exposed", term="D")
    assert list(out["n_units"]) == [16, 14]
    assert out["estimate"].iloc[1] == pytest.approx(fit(panel[~panel["exposed"]]).params["D"])
    with pytest.raises(ValueError, match="not in the estimator"):
        leave_one_out(panel, fit, unit="u", term="nope", only=[0])
    with pytest.raises(ValueError, match="not found in column"):
        leave_one_out(panel, fit, unit="u", term="D", only=[99])
