"""Wild cluster bootstrap against wildboottest 0.3.2 (full enumeration: exact p-values)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from soteria_eval.did import twfe
from soteria_eval.inference.wild import draw_weights, wild_cluster_bootstrap
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
