"""Callaway–Sant'Anna: the panel reshaping done by codes keeps pivot's meaning and errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from soteria_eval.did import callaway_santanna
from tests.conftest import REPO

KW = {"outcome": "lemp", "unit": "countyreal", "time": "year", "cohort": "first.treat"}


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    return pd.read_csv(REPO / "tests" / "reference" / "data" / "mpdta.csv")


def test_row_order_and_unit_labels_do_not_change_the_estimates(mpdta: pd.DataFrame) -> None:
    base = callaway_santanna(mpdta, **KW).aggregate("simple")  # type: ignore[arg-type]
    shuffled = mpdta.sample(frac=1.0, random_state=3)
    labelled = shuffled.assign(countyreal="c" + shuffled["countyreal"].astype(str))
    for d in (shuffled, labelled):
        other = callaway_santanna(d, **KW).aggregate("simple")  # type: ignore[arg-type]
        np.testing.assert_allclose(other.params, base.params, rtol=1e-12)
        np.testing.assert_allclose(other.std_errors, base.std_errors, rtol=1e-12)


def test_duplicate_rows_and_missing_units_are_named(mpdta: pd.DataFrame) -> None:
    dup = pd.concat([mpdta, mpdta.iloc[[7]]], ignore_index=True)
    row = mpdta.iloc[7]
    msg = f"unit {int(row['countyreal'])} has more than one row for period {int(row['year'])}$"
    with pytest.raises(ValueError, match=msg):
        callaway_santanna(dup, **KW)  # type: ignore[arg-type]
    gone = mpdta.astype({"countyreal": float})
    gone.loc[[3, 4], "countyreal"] = np.nan
    with pytest.raises(ValueError, match="'countyreal' is missing in 2 row"):
        callaway_santanna(gone, **KW)  # type: ignore[arg-type]


def test_a_cohort_varying_within_a_unit_is_refused(mpdta: pd.DataFrame) -> None:
    bad = mpdta.copy()
    bad.loc[bad.index[:2], "first.treat"] = [2004, 2006]
    with pytest.raises(ValueError, match="varies within unit for 1 unit"):
        callaway_santanna(bad, **KW)  # type: ignore[arg-type]
