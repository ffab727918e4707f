"""Callaway–Sant'Anna against csdid 0.4.3 fixtures and R ``did`` 2.5.1 anchors (mpdta)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from soteria_eval.did import callaway_santanna, twfe
from soteria_eval.did._drdid import PropensityError
from soteria_eval.linear_model import FewClustersWarning
from tests.conftest import REPO

REF = REPO / "tests" / "reference"
FIX = json.loads((REF / "cs_mpdta.json").read_text())["specs"]
CONTROL = {"nevertreated": "never_treated", "notyettreated": "not_yet_treated"}

#: R did 2.5.1 on mpdta (never-treated controls, no covariates; quoted in issue 4).
R_NEVER = {"simple": (-0.039951, 0.012034), "group": (-0.031018, 0.012446),
           "dynamic": (-0.077240, 0.019965), "calendar": (-0.041700, 0.015972)}  # fmt: skip
R_NOTYET = {"simple": (-0.039764, 0.012052), "dynamic": (-0.077399, 0.019560)}


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    return pd.read_csv(REF / "data" / "mpdta.csv")


def fit(d: pd.DataFrame, key: str):  # type: ignore[no-untyped-def]
    ctrl, method, cov, base = key.split("|")
    return callaway_santanna(
        d, outcome="lemp", unit="countyreal", time="year", cohort="first.treat",
        control_group=CONTROL[ctrl], method=method, covariates=["lpop"] if cov == "lpop" else [],
        base_period=base,
    )  # fmt: skip


@pytest.mark.parametrize("key", sorted(FIX))
def test_att_gt_and_aggregates_match_csdid(mpdta: pd.DataFrame, key: str) -> None:
    ref = FIX[key]
    res = fit(mpdta, key)
    a = res.att_gt
    np.testing.assert_array_equal(a["cohort"], ref["att_gt"]["group"])
    np.testing.assert_array_equal(a["time"], ref["att_gt"]["time"])
    np.testing.assert_allclose(a["estimate"], ref["att_gt"]["att"], atol=1e-9)
    se_ref = np.array(ref["att_gt"]["se"], dtype=float)
    ok = ~np.isnan(se_ref) & (se_ref > 0)
    np.testing.assert_allclose(a["std_error"].to_numpy()[ok], se_ref[ok], rtol=1e-6)
    for typ in ("simple", "group", "dynamic", "calendar"):
        agg = res.aggregate(typ)
        assert agg.params["overall"] == pytest.approx(ref[typ]["overall_att"], abs=1e-9)
        assert agg.std_errors["overall"] == pytest.approx(ref[typ]["overall_se"], rel=1e-6)
        if typ != "simple":
            np.testing.assert_allclose(agg.params.iloc[1:], ref[typ]["att_egt"], atol=1e-9)
            np.testing.assert_allclose(agg.std_errors.iloc[1:], ref[typ]["se_egt"], rtol=1e-6)


@pytest.mark.parametrize(
    ("control", "anchors"), [("never_treated", R_NEVER), ("not_yet_treated", R_NOTYET)]
)
def test_published_r_did_anchors(mpdta: pd.DataFrame, control: str, anchors: dict) -> None:
    res = callaway_santanna(
        mpdta,
        outcome="lemp",
        unit="countyreal",
        time="year",
        cohort="first.treat",
        control_group=control,
    )  # type: ignore[arg-type]
    for typ, (att, se) in anchors.items():
        agg = res.aggregate(typ)
        assert agg.params["overall"] == pytest.approx(att, abs=1e-6)
        assert agg.std_errors["overall"] == pytest.approx(se, rel=1e-4)


def test_bootstrap_and_uniform_band(mpdta: pd.DataFrame) -> None:
    res = callaway_santanna(
        mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first.treat"
    )
    dyn = res.aggregate("dynamic")
    b1 = dyn.bootstrap(999, seed=1)
    b2 = dyn.bootstrap(999, seed=1)
    pd.testing.assert_series_equal(b1.std_errors, b2.std_errors)
    np.testing.assert_allclose(b1.std_errors, dyn.std_errors, rtol=0.15)
    point = b1.conf_int()
    band = b1.conf_int(uniform=True)
    assert (
        (band["ci_upper"] - band["ci_lower"]) >= (point["ci_upper"] - point["ci_lower"]) - 1e-12
    ).all()
    assert b1.info["uniform_crit"] > 1.96
    assert dyn.info.get("uniform_crit") is None  # re-inference did not mutate
    with pytest.raises(ValueError, match="bootstrap"):
        dyn.conf_int(uniform=True)


def test_cluster_at_state_level(mpdta: pd.DataFrame) -> None:
    d = mpdta.assign(state=mpdta["countyreal"] // 1000)
    by_unit = callaway_santanna(
        d, outcome="lemp", unit="countyreal", time="year", cohort="first.treat"
    )
    by_state = callaway_santanna(
        d, outcome="lemp", unit="countyreal", time="year", cohort="first.treat", cluster="state"
    )
    pd.testing.assert_series_equal(by_unit.att_gt["estimate"], by_state.att_gt["estimate"])
    assert not np.allclose(by_unit.att_gt["std_error"], by_state.att_gt["std_error"])


def test_bad_input_and_edge_cases(mpdta: pd.DataFrame) -> None:
    kw = {"outcome": "lemp", "unit": "countyreal", "time": "year", "cohort": "first.treat"}
    treated_only = mpdta[mpdta["first.treat"] > 0]
    with pytest.raises(ValueError, match="needs never-treated units"):
        callaway_santanna(treated_only, **kw)
    with pytest.warns(UserWarning, match="1 unit\\(s\\) not observed in every period"):
        dropped = callaway_santanna(mpdta.drop(index=[3]), **kw)
    assert dropped.n_dropped == 1
    with pytest.raises(ValueError, match="control_group must be one of"):
        callaway_santanna(mpdta, control_group="everyone", **kw)  # type: ignore[arg-type]
    early = mpdta.copy()
    early.loc[early["countyreal"] == 8001, "first.treat"] = 2003
    with pytest.warns(UserWarning, match="treated in the first period"):
        r = callaway_santanna(early, **kw)
    assert r.n_dropped == 1
    single = mpdta.copy()
    single.loc[single["countyreal"] == 8001, "first.treat"] = 2005  # mpdta has no 2005 cohort
    with pytest.warns(UserWarning, match="single unit"):
        callaway_santanna(single, **kw)
    sep = mpdta.assign(x=(mpdta["first.treat"] == 2004).astype(float) * 10 + mpdta["lpop"] * 0)
    with pytest.raises(PropensityError, match="no overlap"):
        callaway_santanna(sep, covariates=["x"], method="ipw", **kw)


def test_known_truth_cs_recovers_dynamic_effects_where_twfe_is_biased() -> None:
    # Staggered adoption with effects growing with time since treatment.
    rng = np.random.default_rng(3)
    n_units, periods = 300, np.arange(1, 11)
    cohort = rng.choice([0, 4, 6, 8], size=n_units, p=[0.3, 0.25, 0.25, 0.2])
    rows = []
    for i in range(n_units):
        a = rng.normal()
        for t in periods:
            e = t - cohort[i]
            eff = (1.0 + 0.5 * e) if cohort[i] and e >= 0 else 0.0
            rows.append(
                (
                    i,
                    t,
                    cohort[i],
                    int(bool(cohort[i]) and e >= 0),
                    a + 0.2 * t + eff + rng.normal(scale=0.5),
                )
            )
    d = pd.DataFrame(rows, columns=["id", "t", "g", "D", "y"])
    res = callaway_santanna(d, outcome="y", unit="id", time="t", cohort="g")
    dyn = res.aggregate("dynamic")
    for e in range(0, 4):
        est, se = dyn.params[f"event +{e}"], dyn.std_errors[f"event +{e}"]
        assert abs(est - (1 + 0.5 * e)) < 4 * se
    for e in (-3, -2):
        assert abs(dyn.params[f"event {e}"]) < 4 * dyn.std_errors[f"event {e}"]
    true_simple = res.aggregate("simple").params["overall"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        tw = twfe(d, outcome="y", treatment="D", unit="id", time="t").params["D"]
    assert tw < true_simple - 0.3  # TWFE is pulled down by forbidden comparisons


def test_balance_e_and_wald(mpdta: pd.DataFrame) -> None:
    res = callaway_santanna(
        mpdta, outcome="lemp", unit="countyreal", time="year", cohort="first.treat"
    )
    bal = res.aggregate("dynamic", balance_e=1)
    assert max(float(t.split()[1]) for t in bal.params.index[1:]) <= 1
    stat, k, p = res.aggregate("dynamic").wald()
    assert k == 3 and stat > 0 and 0 <= p <= 1
    with pytest.raises(ValueError, match="balance_e applies"):
        res.aggregate("simple", balance_e=1)


UNBALANCED = json.loads((REF / "cs_mpdta_unbalanced.json").read_text())


@pytest.mark.parametrize("key", sorted(UNBALANCED["specs"]))
def test_unbalanced_panel_matches_csdid(key: str) -> None:
    """mpdta with 5% of county-years removed; R ``did``'s allow_unbalanced_panel path."""
    control, method, x, _ = key.split("|")
    ref = UNBALANCED["specs"][key]
    d = pd.read_csv(REF / "data" / "mpdta_unbalanced.csv")
    res = callaway_santanna(
        d, outcome="lemp", unit="countyreal", time="year", cohort="first.treat",
        control_group="never_treated" if control == "nevertreated" else "not_yet_treated",
        method=method, covariates=["lpop"] if x == "lpop" else [], allow_unbalanced_panel=True,
    )  # fmt: skip
    np.testing.assert_allclose(res.att_gt["estimate"], ref["att_gt"]["att"], atol=1e-6)
    np.testing.assert_allclose(res.att_gt["std_error"], ref["att_gt"]["se"], rtol=1e-4)
    for typ in ("simple", "group", "dynamic", "calendar"):
        agg = res.aggregate(typ)  # type: ignore[arg-type]
        assert agg.params["overall"] == pytest.approx(ref[typ]["overall_att"], abs=1e-6)
        assert agg.std_errors["overall"] == pytest.approx(ref[typ]["overall_se"], rel=1e-4)
    assert res.settings["allow_unbalanced_panel"] is True
