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
from soteria_eval.sensitivity.honest import flci
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
