"""Build the evaluation book (Jupyter Book 1) offline from a run's outputs.

Steps, all inside a private temporary folder beside ``out`` (nothing is written anywhere
else, and the book sources are only read): copy the book sources (the packaged book, or
an editable copy made by ``soteria-eval init``), copy the run's outputs into its
``_generated/results`` (pages read them from there) and a local MathJax 3 into the site
(no CDN), build with warnings as errors, check that no page loads a script or style sheet
from the internet, then swap the finished site into ``out`` atomically.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
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
    from soteria_eval._paths import install_hint

    try:
        import mathjax  # provided by the Python package django-static-mathjax
    except ImportError as exc:  # pragma: no cover - the book extra installs it
        raise BookError(
            f"MathJax is missing: install the book extra: {install_hint('book')}"
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
    gen = book_dir / "_generated"  # a fresh copy of the sources: never there before
    shutil.copytree(results, gen / "results", ignore=shutil.ignore_patterns("run.log", "*.parquet"))
    shutil.copytree(
        _mathjax_dir(),
        gen / "extra" / "_static" / "mathjax",
        ignore=shutil.ignore_patterns("*.map"),
    )
    _favicon(gen / "extra" / "favicon.ico")


#: Book pages and the analyses whose results they show. A page whose analyses all did not
#: run (a data folder holding only some inputs, e.g. an ingested Home Office panel) is
#: replaced by a short page that says so, instead of failing the build.
PAGE_ANALYSES: dict[str, tuple[str, ...]] = {
    "index": ("volume", "quality", "timeliness", "victim_experience"),
    "volume": ("volume",),
    "quality": ("quality",),
    "timeliness": ("timeliness",),
    "victim_experience": ("victim_experience",),
    "sensitivity": ("sensitivity",),
    "national": ("national_its",),
    "attrition": ("attrition",),
    "published": ("published_outcomes",),
}


def stub_pages_not_run(book_dir: Path, results: Path) -> list[str]:
    """Replace the pages of analyses that did not run by a page saying why; return their names.

    An analysis ran when the run's ``manifest.json`` lists it and not among the
    ``skipped`` (a missing input); without a manifest, when ``results.csv`` has a row for
    it that is not ``skipped``. The reason shown is the skipped row's note, without the
    data folder's path. Pages that explain themselves when their analysis is absent
    (Methods, the recovery study) are not listed in :data:`PAGE_ANALYSES`.
    """
    import json

    import pandas as pd

    rows = pd.read_csv(results / "results.csv", usecols=["analysis", "status", "note"],
                       keep_default_na=False)  # fmt: skip
    manifest = results / "manifest.json"
    if manifest.is_file():
        m = json.loads(manifest.read_text(encoding="utf-8"))
        ran = set(m.get("analyses", ())) - set(m.get("skipped", ()))
    else:
        ran = set(rows.loc[rows["status"] != "skipped", "analysis"])
    stubbed = []
    for page, analyses in PAGE_ANALYSES.items():
        path = book_dir / f"{page}.md"
        if not path.is_file() or ran & set(analyses):
            continue
        title = next(
            (ln[2:].strip() for ln in path.read_text(encoding="utf-8").splitlines()
             if ln.startswith("# ")), page.replace("_", " ").capitalize(),
        )  # fmt: skip
        lines = []
        for a in analyses:
            notes = rows.loc[rows["analysis"] == a, "note"].drop_duplicates()
            why = "; ".join(
                re.sub(r"the data folder \S+ has no", "the data folder has no", n).removeprefix(
                    "not run: "
                )
                for n in notes
            )
            lines.append(f"- **{a}**: {why or 'not in the plan'}")
        also = (
            " The published-data chapter, *What the published data show*, did run."
            if "published_outcomes" in ran and page != "published"
            else ""
        )
        path.write_text(
            f"# {title}\n\n```{{note}}\nThis chapter's analyses did not run on this run's data, "
            f"so it shows nothing.{also}\n```\n\n" + "\n".join(lines) + "\n",
            encoding="utf-8",
        )
        stubbed.append(page)
    return stubbed


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


def _jupyter_book() -> Path:
    from soteria_eval._paths import install_hint

    exe = Path(sys.executable).with_name("jupyter-book")
    if not exe.is_file():
        raise BookError(f"jupyter-book is missing: install the book extra: {install_hint('book')}")
    return exe


def _check_apart(results: Path, out: Path, source: Path) -> None:
    """Refuse a site folder that is, holds or lies inside the results or the book sources.

    Replacing ``out`` would otherwise delete the run's outputs (``book --results R --out
    R``) or the sources being built.
    """
    from soteria_eval._io import OutputFolderError

    o = out.resolve()
    for name, other in (("--results", results.resolve()), ("the book sources", source.resolve())):
        if o == other or o in other.parents or other in o.parents:
            raise OutputFolderError(
                f"{out}: the site folder may not be, hold or lie inside {name} ({other}); "
                "building there would replace them. Choose another --out, e.g. site"
            )


def build_book(
    results: Path, out: Path, *, source: Path | None = None, strict: bool = True
) -> Path:
    """Build the book from a run's outputs into ``out``; return ``out``.

    Parameters
    ----------
    results : Path
        Outputs of ``soteria-eval run`` (a folder with ``results.csv``).
    out : Path
        The site folder to write (``out/index.html``); replaced atomically, and only if it
        is empty or was written by soteria-eval.
    source : Path, optional
        Book sources (a folder with ``_config.yml`` and ``_toc.yml``). Default: the book the
        package ships.
    strict : bool
        Treat Sphinx warnings as errors.

    Raises
    ------
    BookError
        The sources or results are missing, the build failed or a page loads a resource
        from the internet; ``out`` is then as before.
    soteria_eval._io.OutputFolderError
        ``out`` may not be replaced.
    """
    from soteria_eval._io import AtomicOutputDir
    from soteria_eval._paths import default_book

    src = Path(source) if source is not None else default_book()
    if not (src / "_config.yml").is_file() or not (src / "_toc.yml").is_file():
        raise BookError(
            f"{src}: not a book folder (no _config.yml and _toc.yml); pass --book-dir a "
            "folder made by `soteria-eval init`, or leave it out to use the packaged book"
        )
    if not (results / "results.csv").is_file():
        raise BookError(
            f"{results} has no results.csv: run `soteria-eval run --out {results}` first"
        )
    _check_apart(Path(results), Path(out), src)
    exe = _jupyter_book()
    target = AtomicOutputDir(Path(out))
    try:
        work = target.tmp / "_source"
        shutil.copytree(
            src, work, ignore=shutil.ignore_patterns("_build", "_generated", "__pycache__", ".*")
        )
        prepare(work, results)
        stub_pages_not_run(work, results)
        # --all: re-read every page. Sphinx otherwise reuses the pages it parsed last time
        # (its doctrees), so a book rebuilt on refreshed results kept the old numbers.
        cmd = [str(exe), "build", str(work), "--builder", "html", "--all"]
        if strict:
            cmd += ["-W", "-n", "--keep-going"]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=target.tmp)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
            raise BookError(f"jupyter-book build failed:\n{tail}")
        html = work / "_build" / "html"
        hits = external_references(html)
        if hits:
            raise BookError("pages load resources from the internet:\n" + "\n".join(hits[:20]))
        for item in html.iterdir():
            shutil.move(str(item), target.tmp / item.name)
        shutil.rmtree(work)
    except BaseException:
        target.abort()
        raise
    target.commit()
    return Path(out)


# The printable brief: the summary page printed to PDF by headless Chromium. Readers who
# circulate briefing packs need the summary on paper; the book's print stylesheet hides
# the navigation and the summary's detail sections, so the brief is the first screen.

#: Chromium executables tried in order (Debian names first).
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


class BriefError(RuntimeError):
    """The brief could not be printed (no browser, no built book, or the print failed)."""


class NoBrowserError(BriefError):
    """No Chromium to print with: an installation problem, not a failed print."""


def find_chromium() -> str | None:
    """Return the path of a Chromium executable (``$SOTERIA_CHROMIUM`` first), or None."""
    given = os.environ.get("SOTERIA_CHROMIUM")
    if given:
        return given
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def pdf_pages(path: Path) -> int:
    """Count the pages of a PDF written by Chromium (its ``/Type /Page`` objects)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", path.read_bytes()))


def print_brief(
    site: Path, out: Path, *, chromium: str | None = None, timeout: float = 120
) -> Path:
    """Print ``site/index.html`` to the PDF ``out`` and return its path.

    The PDF is written beside ``out`` under a temporary name and renamed into place only
    when Chromium succeeded, so a failed print leaves an earlier brief intact. Chromium
    runs with a throwaway profile and no background networking: the book is offline.

    Raises
    ------
    BriefError
        No Chromium, no ``index.html`` in ``site``, or Chromium failed.
    """
    index = Path(site).resolve() / "index.html"
    if not index.is_file():
        raise BriefError(f"{site}: no index.html (build the book first: soteria-eval book)")
    exe = chromium or find_chromium()
    if exe is None:
        raise NoBrowserError(
            "the printable brief needs Chromium: install it (Debian: apt-get install chromium) "
            "or set SOTERIA_CHROMIUM to a Chromium executable; the book itself "
            "(soteria-eval book) needs no browser"
        )
    out = Path(out)
    if out.is_dir():
        raise BriefError(f"{out}: is a folder; give the PDF file to write")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with tempfile.TemporaryDirectory(prefix="soteria-brief-") as profile:
            cmd = [
                exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", f"--user-data-dir={profile}", "--no-pdf-header-footer",
                "--run-all-compositor-stages-before-draw", "--virtual-time-budget=10000",
                f"--print-to-pdf={tmp}", index.as_uri(),
            ]  # fmt: skip
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0 or tmp.stat().st_size == 0:
            raise BriefError(f"chromium could not print {index}: {done.stderr.strip()[-500:]}")
        if not tmp.read_bytes().startswith(b"%PDF"):
            raise BriefError(f"chromium wrote no PDF for {index}")
        os.replace(tmp, out)
    except subprocess.TimeoutExpired as exc:
        raise BriefError(f"chromium did not finish printing {index} in {timeout:.0f} s") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return out
