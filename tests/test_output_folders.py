"""Output folders: only new, empty or tool-made folders are ever replaced."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
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


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = AtomicOutputDir(out)
    with pytest.raises(OutputFolderError, match="another soteria-eval process is writing it"):
        AtomicOutputDir(out)
    (first.tmp / "a.txt").write_text("1")
    first.commit()
    assert (out / "a.txt").read_text() == "1"
    assert not (tmp_path / ".out.lock").exists()  # released and removed
    second = AtomicOutputDir(out)  # the lock is free again
    second.abort()
    assert (out / "a.txt").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_leftovers_of_a_killed_run_are_removed_by_the_next(tmp_path: Path) -> None:
    (tmp_path / ".out.partial-abc123").mkdir()
    (tmp_path / ".out.partial-abc123" / "half.csv").write_text("x")
    (tmp_path / ".other.partial-zzz").mkdir()  # another target's: not ours to remove
    writer = AtomicOutputDir(tmp_path / "out")
    writer.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.partial-zzz", "out"]


def test_a_read_only_parent_is_refused_cleanly(tmp_path: Path) -> None:
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        if os.access(parent, os.W_OK):  # running as root: permissions are not enforced
            pytest.skip("permissions not enforced for this user")
        with pytest.raises(OutputFolderError, match="cannot write beside it"):
            AtomicOutputDir(parent / "out")
        res = CliRunner().invoke(
            main, ["simulate", "--out", str(parent / "out"), "--scale", "0.01"]
        )
        assert res.exit_code == 2 and "cannot write beside it" in res.output
    finally:
        parent.chmod(0o755)


def _slow_plan(folder: Path, *, rows: int, sleep: float = 0.0) -> Path:
    """A plan whose one analysis waits ``sleep`` seconds (or until a file ``go`` appears)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "writer.py").write_text(
        "import time\nfrom pathlib import Path\nimport pandas as pd\n"
        "from soteria_eval.pipeline import AnalysisOutput\n\n"
        "def run(ctx):\n"
        f"    end = time.monotonic() + {sleep}\n"
        f"    while time.monotonic() < end and not Path({str(folder / 'go')!r}).exists():\n"
        "        time.sleep(0.05)\n"
        "    out = AnalysisOutput()\n"
        f"    out.tables['big'] = pd.DataFrame({{'label': ['row %08d' % i for i in range({rows})]}})\n"
        "    return out\n"
    )
    plan = folder / "plan.yaml"
    plan.write_text("version: 1\nanalyses:\n  - id: writer\n    script: writer.py\n")
    return plan


def _cli(plan: Path, data: Path, out: Path, **kw: object) -> subprocess.Popen[str]:
    """Start ``soteria-eval run`` in its own process, as a user's shell would."""
    args = ["--plan", str(plan), "--data", str(data), "--out", str(out)]
    return subprocess.Popen(
        [sys.executable, "-m", "soteria_eval.cli", "run", "--quiet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,  # type: ignore[call-overload]
    )


def _wait_until_writing(folder: Path, timeout: float = 120) -> None:
    """Wait until a run has made its temporary output folder in ``folder``."""
    deadline = time.monotonic() + timeout
    while not list(folder.glob(".out.partial-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(folder.glob(".out.partial-*")), "the run never started writing"


def test_a_file_size_limit_leaves_the_previous_output_intact(
    tmp_path: Path, tiny_data: Path
) -> None:
    out = tmp_path / "out"
    good = _cli(_slow_plan(tmp_path / "a", rows=10), tiny_data, out)
    assert good.wait(300) == 0, good.communicate()
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    big = _cli(_slow_plan(tmp_path / "b", rows=20_000), tiny_data, out, preexec_fn=limit)
    _, err = big.communicate(timeout=300)
    assert big.returncode == 1, err
    assert "outputs could not be written" in err and "previous outputs kept" in err
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "out"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_clean_up_like_sigint(
    tmp_path: Path, tiny_data: Path, sig: signal.Signals
) -> None:
    out = tmp_path / "out"
    proc = _cli(_slow_plan(tmp_path / "p", rows=10, sleep=120), tiny_data, out)
    _wait_until_writing(tmp_path)
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert f"stopped by signal {sig.name}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]


def test_two_concurrent_runs_leave_one_output_and_one_clear_error(
    tmp_path: Path, tiny_data: Path
) -> None:
    out = tmp_path / "out"
    plan = _slow_plan(tmp_path / "p", rows=10, sleep=240)
    first = _cli(plan, tiny_data, out)
    _wait_until_writing(tmp_path)
    second = _cli(plan, tiny_data, out)
    _, err2 = second.communicate(timeout=300)
    (tmp_path / "p" / "go").write_text("")  # let the first run finish
    _, err1 = first.communicate(timeout=300)
    assert first.returncode == 0, err1
    assert second.returncode == 2 and "another soteria-eval process is writing it" in err2
    assert (out / OUTPUT_MARKER).is_file() and (out / "tables" / "big.csv").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "p"]


def test_a_users_file_named_like_the_lock_is_left_alone(tmp_path: Path) -> None:
    mine = tmp_path / ".res.lock"
    mine.write_text("my notes")
    with pytest.raises(OutputFolderError, match="not a soteria-eval lock"):
        AtomicOutputDir(tmp_path / "res")
    assert mine.read_text() == "my notes"
    assert not (tmp_path / "res").exists()
    r = CliRunner().invoke(main, ["placebo", "--panel", "x.csv", "--outcome", "y", "--out",
                                  str(tmp_path / "res")])  # fmt: skip
    assert r.exit_code == 2 and mine.read_text() == "my notes"
    # an empty lock left by a killed run is ours: taken over and removed on release
    (tmp_path / ".out.lock").write_text("")
    AtomicOutputDir(tmp_path / "out").abort()
    assert not (tmp_path / ".out.lock").exists()


def test_book_refuses_to_build_over_the_results(tmp_path: Path) -> None:
    from soteria_eval.bookbuild import build_book

    res = tmp_path / "res"
    w = AtomicOutputDir(res)
    (w.tmp / "results.csv").write_text("measure\n")
    w.commit()
    for out in (res, res / "site", tmp_path):
        with pytest.raises(OutputFolderError, match="may not be, hold or lie inside --results"):
            build_book(res, out)
    assert (res / "results.csv").read_text() == "measure\n"
    r = CliRunner().invoke(main, ["book", "--results", str(res), "--out", str(res)])
    assert r.exit_code == 2 and "--results" in r.output
    assert (res / "results.csv").is_file()


def test_sigterm_during_simulate_exits_130_and_keeps_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "soteria_eval.cli", "simulate", "--out", str(out), "--scale", "0.3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _wait_until_writing(tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "simulation interrupted" in err and "Aborted!" not in err
    assert not out.exists()
