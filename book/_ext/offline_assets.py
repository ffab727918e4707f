"""Sphinx extension for the book: keep every page free of scripts fetched from the web.

Jupyter Book 1 always loads ``sphinx_thebe`` (live code cells from a Binder server),
which adds an inline script naming a CDN address, twice per page. The book offers no live
code, so those scripts are removed from every page.
"""

from __future__ import annotations

from typing import Any


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
    return {"parallel_read_safe": True, "parallel_write_safe": True}
