"""Property-based tests: valid panels pass; one invalid cell is caught and located."""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soteria_eval.data import validate_file
from soteria_eval.geography import load_geography
from soteria_eval.periods import period_range

GEO = load_geography()
MEASURES = ["charges", "police_charge_rate", "days_referral_to_decision", "victim_satisfaction"]


@st.composite
def panels(draw: st.DrawFn) -> pd.DataFrame:
    level = draw(st.sampled_from(["force", "area"]))
    units = draw(st.lists(st.sampled_from(GEO.units(level)), min_size=1, max_size=4, unique=True))
    freq = draw(st.sampled_from(["month", "quarter", "fy"]))
    first = {"month": "2019-01", "quarter": "2019-Q1", "fy": "2015/16"}[freq]
    n = draw(st.integers(1, 8))
    periods = period_range(
        first,
        {
            "month": f"2019-{n:02d}",
            "quarter": f"2019-Q{min(n, 4)}",
            "fy": f"{2014 + n}/{(15 + n) % 100:02d}",
        }[freq],
        freq,
    )
    measures = draw(st.lists(st.sampled_from(MEASURES), min_size=1, max_size=4, unique=True))
    rows = []
    for u in units:
        for p in periods:
            for m in measures:
                den = draw(st.integers(0, 500))
                num = draw(st.integers(0, den))
                if m == "charges":
                    rows.append((level, u, p, m, float(num), float(num), None))
                elif m == "police_charge_rate":
                    rows.append(
                        (level, u, p, m, num / den if den else None, float(num), float(den))
                    )
                elif m == "days_referral_to_decision":
                    v = draw(st.floats(0, 2000, allow_nan=False))
                    rows.append((level, u, p, m, v, v * den, float(den)))
                else:
                    v = draw(st.floats(1, 5, allow_nan=False))
                    rows.append((level, u, p, m, v, v * den, float(den)))
    return pd.DataFrame(
        rows, columns=["level", "unit", "period", "measure", "value", "numerator", "denominator"]
    )


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _validate(df: pd.DataFrame):
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "p.csv"
        df.to_csv(p, index=False)
        return validate_file(p, "panel")


@SETTINGS
@given(panels())
def test_random_valid_panels_pass(df: pd.DataFrame) -> None:
    report = _validate(df)
    assert report.ok, [str(i) for i in report.issues]


BAD_VALUES = {
    "value": ("-5", "abc"),
    "numerator": ("-1",),
    "unit": ("Atlantis",),
    "measure": ("not_a_measure",),
    "level": ("region",),
    "period": ("20-20",),
}


@SETTINGS
@given(panels(), st.data())
def test_one_invalid_cell_is_caught_and_located(df: pd.DataFrame, data: st.DataObject) -> None:
    column = data.draw(st.sampled_from(sorted(BAD_VALUES)))
    row = data.draw(st.integers(0, len(df) - 1))
    bad = data.draw(st.sampled_from(BAD_VALUES[column]))
    df = df.astype({column: object})
    df.loc[row, column] = bad
    report = _validate(df)
    assert not report.ok
    located = [i for i in report.issues if i.column == column and (row + 2) in i.rows]
    assert located, [str(i) for i in report.issues]


HOSTILE = [
    "", "inf", "-inf", "Infinity", "NaN", "nan", "1e400", "-1", "0", "1e30", "9999-12-31",
    "1890-01-01", "2099-01-01", "2021-02-30", "21/09/2021", "true", "yes", "maybe", "Kent",
    "Atlantis", "charge", "\u00e9\u00e8", "\u202e", "0x10", " 5", "5 ", "1,000", "=1+1",
]  # fmt: skip


@lru_cache(maxsize=1)
def _valid_cases() -> pd.DataFrame:
    from soteria_eval.simulate.output import default_data

    cases = pd.read_parquet(default_data() / "case_records.parquet")
    sample = cases.groupby("force", group_keys=False).head(3)
    return sample.astype({c: "string" for c in sample.columns}).astype(object)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_case_records_exit_cleanly_never_a_traceback(data: st.DataObject) -> None:
    """Random cells of valid case records replaced by hostile text: a clean pass or issues."""
    from soteria_eval.data import DataValidationError, load_rollout
    from soteria_eval.pipeline.inputs import InputData

    df = _valid_cases().copy()
    dates = {c: df[c].str[:10] for c in df.columns if c.endswith("_date")}
    for c, v in dates.items():
        df[c] = v
    df = df.fillna("")
    for _ in range(data.draw(st.integers(1, 3))):
        column = data.draw(st.sampled_from(list(df.columns)))
        row = data.draw(st.integers(0, len(df) - 1))
        value = data.draw(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12)))
        df.loc[row, column] = value
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        df.to_csv(folder / "case_records.csv", index=False)
        report = validate_file(folder / "case_records.csv", "case_records")
        for issue in report.issues:
            assert issue.file and issue.rule, str(issue)
        try:
            InputData(folder, load_rollout()).validate_all()
        except DataValidationError as exc:
            assert exc.issues
