"""The simulator: invariants, determinism, synthetic labels, calibration, known effects."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from soteria_eval.data import validate_file
from soteria_eval.did import did_2x2
from soteria_eval.linear_model import FewClustersWarning
from soteria_eval.panels import aggregate_cases
from soteria_eval.simulate import (
    NO_EFFECTS,
    SimulationConfig,
    calibration_report,
    simulate_cases,
)


@pytest.fixture(scope="module")
def default_cases() -> pd.DataFrame:
    return simulate_cases()


def test_default_size_and_columns(default_cases: pd.DataFrame) -> None:
    assert 550_000 < len(default_cases) < 700_000
    assert default_cases["force"].nunique() == 43
    assert default_cases["synthetic"].all() and default_cases.attrs["synthetic"] is True
    assert default_cases["case_id"].is_unique


def test_calibration_within_tolerance(default_cases: pd.DataFrame) -> None:
    report = calibration_report(default_cases)
    assert len(report) >= 15
    bad = report[~report["within_tolerance"]]
    assert bad.empty, bad[
        ["target", "period", "published", "simulated", "relative_error"]
    ].to_string()
    assert set(report.columns) >= {"target", "published", "simulated", "source"}


def test_same_seed_same_records() -> None:
    cfg = SimulationConfig(scale=0.02, seed=5)
    a, b = simulate_cases(cfg), simulate_cases(cfg)
    pd.testing.assert_frame_equal(a, b)
    c = simulate_cases(SimulationConfig(scale=0.02, seed=6))
    assert not a["report_date"].equals(c["report_date"])


def test_written_folder_validates_and_says_synthetic(small_data: Path) -> None:
    files = [*sorted(small_data.glob("panel_*.csv")), small_data / "case_records.parquet"]
    for f in files:
        report = validate_file(f)
        assert report.ok, [str(i) for i in report.issues[:5]]
    meta = json.loads((small_data / "metadata.json").read_text())
    assert meta["synthetic"] is True and "SYNTHETIC" in meta["notice"].upper()
    assert (small_data / "SYNTHETIC.txt").read_text().startswith("SYNTHETIC DATA")
    kv = pq.read_schema(small_data / "case_records.parquet").metadata
    assert kv[b"synthetic"] == b"true"
    panel = pd.read_csv(small_data / "panel_force_quarter.csv")
    assert panel["synthetic"].all()
    from soteria_eval.dictionary import load_catalogue
    from soteria_eval.panels.aggregate import OUTCOME_RATES

    props = panel["measure"].map({k: m.type for k, m in load_catalogue().items()}).eq("proportion")
    shares = props & ~panel["measure"].isin(list(OUTCOME_RATES))  # outcome rates may exceed 1
    assert (panel.loc[shares, "numerator"] <= panel.loc[shares, "denominator"]).all()
    assert {"police_charge_rate"} == OUTCOME_RATES


def test_dates_follow_the_journey(default_cases: pd.DataFrame) -> None:
    c = default_cases
    pairs = [
        ("offence_date", "report_date"),
        ("report_date", "referral_date"),
        ("referral_date", "charge_decision_date"),
        ("charge_decision_date", "first_hearing_date"),
        ("first_hearing_date", "completion_date"),
        ("first_hearing_date", "trial_date"),
        ("trial_date", "completion_date"),
        ("report_date", "outcome_date"),
        ("report_date", "early_advice_date"),
    ]
    for early, late in pairs:
        both = c[early].notna() & c[late].notna()
        assert (c.loc[both, late] >= c.loc[both, early]).all(), (early, late)
    charged = c["charge_decision"].eq("charge")
    assert (c.loc[charged & c["outcome"].ne("open"), "outcome"] == "1").all()
    assert c.loc[c["verdict"].notna(), "completion_date"].notna().all()
    # Nothing is observed after the extract date.
    extract = pd.Timestamp(c.attrs["extract_date"])
    for col in (
        "referral_date",
        "charge_decision_date",
        "first_hearing_date",
        "completion_date",
        "outcome_date",
    ):
        assert (c[col].dropna() <= extract).all(), col


def test_covid_dip_and_series_break(default_cases: pd.DataFrame) -> None:
    c = default_cases
    by_month = c.groupby(c["report_date"].dt.to_period("M")).size()
    assert by_month[pd.Period("2020-04")] < 0.85 * by_month[pd.Period("2019-04")]
    ea = c[c["early_advice"]]
    per_q = ea.groupby(ea["early_advice_date"].dt.to_period("Q")).size()
    # Recording improves from April 2022: a visible jump.
    assert per_q[pd.Period("2022Q2")] > 1.3 * per_q[pd.Period("2021Q4")]


def _isva_did(cases: pd.DataFrame) -> float:
    panel = aggregate_cases(cases, level="force", freq="quarter", start="2019-01", end="2023-06")
    p = panel[panel["measure"] == "isva_engagement"].copy()
    from soteria_eval.data import load_rollout
    from soteria_eval.rollout import treatment_panel

    tp = treatment_panel(
        load_rollout(), level="force", freq="quarter", start="2019-Q1", end="2023-Q2"
    )
    p = p.merge(tp, on=["unit", "period"])
    pre = [
        f"{y}-Q{q}" for y, q in [(2019, 1), (2019, 2), (2019, 3), (2019, 4), (2020, 1), (2020, 2)]
    ]
    post = ["2022-Q4", "2023-Q1", "2023-Q2"]
    keep = (p["phase"] == 1) | ((p["phase"] == 3) & ~p["exposed_ever"])
    d = p[keep & p["period"].isin(pre + post)].assign(
        g=lambda x: x["phase"] == 1, post=lambda x: x["period"].isin(post)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        return float(
            did_2x2(d, outcome="value", treated="g", post="post", cluster="unit").params[
                "treated:post"
            ]
        )


def test_injected_effect_is_recovered_by_2x2(default_cases: pd.DataFrame) -> None:
    # ISVA engagement: +0.10 at full intensity (12 months after September 2021).
    assert _isva_did(default_cases) == pytest.approx(0.10, abs=0.025)


def test_no_effect_world_gives_no_effect() -> None:
    cases = simulate_cases(SimulationConfig().with_effects(NO_EFFECTS))
    assert _isva_did(cases) == pytest.approx(0.0, abs=0.025)


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="scale must be positive"):
        SimulationConfig(scale=0)
    with pytest.raises(ValueError, match="spillover must lie in"):
        SimulationConfig(spillover=1.5)
    with pytest.raises(ValueError, match="phase 1, 2 or 3"):
        SimulationConfig(effects={4: NO_EFFECTS})


def test_area_series_complete_the_catalogue(default_cases: pd.DataFrame, small_data: Path) -> None:
    from soteria_eval.dictionary import load_catalogue
    from soteria_eval.simulate.area_series import area_series

    extra = area_series(default_cases, SimulationConfig())
    report = calibration_report(default_cases, area_quarters=extra)
    directions = report[report["target"].str.startswith("judges")]
    assert len(directions) == 2 and directions["within_tolerance"].all()
    measures = set()
    for f in small_data.glob("panel_*.csv"):
        measures |= set(pd.read_csv(f, usecols=["measure"])["measure"])
    # every catalogue measure of the case data is in some panel (the ho_rape_* measures
    # come from the Home Office's own files: `ingest home-office`)
    from soteria_eval.datasets.home_office import MEASURES as HOME_OFFICE

    assert measures == set(load_catalogue()) - set(HOME_OFFICE)
