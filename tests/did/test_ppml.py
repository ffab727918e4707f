"""PPML with absorbed fixed effects equals a statsmodels Poisson GLM with dummies."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from soteria_eval.did import ppml
from soteria_eval.did.ppml import ppml_score_bootstrap


@pytest.fixture(scope="module")
def counts() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    u, t = 30, 12
    d = pd.DataFrame({"u": np.repeat(np.arange(u), t), "t": np.tile(np.arange(t), u)})
    d["D"] = ((d["u"] < 8) & (d["t"] >= 6)).astype(float)
    d["x"] = rng.normal(size=len(d))
    d["pop"] = rng.uniform(50, 500, u)[d["u"]]
    mu = np.exp(
        -3
        + 0.3 * d["D"]
        + 0.1 * d["x"]
        + rng.normal(0, 0.3, u)[d["u"]]
        + 0.05 * d["t"]
        + np.log(d["pop"])
    )
    d["y"] = rng.poisson(mu)
    return d


def glm(d: pd.DataFrame):  # type: ignore[no-untyped-def]
    x = pd.get_dummies(
        d[["D", "x", "u", "t"]].astype({"u": str, "t": str}), drop_first=True, dtype=float
    )
    model = sm.GLM(
        d["y"], sm.add_constant(x), family=sm.families.Poisson(), offset=np.log(d["pop"])
    )
    return model.fit(cov_type="cluster", cov_kwds={"groups": d["u"].to_numpy()}, tol=1e-13)


def test_matches_statsmodels_glm_with_dummies(counts: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ppml(
            counts, outcome="y", treatment="D", unit="u", time="t", covariates=["x"], exposure="pop"
        )
        ref = glm(counts)
    np.testing.assert_allclose(res.params.to_numpy(), ref.params[["D", "x"]].to_numpy(), atol=1e-8)
    np.testing.assert_allclose(res.std_errors.to_numpy(), ref.bse[["D", "x"]].to_numpy(), rtol=1e-6)
    rr = res.info["rate_ratios"]
    assert rr.loc["D", "rate_ratio"] == pytest.approx(np.exp(res.params["D"]))


def test_all_zero_units_are_dropped_and_counted(counts: pd.DataFrame) -> None:
    d = counts.copy()
    d.loc[d["u"] == 29, "y"] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ppml(
            d, outcome="y", treatment="D", unit="u", time="t", covariates=["x"], exposure="pop"
        )
        ref = glm(d[d["u"] != 29])
    assert res.n_dropped == 12
    np.testing.assert_allclose(res.params.to_numpy(), ref.params[["D", "x"]].to_numpy(), atol=1e-7)


def test_bad_input(counts: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="negative values"):
        ppml(counts.assign(y=-counts["y"] - 1), outcome="y", treatment="D", unit="u", time="t")
    with pytest.raises(ValueError, match="must be positive"):
        ppml(counts.assign(pop=0.0), outcome="y", treatment="D", unit="u", time="t", exposure="pop")


def test_score_bootstrap_equals_statsmodels_restricted_scores(counts: pd.DataFrame) -> None:
    """Rademacher weights fully enumerated over 10 clusters: the p-value is exact, and the
    cluster scores come from an independent restricted statsmodels GLM with dummies."""
    d = counts[counts["u"] < 10].reset_index(drop=True)
    d = d.assign(D=((d["u"] < 4) & (d["t"] >= 6)).astype(float))
    res = ppml_score_bootstrap(
        d, outcome="y", treatment="D", unit="u", time="t", covariates=["x"], exposure="pop",
        n_boot=9999, weights="rademacher", conf_int=False,
    )  # fmt: skip
    info = res.info["score_bootstrap"]
    assert info["enumerated"] and info["n_boot"] == 1024
    # Independent: restricted GLM (no D), full design with dummies, efficient score of D.
    full = pd.get_dummies(
        d[["D", "x", "u", "t"]].astype({"u": str, "t": str}), drop_first=True, dtype=float
    )
    xf = sm.add_constant(full).to_numpy(dtype=float)
    restricted = sm.GLM(
        d["y"], np.delete(xf, 1, axis=1), family=sm.families.Poisson(), offset=np.log(d["pop"])
    ).fit(tol=1e-12)
    mu = restricted.fittedvalues.to_numpy()
    hess = xf.T @ (xf * mu[:, None])
    a = np.linalg.solve(hess, np.eye(xf.shape[1])[1])
    c = np.bincount(d["u"], weights=(xf @ a) * (d["y"].to_numpy() - mu))
    t0 = c.sum() / np.sqrt((c**2).sum())
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=10)))
    tb = (signs @ c) / np.sqrt((c**2).sum())
    assert info["p_value"] == pytest.approx(np.mean(np.abs(tb) >= abs(t0) * (1 - 1e-12)), abs=1e-12)
    row = res.tidy().set_index("term").loc["D"]
    assert row["p_value"] == info["p_value"] and "score cluster bootstrap" in row["inference"]


def test_score_bootstrap_interval_inverts_the_test(counts: pd.DataFrame) -> None:
    res = ppml_score_bootstrap(
        counts, outcome="y", treatment="D", unit="u", time="t", exposure="pop",
        n_boot=999, seed=2,
    )  # fmt: skip
    lo, hi = res.conf_int().loc["D"]
    assert lo < res.params["D"] < hi
    assert lo < 0.3 < hi  # the true log rate ratio
    rr = res.info["rate_ratios"].loc["D"]
    assert rr["ci_lower"] == pytest.approx(np.exp(lo)) and rr["ci_upper"] == pytest.approx(
        np.exp(hi)
    )


@pytest.mark.parametrize("fe_dof", ["nested", "full"])
def test_small_sample_convention_matches_fixest_fepois(fe_dof: str) -> None:
    """tests/reference/make_ppml_fixtures.py: pyfixest fepois, CR1 by area, both conventions."""
    import json

    from tests.conftest import REPO

    ref_dir = REPO / "tests" / "reference"
    ref = json.loads((ref_dir / "ppml_fixest.json").read_text())[fe_dof]
    d = pd.read_csv(ref_dir / "ppml_panel.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ppml(d, outcome="y", treatment="D", unit="u", time="t", cluster="area", fe_dof=fe_dof)
    assert res.params["D"] == pytest.approx(ref["coef"], rel=1e-9)
    assert res.std_errors["D"] == pytest.approx(ref["se"], rel=1e-8)
    # Units are nested in the 14 areas: fixest keeps 1 of their 43 levels (K = 1 + 1 + 15).
    assert res.info["df_k"] == (17 if fe_dof == "nested" else 1 + 42 + 15 + 1)
    with pytest.raises(ValueError, match="fe_dof"):
        ppml(d, outcome="y", treatment="D", unit="u", time="t", fe_dof="stata")
