"""Small file helpers shared by the simulator and the pipeline: atomic folders, hashes, JSON."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


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


class AtomicOutputDir:
    """A temporary folder that replaces ``target`` on :meth:`commit`.

    Until commit, the previous contents of ``target`` are untouched; a leftover
    temporary folder from a killed run is removed by the next run. Only a folder that
    :func:`check_output_folder` allows is ever replaced.
    """

    def __init__(self, target: Path) -> None:
        check_output_folder(target)
        self.target = target.resolve()
        self.tmp = self.target.with_name(f".{self.target.name}.partial")
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir(parents=True)

    def commit(self) -> None:
        """Swap the finished temporary folder into place."""
        (self.tmp / OUTPUT_MARKER).write_text(
            "This folder was written by soteria-eval; the tool may replace it.\n", encoding="utf-8"
        )
        old = self.target.with_name(f".{self.target.name}.old")
        if old.exists():
            shutil.rmtree(old)
        if self.target.exists():
            os.replace(self.target, old)
        os.replace(self.tmp, self.target)
        if old.exists():
            shutil.rmtree(old)

    def abort(self) -> None:
        """Remove the temporary folder, leaving ``target`` as it was."""
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
