"""Render key book pages in headless Chromium (slow: run by `make validate`).

Needs Debian's ``chromium`` (``make validate`` installs it) and the ``browser`` extra.
Checks that every image loads, that the console shows no errors and no request leaves
the machine, and saves a screenshot of the summary page to ``book/_build/screenshots``.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from soteria_eval.bookbuild import build_book
from soteria_eval.pipeline import run_evaluation
from tests.conftest import REPO

pytestmark = pytest.mark.validate
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip
PAGES = [
    "index",
    "published",
    "volume",
    "quality",
    "timeliness",
    "victim_experience",
    "methods",
    "data",
]


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, small_data: Path, quick_plan: Path
) -> Iterator[str]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (make validate installs it)")
    tmp = tmp_path_factory.mktemp("render")
    run_evaluation(quick_plan, out=tmp / "results", progress=False, data_dir=small_data)
    html = build_book(tmp / "results", tmp / "site")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_pages_render_offline_without_errors(site: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    shots = REPO / "book" / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        errors: list[str] = []
        outside: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on(
            "request",
            lambda r: (
                outside.append(r.url) if not r.url.startswith((site, "data:", "blob:")) else None
            ),
        )
        for name in PAGES:
            page.goto(f"{site}/{name}.html", wait_until="networkidle")
            broken = page.evaluate(
                "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
            )
            assert broken == [], (name, broken)
            if name == "index":
                page.screenshot(path=str(shots / "summary.png"), full_page=True)
            if name == "methods":
                assert page.evaluate("typeof window.MathJax") == "object"
        browser.close()
    assert errors == [], errors
    assert outside == [], outside
    assert (shots / "summary.png").stat().st_size > 10_000
