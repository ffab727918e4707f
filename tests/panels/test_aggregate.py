"""Aggregation of case records to panels agrees with the records; KM matches statsmodels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.duration.survfunc import SurvfuncRight

from soteria_eval.panels import aggregate_cases, build_panels, km_quantile_by_group
from soteria_eval.simulate import SimulationConfig, simulate_cases


@pytest.fixture(scope="module")
def cases() -> pd.DataFrame:
    return simulate_cases(SimulationConfig(scale=0.1, seed=3))


@pytest.fixture(scope="module")
def panels(cases: pd.DataFrame) -> dict:
    return build_panels(cases)


WINDOWS = {
    "month": ("2016-01-01", "2025-12-31"),
    "quarter": ("2016-01-01", "2025-12-31"),
    "fy": ("2016-04-01", "2025-03-31"),
}


def in_window(s: pd.Series, freq: str = "month") -> pd.Series:
    lo, hi = WINDOWS[freq]
    return (s >= pd.Timestamp(lo)) & (s <= pd.Timestamp(hi))


def total(panel: pd.DataFrame, measure: str, col: str = "numerator") -> float:
    return float(panel.loc[panel["measure"] == measure, col].sum())


def test_counts_agree_with_case_table(cases: pd.DataFrame, panels: dict) -> None:
    for key, panel in panels.items():
        f = key[1]
        assert total(panel, "recorded_rapes") == in_window(cases["report_date"], f).sum(), key
        charged = cases["charge_decision"].eq("charge") & in_window(
            cases["charge_decision_date"], f
        )
        assert total(panel, "charges") == charged.sum(), key
        assert total(panel, "cps_receipts") == in_window(cases["referral_date"], f).sum(), key
        conv = cases["verdict"].eq("convicted") & in_window(cases["completion_date"], f)
        assert total(panel, "convictions") == conv.sum(), key
    assert panels[("force", "fy")]["period"].min() == "2016/17"
    assert panels[("force", "fy")]["period"].max() == "2024/25"


def test_force_and_area_panels_add_up(panels: dict) -> None:
    f, a = panels[("force", "quarter")], panels[("area", "quarter")]
    for m in ("recorded_rapes", "charges", "isva_engagement"):
        fq = f[f["measure"] == m].groupby("period")["numerator"].sum()
        aq = a[a["measure"] == m].groupby("period")["numerator"].sum()
        pd.testing.assert_series_equal(fq, aq)
    # The Metropolitan Police is split between the two London Areas, roughly equally.
    met = f[(f["measure"] == "recorded_rapes") & (f["unit"] == "Metropolitan Police")][
        "numerator"
    ].sum()
    ln = a[(a["measure"] == "recorded_rapes") & (a["unit"] == "London North")]["numerator"].sum()
    city = f[(f["measure"] == "recorded_rapes") & (f["unit"] == "City of London")][
        "numerator"
    ].sum()
    assert (ln - city) / met == pytest.approx(0.5, abs=0.02)


def test_ratios_means_and_flags(panels: dict) -> None:
    p = panels[("force", "quarter")]
    ratio = p[p["measure"] == "cps_charge_rate"].dropna(subset=["value"])
    np.testing.assert_allclose(ratio["value"], ratio["numerator"] / ratio["denominator"])
    assert (ratio["numerator"] <= ratio["denominator"]).all()
    mean = p[p["measure"] == "days_referral_to_decision"].dropna(subset=["value"])
    np.testing.assert_allclose(mean["value"], mean["numerator"] / mean["denominator"])
    counts = p[p["measure"] == "charges"]
    assert (counts["small_cell"] == ((counts["value"] > 0) & (counts["value"] < 10))).all()
    assert p.groupby(["unit", "measure"]).size().nunique() == 1  # every period present


def test_median_matches_direct_computation(cases: pd.DataFrame) -> None:
    p = aggregate_cases(cases, level="force", freq="fy", measures=["days_report_to_charge"])
    row = p[(p["unit"] == "Metropolitan Police") & (p["period"] == "2019/20")].iloc[0]
    sel = cases["force"].eq("Metropolitan Police") & cases["charge_decision"].eq("charge")
    sel &= cases["charge_decision_date"].between("2019-04-01", "2020-03-31")
    days = (cases.loc[sel, "charge_decision_date"] - cases.loc[sel, "report_date"]).dt.days
    assert row["value"] == days.median() and row["denominator"] == sel.sum()


def test_fixed_window_share_needs_full_follow_up(cases: pd.DataFrame) -> None:
    p = aggregate_cases(cases, level="force", freq="quarter", measures=["charged_within_365_days"])
    late = p[p["period"] >= "2025-Q1"]  # reports in 2025 have under 365 days before the extract
    assert late["denominator"].sum() == 0 and late["value"].isna().all()
    early = p[p["period"] == "2024-Q3"]
    assert early["denominator"].sum() > 0


@pytest.mark.parametrize("q", [0.25, 0.5, 0.75])
def test_grouped_km_matches_statsmodels(q: float) -> None:
    rng = np.random.default_rng(42)
    g = rng.integers(0, 40, 6000)
    t = rng.exponential(100, 6000)
    e = rng.random(6000) < 0.6
    got = km_quantile_by_group(g, t, e, 40, q)
    want = np.array(
        [SurvfuncRight(t[g == k], e[g == k].astype(int)).quantile(q) for k in range(40)],
        dtype=float,
    )
    np.testing.assert_allclose(got, want, equal_nan=True)


def test_km_with_ties_and_full_events() -> None:
    # Group 0: all events, S drops to zero; group 1: only censoring, median undefined.
    g = np.array([0, 0, 0, 1, 1])
    t = np.array([5.0, 5.0, 7.0, 3.0, 9.0])
    e = np.array([True, True, True, False, False])
    got = km_quantile_by_group(g, t, e, 2)
    assert got[0] == 5.0 and np.isnan(got[1])


def test_police_charge_rate_is_an_outcome_rate(cases: pd.DataFrame, panels: dict) -> None:
    """Outcome-1 outcomes dated in the period over offences recorded in the period."""
    p = panels[("force", "quarter")]
    rate = p[p["measure"] == "police_charge_rate"].set_index(["unit", "period"])
    recorded = p[p["measure"] == "recorded_rapes"].set_index(["unit", "period"])["value"]
    pd.testing.assert_series_equal(rate["denominator"], recorded, check_names=False)
    out = cases[cases["outcome"].eq("1") & in_window(cases["outcome_date"], "quarter")]
    q = out["outcome_date"].dt.to_period("Q").astype(str).str.replace("Q", "-Q")
    counts = out.groupby([out["force"], q]).size()
    got = rate["numerator"]
    got = got[got > 0]
    counts.index.names = got.index.names
    pd.testing.assert_series_equal(
        got.sort_index(), counts.astype(float).sort_index(), check_names=False
    )
    # A charge counts when it is made: none after the period it falls in.
    ok = rate["denominator"] > 0
    np.testing.assert_allclose(
        rate.loc[ok, "value"], rate.loc[ok, "numerator"] / rate.loc[ok, "denominator"]
    )


def test_outcome_rate_above_one_passes_validation(tmp_path: Path) -> None:
    from soteria_eval.data import validate_file

    panel = pd.DataFrame(
        {
            "level": "force", "unit": "City of London", "period": ["2020-Q1", "2020-Q2"],
            "measure": ["police_charge_rate", "police_nfa_evidential"], "value": [1.5, 1.5],
            "numerator": [3.0, 3.0], "denominator": [2.0, 2.0], "small_cell": True,
            "synthetic": True,
        }
    )  # fmt: skip
    path = tmp_path / "panel_force_quarter.csv"
    panel.to_csv(path, index=False)
    report = validate_file(path)
    # Only the share (row 3) is refused; the outcome rate (row 2) may exceed 1.
    assert {i.rule for i in report.issues} == {"proportion-range", "numerator-exceeds-denominator"}
    assert {i.rows for i in report.issues} == {(3,)}


def test_text_columns_of_any_dtype_give_the_same_panel(cases: pd.DataFrame) -> None:
    """Object columns are read as views (no copy of a big extract); a ``string`` column's
    ``pd.NA`` must not propagate through the comparisons that define the measures."""
    base = cases[cases["report_date"] < pd.Timestamp("2019-01-01")].copy()
    kw = {"level": "force", "freq": "quarter", "start": "2016-01", "end": "2018-12"}
    want = aggregate_cases(base, **kw)
    typed = base.astype({c: "string" for c in ("outcome", "charge_decision", "verdict")})
    assert typed["charge_decision"].isna().any()
    pd.testing.assert_frame_equal(aggregate_cases(typed, **kw), want, check_exact=True)
