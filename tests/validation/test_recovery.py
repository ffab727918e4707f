"""The recovery study: its rows, its summary, its verdicts and what the pipeline does with them."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from soteria_eval.cli import main
from soteria_eval.data import load_rollout
from soteria_eval.did import twfe
from soteria_eval.inference.wild import wild_cluster_bootstrap
from soteria_eval.rollout import cohort_frame, treatment_panel
from soteria_eval.validation import (
    RECOVERY_COLUMNS,
    DesignSettings,
    RecoverySettings,
    run_seed,
    summarise,
)
from soteria_eval.validation.designs import TwfeBlock, _twfe_block_rows
from soteria_eval.validation.verdicts import apply_verdicts, inference_key, method_verdicts

REPO = Path(__file__).resolve().parents[2]
SMALL = RecoverySettings(scale=0.05, designs=DesignSettings(n_boot=49, honest_grid=50))


@pytest.fixture(scope="module")
def seed_rows() -> pd.DataFrame:
    return pd.concat([run_seed(s, SMALL) for s in (1, 2)], ignore_index=True)


def test_every_design_reports_for_the_primary_measures(seed_rows: pd.DataFrame) -> None:
    eff = seed_rows[
        (seed_rows["world"] == "effect") & (seed_rows["measure"] == "police_charge_rate")
    ]
    pairs = set(zip(eff["design"], eff["inference"], strict=True))
    expected = {
        ("twfe", "CR1"), ("twfe", "CR2"), ("twfe", "WCR"), ("twfe", "RI"),
        ("callaway_santanna", "analytic"), ("callaway_santanna", "bootstrap"),
        ("sun_abraham", "CR1"), ("imputation", "analytic"), ("honest_did", "Mbar = 1"),
        ("synthetic_control", "placebo"), ("its_segmented_12m", "GLS AR(1)"),
        ("its_segmented_24m", "GLS AR(1)"), ("its_comparative", "Driscoll-Kraay"),
        ("twfe phase 1", "CR1"), ("twfe phase 2", "CR2"),
        # The headline sample: the exposed forces of pathfinder Areas left out.
        ("twfe (exposed_dropped)", "WCR"), ("callaway_santanna (exposed_dropped)", "bootstrap"),
        ("twfe phase 1 (exposed_dropped)", "CR2"), ("imputation (exposed_dropped)", "analytic"),
    }  # fmt: skip
    assert expected <= pairs
    assert not any("honest" in d and "exposed" in d for d, _ in pairs)
    # Each sample is judged against its own estimand (its own treated cells).
    att = eff[eff["estimand"] == "ATT"].groupby("design")["truth"].first()
    assert att["twfe"] != att["twfe (exposed_dropped)"]
    phase = eff[eff["design"] == "twfe phase 1"]["estimand"].unique().tolist()
    assert phase == ["ATT phase 1"]
    assert {"ppml"} <= set(seed_rows.loc[seed_rows["measure"] == "charges", "design"])
    # The measures held only per CPS Area: the dose designs, judged against the dose slope.
    area = seed_rows[seed_rows["measure"].isin(["judges_directions_on_time", "trials_effective"])]
    assert set(zip(area["design"], area["inference"], strict=True)) == {
        (d, i) for d in ("stacked_dose", "twfe_dose") for i in ("CR1", "CR2")
    }
    assert (area["estimand"] == "dose slope").all()
    assert np.isfinite(area.loc[area["world"] == "effect", "truth"]).all()
    phase2 = eff[eff["design"] == "callaway_santanna phase 2"]["inference"]
    assert set(phase2) == {"analytic", "analytic, t(treated - 1)"}
    # The null world's truth is zero; the effect world's is the planted estimand.
    null = seed_rows[seed_rows["world"] == "no_effect"]
    assert (null["truth"].dropna() == 0).all()
    assert eff.loc[eff["design"] == "twfe", "truth"].abs().min() > 0


def test_summary_has_exactly_the_published_columns(seed_rows: pd.DataFrame) -> None:
    s = summarise(seed_rows)
    assert tuple(s.columns) == RECOVERY_COLUMNS
    row = s[
        (s["measure"] == "victim_does_not_support")
        & (s["design"] == "twfe")
        & (s["inference"] == "CR1")
    ].iloc[0]
    eff = seed_rows[
        (seed_rows["world"] == "effect") & (seed_rows["measure"] == "victim_does_not_support")
        & (seed_rows["design"] == "twfe") & (seed_rows["inference"] == "CR1")
    ]  # fmt: skip
    err = eff["estimate"] - eff["truth"]
    assert row["n_seeds"] == 2
    assert row["bias"] == pytest.approx(err.mean())
    assert row["rmse"] == pytest.approx(np.sqrt((err**2).mean()))
    assert row["rel_bias"] == pytest.approx(err.mean() / abs(eff["truth"].mean()))
    assert row["coverage"] == pytest.approx(eff["covered"].astype(float).mean())
    assert 0 <= row["size"] <= 1


def test_vectorised_twfe_equals_the_estimators() -> None:
    """The block path gives twfe()'s estimate, CR1/CR2 intervals and the WCR p-value."""
    tp = treatment_panel(
        load_rollout(), level="force", freq="quarter", start="2018-Q1", end="2023-Q2"
    )
    rng = np.random.default_rng(3)
    block = TwfeBlock.from_treatment(tp)
    y = rng.normal(size=(len(block.units), len(block.periods))) + 0.7 * block.treatment
    rows = pd.DataFrame(
        _twfe_block_rows(block, {"m": y}, {"m": 0.4}, DesignSettings(n_boot=3000), 5)
    )
    d = pd.DataFrame(
        {"unit": np.repeat(block.units, len(block.periods)), "period": np.tile(block.periods, len(block.units)),
         "y": y.ravel(), "D": block.treatment.ravel()}
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = twfe(d, outcome="y", treatment="D", unit="unit", time="period")
        cr1 = res.tidy().set_index("term").loc["D"]
        cr2 = res.with_vcov("CR2").tidy().set_index("term").loc["D"]
    got = rows.set_index("inference")
    assert got.loc["CR1", "estimate"] == pytest.approx(cr1["estimate"], rel=1e-10)
    assert got.loc["CR1", "ci_lower"] == pytest.approx(cr1["ci_lower"], rel=1e-8)
    assert got.loc["CR2", "ci_upper"] == pytest.approx(cr2["ci_upper"], rel=1e-6)
    # WCR of the truth (0.4) and of zero: the same test as the estimator's, up to the
    # Monte Carlo error of 3,000 Webb draws (the two draw different weights).
    for b0, col in ((0.4, "covered"), (0.0, "reject")):
        wild = wild_cluster_bootstrap(
            res, "D", n_boot=3000, weights="webb", seed=5, null=b0, conf_int=False
        )
        p_lib = wild.info["wild"]["D"]["p_value"]
        assert (
            (p_lib > 0.05) == bool(got.loc["WCR", col])
            if col == "covered"
            else (p_lib <= 0.05) == bool(got.loc["WCR", col])
        )


def test_verdicts_follow_the_stated_rule() -> None:
    rec = pd.DataFrame(
        {
            "measure": ["a", "a", "a", "a"],
            "design": ["twfe", "twfe", "twfe", "synthetic_control"],
            "inference": ["CR1", "CR2", "WCR", "placebo"],
            "n_seeds": 40,
            "truth": 1.0,
            "bias": [0.0, 0.3, 0.1, 0.0],
            "rel_bias": [0.0, 0.3, 0.1, 0.0],
            "rmse": 0.1,
            "coverage": [0.85, 0.95, 0.95, np.nan],
            "size": [0.1, 0.05, 0.05, 0.2],
        }
    )
    v = method_verdicts(rec).set_index("inference")
    assert not v.loc["CR1", "passed"] and "coverage 85%" in v.loc["CR1", "reason"]
    assert not v.loc["CR2", "passed"] and "bias +30%" in v.loc["CR2", "reason"]
    assert v.loc["WCR", "passed"]
    assert not v.loc["placebo", "passed"] and "20%" in v.loc["placebo", "reason"]
    # a coverage just outside the band is not shown as its edge (98.5%, not "98%")
    edge = method_verdicts(rec.assign(coverage=0.985)).set_index("inference")
    assert "coverage 98.5% outside 90%–98%" in edge.loc["CR1", "reason"]


def test_refused_rows_keep_the_estimate_and_say_why() -> None:
    verdicts = pd.DataFrame(
        {"measure": ["charges"], "design": ["twfe"], "inference": ["CR1"], "passed": [False],
         "borderline": [False], "reason": ["coverage 45% outside 90%–98%"], "n_seeds": [40]}
    )  # fmt: skip
    results = pd.DataFrame(
        {"measure": ["charges", "charges"], "design": ["twfe", "twfe"],
         "inference": ["CR1 (clustered by unit)", "CR2 (clustered by unit), Satterthwaite df"],
         "estimand": ["ATT (log points)"] * 2, "term": ["programme"] * 2, "estimate": [0.1, 0.1],
         "std_error": [0.05, 0.05], "ci_lower": [0.0, 0.0], "ci_upper": [0.2, 0.2],
         "p_value": [0.04, 0.05], "p_adjusted": [np.nan] * 2, "status": ["ok"] * 2, "note": ["", ""],
         "scenario": ["default"] * 2}
    )  # fmt: skip
    out = apply_verdicts(results, verdicts, 40)
    assert out.loc[0, "recovery_design"] == "twfe" and out.loc[0, "recovery_inference"] == "CR1"
    assert out.loc[1, "recovery_design"] == ""
    honest = pd.DataFrame(
        {"measure": "charges", "design": "honest_did", "inference": "HonestDiD relative magnitudes",
         "estimand": "ATT", "term": ["original", "Mbar = 1"], "estimate": 0.1, "std_error": np.nan,
         "ci_lower": 0.0, "ci_upper": 0.2, "p_value": np.nan, "p_adjusted": np.nan, "status": "ok",
         "note": "", "scenario": "sensitivity"}
    )  # fmt: skip
    refuse = verdicts.assign(design="honest_did", inference="Mbar = 1")
    hout = apply_verdicts(honest, refuse, 40)
    assert hout["status"].tolist() == ["ok", "refused"]  # only the bound the study judged
    its = honest.assign(
        design="its_segmented", inference="GLS", term=["programme", "check"],
        estimand=["effect 12 months after phase 1 (log points)", "placebo slope change at 2019-09"],
        p_value=[0.01, 0.003],
    )  # fmt: skip
    iout = apply_verdicts(
        its, verdicts.assign(design="its_segmented_12m", inference="GLS AR(1)"), 40
    )
    # the effect is refused; its diagnostics keep their p-values (they are evidence, not estimates)
    assert iout["status"].tolist() == ["refused", "ok"] and iout.loc[1, "p_value"] == 0.003
    assert out.loc[0, "status"] == "refused" and out.loc[0, "estimate"] == 0.1
    assert np.isnan(out.loc[0, "ci_lower"]) and "coverage 45%" in out.loc[0, "note"]
    assert out.loc[1, "status"] == "ok" and "not validated" in out.loc[1, "note"]
    assert inference_key("twfe", "wild cluster bootstrap (WCR, webb, 9999 draws) by unit") == (
        "twfe",
        "WCR",
    )
    assert inference_key("its_segmented", "GLS", "effect 24 months after phase 1 (days)") == (
        "its_segmented_24m",
        "GLS AR(1)",
    )
    assert inference_key(
        "callaway_santanna phase 2", "analytic (influence function); t(2): 3 treated units"
    ) == ("callaway_santanna phase 2", "analytic, t(treated - 1)")
    assert inference_key("callaway_santanna phase 2", "analytic (influence function)") == (
        "callaway_santanna phase 2",
        "analytic",
    )


def test_rows_of_each_sample_are_judged_by_that_sample_and_one_headline_per_domain() -> None:
    from soteria_eval.validation.verdicts import choose_headlines, recovery_key

    studied = {"twfe", "twfe (exposed_dropped)", "callaway_santanna (exposed_dropped)"}
    wcr = "wild cluster bootstrap (WCR, webb, 9999 draws) by unit"
    assert recovery_key("twfe", wcr, "ATT", "exposed_dropped", studied) == ("twfe (exposed_dropped)", "WCR")  # fmt: skip
    assert recovery_key("twfe", wcr, "ATT", "default", studied) == ("twfe", "WCR")
    # A sample the study did not run is not judged by another sample's verdict.
    assert recovery_key("twfe", wcr, "ATT", "unconfirmed_phase2", studied) is None
    assert recovery_key("twfe phase 1", "CR2 (clustered by unit)", "ATT phase 1", "default", {"twfe phase 1"}) == ("twfe phase 1", "CR2")  # fmt: skip

    def rec(design: str, inference: str, rel_bias: float, coverage: float) -> dict[str, object]:
        return {"measure": "police_charge_rate", "design": design, "inference": inference,
                "n_seeds": 200, "truth": 1.0, "bias": rel_bias, "rel_bias": rel_bias, "rmse": 0.1,
                "coverage": coverage, "size": 0.05}  # fmt: skip

    recovery = pd.DataFrame([
        rec("twfe (exposed_dropped)", "WCR", 0.20, 0.93),  # passes the rule, not the headline bar
        rec("callaway_santanna (exposed_dropped)", "analytic", -0.05, 0.95),
        rec("twfe", "WCR", 0.02, 0.95),  # the default sample comes second
    ])  # fmt: skip
    verdicts = method_verdicts(recovery)
    results = pd.DataFrame(
        {"measure": "police_charge_rate", "term": "programme", "status": "ok",
         "scenario": ["exposed_dropped", "exposed_dropped", "default"],
         "recovery_design": ["twfe (exposed_dropped)", "callaway_santanna (exposed_dropped)", "twfe"],
         "recovery_inference": ["WCR", "analytic", "WCR"], "headline": False}
    )  # fmt: skip
    out = choose_headlines(results, recovery, verdicts)
    assert out["headline"].tolist() == [False, True, False]
    # Only when no pair qualifies on the headline sample does the default sample give it.
    none_here = recovery.assign(
        coverage=np.where(recovery["design"].str.contains("exposed"), 0.995, 0.95)
    )
    out = choose_headlines(results, none_here, method_verdicts(none_here))
    assert out["headline"].tolist() == [False, False, True]
    # No pair within 15%: no headline (the summary says so), never a silent pick.
    worse = recovery.assign(rel_bias=0.2)  # every pair beyond 15%
    assert not choose_headlines(results, worse, method_verdicts(worse))["headline"].any()
    # Real force data: a pair whose fake-rollout size is off cannot be the headline.
    from soteria_eval.validation.verdicts import placebo_verdicts

    def pl(design: str, inference: str, size: float, kind: str = "proportion") -> dict[str, object]:
        return {"outcome": "r", "design": design, "inference": inference, "n_draws": 1000,
                "size": size, "mc_se": 0.007, "rollout": "phased", "kind": kind}  # fmt: skip

    placebo = pd.DataFrame([
        pl("callaway_santanna (exposed_dropped)", "analytic", 0.12),  # oversized on real data
        pl("twfe", "WCR", 0.05),
        pl("callaway_santanna (exposed_dropped)", "analytic", 0.05, kind="count"),
    ])  # fmt: skip
    pv = placebo_verdicts(placebo)
    out = choose_headlines(results, recovery, verdicts, pv)
    assert out["headline"].tolist() == [False, False, True]  # CS refused on real data: TWFE WCR
    # A pair the placebo study did not run does not qualify either.
    out = choose_headlines(results, recovery, verdicts, pv[pv["design"] != "twfe"])
    assert not out["headline"].any()


def test_doubted_trends_require_the_stress_world_and_the_path_says_why() -> None:
    """A domain whose data doubt parallel trends leads only with a pair that passes the stress world."""
    from soteria_eval.validation.verdicts import (
        choose_headlines,
        headline_candidates,
        trend_flags,
    )

    def rec(design: str, inference: str, rel_bias: float, coverage: float) -> dict[str, object]:
        return {"measure": "police_charge_rate", "design": design, "inference": inference,
                "n_seeds": 200, "truth": 1.0, "bias": rel_bias, "rel_bias": rel_bias, "rmse": 0.1,
                "coverage": coverage, "size": 0.05}  # fmt: skip

    calm = pd.DataFrame([
        rec("twfe (exposed_dropped)", "WCR", 0.02, 0.95),
        rec("imputation_trends (exposed_dropped)", "analytic, t(treated - 1)", 0.05, 0.95),
    ])  # fmt: skip
    stress = pd.DataFrame([
        rec("twfe (exposed_dropped)", "WCR", 0.45, 0.70),  # a drift biases TWFE
        rec("imputation_trends (exposed_dropped)", "analytic, t(treated - 1)", 0.08, 0.96),
    ])  # fmt: skip
    results = pd.DataFrame(
        {"analysis": "quality", "measure": "police_charge_rate", "design": ["twfe", "imputation_trends"],
         "term": "programme", "status": "ok", "scenario": "exposed_dropped",
         "recovery_design": ["twfe (exposed_dropped)", "imputation_trends (exposed_dropped)"],
         "recovery_inference": ["WCR", "analytic, t(treated - 1)"], "headline": False,
         "p_value": 0.01, "breakdown_rm": [2.5, np.nan], "data_label": "synthetic"}
    )  # fmt: skip
    v, sv = method_verdicts(calm), stress
    # No doubt in the data: the first pair of the order leads, whatever the stress world says.
    assert trend_flags(results) == {}
    out = choose_headlines(results, calm, v, stress=sv, flags={})
    assert out["headline"].tolist() == [True, False]
    # A fragile breakdown value raises the doubt: the trend-robust pair leads, and the path
    # says why the first pair was passed over.
    fragile = results.assign(breakdown_rm=[0.4, np.nan])
    flags = trend_flags(fragile)
    assert "breakdown value is 0.4" in flags["quality"]
    out = choose_headlines(fragile, calm, v, stress=sv, flags=flags)
    assert out["headline"].tolist() == [False, True]
    path = headline_candidates(fragile, calm, v, stress=sv, flags=flags)
    q = path[path["domain"] == "quality"]
    assert (
        q["verdict"].iloc[0].startswith("fails when the pathfinders drift on a trend of their own")
    )
    assert q["verdict"].iloc[-1] == "headline" and q["headline"].sum() == 1
    assert (q["trend_check"] == flags["quality"]).all()
    # A pre-trend test that rejects raises it too; breakdown 0 is said as such.
    tested = pd.concat([
        results,
        results.iloc[:1].assign(design="event_study_cs", term="pre-trend (randomization)",
                                scenario="default", p_value=0.004),
    ], ignore_index=True)  # fmt: skip
    assert "pre-trend test of every lead rejects (p = 0.004)" in trend_flags(tested)["quality"]
    assert "breakdown value 0" in trend_flags(results.assign(breakdown_rm=0.0))["quality"]
    # Doubt and no pair passing the stress world: no headline, never a silent pick.
    out = choose_headlines(fragile, calm, v, stress=stress.assign(coverage=0.6), flags=flags)
    assert not out["headline"].any()


def test_placebo_verdicts_need_every_outcome_and_rollout_in_the_band() -> None:
    from soteria_eval.validation.verdicts import PLACEBO_BAND, placebo_kind, placebo_verdicts

    assert PLACEBO_BAND == (0.025, 0.075)
    rows = [
        ("log t1", "count", "pathfinders", "twfe", "CR2", 0.06),
        ("log t1", "count", "phased", "twfe", "CR2", 0.05),
        ("rate", "proportion", "pathfinders", "twfe", "CR2", 0.05),
        ("rate", "proportion", "phased", "twfe", "CR2", 0.091),  # one cell off: fails for rates
        ("log t1", "count", "pathfinders", "cs", "t", 0.02),  # too conservative
        ("rate", "proportion", "pathfinders", "cs", "t", 0.03),
    ]
    placebo = pd.DataFrame(
        [{"outcome": o, "kind": k, "rollout": r, "design": d, "inference": i, "size": s,
          "n_draws": 1000, "mc_se": 0.007} for o, k, r, d, i, s in rows]
    )  # fmt: skip
    v = placebo_verdicts(placebo).set_index(["kind", "design", "inference"])
    assert bool(v.loc[("count", "twfe", "CR2"), "passed"])
    assert not bool(v.loc[("proportion", "twfe", "CR2"), "passed"])
    assert v.loc[("proportion", "twfe", "CR2"), "worst"] == pytest.approx(0.091)
    assert "9.1% of 1,000 fake rollouts" in v.loc[("proportion", "twfe", "CR2"), "reason"]
    assert "(rate; phased fake rollout)" in v.loc[("proportion", "twfe", "CR2"), "reason"]
    assert not bool(v.loc[("count", "cs", "t"), "passed"])  # below 2.5% also fails
    assert bool(v.loc[("proportion", "cs", "t"), "passed"])
    assert not bool(v.loc[("any", "twfe", "CR2"), "passed"])
    assert [placebo_kind(t) for t in ("count", "proportion", "duration", "score")] == [
        "count", "proportion", "proportion", "proportion",
    ]  # fmt: skip


def test_national_its_is_not_credible_when_a_check_fails() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "national_its", REPO / "analyses" / "national_its.py"
    )
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]

    class Res:
        def __init__(self, phi: float) -> None:
            self.info = {"phi": phi}

    checks = pd.DataFrame(
        {"estimand": ["residual autocorrelation (Ljung-Box, 12 lags)", "placebo slope change at 2019-09",
                      "phase 1 level change, COVID-19 months excluded"],
         "p_value": [0.40, 0.20, 0.001]}
    )  # fmt: skip
    assert mod._credibility(checks, Res(0.5)) == ""  # the COVID check is a sensitivity, not a test
    bad = checks.assign(p_value=[0.40, 0.0004, 0.001])
    assert "placebo slope change at 2019-09 rejects" in mod._credibility(bad, Res(0.5))
    assert "near a unit root" in mod._credibility(checks, Res(0.95))


def test_recovery_cli_writes_the_table(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    res = CliRunner().invoke(
        main, ["recovery", "--seeds", "1", "--out", str(out), "--scale", "0.05", "--draws", "19", "--quiet", "--no-size"]
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "recovery.csv")
    assert tuple(table.columns) == RECOVERY_COLUMNS
    assert table["size"].isna().all()
    assert (table["world"] == "ideal").all()
    assert (out / "recovery_seeds.csv").is_file() and (out / "recovery_mc.csv").is_file()
    # the calibrated world: same seed, force dynamics added, the column says so
    cal = tmp_path / "cal"
    res = CliRunner().invoke(
        main, ["recovery", "--seeds", "1", "--out", str(cal), "--scale", "0.05", "--draws", "19",
               "--quiet", "--no-size", "--world", "calibrated"]
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    other = pd.read_csv(cal / "recovery.csv")
    assert (other["world"] == "calibrated").all()
    both = table.merge(other, on=["measure", "design", "inference"])
    assert len(both) > 100 and not np.allclose(both["bias_x"], both["bias_y"], equal_nan=True)
    res = CliRunner().invoke(main, ["recovery", "--out", str(tmp_path / "x"), "--world", "nice"])
    assert res.exit_code == 2


def test_recovery_on_a_local_dask_cluster() -> None:
    distributed = pytest.importorskip("distributed")
    from soteria_eval.validation import recovery_study
    from soteria_eval.validation.recovery import with_designs

    settings = with_designs(
        RecoverySettings(scale=0.03, size=False, designs=DesignSettings(n_boot=19)), ["twfe"]
    )
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
    ):
        res = recovery_study(
            2, settings=settings, scheduler=cluster.scheduler_address, progress=False
        )
    local = recovery_study(2, settings=settings, progress=False)
    pd.testing.assert_frame_equal(res.summary(), local.summary())


def test_cached_study_keeps_the_no_effect_worlds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: 'null' was read back as missing, so every size was lost from the cache."""
    from soteria_eval.validation.recovery import with_designs
    from soteria_eval.validation.studies import cached_recovery

    monkeypatch.setenv("SOTERIA_CACHE", str(tmp_path))
    settings = with_designs(
        RecoverySettings(scale=0.03, designs=DesignSettings(n_boot=19)), ["twfe"]
    )
    fresh = cached_recovery(2, settings=settings)
    again = cached_recovery(2, settings=settings)
    assert set(fresh.seeds["world"]) == {"effect", "no_effect"}
    assert fresh.summary()["size"].notna().all()
    pd.testing.assert_frame_equal(fresh.summary(), again.summary())


def test_borderline_uses_the_standard_error_at_the_threshold() -> None:
    rec = pd.DataFrame(
        {"measure": ["a", "a"], "design": ["twfe", "twfe"], "inference": ["CR1", "CR2"], "n_seeds": 40,
         "truth": 1.0, "bias": 0.0, "rel_bias": 0.0, "rmse": 0.1, "coverage": [1.0, 0.70], "size": 0.05}
    )  # fmt: skip
    v = method_verdicts(rec).set_index("inference")
    assert (
        not v.loc["CR1", "passed"] and v.loc["CR1", "borderline"]
    )  # 40/40 vs 98%: within MC error
    assert not v.loc["CR2", "passed"] and not v.loc["CR2", "borderline"]  # 70%: clearly below


def test_same_seeds_give_byte_identical_tables_whatever_the_jobs() -> None:
    from soteria_eval.validation import recovery_study
    from soteria_eval.validation.recovery import with_designs

    settings = with_designs(
        RecoverySettings(scale=0.03, designs=DesignSettings(n_boot=19)),
        ["twfe", "callaway_santanna"],
    )
    one = recovery_study(2, settings=settings, n_jobs=1, progress=False).summary()
    two = recovery_study(2, settings=settings, n_jobs=2, progress=False).summary()
    opts = {"index": False, "float_format": "%.17g", "lineterminator": "\n"}
    assert one.to_csv(**opts) == two.to_csv(**opts)


def test_measure_frames_from_one_index_equal_the_merge() -> None:
    from soteria_eval.dictionary import load_catalogue
    from soteria_eval.validation.designs import _Frames, measure_frame

    rollout = load_rollout()
    tp = treatment_panel(rollout, level="force", freq="quarter", start="2018-Q1", end="2023-Q2")
    rng = np.random.default_rng(3)
    cells = tp[["unit", "period"]].sample(frac=0.9, random_state=1)  # gaps, shuffled
    panel = pd.concat(
        [
            cells.assign(measure=m, value=rng.poisson(20, len(cells)).astype(float))
            for m in ("charges", "recorded_rapes")
        ],
        ignore_index=True,
    )
    cat = load_catalogue()
    block = TwfeBlock.from_treatment(tp)
    frames = _Frames(panel, tp, block.units)
    for m in ("charges", "recorded_rapes", "conviction_rate"):
        a = measure_frame(panel, tp, m, cat[m].type).reset_index(drop=True)
        b = frames.frame(m, cat[m].type).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)
        wide = a.pivot(index="unit", columns="period", values="y")
        wide = wide.reindex(index=list(block.units), columns=list(block.periods)).to_numpy()
        np.testing.assert_array_equal(wide, frames.wide(b["y"]))
        # the staggered designs' frame: cohorts numbered, units with a gap left out
        expect, _ = cohort_frame(b, "y")
        pd.testing.assert_frame_equal(frames.cs_frame(b), expect)


def test_twfe_on_a_panel_with_gaps_equals_the_estimators() -> None:
    """The dense FWL path gives twfe()'s estimates, CR1, CR2 (and df) and WCR p-values."""
    from soteria_eval.inference._fwl_stats import masked_twfe
    from soteria_eval.inference.randomization import randomization_test
    from soteria_eval.inference.wild import draw_weights
    from soteria_eval.validation.designs import _twfe_masked_rows

    tp = treatment_panel(
        load_rollout(), level="force", freq="quarter", start="2018-Q1", end="2023-Q2"
    )
    block = TwfeBlock.from_treatment(tp)
    dmat = block.treatment
    n, t = dmat.shape
    rng = np.random.default_rng(11)
    y = rng.normal(size=(n, t)) + 0.5 * dmat + rng.normal(size=(n, 1))
    y[rng.random((n, t)) < 0.05] = np.nan  # scattered gaps
    y[3] = np.nan  # a force with no observation at all
    late = dmat * (np.arange(t)[None, :] >= 15)
    d = pd.DataFrame(
        {"unit": np.repeat(block.units, t), "period": np.tile(block.periods, n),
         "y": y.ravel(), "D": dmat.ravel(), "L": late.ravel()}
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        two = twfe(d, outcome="y", treatment="D", covariates=["L"], unit="unit", time="period")
        two2 = two.with_vcov("CR2")
        one = twfe(d, outcome="y", treatment="D", unit="unit", time="period")
    fit = masked_twfe(y, np.stack([dmat, late]))
    np.testing.assert_allclose(fit.beta, two.params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(fit.se_cr1, two.tidy()["std_error"].to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(fit.se_cr2, two2.tidy()["std_error"].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(fit.df_cr2, two2.df.to_numpy(), rtol=1e-9)
    assert fit.n_clusters == n - 1 and fit.df_cr1 == n - 2
    # WCR: the same test as the estimator's, up to the Monte Carlo error of 20,000 draws
    f1 = masked_twfe(y, dmat[None])
    v, _ = draw_weights("webb", 20_000, f1.n_clusters, np.random.default_rng(0))
    for b0 in (0.3, 0.0):
        lib = wild_cluster_bootstrap(
            one, "D", n_boot=20_000, weights="webb", seed=5, null=b0, conf_int=False
        ).info["wild"]["D"]["p_value"]
        assert f1.wild_pvalue(b0, v) == pytest.approx(lib, abs=0.012)
    # RI over the forces observed in every quarter, as randomization_test runs it
    rows = pd.DataFrame(
        _twfe_masked_rows(y, dmat, "m", 0.5, DesignSettings(n_boot=2000), 3, {})
    ).set_index("inference")
    assert rows.loc["CR1", "estimate"] == pytest.approx(one.params["D"], rel=1e-10)
    full = d[d["y"].notna().groupby(d["unit"]).transform("all")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ri = randomization_test(
            full, outcome="y", treatment="D", unit="unit", time="period", n_draws=2000, seed=1
        )
    from soteria_eval.inference._panel_stats import ri_path_pvalues
    from soteria_eval.inference.coverage import _ri_assignments
    from soteria_eval.validation.designs import _ri_design

    keep = np.isfinite(y).all(axis=1)
    assign = _ri_assignments(_ri_design(dmat[keep]), 2000, np.random.default_rng(2))[1]
    p = ri_path_pvalues(y[keep][None], dmat[keep], assign)[0]
    assert p == pytest.approx(ri.p_value, abs=0.03)
    assert bool(rows.loc["RI", "reject"]) == (p <= 0.05)


def test_cache_is_per_seed_so_longer_studies_reuse_shorter_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from soteria_eval.validation import recovery as rec
    from soteria_eval.validation import studies

    monkeypatch.setenv("SOTERIA_CACHE", str(tmp_path))
    settings = rec.with_designs(
        RecoverySettings(scale=0.03, size=False, designs=DesignSettings(n_boot=19)), ["twfe"]
    )
    two = studies.cached_recovery(2, seed0=4, settings=settings)
    assert two.source == "computed"
    ran: list[int] = []
    real = rec.recovery_study

    def counting(n: int, **kw: object) -> rec.RecoveryResults:
        ran.extend(range(int(kw["seed0"]), int(kw["seed0"]) + n))  # type: ignore[call-overload]
        return real(n, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(studies, "recovery_study", counting)
    three = studies.cached_recovery(3, seed0=3, settings=settings)
    assert ran == [3]  # seeds 4 and 5 came from the cache
    assert studies.cached_recovery(2, seed0=4, settings=settings).source == "cached"
    pd.testing.assert_frame_equal(
        three.seeds[three.seeds["seed"] >= 4].reset_index(drop=True), two.seeds
    )
    fresh = real(3, seed0=3, settings=settings, progress=False)
    pd.testing.assert_frame_equal(three.summary(), fresh.summary())


def test_pretrend_tests_are_summarised_by_their_rejections_and_keyed_from_results() -> None:
    """Tests with no estimand get a size (both worlds), and results rows find their verdict."""
    from soteria_eval.validation.recovery import summarise
    from soteria_eval.validation.verdicts import inference_key

    rows = pd.DataFrame(
        {
            "measure": "charges", "design": "pretrend", "inference": "RI",
            "estimand": "no pre-trend", "estimate": 3.0, "ci_lower": np.nan,
            "ci_upper": np.nan, "truth": np.nan, "covered": np.nan,
            "reject": [True, False, False, False], "world": ["effect", "effect", "no_effect", "no_effect"],
            "seed": [1, 2, 1, 2],
        }
    )  # fmt: skip
    s = summarise(rows, world="calibrated")
    assert len(s) == 1 and s["size"].iloc[0] == 0.25 and s["n_seeds"].iloc[0] == 2
    assert np.isnan(s["coverage"].iloc[0]) and s["world"].iloc[0] == "calibrated"
    label = "randomization over cohorts (2,000 assignments), slope of 7 leads, CR1 by unit"
    assert inference_key("event_study_cs", label) == ("pretrend (linear)", "RI")
    assert inference_key("event_study_cs", label.replace("slope of", "Wald of")) == (
        "pretrend",
        "RI",
    )
    chi2 = "analytic (influence function), chi-squared"
    assert inference_key("event_study_cs", chi2) == ("pretrend", "chi2")
    assert inference_key("event_study_cs", "multiplier bootstrap") == (
        "callaway_santanna",
        "bootstrap",
    )
