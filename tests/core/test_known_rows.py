"""Secondary suppression when a row's count is published elsewhere (issue 31's subtraction)."""

from __future__ import annotations

import pandas as pd

from soteria_eval.disclosure import SUPPRESSED, suppress_long


def _year(p1: int, exposed: int, other: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"group": ["Phase 1 pathfinders", "Exposed controls", "Other forces"],
         "year": ["2019"] * 3, "cases": [p1, exposed, other]}
    )  # fmt: skip


def test_a_known_row_cannot_hide_a_small_cell() -> None:
    """The issue's case: 71 nationally, Phase 1 19 (from the ITS figure), Exposed 9, Other 43."""
    t = _year(19, 9, 43)
    old = suppress_long(t, ["cases"], threshold=10, secondary_by=["year"])
    # without knowing that Phase 1 is published elsewhere, Phase 1 was the complement:
    assert old["cases"].tolist() == [SUPPRESSED, SUPPRESSED, 43]  # 71 - 19 - 43 = 9
    new = suppress_long(t, ["cases"], threshold=10, secondary_by=["year"],
                        known=t["group"].eq("Phase 1 pathfinders"))  # fmt: skip
    assert new["cases"].tolist() == [19, SUPPRESSED, SUPPRESSED]
    # a reader who knows 71 and 19 learns only Exposed + Other = 52: Exposed in 0..52


def test_when_only_known_rows_remain_the_rest_of_the_block_goes() -> None:
    t = pd.concat([_year(19, 9, 0), _year(30, 40, 50).assign(year="2020")], ignore_index=True)
    out = suppress_long(t, ["cases"], threshold=10, secondary_by=["year"],
                        known=t["group"].eq("Phase 1 pathfinders"))  # fmt: skip
    assert out["cases"].tolist() == [19, SUPPRESSED, SUPPRESSED, 30, 40, 50]
