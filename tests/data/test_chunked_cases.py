"""Case records are read in chunks: rows are located, and rules across chunks still hold."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from soteria_eval.data import DataValidationError, load_cases, reader, validate_file


@pytest.fixture
def cases_csv(tmp_path: Path, small_data: Path) -> Path:
    c = pd.read_parquet(small_data / "case_records.parquet").head(40)
    path = tmp_path / "case_records.csv"
    c.to_csv(path, index=False, date_format="%Y-%m-%d")
    return path


@pytest.mark.parametrize("chunk", [7, 40, 1000])
def test_rows_are_located_across_chunks(
    cases_csv: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(reader, "CHUNK_ROWS", chunk)
    t = pd.read_csv(cases_csv, dtype=str, keep_default_na=False)
    t.loc[28, "report_date"] = "2099-01-01"  # row 30 of the file
    t.loc[23, "case_id"] = t.loc[1, "case_id"]  # rows 3 and 25: in different chunks of 7
    t.loc[35, "action_plans"] = "inf"  # row 37
    t.to_csv(cases_csv, index=False)
    report = validate_file(cases_csv, "case_records")
    by_rule = {i.rule: i for i in report.issues}
    assert by_rule["date-range"].rows == (30,) and by_rule["date-range"].column == "report_date"
    assert by_rule["unique"].rows == (3, 25)
    assert by_rule["not-finite"].rows == (37,)
    assert len([i for i in report.issues if i.rule == "unique"]) == 1  # merged across chunks


def test_chunked_and_whole_reads_give_the_same_frame(
    cases_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = load_cases(cases_csv)
    monkeypatch.setattr(reader, "CHUNK_ROWS", 6)
    chunked = load_cases(cases_csv)
    pd.testing.assert_frame_equal(whole, chunked)
    assert whole["force"].is_monotonic_increasing


def test_a_header_problem_is_reported_once(
    cases_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "CHUNK_ROWS", 5)
    t = pd.read_csv(cases_csv, dtype=str, keep_default_na=False).assign(extra="x")
    t.to_csv(cases_csv, index=False)
    with pytest.raises(DataValidationError) as err:
        load_cases(cases_csv)
    assert [i.rule for i in err.value.issues] == ["extra-column"]
