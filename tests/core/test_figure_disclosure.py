"""Figure data: a drawn proportion gives back its numerator and complement (rate × cases)."""

from __future__ import annotations

import pandas as pd
import pytest

from soteria_eval.disclosure import figure_data, figure_problems


def _rates(numerator: list[float], cases: list[float]) -> pd.DataFrame:
    d = pd.DataFrame({"period": range(len(cases)), "cases": cases, "numerator": numerator})
    return d.assign(rate=100 * d["numerator"] / d["cases"])


def test_small_numerator_behind_a_large_basis_withholds_the_figure() -> None:
    # 6.45161% of 31 cases is 2 charges: the basis passes, the numerator does not
    data = figure_data(
        _rates([2, 15], [31, 40]), basis_column="cases", rate_parts={"numerator": "cases"}
    )
    problems = figure_problems(data, 10)
    assert problems == ["1 point(s) with a numerator (rate × cases) under 10 (column 'numerator')"]
    # checked on the basis alone (the old rule) it passed
    assert not figure_problems(figure_data(_rates([2, 15], [31, 40]), basis_column="cases"), 10)


def test_small_complement_withholds_the_figure_and_zero_is_safe() -> None:
    data = figure_data(
        _rates([27, 0, 40], [31, 40, 40]), basis_column="cases", rate_parts={"numerator": "cases"}
    )
    assert figure_problems(data, 10) == [
        "1 point(s) with a complement (cases minus numerator) under 10 ('cases' minus 'numerator')"
    ]


def test_every_series_basis_is_checked() -> None:
    d = pd.DataFrame({"cases_1": [50, 60], "cases_2": [50, 4], "y": [1.0, 2.0]})
    data = figure_data(d, basis_column=["cases_1", "cases_2"])
    assert figure_problems(data, 10) == [
        "1 point(s) with a number of cases under 10 (column 'cases_2')"
    ]


def test_declared_columns_must_exist() -> None:
    with pytest.raises(KeyError, match="numerator_9"):
        figure_data(_rates([20], [40]), rate_parts={"numerator_9": "cases"})
