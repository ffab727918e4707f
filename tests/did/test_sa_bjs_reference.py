"""Sun–Abraham and imputation DiD against diff-diff 3.13.0 on mpdta (``make_sa_bjs_fixtures.py``)."""

from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest

from soteria_eval.did import imputation_did, sun_abraham
from tests.conftest import REPO

REF = REPO / "tests" / "reference"
R = json.loads((REF / "sa_bjs_mpdta.json").read_text())
KW = dict(outcome="lemp", unit="countyreal", time="year", cohort="first.treat")


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    return pd.read_csv(REF / "data" / "mpdta.csv")


def check(res, ref: dict, se_rtol: float) -> None:  # type: ignore[no-untyped-def,type-arg]
    t = res.tidy().set_index("term")
    for term, v in {**ref["events"], "overall": ref["overall"]}.items():
        assert t.loc[term, "estimate"] == pytest.approx(v["estimate"], abs=1e-10), term
        assert t.loc[term, "std_error"] == pytest.approx(v["se"], rel=se_rtol), term


def test_sun_abraham_matches_diff_diff(mpdta: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sun_abraham(mpdta, fe_dof="nested", **KW)  # type: ignore[arg-type]
    # Same sandwich and fixest's nested small-sample factor (the unit effects, nested in
    # the unit clusters, keep one level in K): equal to rounding.
    check(res, R["sun_abraham"], se_rtol=1e-10)


def test_imputation_matches_diff_diff(mpdta: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = imputation_did(mpdta, **KW)  # type: ignore[arg-type]
    check(res, R["imputation"], se_rtol=1e-6)
