"""Wild cluster bootstrap against wildboottest 0.3.2 (full enumeration: exact p-values)."""

from __future__ import annotations

import itertools
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from soteria_eval.did import twfe
from soteria_eval.inference.wild import draw_weights, wild_cluster_bootstrap, wild_wald_test
from soteria_eval.linear_model import FewClustersWarning
from tests.conftest import REPO

REF = REPO / "tests" / "reference"
FIX = json.loads((REF / "wild_fixtures.json").read_text())["cases"]


@pytest.fixture(scope="module")
def fit12():  # type: ignore[no-untyped-def]
    d = pd.read_csv(REF / "twfe_panel.csv")
    d = d[d["unit"] <= 12].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        return twfe(d, outcome="y", treatment="D", unit="unit", time="time", covariates=["x"])


@pytest.mark.parametrize("key", sorted(FIX))
def test_matches_wildboottest_under_full_enumeration(fit12, key: str) -> None:  # type: ignore[no-untyped-def]
    term, kind = key.split("|")
    w = wild_cluster_bootstrap(
        fit12, term, n_boot=9999, weights="rademacher", impose_null=kind == "WCR", conf_int=False
    )
    info = w.info["wild"][term]
    assert info["enumerated"] and info["n_boot"] == 4096
    assert info["p_value"] == pytest.approx(FIX[key]["p_value"], abs=1e-10)
    assert info["t_stat"] == pytest.approx(FIX[key]["t_stat"], rel=1e-10)


def test_interval_inverts_the_test(fit12) -> None:  # type: ignore[no-untyped-def]
    w = wild_cluster_bootstrap(fit12, "D", n_boot=9999, weights="rademacher")
    info = w.info["wild"]["D"]
    lo, hi = info["ci_lower"], info["ci_upper"]
    assert lo < fit12.params["D"] < hi
    inside = wild_cluster_bootstrap(
        fit12, "D", weights="rademacher", null=lo + 1e-3, conf_int=False
    ).info["wild"]["D"]["p_value"]
    outside = wild_cluster_bootstrap(
        fit12, "D", weights="rademacher", null=lo - 1e-3, conf_int=False
    ).info["wild"]["D"]["p_value"]
    assert inside > 0.05 >= outside
    row = w.tidy().set_index("term").loc["D"]
    assert row["p_value"] == info["p_value"] and row["ci_lower"] == lo
    assert "wild cluster bootstrap (WCR" in row["inference"]
    # The original results are untouched (re-inference returns a new object).
    assert (
        "wild" not in fit12.info
        and fit12.tidy().set_index("term").loc["D", "p_value"] != row["p_value"]
    )


def test_seeded_draws_are_reproducible(fit12) -> None:  # type: ignore[no-untyped-def]
    a = wild_cluster_bootstrap(fit12, "D", n_boot=999, weights="webb", seed=7, conf_int=False)
    b = wild_cluster_bootstrap(fit12, "D", n_boot=999, weights="webb", seed=7, conf_int=False)
    assert a.info["wild"]["D"]["p_value"] == b.info["wild"]["D"]["p_value"]


@pytest.mark.parametrize("kind", ["rademacher", "webb", "mammen"])
def test_weight_moments(kind: str) -> None:
    v, enumerated = draw_weights(kind, 200_000, 50, np.random.default_rng(1))
    assert not enumerated
    assert abs(v.mean()) < 0.01 and abs((v**2).mean() - 1) < 0.01
    if kind == "mammen":
        assert abs((v**3).mean() - 1) < 0.05


def test_errors(fit12) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="weights must be one of"):
        wild_cluster_bootstrap(fit12, "D", weights="gaussianish")
    with pytest.raises(ValueError, match="unknown term"):
        wild_cluster_bootstrap(fit12, "Z")


@pytest.fixture(scope="module")
def fit8():  # type: ignore[no-untyped-def]
    d = pd.read_csv(REF / "twfe_panel.csv")
    d = d[d["unit"] <= 8].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        fit = twfe(d, outcome="y", treatment="D", unit="unit", time="time", covariates=["x"])
    return d, fit


@pytest.mark.parametrize("impose_null", [True, False])
def test_joint_test_of_one_term_is_the_single_test(fit8, impose_null: bool) -> None:  # type: ignore[no-untyped-def]
    _, fit = fit8
    one = wild_cluster_bootstrap(
        fit, "D", n_boot=999, seed=3, impose_null=impose_null, conf_int=False
    ).info["wild"]["D"]
    joint = wild_wald_test(fit, ["D"], n_boot=999, seed=3, impose_null=impose_null)
    assert joint.p_value == one["p_value"]
    assert joint.statistic == pytest.approx(one["t_stat"] ** 2, rel=1e-10)


@pytest.mark.parametrize("impose_null", [True, False])
def test_joint_test_equals_brute_force_refits(fit8, impose_null: bool) -> None:  # type: ignore[no-untyped-def]
    """Every one of the 2^8 Rademacher draws refitted with unit and period dummies."""
    d, fit = fit8
    res = wild_wald_test(
        fit, ["D", "x"], n_boot=9999, weights="rademacher", impose_null=impose_null
    )
    assert res.enumerated and res.n_boot == 256
    unit_d = pd.get_dummies(d["unit"]).to_numpy(float)
    time_d = pd.get_dummies(d["time"]).to_numpy(float)[:, 1:]
    x = np.c_[d["D"], d["x"], unit_d, time_d]
    y = d["y"].to_numpy()
    cl = (d["unit"] - d["unit"].min()).to_numpy()
    g, n, k = cl.max() + 1, len(y), np.linalg.matrix_rank(x)
    bread = np.linalg.pinv(x.T @ x)

    def wald(yv: np.ndarray, centre: np.ndarray) -> float:
        b = bread @ x.T @ yv
        e = yv - x @ b
        sc = np.zeros((g, x.shape[1]))
        np.add.at(sc, cl, x * e[:, None])
        v = g / (g - 1) * (n - 1) / (n - k) * bread @ sc.T @ sc @ bread
        dev = b[:2] - centre
        return float(dev @ np.linalg.solve(v[:2, :2], dev))

    b_hat = bread @ x.T @ y
    w0 = wald(y, np.zeros(2))
    if impose_null:
        xr = x[:, 2:]
        base = xr @ np.linalg.lstsq(xr, y, rcond=None)[0]
        centre = np.zeros(2)
    else:
        base = x @ b_hat
        centre = b_hat[:2]
    e = y - base
    draws = np.array(
        [wald(base + np.array(v)[cl] * e, centre) for v in itertools.product([-1.0, 1.0], repeat=g)]
    )
    assert res.statistic == pytest.approx(w0, rel=1e-10)
    assert res.p_value == pytest.approx(float(np.mean(draws >= w0 * (1 - 1e-12))), abs=1e-12)
    np.testing.assert_allclose(
        np.sort(res.bootstrap_statistics), np.sort(draws), rtol=1e-8, atol=1e-12
    )
    assert res.tidy()["test"].iloc[0] == "D = 0 & x = 0"


def test_joint_test_errors(fit8) -> None:  # type: ignore[no-untyped-def]
    _, fit = fit8
    with pytest.raises(ValueError, match="unknown or no terms"):
        wild_wald_test(fit, ["D", "nope"])
    with pytest.raises(ValueError, match="distinct"):
        wild_wald_test(fit, ["D", "D"])
    with pytest.raises(ValueError, match="one value per term"):
        wild_wald_test(fit, ["D", "x"], null=[0.0])


def test_wild_bootstrap_for_event_study_and_2x2() -> None:
    from soteria_eval.did import did_2x2, event_study

    rng = np.random.default_rng(12)
    n, t = 14, 10
    d = pd.DataFrame({"u": np.repeat(np.arange(n), t), "t": np.tile(np.arange(t), n)})
    d["g"] = np.where(d["u"] < 5, 6, 0)
    d["post"] = (d["t"] >= 6).astype(int)
    d["treat"] = (d["u"] < 5).astype(int)
    d["y"] = (
        1.5 * ((d["g"] > 0) & (d["t"] >= 6)) + rng.normal(size=n)[d["u"]] + rng.normal(size=len(d))
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        es = event_study(d, outcome="y", unit="u", time="t", cohort="g", leads=3, lags=2)
        w = wild_cluster_bootstrap(es, "event +0", n_boot=999, seed=1)
        joint = wild_wald_test(es, ["event -3", "event -2"], n_boot=999, seed=1)
        dd = did_2x2(d, outcome="y", treated="treat", post="post", cluster="u")
        w2 = wild_cluster_bootstrap(dd, dd.params.index[-1], n_boot=999, seed=1)
    row = w.tidy().set_index("term").loc["event +0"]
    assert "wild cluster bootstrap" in row["inference"] and row["ci_lower"] < 1.5 < row["ci_upper"]
    assert joint.p_value > 0.05  # no pre-trends were simulated
    assert "wild cluster bootstrap" in w2.tidy()["inference"].iloc[-1]


@pytest.mark.parametrize("impose_null", [True, False])
def test_weighted_wild_equals_unweighted_on_scaled_data_with_dummies(impose_null: bool) -> None:
    """WLS is OLS on √w-scaled data: absorbed weighted fit = explicit scaled dummies."""
    from soteria_eval.linear_model import fit_absorbed

    d = pd.read_csv(REF / "twfe_panel.csv")
    d = d[d["unit"] <= 10].reset_index(drop=True)
    sw = np.sqrt(d["w"].to_numpy())
    regs = {"D": d["D"], "x": d["x"]}
    for u in sorted(d["unit"].unique()):
        regs[f"u{u}"] = (d["unit"] == u).astype(float)
    for t in sorted(d["time"].unique())[1:]:
        regs[f"t{t}"] = (d["time"] == t).astype(float)
    scaled = pd.DataFrame({k: v.to_numpy() * sw for k, v in regs.items()}).assign(
        y=d["y"].to_numpy() * sw, unit=d["unit"]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        weighted = twfe(
            d, outcome="y", treatment="D", unit="unit", time="time", covariates=["x"], weights="w"
        )
        plain = fit_absorbed(scaled, outcome="y", regressors={k: k for k in regs}, cluster="unit")
    kw = dict(n_boot=999, seed=7, impose_null=impose_null, conf_int=False)
    a = wild_cluster_bootstrap(weighted, "D", **kw).info["wild"]["D"]  # type: ignore[arg-type]
    b = wild_cluster_bootstrap(plain, "D", **kw).info["wild"]["D"]  # type: ignore[arg-type]
    assert a["t_stat"] == pytest.approx(b["t_stat"], rel=1e-8)
    assert a["p_value"] == b["p_value"]
    ja = wild_wald_test(weighted, ["D", "x"], n_boot=999, seed=7, impose_null=impose_null)
    jb = wild_wald_test(plain, ["D", "x"], n_boot=999, seed=7, impose_null=impose_null)
    assert ja.statistic == pytest.approx(jb.statistic, rel=1e-8) and ja.p_value == jb.p_value


def test_ties_convention_differs_by_the_two_sign_symmetric_draws(fit12) -> None:  # type: ignore[no-untyped-def]
    """WCR with every sign vector: the draws of all +1 and all -1 reproduce +t and -t."""
    kw = dict(n_boot=9999, weights="rademacher", conf_int=False)
    inc = wild_cluster_bootstrap(fit12, "D", **kw).info["wild"]["D"]  # type: ignore[arg-type]
    exc = wild_cluster_bootstrap(fit12, "D", ties="exclude", **kw).info["wild"]["D"]  # type: ignore[arg-type]
    assert inc["enumerated"] and inc["n_boot"] == 4096
    assert inc["p_value"] - exc["p_value"] == pytest.approx(2 / 4096, abs=1e-12)
    # WCU centres on the estimate: no draw reproduces the sample, so no tie.
    u_inc = wild_cluster_bootstrap(fit12, "D", impose_null=False, **kw).info["wild"]["D"]  # type: ignore[arg-type]
    u_exc = wild_cluster_bootstrap(fit12, "D", impose_null=False, ties="exclude", **kw).info[
        "wild"
    ]["D"]  # type: ignore[arg-type]
    assert u_inc["p_value"] == u_exc["p_value"]
    with pytest.raises(ValueError, match="ties must be one of"):
        wild_cluster_bootstrap(fit12, "D", ties="drop", **kw)  # type: ignore[arg-type]
