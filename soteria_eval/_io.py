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


class AtomicOutputDir:
    """A temporary folder that replaces ``target`` on :meth:`commit`.

    Until commit, the previous contents of ``target`` are untouched; a leftover
    temporary folder from a killed run is removed by the next run.
    """

    def __init__(self, target: Path) -> None:
        self.target = target.resolve()
        self.tmp = self.target.with_name(f".{self.target.name}.partial")
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir(parents=True)

    def commit(self) -> None:
        """Swap the finished temporary folder into place."""
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
