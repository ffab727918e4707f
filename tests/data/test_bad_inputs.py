"""Each kind of bad input is caught, located (file, column, row) and named by its rule."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from soteria_eval.cli import main
from soteria_eval.data import (
    DataValidationError,
    load_cases,
    load_panel,
    load_rollout,
    validate_file,
)
from tests.conftest import EXAMPLES, valid_panel


@dataclass
class Case:
    name: str
    kind: str
    make: Callable[[Path], Path]
    rule: str
    column: str | None = None
    row: int | None = None  # a row that must be named (header = row 1)


def write_df(df: pd.DataFrame, name: str = "f.csv") -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        p = tmp / name
        df.to_csv(p, index=False)
        return p

    return make


def write_bytes(data: bytes, name: str = "f.csv") -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        p = tmp / name
        p.write_bytes(data)
        return p

    return make


def panel_with(fn: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], Path]:
    return write_df(fn(valid_panel()))


def cases_with(fn: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], Path]:
    df = pd.read_csv(EXAMPLES / "case_records.csv", dtype=str, keep_default_na=False)
    return write_df(fn(df))


def rollout_with(fn: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], Path]:
    from tests.conftest import REPO

    df = pd.read_csv(REPO / "data_dictionary/data/rollout.csv", dtype=str, keep_default_na=False)
    return write_df(fn(df))


def setcell(df: pd.DataFrame, row: int, col: str, value: object) -> pd.DataFrame:
    df = df.copy()
    df[col] = df[col].astype(object)
    df.loc[row, col] = value
    return df


PANEL_CSV = valid_panel().to_csv(index=False)

CASES: list[Case] = [
    Case(
        "missing column",
        "panel",
        panel_with(lambda d: d.drop(columns="measure")),
        "missing-column",
        "measure",
        1,
    ),
    Case(
        "extra column",
        "panel",
        panel_with(lambda d: d.assign(colour="red")),
        "extra-column",
        "colour",
        1,
    ),
    Case(
        "duplicate column",
        "panel",
        write_bytes(PANEL_CSV.replace("numerator,denominator", "numerator,numerator", 1).encode()),
        "duplicate-column",
        "numerator",
        1,
    ),
    Case(
        "wrong type (text in a number)",
        "panel",
        panel_with(lambda d: setcell(d, 4, "value", "twelve")),
        "type",
        "value",
        6,
    ),
    Case("empty file", "panel", write_bytes(b""), "empty-file"),
    Case(
        "header only",
        "panel",
        write_bytes(b"level,unit,period,measure,value,numerator,denominator\n"),
        "no-rows",
    ),
    Case(
        "semicolon delimiter",
        "panel",
        write_bytes(PANEL_CSV.replace(",", ";").encode()),
        "delimiter",
        None,
        1,
    ),
    Case(
        "latin-1 encoding",
        "panel",
        write_bytes(PANEL_CSV.replace("Kent", "K\u00e9nt").encode("latin-1")),
        "encoding",
    ),
    Case("utf-16 encoding", "panel", write_bytes(PANEL_CSV.encode("utf-16")), "encoding"),
    Case(
        "unknown force (suggests)",
        "panel",
        panel_with(lambda d: setcell(d, 0, "unit", "Durhamm")),
        "unknown-unit",
        "unit",
        2,
    ),
    Case(
        "Area name at force level",
        "panel",
        panel_with(lambda d: setcell(d, 0, "unit", "North East")),
        "wrong-level",
        "unit",
        2,
    ),
    Case(
        "duplicate unit-period rows",
        "panel",
        panel_with(lambda d: pd.concat([d, d.iloc[[3]]], ignore_index=True)),
        "duplicate-key",
        None,
        5,
    ),
    Case(
        "gap in the period sequence",
        "panel",
        panel_with(lambda d: d[d["period"] != "2021-Q2"]),
        "period-gap",
        "period",
    ),
    Case(
        "negative count",
        "panel",
        panel_with(lambda d: setcell(d, 0, "value", -3)),
        "negative-count",
        "value",
        2,
    ),
    Case(
        "negative numerator",
        "panel",
        panel_with(lambda d: setcell(d, 1, "numerator", -3)),
        "minimum",
        "numerator",
        3,
    ),
    Case(
        "numerator above denominator",
        "panel",
        # A share (an outcome rate such as police_charge_rate may exceed its denominator).
        panel_with(
            lambda d: setcell(setcell(d, 1, "measure", "cps_charge_rate"), 1, "numerator", 500)
        ),
        "numerator-exceeds-denominator",
        "numerator",
        3,
    ),
    Case(
        "proportion outside [0, 1]",
        "panel",
        panel_with(lambda d: setcell(setcell(d, 1, "measure", "cps_charge_rate"), 1, "value", 5.5)),
        "proportion-range",
        "value",
        3,
    ),
    Case(
        "value not numerator/denominator",
        "panel",
        panel_with(lambda d: setcell(d, 1, "value", 0.9)),
        "inconsistent-ratio",
        "value",
        3,
    ),
    Case(
        "count above its own numerator",
        "panel",
        panel_with(lambda d: setcell(setcell(d, 0, "value", 12), 0, "numerator", 3)),
        "count-numerator",
        "value",
        2,
    ),
    Case(
        "unknown measure (suggests)",
        "panel",
        panel_with(lambda d: setcell(d, 0, "measure", "charge")),
        "unknown-measure",
        "measure",
        2,
    ),
    Case(
        "malformed period label",
        "panel",
        panel_with(lambda d: setcell(d, 0, "period", "2020 Q1")),
        "pattern",
        "period",
        2,
    ),
    Case(
        "mixed frequencies",
        "panel",
        panel_with(lambda d: setcell(d, 0, "period", "2020-01")),
        "mixed-frequency",
        "period",
        2,
    ),
    Case(
        "bad level",
        "panel",
        panel_with(lambda d: setcell(d, 0, "level", "region")),
        "enum",
        "level",
        2,
    ),
    Case(
        "missing required value",
        "panel",
        panel_with(lambda d: setcell(d, 2, "unit", "")),
        "required",
        "unit",
        4,
    ),
    Case(
        "dates out of order (charged before reported)",
        "case_records",
        cases_with(lambda d: setcell(d, 0, "charge_decision_date", "2021-01-01")),
        "date-order",
        "charge_decision_date",
        2,
    ),
    Case(
        "impossible date",
        "case_records",
        cases_with(lambda d: setcell(d, 1, "report_date", "2021-02-30")),
        "impossible-date",
        "report_date",
        3,
    ),
    Case(
        "date in the wrong format",
        "case_records",
        cases_with(lambda d: setcell(d, 1, "report_date", "09/11/2021")),
        "type",
        "report_date",
        3,
    ),
    Case(
        "unknown outcome code",
        "case_records",
        cases_with(lambda d: setcell(d, 1, "outcome", "99")),
        "enum",
        "outcome",
        3,
    ),
    Case(
        "duplicate case id",
        "case_records",
        cases_with(lambda d: setcell(d, 1, "case_id", "EX-000001")),
        "unique",
        "case_id",
        3,
    ),
    Case(
        "invalid yes/no",
        "case_records",
        cases_with(lambda d: setcell(d, 0, "isva_engaged", "maybe")),
        "type",
        "isva_engaged",
        2,
    ),
    Case(
        "satisfaction out of range",
        "case_records",
        cases_with(lambda d: setcell(d, 0, "satisfaction", "9")),
        "maximum",
        "satisfaction",
        2,
    ),
    Case(
        "decision without its date",
        "case_records",
        cases_with(lambda d: setcell(d, 0, "charge_decision_date", "")),
        "required-if",
        "charge_decision_date",
        2,
    ),
    Case(
        "fractional action plans",
        "case_records",
        cases_with(lambda d: setcell(d, 0, "action_plans", "1.5")),
        "type",
        "action_plans",
        2,
    ),
    Case(
        "rollout phases go backwards",
        "rollout",
        rollout_with(
            lambda d: d.assign(start_date=d["start_date"].where(d["phase"] != "2", "2020-01-01"))
        ),
        "phase-order",
        "start_date",
        7,
    ),
    Case(
        "rollout unknown force",
        "rollout",
        rollout_with(lambda d: setcell(d, 0, "unit", "Avon & Somerset")),
        "unknown-unit",
        "unit",
        2,
    ),
    Case(
        "rollout phase out of range",
        "rollout",
        rollout_with(lambda d: setcell(d, 0, "phase", "4")),
        "maximum",
        "phase",
        2,
    ),
    Case("unrecognisable table", None, write_bytes(b"a,b,c\n1,2,3\n"), "unknown-table", None, 1),  # type: ignore[arg-type]
]


def test_at_least_25_kinds() -> None:
    assert len({c.rule for c in CASES}) >= 25
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_located(case: Case, tmp_path: Path) -> None:
    path = case.make(tmp_path)
    report = validate_file(path, case.kind)  # type: ignore[arg-type]
    assert not report.ok
    hits = [i for i in report.issues if i.rule == case.rule]
    assert hits, f"rule {case.rule!r} not reported; got {[str(i) for i in report.issues]}"
    issue = hits[0]
    assert issue.file == str(path)
    if case.column is not None:
        assert issue.column == case.column
    if case.row is not None:
        assert case.row in issue.rows, issue
    text = str(issue)
    assert str(path) in text and f"[{case.rule}]" in text


def test_unknown_names_suggest_the_closest(tmp_path: Path) -> None:
    p = panel_with(lambda d: setcell(d, 0, "unit", "Durhamm"))(tmp_path)
    (issue,) = [i for i in validate_file(p).issues if i.rule == "unknown-unit"]
    assert "did you mean 'Durham'" in issue.message
    p = rollout_with(lambda d: setcell(d, 0, "unit", "Avon & Somerset"))(tmp_path)
    (issue,) = [i for i in validate_file(p).issues if i.rule == "unknown-unit"]
    assert "did you mean 'Avon and Somerset'" in issue.message


def test_all_problems_reported_in_one_pass(tmp_path: Path) -> None:
    def many(d: pd.DataFrame) -> pd.DataFrame:
        d = setcell(d, 0, "unit", "Durhamm")
        d = setcell(setcell(d, 1, "measure", "cps_charge_rate"), 1, "value", 7.0)
        d = setcell(d, 2, "measure", "nonsense")
        return d.assign(extra=1)

    p = panel_with(many)(tmp_path)
    with pytest.raises(DataValidationError) as info:
        load_panel(p)
    assert {
        "unknown-unit",
        "proportion-range",
        "unknown-measure",
        "extra-column",
    } <= info.value.rules


def test_panel_against_rollout(tmp_path: Path) -> None:
    rollout = load_rollout()
    # A panel that starts after Durham's launch has no pre-period for Durham.
    late = valid_panel(periods=["2022-Q1", "2022-Q2", "2022-Q3"])
    p = write_df(late)(tmp_path)
    issues = validate_file(p, rollout=rollout).issues
    assert [i.rule for i in issues] == ["no-pre-period"]
    assert "Durham" in issues[0].message and 2 in issues[0].rows
    # A unit with no rollout entry.
    rt = rollout.table[rollout.table["unit"] != "Kent"]
    from soteria_eval.rollout import Rollout

    issues = validate_file(write_df(valid_panel(), "g.csv")(tmp_path), rollout=Rollout(rt)).issues
    assert [i.rule for i in issues] == ["no-rollout-entry"]
    assert "Kent" in issues[0].message


def test_cli_exits_2_and_names_column_row_rule(tmp_path: Path) -> None:
    p = panel_with(lambda d: setcell(d, 4, "value", "twelve"))(tmp_path)
    out_dir = tmp_path / "out"
    result = CliRunner().invoke(main, ["validate", str(p)])
    assert result.exit_code == 2
    assert (
        "column 'value'" in result.output and "row 6" in result.output and "[type]" in result.output
    )
    assert not out_dir.exists()


def test_cli_kind_override(tmp_path: Path) -> None:
    p = write_df(valid_panel())(tmp_path)
    result = CliRunner().invoke(main, ["validate", "--kind", "case_records", str(p)])
    assert result.exit_code == 2 and "missing-column" in result.output


def test_loaders_return_typed_sorted_frames(tmp_path: Path) -> None:
    df = valid_panel().sample(frac=1.0, random_state=1)
    panel = load_panel(write_df(df)(tmp_path))
    assert panel.attrs["freq"] == "quarter"
    assert str(panel["value"].dtype) == "float64"
    first = panel[(panel["unit"] == "Durham") & (panel["measure"] == "charges")]["period"].tolist()
    assert first == sorted(first)
    cases = load_cases(EXAMPLES / "case_records.csv")
    assert str(cases["report_date"].dtype).startswith("datetime64")
    assert str(cases["isva_engaged"].dtype) == "boolean"
    assert cases["force"].is_monotonic_increasing


def test_parquet_is_read_and_validated(tmp_path: Path) -> None:
    df = valid_panel()
    p = tmp_path / "panel.parquet"
    df.to_parquet(p)
    assert validate_file(p).ok
    bad = setcell(df, 0, "value", -1.0)
    bad["value"] = bad["value"].astype(float)
    bad.to_parquet(p)
    (issue,) = validate_file(p).issues
    assert issue.rule == "negative-count" and issue.rows == (1,)
