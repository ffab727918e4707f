"""The book's number formats (soteria_eval.report.styled)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from soteria_eval.report import format_p, styled


def test_styled_formats_each_column_by_what_it_holds() -> None:
    t = pd.DataFrame(
        {
            "Forces": [43.0, 12.0, np.nan],
            "Estimate": [0.123456, -1.5, 2.0],
            "p_value": [0.0000123, 0.04567, np.nan],
            "Adjusted p": [0.5, 0.0004, 1.0],
            "label": ["a", "b", "c"],
        }
    )
    html = styled(t).to_html()
    assert ">43<" in html and ">12<" in html and "43.000" not in html
    assert ">0.123<" in html and ">-1.500<" in html
    assert "&lt; 0.001" in html and ">0.046<" in html and "0.000" not in html
    assert ">—<" in html
    assert format_p(0.0005) == "< 0.001" and format_p(0.25) == "0.250" and format_p(np.nan) == "—"
