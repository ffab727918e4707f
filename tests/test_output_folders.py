"""Output folders: only new, empty or tool-made folders are ever replaced."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from soteria_eval._io import OUTPUT_MARKER, AtomicOutputDir, OutputFolderError
from soteria_eval.cli import main


def _foreign(path: Path) -> Path:
    path.mkdir()
    (path / "thesis.docx").write_text("a user's own work")
    return path


def test_foreign_folder_is_refused_and_kept(tmp_path: Path) -> None:
    folder = _foreign(tmp_path / "mine")
    with pytest.raises(OutputFolderError, match="not written by soteria-eval"):
        AtomicOutputDir(folder)
    assert (folder / "thesis.docx").read_text() == "a user's own work"


def test_tool_made_folder_is_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = AtomicOutputDir(out)
    (first.tmp / "a.txt").write_text("1")
    first.commit()
    assert (out / OUTPUT_MARKER).is_file()
    second = AtomicOutputDir(out)
    (second.tmp / "b.txt").write_text("2")
    second.commit()
    assert (out / "b.txt").is_file() and not (out / "a.txt").exists()


def test_a_file_and_the_current_folder_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "results"
    f.write_text("x")
    with pytest.raises(OutputFolderError, match="not a folder"):
        AtomicOutputDir(f)
    work = tmp_path / "work"
    work.mkdir()
    (work / OUTPUT_MARKER).write_text("")  # even a tool-made current folder is not replaced
    monkeypatch.chdir(work)
    with pytest.raises(OutputFolderError, match="current folder"):
        AtomicOutputDir(Path("."))
    with pytest.raises(OutputFolderError, match="current folder"):
        AtomicOutputDir(Path(".."))
    assert os.getcwd() == str(work.resolve())


@pytest.mark.parametrize("command", ["recovery", "simulate"])
def test_cli_exits_2_on_a_foreign_out(tmp_path: Path, command: str) -> None:
    folder = _foreign(tmp_path / "mine")
    args = [command, "--out", str(folder), "--scale", "0.01"]
    if command == "recovery":
        args += ["--seeds", "1", "--quiet"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    assert "not written by soteria-eval" in res.output
    assert sorted(p.name for p in folder.iterdir()) == ["thesis.docx"]


def test_run_refuses_the_data_folder_as_out(small_data: Path, quick_plan: Path) -> None:
    before = sorted(p.name for p in small_data.iterdir())
    for out in (small_data, small_data.parent):
        res = CliRunner().invoke(
            main,
            [
                "run",
                "--plan",
                str(quick_plan),
                "--data",
                str(small_data),
                "--out",
                str(out),
                "--quiet",
            ],
        )
        assert res.exit_code == 2, res.output
        assert "data folder" in res.output or "not written by soteria-eval" in res.output
    assert sorted(p.name for p in small_data.iterdir()) == before
