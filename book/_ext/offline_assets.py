"""Sphinx extension for the book: offline pages, and theme markup that passes axe-core.

Jupyter Book 1 always loads ``sphinx_thebe`` (live code cells from a Binder server),
which adds an inline script naming a CDN address, twice per page. The book offers no live
code, so those scripts are removed from every page.

The theme's buttons name themselves in ways axe-core reports as serious
(``label-content-name-mismatch``): a search button whose label "Search" differs from its
visible text "Search Ctrl+K", icons whose tooltips ("Light", "Dark") differ from the
button's label "Color mode", and a code-cell toggle labelled "Toggle hidden content"
that shows "Show code cell source". When the build finishes, each page is rewritten so
the visible text names the control (the label is dropped) and decorative icons are
hidden from assistive technology.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

#: (pattern, replacement) applied to every built page.
_A11Y_FIXES: tuple[tuple[re.Pattern[str], str], ...] = (
    # A search field that shows "Search": its visible text is its name.
    (re.compile(r'(<button class="btn search-button-field[^"]*"[^>]*?) aria-label="Search"'), r"\1"),
    # Theme-switch icons: decorative; the button's own label names it.
    (re.compile(r'(<i class="theme-switch [^"]*" data-mode="[a-z]+")\s+title="[^"]*"'), r'\1 aria-hidden="true"'),
    # Code-cell toggles: the visible "Show code cell source" is the name.
    (re.compile(r'<summary aria-label="Toggle hidden content">'), "<summary>"),
)


def accessible_markup(text: str) -> str:
    """Return a page's HTML with the theme's mislabelled controls fixed (see the module docstring)."""
    for pattern, replacement in _A11Y_FIXES:
        text = pattern.sub(replacement, text)
    return text


def _fix_pages(app: Any, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        fixed = accessible_markup(text)
        if fixed != text:
            page.write_text(fixed, encoding="utf-8")


def _strip_thebe(
    app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    files = context.get("script_files")
    if not files:
        return
    kept = []
    for js in files:
        name = str(getattr(js, "filename", js) or "")
        body = (
            str(getattr(js, "attributes", {}).get("body", "")) if hasattr(js, "attributes") else ""
        )
        if "thebe" in name or "THEBE_JS_URL" in body:
            continue
        kept.append(js)
    context["script_files"] = kept


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", _strip_thebe, priority=900)
    app.connect("build-finished", _fix_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
