"""Scheduler addresses are checked before dask sees them; nothing listening is a clear error."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from soteria_eval import _scheduler
from soteria_eval.cli import main


@pytest.mark.parametrize("good", ["tcp://127.0.0.1:8786", "localhost:8786", "tls://a.b-c:1"])
def test_well_formed_addresses_pass(good: str) -> None:
    assert _scheduler.check_address(good) == good


@pytest.mark.parametrize(
    "bad", ["", "nonsense", "http://", "http://host:8786", "tcp://host", "host:0", "host:70000"]
)
def test_malformed_addresses_are_refused(bad: str) -> None:
    with pytest.raises(_scheduler.SchedulerError, match="not a scheduler address"):
        _scheduler.check_address(bad)


def test_nothing_listening_is_a_scheduler_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(_scheduler, "TIMEOUT", 1)
    with pytest.raises(_scheduler.SchedulerError, match="no scheduler answered"):
        _scheduler.connect(f"tcp://127.0.0.1:{port}")


@pytest.mark.parametrize("bad", ["nonsense", "", "http://"])
def test_recovery_refuses_a_malformed_scheduler_before_work(tmp_path: Path, bad: str) -> None:
    r = CliRunner().invoke(
        main, ["recovery", "--seeds", "1", "--out", str(tmp_path / "r"), "--scheduler", bad]
    )
    assert r.exit_code == 2, r.output
    assert "not a scheduler address" in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert not (tmp_path / "r").exists()
