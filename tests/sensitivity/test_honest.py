"""HonestDiD bounds against the PyPI port ``honestdid`` 0.1.1 and the published README example.

Inputs: the Medicaid-expansion (``ehec``) TWFE event study of the HonestDiD README,
estimated with pyfixest (``tests/reference/make_honest_fixtures.py``).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from soteria_eval.did import event_study
from soteria_eval.sensitivity import event_study_inputs, honest_sensitivity
from soteria_eval.sensitivity import honest as honest_module
from soteria_eval.sensitivity.honest import breakdown_value, flci
from tests.conftest import REPO

REF = REPO / "tests" / "reference"
R = json.loads((REF / "honest_ehec.json").read_text())
B, S = np.array(R["betahat"]), np.array(R["sigma"])
CASES = [c for c in R["cases"] if "error" not in c]


def run(case: dict, **kw: object) -> pd.Series:  # type: ignore[type-arg]
    lo, hi, n = R["grid"][case["restriction"]]
    res = honest_sensitivity(
        B, S, num_pre=5, num_post=2, restriction=case["restriction"], m_values=[case["m"]],
        l_vec=case["l_vec"], method="c-lf" if case["method"] == "LF" else "conditional",
        grid_points=n, grid_lb=lo, grid_ub=hi, **kw,  # type: ignore[arg-type]
    )  # fmt: skip
    return res.tidy().iloc[1]


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c["method"] == "ARP"],
    ids=lambda c: f"{c['restriction']}-{c['m']}-{c['l_vec']}",
)
def test_conditional_test_matches_honestdid_at_every_grid_point(case: dict) -> None:  # type: ignore[type-arg]
    lo, hi, n = R["grid"][case["restriction"]]
    row = run(case)
    grid = np.linspace(lo, hi, n)
    accepted = grid[np.array(case["accept"]) == 1]
    assert row["lb"] == pytest.approx(accepted.min(), abs=1e-12)
    assert row["ub"] == pytest.approx(accepted.max(), abs=1e-12)


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c["method"] == "LF"],
    ids=lambda c: f"{c['restriction']}-{c['m']}-{c['l_vec']}",
)
def test_hybrid_matches_honestdid_within_one_grid_step(case: dict) -> None:  # type: ignore[type-arg]
    # The least-favourable critical value is simulated (1,000 draws, different generator).
    step = (R["grid"][case["restriction"]][1] - R["grid"][case["restriction"]][0]) / 220
    row = run(case)
    assert row["lb"] == pytest.approx(case["lb"], abs=step + 1e-12)
    assert row["ub"] == pytest.approx(case["ub"], abs=step + 1e-12)


def test_reproduces_the_published_readme_relative_magnitudes() -> None:
    pub = R["published_readme"]["relative_magnitude_c_lf"]
    res = honest_sensitivity(B, S, num_pre=5, num_post=2, m_values=pub["mbar"])
    t = res.tidy().iloc[1:]
    # Published to three significant figures, on HonestDiD's default 1,000-point grid.
    np.testing.assert_allclose(t["lb"], pub["lb"], atol=6e-4)
    np.testing.assert_allclose(t["ub"], pub["ub"], atol=6e-4)
    assert res.breakdown() == 2.0
    orig = res.tidy().iloc[0]
    assert orig["restriction"] == "original" and orig["lb"] < B[5] < orig["ub"]


def test_linear_programme_path_equals_vertex_path(monkeypatch: pytest.MonkeyPatch) -> None:
    case = next(c for c in CASES if c["restriction"] == "smoothness" and c["m"] == 0.01)
    fast = run(case)
    monkeypatch.setattr(honest_module, "MAX_ENUMERATED", 0)
    slow = run(case)
    assert (fast["lb"], fast["ub"]) == (slow["lb"], slow["ub"])


def test_event_study_inputs_reproduce_the_fixture_inputs() -> None:
    d = pd.read_csv(REF / "data" / "ehec.csv")
    sub = d[(d["year"] < 2016) & (d["yexp2"].isna() | (d["yexp2"] != 2015))].copy()
    sub["cohort"] = np.where(sub["yexp2"] == 2014, 2014, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        es = event_study(
            sub, outcome="dins", unit="stfips", time="year", cohort="cohort",
            leads=6, lags=1, bin_endpoints=False,
        )  # fmt: skip
    b, v, npre, npost = event_study_inputs(es)
    assert (npre, npost) == (5, 2)
    np.testing.assert_allclose(b, B, atol=1e-12)
    # Same sandwich; fixest counts one parameter fewer in its small-sample factor.
    ratio = v / S
    np.testing.assert_allclose(ratio, ratio[0, 0], rtol=1e-9)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="num_pre \\+ num_post"):
        honest_sensitivity(B[:6], S, num_pre=5, num_post=2)
    with pytest.raises(ValueError, match="positive semi-definite"):
        honest_sensitivity(B, -S, num_pre=5, num_post=2)
    with pytest.raises(ValueError, match="l_vec"):
        honest_sensitivity(B, S, num_pre=5, num_post=2, l_vec=[0.0, 0.0])
    with pytest.raises(ValueError, match="restriction must be one of"):
        honest_sensitivity(B, S, num_pre=5, num_post=2, restriction="linear")  # type: ignore[arg-type]


@pytest.mark.parametrize("case", R["flci"], ids=lambda c: f"{c['m']}-{c['l_vec']}")
def test_flci_matches_honestdid(case: dict) -> None:  # type: ignore[type-arg]
    res = honest_sensitivity(
        B, S, num_pre=5, num_post=2, restriction="smoothness", m_values=[case["m"]],
        l_vec=case["l_vec"], method="flci",
    )  # fmt: skip
    row = res.tidy().iloc[1]
    # honestdid simulates the folded-normal quantile (10^6 draws) and searches a 100-point
    # grid of standard deviations; the exact optimum here differs by about 2e-5.
    assert row["lb"] == pytest.approx(case["lb"], abs=5e-5)
    assert row["ub"] == pytest.approx(case["ub"], abs=5e-5)


def test_flci_reproduces_the_published_readme_smoothness() -> None:
    pub = R["published_readme"]["smoothness_flci"]
    res = honest_sensitivity(
        B, S, num_pre=5, num_post=2, restriction="smoothness", m_values=pub["m"], method="flci"
    )
    t = res.tidy().iloc[1:]
    np.testing.assert_allclose(t["lb"], pub["lb"], atol=1e-4)
    np.testing.assert_allclose(t["ub"], pub["ub"], atol=6e-4)
    # Exact at M = 0: the minimum-variance trend-removing estimator, ± z * sd.
    lo, hi, v = flci(B, S, num_pre=5, num_post=2, m=0.0)
    assert (hi - lo) / 2 == pytest.approx(stats.norm.ppf(0.975) * np.sqrt(v @ S @ v))
    with pytest.raises(ValueError, match="restriction='smoothness' only"):
        honest_sensitivity(B, S, num_pre=5, num_post=2, method="flci")


def test_mbar_zero_is_the_design_interval_with_its_own_reference() -> None:
    # Relative magnitudes with Mbar = 0 pin every post-period departure to zero: the set is
    # the conventional interval, and with df it is the design's t interval exactly.
    l_vec = [0.5, 0.5]
    theta, se = 0.5 * (B[5] + B[6]), np.sqrt(np.array(l_vec) @ S[5:, 5:] @ np.array(l_vec))
    for df, crit in ((None, stats.norm.ppf(0.975)), (4, stats.t.ppf(0.975, 4))):
        t = honest_sensitivity(B, S, num_pre=5, num_post=2, m_values=[0.0, 0.5], l_vec=l_vec,
                               df=df).tidy()  # fmt: skip
        assert t.loc[1, "m"] == 0.0
        np.testing.assert_allclose(t.loc[1, ["lb", "ub"]].astype(float),
                                   [theta - crit * se, theta + crit * se], rtol=1e-12)  # fmt: skip
        np.testing.assert_allclose(t.loc[0, ["lb", "ub"]].astype(float),
                                   t.loc[1, ["lb", "ub"]].astype(float))  # fmt: skip
        # Fewer degrees of freedom widen the robust sets too.
    wide = honest_sensitivity(B, S, num_pre=5, num_post=2, m_values=[0.5], df=4).tidy()
    narrow = honest_sensitivity(B, S, num_pre=5, num_post=2, m_values=[0.5]).tidy()
    assert wide.loc[1, "lb"] < narrow.loc[1, "lb"] and wide.loc[1, "ub"] > narrow.loc[1, "ub"]
    with pytest.raises(ValueError, match="df must be"):
        honest_sensitivity(B, S, num_pre=5, num_post=2, df=0.5)
    with pytest.raises(ValueError, match="non-negative"):
        honest_sensitivity(B, S, num_pre=5, num_post=2, m_values=[-1.0])


def test_breakdown_value_is_where_the_robust_set_first_reaches_zero() -> None:
    bd = breakdown_value(B, S, num_pre=5, num_post=2, tol=0.001)
    # The published README's grid: the set at Mbar = 1.5 excludes zero, at 2 includes it.
    assert 1.5 < bd < 2.0
    sets = honest_sensitivity(B, S, num_pre=5, num_post=2, m_values=[bd, bd + 0.02]).tidy()
    assert sets.loc[1, "lb"] > 0 >= sets.loc[2, "lb"]
    # Smoothness: the fixed-length interval at the breakdown M excludes zero, just above it does not.
    m = breakdown_value(B, S, num_pre=5, num_post=2, restriction="smoothness", tol=0.001)
    se = np.sqrt(S[5, 5])
    lo_in, _, _ = flci(B, S, num_pre=5, num_post=2, m=m)
    lo_out, _, _ = flci(B, S, num_pre=5, num_post=2, m=m + 0.002 * se)
    assert lo_in > 0 >= lo_out
    # 0 when the design's own interval already includes zero; inf past the search range.
    assert breakdown_value(B, S * 400, num_pre=5, num_post=2) == 0.0
    assert breakdown_value(B, S, num_pre=5, num_post=2, m_max=1.0) == np.inf
    # A t reference with few degrees of freedom breaks down sooner.
    assert breakdown_value(B, S, num_pre=5, num_post=2, df=4) < bd


def test_breakdown_sentence_reads_the_value() -> None:
    from soteria_eval.report import breakdown_sentence

    s = lambda v: breakdown_sentence(pd.Series({"breakdown_rm": v}))  # noqa: E731
    assert s(np.nan) == ""
    assert "(breakdown value 0): there is no clear change" in s(0.0)
    assert "up to 0.42 times the largest pre-programme one" in s(0.4213)
    assert "would overturn it" in s(0.4213) and "would overturn it" not in s(1.5)
    assert "more than 10 times" in s(np.inf)


def test_mbar_zero_equals_the_event_studys_own_interval_on_mpdta() -> None:
    """What the pipeline's breakdown values rest on: the Callaway–Sant'Anna event study
    (universal base), the average of its post-period effects. At Mbar = 0 the robust set is
    that aggregate's own interval, with the normal and with a t reference."""
    from soteria_eval.did import callaway_santanna

    d = pd.read_csv(REF / "data" / "mpdta.csv")
    cs = callaway_santanna(d, outcome="lemp", unit="countyreal", time="year",
                           cohort="first.treat", control_group="not_yet_treated",
                           base_period="universal")  # fmt: skip
    dyn = cs.aggregate("dynamic")
    b, v, npre, npost = event_study_inputs(dyn)
    overall = dyn.tidy().set_index("term").loc["overall"]
    l_vec = np.full(npost, 1.0 / npost)
    for df in (None, 28):
        t = honest_sensitivity(b, v, num_pre=npre, num_post=npost, l_vec=l_vec,
                               m_values=[0.0], df=df).tidy()  # fmt: skip
        crit = stats.norm.ppf(0.975) if df is None else stats.t.ppf(0.975, df)
        want = overall["estimate"] + np.array([-1, 1]) * crit * overall["std_error"]
        np.testing.assert_allclose(t.loc[1, ["lb", "ub"]].astype(float), want, rtol=1e-10)
        if df is None:
            np.testing.assert_allclose(want, overall[["ci_lower", "ci_upper"]].astype(float),
                                       rtol=1e-10)  # fmt: skip
    # The effect is clearly negative: it survives some departure from parallel trends.
    assert 0 < breakdown_value(b, v, num_pre=npre, num_post=npost, l_vec=l_vec) < 10


def test_a_trend_robust_row_reads_its_smoothness_breakdown() -> None:
    from soteria_eval.report import breakdown_sentence

    row = pd.Series({"design": "imputation_trends", "estimand": "ATT (percentage points)",
                     "breakdown_rm": 0.2, "breakdown_sd": 0.0731})  # fmt: skip
    text = breakdown_sentence(row)
    assert "smoothness" in text and "0.073 percentage points per quarter" in text
    assert "breakdown value 0)" in breakdown_sentence(row.copy().replace({0.0731: 0.0}))
