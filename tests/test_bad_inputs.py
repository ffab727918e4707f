"""Hostile inputs: each exits 2 with the file, column, row and rule, and writes nothing."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from soteria_eval.cli import main
from soteria_eval.data import load_rollout
from soteria_eval.pipeline.inputs import read_metadata

TRIVIAL = "def run(ctx):\n    raise RuntimeError('validation should have stopped the run')\n"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, small_data: Path) -> Path:
    """A small valid folder: 60 cases of every force as CSV, the panel, metadata."""
    d = tmp_path_factory.mktemp("base") / "data"
    d.mkdir()
    cases = pd.read_parquet(small_data / "case_records.parquet")
    cases = cases.groupby("force", group_keys=False).head(60)
    cases.to_csv(d / "case_records.csv", index=False, date_format="%Y-%m-%d")
    shutil.copy(small_data / "panel_force_quarter.csv", d)
    (d / "metadata.json").write_text(json.dumps({"extract_date": "2025-12-31", "synthetic": True}))
    return d


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("plan")
    (d / "noop.py").write_text(TRIVIAL)
    (d / "plan.yaml").write_text("version: 1\nanalyses:\n  - id: noop\n    script: noop.py\n")
    return d / "plan.yaml"


def _run(data: Path, plan: Path, out: Path) -> tuple[int, str]:
    res = CliRunner().invoke(
        main, ["run", "--plan", str(plan), "--data", str(data), "--out", str(out), "--quiet"]
    )
    return res.exit_code, res.output


def _edit_cases(fn: Callable[[pd.DataFrame], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        c = pd.read_csv(folder / "case_records.csv", dtype=str, keep_default_na=False)
        fn(c)
        c.to_csv(folder / "case_records.csv", index=False)

    return edit


def _set(col: str, value: str, row: int = 0) -> Callable[[pd.DataFrame], None]:
    def fn(c: pd.DataFrame) -> None:
        c.loc[row, col] = value

    return fn


def _charge_before_report(c: pd.DataFrame) -> None:
    i = c.index[c["charge_decision_date"] != ""][0]
    c.loc[i, "referral_date"] = ""
    c.loc[i, "charge_decision_date"] = "2000-01-02"
    c.loc[i, "report_date"] = "2001-01-02"
    c.loc[i, "offence_date"] = "2000-01-01"


def _edit_panel(value: str, column: str = "value") -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        p = pd.read_csv(folder / "panel_force_quarter.csv", dtype=str, keep_default_na=False)
        p.loc[5, column] = value
        p.to_csv(folder / "panel_force_quarter.csv", index=False)

    return edit


def _metadata(raw: bytes) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        (folder / "metadata.json").write_bytes(raw)

    return edit


def _rollout(fn: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        from soteria_eval._paths import bundled_data_dir

        r = pd.read_csv(bundled_data_dir() / "rollout.csv", dtype=str, keep_default_na=False)
        fn(r).to_csv(folder / "rollout.csv", index=False)

    return edit


def _without_kent(r: pd.DataFrame) -> pd.DataFrame:
    return r[r["unit"] != "Kent"]


def _all_late(r: pd.DataFrame) -> pd.DataFrame:
    return r.assign(start_date="2030-01-01")


def _rename(old: str, new: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        (folder / old).rename(folder / new)

    return edit


def _symlink(folder: Path) -> None:
    os.symlink("/etc/hostname", folder / "notes.csv")


CASES: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "date in 2099": (_edit_cases(_set("report_date", "2099-03-01")), ["case_records.csv", "report_date", "row 2", "date-range", "after 2025-12-31"]),
    "date in 1890": (_edit_cases(_set("report_date", "1890-03-01")), ["report_date", "row 2", "date-range", "before 2000-01-01"]),
    "date in 9999": (_edit_cases(_set("report_date", "9999-12-31")), ["report_date", "row 2"]),
    "report after extract": (_edit_cases(_set("report_date", "2026-01-15")), ["report_date", "date-range", "2025-12-31 (the extract date)"]),
    "charge before report, no referral": (_edit_cases(_charge_before_report), ["charge_decision_date is earlier than report_date", "date-order"]),
    "inf in a panel value": (_edit_panel("inf"), ["panel_force_quarter.csv", "value", "row 7", "not-finite"]),
    "Infinity in a panel": (_edit_panel("Infinity", "numerator"), ["numerator", "row 7", "not-finite"]),
    "1e400 in a panel": (_edit_panel("1e400"), ["value", "row 7", "not-finite"]),
    "1e30 in an integer column": (_edit_cases(_set("action_plans", "1e30")), ["action_plans", "row 2", "out-of-range"]),
    "malformed metadata": (_metadata(b"{\"extract_date\": "), ["metadata.json", "not valid JSON"]),
    "metadata a list": (_metadata(b"[1, 2]"), ["metadata.json", "must be a JSON object"]),
    "metadata nested 100,000 deep": (_metadata(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"), ["metadata.json", "nested too deeply"]),
    "metadata nested 40 deep": (_metadata(b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}"), ["metadata.json", "nested more than 32 levels"]),
    "metadata not UTF-8": (_metadata(b"{\"notice\": \"\xff\"}"), ["metadata.json", "not UTF-8"]),
    "extract date not a date": (_metadata(b"{\"extract_date\": \"last week\"}"), ["extract_date", "YYYY-MM-DD"]),
    "synthetic as a string": (_metadata(b"{\"synthetic\": \"false\"}"), ["synthetic", "a JSON boolean, not a string"]),
    "rollout without Kent": (_rollout(_without_kent), ["rollout-coverage", "force 'Kent' has", "no row in the rollout"]),
    "every start after the data": (_rollout(_all_late), ["rollout-coverage", "every rollout start is after the last report"]),
    "near-miss case file name": (_rename("case_records.csv", "case_record.csv"), ["case_record.csv", "did you mean 'case_records.csv'"]),
    "near-miss panel name": (_rename("panel_force_quarter.csv", "panel-force-quarter.csv"), ["did you mean 'panel_force_quarter.csv'"]),
    "symlink": (_symlink, ["notes.csv", "symbolic link"]),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_exits_2_with_a_located_message(
    case: str, base: Path, plan: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(base, data)
    edit, fragments = CASES[case]
    edit(data)
    out = tmp_path / "out"
    code, output = _run(data, plan, out)
    assert code == 2, output
    assert "Traceback" not in output
    for f in fragments:
        assert f in output, (f, output)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


#: Cases ``validate`` must refuse as ``run`` does (it exited 0 on them).
VALIDATE_CASES = (
    "report after extract",
    "rollout without Kent",
    "every start after the data",
    "metadata nested 100,000 deep",
)


@pytest.mark.parametrize("case", VALIDATE_CASES)
def test_validate_refuses_what_run_refuses(case: str, base: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(base, data)
    edit, fragments = CASES[case]
    edit(data)
    res = CliRunner().invoke(main, ["validate", str(data)])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    for f in fragments:
        assert f in res.output, (f, res.output)


def test_the_valid_base_passes(base: Path, plan: Path, tmp_path: Path) -> None:
    """The hostile cases fail for their own reason: the untouched folder validates."""
    code, output = _run(base, plan, tmp_path / "out")
    assert code == 1 and "validation should have stopped the run" not in output  # ran noop
    assert "failed: noop" in output


def test_metadata_synthetic_must_be_a_json_boolean(tmp_path: Path) -> None:
    (tmp_path / "metadata.json").write_text('{"synthetic": true, "extract_date": "2024-03-31"}')
    meta, issues = read_metadata(tmp_path)
    assert meta["synthetic"] is True and not issues
    (tmp_path / "metadata.json").write_text('{"synthetic": "true"}')
    meta, issues = read_metadata(tmp_path)
    assert meta == {} and issues[0].column == "synthetic"


@pytest.mark.parametrize("out", ["/", "."])
def test_out_root_or_current_folder_exits_2(out: str, plan: Path, base: Path) -> None:
    code, output = _run(base, plan, Path(out))
    assert code == 2 and "Traceback" not in output


def test_rollout_fixture_is_the_bundled_one() -> None:
    assert "Kent" in set(load_rollout().table["unit"])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_validate_names_a_pipe_or_device_instead_of_waiting_on_it(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "case_records.csv")
    for target in (tmp_path, tmp_path / "case_records.csv", Path("/dev/zero")):
        res = CliRunner().invoke(main, ["validate", str(target)])
        assert res.exit_code == 2, res.output
        assert "[file-type] not a regular file" in res.output and "Traceback" not in res.output
