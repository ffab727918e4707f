"""Connect to a dask.distributed scheduler, with a checked address and a bounded wait."""

from __future__ import annotations

import re
from typing import Any

#: ``host:port`` with an optional scheme (tcp, tls, ws, wss, ucx; host: a name or IPv4
#: address), or dask's in-process address ``inproc://...``.
_ADDRESS = re.compile(r"^(?:(tcp|tls|ws|wss|ucx)://)?([A-Za-z0-9][A-Za-z0-9.\-]*):(\d{1,5})$")
_INPROC = re.compile(r"^inproc://[\w.\-/]+$")
#: Seconds to wait for the scheduler to answer.
TIMEOUT = 10


class SchedulerError(ValueError):
    """The scheduler address is malformed or nothing answers there."""


def check_address(address: str) -> str:
    """Return ``address`` if it reads ``[tcp://|tls://]host:port``; raise :class:`SchedulerError`."""
    if _INPROC.match(address.strip()):
        return address.strip()
    m = _ADDRESS.match(address.strip())
    if m is None or not 0 < int(m.group(3)) < 65536:
        raise SchedulerError(
            f"--scheduler {address!r} is not a scheduler address; write host:port or "
            "tcp://host:port (dask's scheduler prints it when it starts)"
        )
    return address.strip()


def connect(address: str) -> Any:
    """Return a ``distributed.Client`` on ``address`` (waits at most :data:`TIMEOUT` seconds)."""
    checked = check_address(address)
    try:
        from distributed import Client
    except ImportError as exc:
        raise SchedulerError(
            "--scheduler needs dask.distributed: pip install 'soteria-eval[dask]'"
        ) from exc
    try:
        return Client(checked, timeout=TIMEOUT)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise SchedulerError(
            f"--scheduler {checked}: no scheduler answered within {TIMEOUT} s ({exc})"
        ) from exc
