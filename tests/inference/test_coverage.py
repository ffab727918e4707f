"""Coverage study: its vectorised statistics equal the package's estimators; quick and full runs."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from soteria_eval.did import twfe
from soteria_eval.evaluation import refuse_invalid
from soteria_eval.inference import permutation_test
from soteria_eval.inference._panel_stats import demean2, ri_block_pvalues, wild_pvalues
from soteria_eval.inference.coverage import (
    CoverageDesign,
    _cr2_parts,
    _pvalues,
    _simulate,
    actual_design,
    coverage_study,
    coverage_verdicts,
    method_validity,
    reference_coverage,
    soteria_designs,
)
from soteria_eval.inference.wild import draw_weights, wild_cluster_bootstrap
from soteria_eval.linear_model import FewClustersWarning


def clustered_design() -> CoverageDesign:
    # 14 units in 6 clusters of unequal size; clusters 0 and 1 treated from period 6.
    clusters = np.array([0, 0, 0, 1, 2, 2, 3, 3, 3, 3, 4, 5, 5, 5], dtype=np.int64)
    start = np.where(np.isin(clusters, [0, 1]), 6, -1).astype(np.int64)
    sd = np.linspace(0.5, 2.0, 14)
    return CoverageDesign("t", "test", start, clusters, sd, n_periods=10, phi=0.3)


def frame(y: np.ndarray, des: CoverageDesign) -> pd.DataFrame:
    n, t = y.shape
    return pd.DataFrame(
        {
            "u": np.repeat(np.arange(n), t),
            "t": np.tile(np.arange(t), n),
            "c": np.repeat(des.clusters, t),
            "treated_cluster": np.repeat(des.start >= 0, t).astype(int),
            "D": des.treatment.ravel(),
            "y": y.ravel(),
        }
    )


def test_clustered_statistics_equal_the_estimators() -> None:
    des = clustered_design()
    y = _simulate(des, 0.5, 2, np.random.default_rng(4))
    parts = {"d": demean2(des.treatment), "cr2": _cr2_parts(des)}
    p_cr2 = _pvalues(y, des, "CR2", parts, np.random.default_rng(0), 0)
    v, _ = draw_weights("webb", 999, 6, np.random.default_rng(2))
    p_wcr = wild_pvalues(y, parts["d"], des.clusters, 6, v, impose_null=True)
    # Every assignment of 2 treated clusters out of 6 (15), observed first.
    observed = np.isin(np.arange(6), [0, 1])
    rows = [observed]
    for combo in itertools.combinations(range(6), 2):
        rows.append(np.isin(np.arange(6), combo))
    p_ri = ri_block_pvalues(y, (np.arange(10) >= 6).astype(float), des.clusters, np.array(rows))
    for s in range(2):
        d = frame(y[s], des)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FewClustersWarning)
            fit = twfe(d, outcome="y", treatment="D", unit="u", time="t", cluster="c")
            cr2 = fit.with_vcov("CR2").tidy().set_index("term").loc["D"]
            wild = wild_cluster_bootstrap(fit, "D", n_boot=999, seed=2, conf_int=False)

            def stat(x: pd.DataFrame) -> tuple[float, float]:
                x = x.assign(D=((x["treated_cluster"] == 1) & (x["t"] >= 6)).astype(float))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FewClustersWarning)
                    r = twfe(x, outcome="y", treatment="D", unit="u", time="t", cluster="c")
                return float(r.params["D"]), float(r.params["D"] / r.std_errors["D"])

            ri = permutation_test(d, unit="c", assignment="treated_cluster", statistic=stat)
        assert p_cr2[s] == pytest.approx(cr2["p_value"], rel=1e-9)
        assert p_wcr[s] == pytest.approx(wild.info["wild"]["D"]["p_value"], abs=1e-12)
        assert ri.exact and ri.n_assignments == 15
        assert p_ri[s] * 16 - 1 == pytest.approx(ri.p_value * 15, abs=1e-9)


def test_quick_study_shows_the_single_treated_failure() -> None:
    designs = [d for d in soteria_designs(0) if d.name in ("areas_5_of_14", "one_force_of_43")]
    t = coverage_study(designs, methods=("CR1", "WCR", "RI"), n_reps=100, n_boot=99, seed=3)
    t = t.set_index(["design", "method"])
    assert list(t.columns[:3]) == ["label", "n_clusters", "treated_clusters"]
    # One treated force: CR1 intervals miss the truth most of the time; WCR never rejects.
    assert t.loc[("one_force_of_43", "CR1"), "coverage"] < 0.6
    assert t.loc[("one_force_of_43", "WCR"), "power"] == 0.0
    # Five of fourteen Areas: randomization inference keeps its size (100 replications).
    assert t.loc[("areas_5_of_14", "RI"), "coverage"] >= 0.85
    again = coverage_study(designs, methods=("CR1", "WCR", "RI"), n_reps=100, n_boot=99, seed=3)
    pd.testing.assert_frame_equal(t.reset_index()[again.columns], again)


def test_validity_comes_from_the_coverage_evidence_and_the_pipeline_gate() -> None:
    ref = reference_coverage()
    # The shipped evidence: one treated force breaks CR1 and the wild bootstrap.
    ok, why = method_validity("WCR", n_clusters=43, treated_clusters=1)
    assert not ok and "1 force of 43 treated" in why and "coverage 100%" in why
    assert not method_validity("CR1", n_clusters=43, treated_clusters=1)[0]
    # Randomization inference with one force over-covers (99.8%): outside 90-98%, refused.
    assert not method_validity("RI", n_clusters=43, treated_clusters=1)[0]
    assert "possible assignments" in method_validity("RI", n_clusters=6, treated_clusters=1)[1]
    assert method_validity("WCR", n_clusters=14, treated_clusters=5)[0]
    # The evaluation's own design is the nearest for 43 forces with 12 treated.
    assert method_validity("CS", n_clusters=43, treated_clusters=12)[0]
    # The verdict follows the table given, not a fixed rule: a failing row refuses.
    bad = ref.assign(coverage=np.where(ref["design"] == "areas_5_of_14", 0.5, ref["coverage"]))
    ok, why = method_validity("WCR", n_clusters=14, treated_clusters=5, coverage=bad, design="areas_5_of_14")  # fmt: skip
    assert not ok and "coverage 50%" in why
    assert method_validity("HC1", n_clusters=43, treated_clusters=5) == (
        True,
        "HC1 is not covered by the coverage study",
    )
    rows = pd.DataFrame(
        {
            "term": ["programme"],
            "estimate": [1.0],
            "std_error": [0.5],
            "ci_lower": [0.0],
            "ci_upper": [2.0],
            "p_value": [0.04],
            "p_adjusted": [0.04],
            "inference": ["wild cluster bootstrap (WCR, webb, 9999 draws) by unit"],
            "status": ["ok"],
            "note": [""],
        }
    )
    out = refuse_invalid(rows, n_clusters=43, treated_clusters=1)
    assert out["status"].iloc[0] == "refused" and np.isnan(out["p_value"].iloc[0])
    assert out["estimate"].iloc[0] == 1.0 and "1 force of 43 treated" in out["note"].iloc[0]
    assert refuse_invalid(rows, n_clusters=43, treated_clusters=5).equals(rows)
    with pytest.raises(ValueError, match="method must be one of"):
        coverage_study(methods=("CR3",), n_reps=1)  # type: ignore[arg-type]


def test_verdict_rule_and_its_monte_carlo_tolerance() -> None:
    t = pd.DataFrame(
        {
            "design": ["a", "b", "c", "d"],
            "label": ["A", "B", "C", "D"],
            "method": ["CR1"] * 4,
            "n_clusters": [43] * 4,
            "treated_clusters": [5] * 4,
            "coverage": [0.95, 0.895, 0.985, 0.80],
            "n_reps": [1000] * 4,
        }
    )
    v = coverage_verdicts(t).set_index("design")
    assert v["passed"].tolist() == [True, False, False, False]
    # Within 2 binomial SEs at the edge (0.019 at 90%, 0.0089 at 98%, 1000 replications).
    assert v["borderline"].tolist() == [False, True, True, False]
    assert "coverage 80% outside 90%–98%" in v.loc["d", "reason"]


def test_actual_design_ramps_spills_over_and_runs_the_slow_methods() -> None:
    des = actual_design(0)
    assert (des.n_units, des.n_periods, des.n_clusters) == (43, 22, 43)
    shape = des.shape
    assert (np.diff(shape, axis=1) >= -1e-12).all()  # intensity never drops
    exposed = (shape.sum(axis=1) > 0) & (des.start < 0)
    assert exposed.any() and shape[exposed].max() <= 0.31  # spillover only
    assert 0 < des.att(1.0) < 1  # a ramp: the ATT is below the full effect
    t = coverage_study([des], methods=("CR1", "CS", "PPML"), n_reps=40, n_reps_slow=4, n_boot=49)
    assert t.set_index("method")["n_reps"].to_dict() == {"CR1": 40, "CS": 4, "PPML": 4}
    assert t["coverage"].between(0, 1).all()


@pytest.mark.validate
def test_shipped_reference_is_a_fresh_run() -> None:
    fresh = coverage_study()
    ref = reference_coverage()
    pd.testing.assert_frame_equal(fresh.reset_index(drop=True), ref, check_exact=False, rtol=1e-9)


@pytest.mark.validate
def test_full_coverage_study_meets_the_targets() -> None:
    t = coverage_study(n_reps=1000, n_boot=399, seed=0)
    print(t.drop(columns=["label", "alpha"]).round(3).to_string())
    valid = t[t["treated_clusters"] >= 2]
    for method in ("WCR", "RI"):
        cov = valid.loc[valid["method"] == method, "coverage"]
        assert ((cov >= 0.93) & (cov <= 0.97)).all(), (method, cov.tolist())
    single = t[t["treated_clusters"] == 1].set_index("method")
    assert single.loc["CR1", "coverage"] < 0.6 and single.loc["WCR", "power"] == 0.0
    # Randomization inference and synthetic control keep their size with one treated unit.
    assert single.loc["RI", "size"] <= 0.06 and single.loc["SC", "size"] <= 0.06


def test_the_study_is_cached_and_a_cached_table_is_the_same_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run once, then read back with the same values and types (same CSV bytes)."""
    from soteria_eval.inference import coverage as cov
    from soteria_eval.validation import studies

    monkeypatch.setenv("SOTERIA_CACHE", str(tmp_path))
    first = studies.cached_coverage_study(n_reps=12, n_reps_slow=4, n_boot=19, seed=3)
    assert first.attrs["source"] == "computed"
    assert len(list(tmp_path.glob("coverage-*.parquet"))) == 1

    def not_again(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached study ran again")

    monkeypatch.setattr(cov, "coverage_study", not_again)
    again = studies.cached_coverage_study(n_reps=12, n_reps_slow=4, n_boot=19, seed=3)
    assert again.attrs["source"] == "cached"
    pd.testing.assert_frame_equal(first, again)
    opts = {"index": False, "lineterminator": "\n"}
    assert first.to_csv(**opts) == again.to_csv(**opts)
    with pytest.raises(AssertionError, match="ran again"):  # other settings: another entry
        studies.cached_coverage_study(n_reps=13, n_reps_slow=4, n_boot=19, seed=3)
