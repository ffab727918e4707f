"""Build the evaluation book (Jupyter Book 1) offline from a run's outputs.

Steps: copy the run's outputs into ``book/_generated/results`` (pages read them from
there), copy a local MathJax 3 into the site (no CDN), build with warnings as errors, then
check that no page loads a script or style sheet from the internet.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

#: Tags that would make a page fetch something from the network.
_EXTERNAL = re.compile(
    r"<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)\s*=\s*[\"'](?:https?:)?//",
    re.IGNORECASE,
)
#: Inline scripts that name a script or style sheet on the web (e.g. for lazy loading).
_INLINE_URL = re.compile(r"<script\b[^>]*>[^<]*https?://[^\"'<]+\.(?:js|css)\b", re.IGNORECASE)


class BookError(RuntimeError):
    """The book failed to build or failed a check."""


def _mathjax_dir() -> Path:
    try:
        import mathjax  # provided by the Python package django-static-mathjax
    except ImportError as exc:  # pragma: no cover - the book extra installs it
        raise BookError(
            "MathJax is missing: install the book extra (pip install -e '.[book]')"
        ) from exc
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (es5 / "tex-chtml.js").is_file():  # pragma: no cover
        raise BookError(f"no tex-chtml.js in {es5}")
    return es5


def prepare(book_dir: Path, results: Path) -> None:
    """Copy the run's outputs and MathJax into ``book/_generated``."""
    if not (results / "results.csv").is_file():
        raise BookError(
            f"{results} has no results.csv: run `soteria-eval run --out {results}` first"
        )
    gen = book_dir / "_generated"
    if gen.exists():
        shutil.rmtree(gen)
    shutil.copytree(results, gen / "results", ignore=shutil.ignore_patterns("run.log", "*.parquet"))
    shutil.copytree(
        _mathjax_dir(),
        gen / "extra" / "_static" / "mathjax",
        ignore=shutil.ignore_patterns("*.map"),
    )
    _favicon(gen / "extra" / "favicon.ico")


def _favicon(path: Path) -> None:
    """Write a small favicon (so browsers' automatic request for it does not fail)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (32, 32), (0, 114, 178, 255))
    ImageDraw.Draw(img).rectangle((8, 8, 23, 23), fill=(240, 228, 66, 255))
    img.save(path, sizes=[(16, 16), (32, 32)])


def external_references(html_dir: Path) -> list[str]:
    """Return ``file: tag`` for every script, style, image or frame loaded from the web."""
    hits = []
    for page in sorted(html_dir.rglob("*.html")):
        text = page.read_text(encoding="utf-8", errors="replace")
        for m in [*_EXTERNAL.finditer(text), *_INLINE_URL.finditer(text)]:
            hits.append(f"{page.relative_to(html_dir)}: {m.group(0)[:120]}")
    return hits


def build_book(book_dir: Path, results: Path, *, strict: bool = True) -> Path:
    """Build the book; return the HTML folder. Raises :class:`BookError` on failure."""
    prepare(book_dir, results)
    stale = book_dir / "_build" / "html"
    if stale.exists():
        shutil.rmtree(stale)
    exe = Path(sys.executable).with_name("jupyter-book")
    # --all: re-read every page. Sphinx otherwise reuses the pages it parsed last time
    # (its doctrees), so a book rebuilt on refreshed results kept the old numbers.
    cmd = [str(exe), "build", str(book_dir), "--builder", "html", "--all"]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise BookError(f"jupyter-book build failed:\n{tail}")
    html = book_dir / "_build" / "html"
    hits = external_references(html)
    if hits:
        raise BookError("pages load resources from the internet:\n" + "\n".join(hits[:20]))
    return html
