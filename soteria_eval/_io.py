"""Small file helpers shared by the simulator and the pipeline: atomic folders, hashes, JSON."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks
    fcntl = None  # type: ignore[assignment]


def sha256_file(path: Path) -> str:
    """Return the hex SHA-256 of a file."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path: Path, obj: Mapping[str, Any] | Sequence[Any]) -> None:
    """Write JSON with sorted keys and a final newline (stable bytes)."""
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")


#: Written into every folder this package commits; only such folders may be replaced.
OUTPUT_MARKER = ".soteria-eval-output"


class OutputFolderError(ValueError):
    """An output folder that must not be replaced (it holds something this tool did not write)."""


def check_output_folder(target: Path) -> None:
    """Raise :class:`OutputFolderError` unless ``target`` may be (re)written.

    Allowed: a folder that does not exist yet, an empty folder, or a folder this package
    wrote before (it holds :data:`OUTPUT_MARKER`). Anything else — a file, the current
    folder or one of its parents, a folder with other contents — is refused, never deleted.
    """
    t = target.resolve()
    if not t.exists():
        return
    if not t.is_dir():
        raise OutputFolderError(f"{target}: exists and is not a folder; choose a new output folder")
    cwd = Path.cwd().resolve()
    if t == cwd or t in cwd.parents:
        raise OutputFolderError(
            f"{target}: is the current folder or contains it; choose a new output folder"
        )
    if (t / OUTPUT_MARKER).is_file() or not any(t.iterdir()):
        return
    raise OutputFolderError(
        f"{target}: exists and was not written by soteria-eval (no {OUTPUT_MARKER} file); "
        "it is left untouched: choose a new output folder"
    )


class OutputWriteError(OSError):
    """Writing the outputs failed (disk full, file-size limit, I/O error); nothing was replaced."""


#: errno values that mean "the outputs cannot be written", not "the analysis is wrong".
WRITE_ERRNOS = frozenset(
    {errno.EFBIG, errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EACCES}
)


def _fsync_tree(folder: Path) -> None:
    """Flush every file and folder under ``folder`` (and the folder itself) to disk."""
    for path in sorted(folder.rglob("*"), key=lambda q: len(q.parts), reverse=True):
        if path.is_file() and not path.is_symlink():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    for d in [*(q for q in folder.rglob("*") if q.is_dir()), folder]:
        _fsync_dir(d)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory descriptors
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on folders
        pass
    finally:
        os.close(fd)


class AtomicOutputDir:
    """A private temporary folder that replaces ``target`` on :meth:`commit`.

    - Only a folder that :func:`check_output_folder` allows is ever replaced.
    - A lock (``.<name>.lock`` beside the target, removed on release) is held from creation
      to commit or abort: a second writer to the same target is refused with
      :class:`OutputFolderError`.
    - The temporary folder has a unique name (``.<name>.partial-XXXX``); leftovers of a
      killed run are removed by the next run that holds the lock.
    - :meth:`commit` flushes every file to disk, then swaps folders by renames; if the swap
      fails, the previous target is put back. Until commit, ``target`` is untouched.
    """

    def __init__(self, target: Path) -> None:
        check_output_folder(target)
        self.target = target.resolve()
        parent, name = self.target.parent, self.target.name
        self._lock_fd: int | None = None
        self._lock_path = parent / f".{name}.lock"
        lock = self._lock_path
        # Our lock files are empty regular files: anything else there is someone's own file.
        if lock.is_symlink() or (lock.exists() and (not lock.is_file() or lock.stat().st_size)):
            raise OutputFolderError(
                f"{target}: {lock.name} beside it is not a soteria-eval lock (a link, a folder "
                "or a file with content); it is left alone: rename it or choose another folder"
            )
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputFolderError(
                f"{target}: cannot write beside it ({exc.strerror}); choose a writable folder"
            ) from exc
        if fcntl is not None:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                # The holder removes the lock file on release: a lock taken on a file that
                # was removed meanwhile is not the current lock.
                if os.stat(self._lock_path).st_ino != os.fstat(self._lock_fd).st_ino:
                    raise BlockingIOError
            except OSError as exc:
                os.close(self._lock_fd)
                self._lock_fd = None
                raise OutputFolderError(
                    f"{target}: another soteria-eval process is writing it; wait for it to "
                    "finish or choose another output folder"
                ) from exc
        for stale in parent.iterdir():  # leftovers of killed runs: ours, since we hold the lock
            if (
                stale.is_dir()
                and not stale.is_symlink()
                and (
                    stale.name.startswith(f".{name}.partial-")
                    or stale.name.startswith(f".{name}.old-")
                )
            ):
                shutil.rmtree(stale, ignore_errors=True)
        try:
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=parent))
        except OSError as exc:
            self._release()
            raise OutputFolderError(
                f"{target}: cannot write beside it ({exc.strerror}); choose a writable folder"
            ) from exc

    def _release(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                self._lock_path.unlink()  # while still holding it (see __init__)
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def commit(self) -> None:
        """Flush the finished temporary folder to disk and swap it into place.

        Raises
        ------
        OutputWriteError
            If the files cannot be flushed or the swap fails; ``target`` is then as before.
        """
        try:
            (self.tmp / OUTPUT_MARKER).write_text(
                "This folder was written by soteria-eval; the tool may replace it.\n",
                encoding="utf-8",
            )
            _fsync_tree(self.tmp)
            check_output_folder(self.target)
        except OSError as exc:
            self.abort()
            raise OutputWriteError(
                exc.errno, f"{self.target}: outputs not written ({exc}); previous outputs kept"
            ) from exc
        old = self.tmp.with_name(self.tmp.name.replace(".partial-", ".old-"))
        moved = False
        try:
            if self.target.exists():
                os.replace(self.target, old)
                moved = True
            os.replace(self.tmp, self.target)
        except OSError as exc:
            if moved and not self.target.exists():
                os.replace(old, self.target)
            self.abort()
            raise OutputWriteError(
                exc.errno, f"{self.target}: outputs not swapped in ({exc}); previous outputs kept"
            ) from exc
        _fsync_dir(self.target.parent)
        shutil.rmtree(old, ignore_errors=True)
        self._release()

    def abort(self) -> None:
        """Remove the temporary folder (best effort), leaving ``target`` as it was."""
        shutil.rmtree(self.tmp, ignore_errors=True)
        self._release()


@contextmanager
def interrupt_on_termination() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`KeyboardInterrupt` like SIGINT.

    So a run stopped by ``kill`` or a closed terminal cleans up its temporary folder and
    leaves the previous outputs intact. Outside the main thread it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"stopped by signal {signal.Signals(signum).name}")

    wanted = [signal.SIGTERM, *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])]
    previous = {sig: signal.signal(sig, _raise) for sig in wanted}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def write_study(
    out: str | Path, tables: Mapping[str, Any], meta_name: str, meta: Mapping[str, Any]
) -> Path:
    """Write a study's tables (CSV, stable bytes) and one JSON record into ``out`` atomically.

    ``tables`` maps file names to data frames; the folder is replaced only when every file
    is written (:class:`AtomicOutputDir`), so a failure leaves the previous one as it was.
    """
    target = AtomicOutputDir(Path(out))
    try:
        for name, frame in tables.items():
            frame.to_csv(target.tmp / name, lineterminator="\n", float_format="%.10g", index=False)
        write_json(target.tmp / meta_name, meta)
    except BaseException:
        target.abort()
        raise
    target.commit()
    return Path(out)
