"""TWFE and 2x2 DiD against R (sandwich 3.0.2, clubSandwich 0.5.8): see tests/reference/."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from soteria_eval.did import did_2x2, did_means, twfe
from soteria_eval.linear_model import FewClustersWarning
from tests.conftest import REPO

REF = REPO / "tests" / "reference"
R = json.loads((REF / "twfe_covariances.json").read_text())


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return pd.read_csv(REF / "twfe_panel.csv")


def fit(panel: pd.DataFrame, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        return twfe(
            panel, outcome="y", treatment="D", unit="unit", time="time", covariates=["x"], **kw
        )


@pytest.mark.parametrize(
    ("key", "kw"),
    [
        ("iid", {"vcov": "iid"}),
        ("HC1", {"vcov": "HC1"}),
        ("CR0_unit", {"vcov": "CR0"}),
        ("CR1_unit", {"vcov": "CR1"}),
        ("CR1_area", {"vcov": "CR1", "cluster": "area"}),
        ("CR1_unit_weighted", {"vcov": "CR1", "weights": "w"}),
    ],
)
def test_estimates_and_se_match_r_sandwich(panel: pd.DataFrame, key: str, kw: dict) -> None:
    res = fit(panel, **kw)
    np.testing.assert_allclose(res.params.to_numpy(), R[key]["estimate"], rtol=1e-10)
    np.testing.assert_allclose(res.std_errors.to_numpy(), R[key]["std_error"], rtol=1e-8)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("cluster", ["unit", "area"])
def test_cr2_and_satterthwaite_df_match_clubsandwich(
    panel: pd.DataFrame, cluster: str, weighted: bool
) -> None:
    ref = R[f"CR2_{cluster}" + ("_weighted" if weighted else "")]
    res = fit(panel, vcov="CR2", cluster=cluster, **({"weights": "w"} if weighted else {}))
    np.testing.assert_allclose(res.params.to_numpy(), ref["estimate"], rtol=1e-10)
    np.testing.assert_allclose(res.std_errors.to_numpy(), ref["std_error"], rtol=1e-6)
    np.testing.assert_allclose(res.df.to_numpy(), ref["df"], rtol=1e-6)
    t = res.tidy()
    assert (t["df"] == res.df.to_numpy()).all()


def test_reinference_returns_new_object(panel: pd.DataFrame) -> None:
    cr1 = fit(panel)
    cr2 = cr1.with_vcov("CR2")
    assert cr1.info["vcov"] == "CR1" and cr2.info["vcov"] == "CR2"
    np.testing.assert_allclose(cr1.std_errors.to_numpy(), R["CR1_unit"]["std_error"], rtol=1e-8)
    np.testing.assert_allclose(cr2.std_errors.to_numpy(), R["CR2_unit"]["std_error"], rtol=1e-6)
    area = cr1.with_vcov("CR1", cluster="area")
    np.testing.assert_allclose(area.std_errors.to_numpy(), R["CR1_area"]["std_error"], rtol=1e-8)
    pd.testing.assert_series_equal(cr1.params, cr2.params)


def test_nested_fe_dof_matches_fixest_convention(panel: pd.DataFrame) -> None:
    full = fit(panel)
    nested = fit(panel, fe_dof="nested")
    n, k = full.nobs, 2
    n_units, n_times = panel["unit"].nunique(), panel["time"].nunique()
    k_full = k + n_units + n_times - 1
    # unit effects are nested in unit clusters: fixest drops their levels but one
    # (K = K_full - (n_units - 1)), as pyfixest's port of its ssc() does
    k_nested = k_full - (n_units - 1)
    ratio = np.sqrt((n - k_full) / (n - k_nested))
    np.testing.assert_allclose(nested.std_errors / full.std_errors, ratio, rtol=1e-12)


def test_2x2_regression_equals_cell_means_and_r(panel: pd.DataFrame) -> None:
    d = panel[panel["time"].isin([8, 9]) & ((panel["unit"] <= 5) | (panel["unit"] > 8))].copy()
    d["G"] = d["unit"] <= 5
    d["P"] = d["time"] == 9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        res = did_2x2(d, outcome="y", treated="G", post="P", cluster="unit")
    ref = R["did2x2_CR1_unit"]
    assert res.params["treated:post"] == pytest.approx(ref["estimate"][0], rel=1e-10)
    assert res.std_errors["treated:post"] == pytest.approx(ref["std_error"][0], rel=1e-8)
    means = did_means(d, outcome="y", treated="G", post="P")
    assert means.attrs["did"] == pytest.approx(res.params["treated:post"], rel=1e-10)


def test_tidy_columns_and_dropped_rows(panel: pd.DataFrame) -> None:
    d = panel.copy()
    d.loc[[0, 5, 9], "y"] = np.nan
    res = fit(d)
    assert res.n_dropped == 3 and res.nobs == len(d) - 3
    from soteria_eval.results import TIDY_COLUMNS

    assert tuple(res.tidy().columns) == TIDY_COLUMNS
    assert "Dropped rows: 3" in res.summary()
    assert "<table" in res._repr_html_()
    assert res.info["n_treated"] == 8 and res.info["n_units"] == 43


def test_errors_name_the_problem(panel: pd.DataFrame) -> None:
    d = panel.assign(const_in_unit=panel["unit"] * 2.0)
    with pytest.raises(ValueError, match=r"\['const_in_unit'\] are collinear"):
        twfe(d, outcome="y", treatment="D", unit="unit", time="time", covariates=["const_in_unit"])
    with pytest.raises(ValueError, match="vcov must be one of"):
        fit(panel, vcov="CR3")
    with pytest.raises(ValueError, match="column"):
        fit(panel, cluster="nope")
    with pytest.warns(FewClustersWarning, match="only 14 clusters"):
        twfe(panel, outcome="y", treatment="D", unit="unit", time="time", cluster="area")
    one = panel.assign(one=1)
    with pytest.raises(ValueError, match="at least 2 clusters"):
        fit(one, cluster="one")


def test_weighted_cr2_with_constant_weights_is_unweighted_cr2(panel: pd.DataFrame) -> None:
    a = fit(panel, vcov="CR2", cluster="area")
    b = fit(panel.assign(two=2.0), vcov="CR2", cluster="area", weights="two")
    np.testing.assert_allclose(b.std_errors, a.std_errors, rtol=1e-10)
    np.testing.assert_allclose(b.df, a.df, rtol=1e-10)


@pytest.mark.parametrize("cluster", ["unit", "area"])
def test_fe_dof_fixest_reproduces_fixest_defaults(panel: pd.DataFrame, cluster: str) -> None:
    """tests/reference/make_fixest_fixtures.py: pyfixest feols with fixest's default ssc."""
    ref = json.loads((REF / "fixest_twfe.json").read_text())[f"CR1_{cluster}"]
    res = fit(panel, fe_dof="fixest").with_vcov("CR1", cluster=cluster, fe_dof="fixest")
    np.testing.assert_allclose(res.params.to_numpy(), ref["estimate"], rtol=1e-10)
    np.testing.assert_allclose(res.std_errors.to_numpy(), ref["std_error"], rtol=1e-8)
    # "lm" is the lm + sandwich::vcovCL(type = "HC1") convention: the R fixture's.
    lm = fit(panel, fe_dof="lm").with_vcov("CR1", cluster=cluster, fe_dof="lm")
    np.testing.assert_allclose(
        lm.std_errors.to_numpy(), R[f"CR1_{cluster}"]["std_error"], rtol=1e-8
    )
