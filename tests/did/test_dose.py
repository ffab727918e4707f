"""Stacked DiD on a continuous dose: R reference, closed form, planted truth and bad input."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from soteria_eval.did import dose_blocks, stacked_dose_did

REF = Path(__file__).resolve().parents[1] / "reference"


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return pd.read_csv(REF / "dose_panel.csv")


def _fit(d: pd.DataFrame, vcov: str = "CR2", base: str = "previous") -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stacked_dose_did(
            d, outcome="y", dose="dose", unit="unit", time="period", vcov=vcov, base=base
        )
    return res.tidy().set_index("term").loc["dose"]


def test_matches_r_lm_with_clubsandwich_and_sandwich(panel: pd.DataFrame) -> None:
    """Blocks stacked independently in R; CR2 (Satterthwaite) from clubSandwich, CR1 from vcovCL."""
    ref = json.loads((REF / "dose_stacked.json").read_text())
    cr2 = _fit(panel, "CR2")
    assert cr2["estimate"] == pytest.approx(ref["estimate"], rel=1e-10)
    assert cr2["std_error"] == pytest.approx(ref["se_cr2"], rel=1e-8)
    assert cr2["df"] == pytest.approx(ref["df_cr2"], rel=1e-8)
    assert _fit(panel, "CR1")["std_error"] == pytest.approx(ref["se_cr1"], rel=1e-10)
    _, counts = dose_blocks(panel, outcome="y", dose="dose", unit="unit", time="period")
    assert counts == {k: ref[k] for k in ("n_blocks", "n_rows", "n_dropped")}
    # changes from each unit's pre-start mean instead of the period before the start
    pm = ref["pre_mean"]
    cr2 = _fit(panel, "CR2", "pre_mean")
    assert cr2["estimate"] == pytest.approx(pm["estimate"], rel=1e-10)
    assert cr2["std_error"] == pytest.approx(pm["se_cr2"], rel=1e-8)
    assert cr2["df"] == pytest.approx(pm["df_cr2"], rel=1e-8)
    assert _fit(panel, "CR1", "pre_mean")["std_error"] == pytest.approx(pm["se_cr1"], rel=1e-10)


def test_closed_form_two_by_two() -> None:
    """One block: the slope of the change on the dose, controls at dose 0 (hand computed)."""
    d = pd.DataFrame(
        {
            "unit": ["a", "a", "b", "b", "c", "c"],
            "period": [1, 2, 1, 2, 1, 2],
            "dose": [0, 0.5, 0, 1.0, 0, 0],
            "y": [1.0, 2.0, 3.0, 5.0, 2.0, 2.5],
        }
    )
    # changes: a +1.0 (dose 0.5), b +2.0 (dose 1), c +0.5 (dose 0); OLS slope with an
    # intercept: cov(dy, dose) / var(dose)
    dy, dose = np.array([1.0, 2.0, 0.5]), np.array([0.5, 1.0, 0.0])
    slope = np.cov(dy, dose)[0, 1] / np.var(dose, ddof=1)
    assert _fit(d, "CR1")["estimate"] == pytest.approx(slope, rel=1e-12)


def test_recovers_a_linear_dose_effect_on_the_real_area_rollout() -> None:
    """Monte Carlo on the 14 CPS Areas' treated shares: unbiased and 95% CR2 coverage."""
    from soteria_eval.data import load_rollout
    from soteria_eval.rollout import treatment_panel

    tp = treatment_panel(
        load_rollout(), level="area", freq="quarter", start="2018-Q1", end="2023-Q2"
    )
    rng = np.random.default_rng(4)
    units, periods = tp["unit"].unique(), tp["period"].unique()
    est, cov = [], []
    for _ in range(120):
        ue = dict(zip(units, rng.normal(size=len(units)), strict=True))
        te = dict(zip(periods, rng.normal(size=len(periods)), strict=True))
        y = tp["unit"].map(ue) + tp["period"].map(te) + 2.0 * tp["treated_share"]
        d = tp.assign(y=y + rng.normal(scale=0.5, size=len(tp)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # few clusters: expected here
            r = stacked_dose_did(
                d, outcome="y", dose="treated_share", unit="unit", time="period", base="pre_mean"
            )
        t = r.tidy().iloc[0]
        est.append(t["estimate"])
        cov.append(t["ci_lower"] <= 2.0 <= t["ci_upper"])
    assert np.mean(est) == pytest.approx(2.0, abs=4 * np.std(est) / np.sqrt(len(est)))
    assert 0.88 <= np.mean(cov) <= 0.995


def test_bad_input_is_named(panel: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="base must be one of"):
        stacked_dose_did(panel, outcome="y", dose="dose", unit="unit", time="period", base="x")
    with pytest.raises(KeyError, match="'share'"):
        stacked_dose_did(panel, outcome="y", dose="share", unit="unit", time="period")
    back = panel.copy()
    back.loc[(back["unit"] == "A01") & (back["period"] == 20), "dose"] = 0.0
    with pytest.raises(ValueError, match="falls back to 0"):
        stacked_dose_did(back, outcome="y", dose="dose", unit="unit", time="period")
    with pytest.raises(ValueError, match="more than one row for unit='A01', period=1"):
        stacked_dose_did(pd.concat([panel, panel.head(1)]), outcome="y", dose="dose", unit="unit", time="period")  # fmt: skip
    never = panel.assign(dose=0.0)
    with pytest.raises(ValueError, match="no clean comparison"):
        stacked_dose_did(never, outcome="y", dose="dose", unit="unit", time="period")
