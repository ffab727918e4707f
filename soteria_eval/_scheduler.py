"""Spread a study's tasks over processes or a dask cluster (checked address, bounded wait)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

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


def map_tasks(
    fn: Callable[..., T],
    tasks: Sequence[tuple[Any, ...]],
    *,
    n_jobs: int = 1,
    scheduler: str | None = None,
    progress: bool = False,
    desc: str = "",
) -> list[T]:
    """Return ``[fn(*task) for task in tasks]``, in order, run where the caller says.

    One process when ``n_jobs`` is 1 and no ``scheduler``; else joblib's loky processes
    (``n_jobs``) or a ``dask.distributed`` cluster at ``scheduler`` (joblib's dask
    backend). A progress bar (tqdm) when ``progress``. Studies seed every task from its
    own arguments, so results do not depend on where they ran.
    """
    import joblib
    from tqdm.auto import tqdm

    if n_jobs == 1 and scheduler is None:
        return [fn(*t) for t in tqdm(tasks, disable=not progress, desc=desc)]
    client = connect(scheduler) if scheduler is not None else None
    try:
        backend = "dask" if client is not None else "loky"
        with joblib.parallel_config(backend=backend, n_jobs=n_jobs if client is None else -1):
            gen = joblib.Parallel(return_as="generator")(joblib.delayed(fn)(*t) for t in tasks)
            return list(tqdm(gen, total=len(tasks), disable=not progress, desc=desc))
    finally:
        if client is not None:
            client.close()
