"""An editable workspace: copies of the plan, the analysis scripts and the book sources.

``soteria-eval init DIR`` writes them for an evaluator who wants to change the evaluation;
the package's own copies are never edited. The folder is assembled beside ``DIR`` and
renamed into place, so ``DIR`` is either complete or absent.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from soteria_eval._paths import default_book, default_plan

README = """\
An editable copy of the soteria-eval evaluation (written by `soteria-eval init`).

  analyses/   the plan (plan.yaml) and one script per analysis
  book/       the book sources (Jupyter Book)

Run the evaluation with this plan, then build the book from these sources:

  soteria-eval run --plan analyses/plan.yaml --data DATA --out results
  soteria-eval book --book-dir book --results results --out site

Leave out --data to run on the embedded synthetic data.
"""


class WorkspaceError(RuntimeError):
    """The workspace folder cannot be written (it exists and is not empty, or is not writable)."""


def init_workspace(folder: str | Path) -> Path:
    """Write the plan, the analysis scripts and the book sources into a new folder.

    Parameters
    ----------
    folder : str or Path
        Must not exist, or be an empty folder.

    Returns
    -------
    Path
        The folder, holding ``analyses/``, ``book/`` and ``README.txt``.

    Raises
    ------
    WorkspaceError
        If ``folder`` is a file or a non-empty folder (nothing is overwritten), or cannot
        be written.
    """
    target = Path(folder).resolve()
    if target.exists() and (not target.is_dir() or target.is_symlink() or any(target.iterdir())):
        raise WorkspaceError(
            f"{folder}: exists and is not an empty folder; `init` never overwrites files, "
            "choose a new folder"
        )
    ignore = shutil.ignore_patterns("__pycache__", "_build", "_generated", ".*")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    except OSError as exc:
        raise WorkspaceError(f"{folder}: cannot write it ({exc.strerror})") from exc
    try:
        shutil.copytree(default_plan().parent, tmp / "analyses", ignore=ignore)
        shutil.copytree(default_book(), tmp / "book", ignore=ignore)
        (tmp / "README.txt").write_text(README, encoding="utf-8")
        if target.exists():
            target.rmdir()  # empty (checked above); rmdir refuses anything else
        os.replace(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise WorkspaceError(f"{folder}: cannot write it ({exc.strerror})") from exc
    return target
