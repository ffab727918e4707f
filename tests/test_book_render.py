"""Render key book pages in headless Chromium (slow: run by `make validate`).

Needs Debian's ``chromium`` (``make validate`` installs it) and the ``browser`` extra.
Checks that every image loads, that the console shows no errors and no request leaves
the machine, and saves a screenshot of the summary page to ``book/_build/screenshots``.

The layout and accessibility check visits every page at 1366x900 and at 390x844 (a
phone): no element may stick out of the article column unless a scroll container holds
it, every image loads and has alt text, and axe-core reports no serious or critical
violation. axe-core is not part of the project: ``make validate`` fetches it from the
npm registry (``npm pack axe-core``) into ``.cache/axe``; ``$SOTERIA_AXE_JS`` may name
another copy of ``axe.min.js``.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from soteria_eval.bookbuild import build_book, find_chromium
from soteria_eval.pipeline import run_evaluation
from tests.conftest import REPO

pytestmark = pytest.mark.validate
CHROMIUM = find_chromium()  # the brief's lookup ($SOTERIA_CHROMIUM first)
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


AXE_JS = Path(
    os.environ.get("SOTERIA_AXE_JS") or REPO / ".cache" / "axe" / "package" / "axe.min.js"
)
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}

#: Elements wider than the article column that no scroll container holds (JavaScript).
OVERFLOW_JS = """
() => {
  const col = document.querySelector('article.bd-article') || document.querySelector('main');
  if (!col) return ['no article column'];
  const right = col.getBoundingClientRect().right + 1;
  const held = el => {
    for (let a = el.parentElement; a && a !== col; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if (o === 'auto' || o === 'scroll' || o === 'hidden') return true;
    }
    return false;
  };
  const out = [];
  for (const el of col.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= right) continue;
    if (getComputedStyle(el).position === 'fixed' || held(el)) continue;
    out.push(el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ')[0] : '')
             + ' right edge ' + Math.round(r.right) + ' > ' + Math.round(right));
  }
  return out.slice(0, 5);
}
"""


def test_layout_and_accessibility_on_every_page_at_two_sizes(site: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not AXE_JS.is_file():
        pytest.skip(f"axe-core not found at {AXE_JS} (make validate fetches it)")
    import urllib.request

    # Every page the sidebar of the summary links to.
    listing = urllib.request.urlopen(f"{site}/index.html").read().decode()
    links = {m[:-5] for m in re.findall(r'href="([a-z_]+\.html)"', listing)}
    names = sorted(links - {"genindex", "search", "py-modindex"} | {"index"})
    assert "index" in names and "published" in names
    shots = REPO / "book" / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    axe = AXE_JS.read_text(encoding="utf-8")
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for size, (w, h) in SIZES.items():
            page = browser.new_page(viewport={"width": w, "height": h})
            for name in names:
                page.goto(f"{site}/{name}.html", wait_until="networkidle")
                if name == "index":
                    page.screenshot(path=str(shots / f"summary-{size}.png"))
                    # The first screen holds every domain's headline and the real-data line.
                    rows, bottom = page.evaluate(
                        "(() => { const t = document.querySelector('article table');"
                        " return [t.tBodies[0].rows.length, t.getBoundingClientRect().bottom]; })()"
                    )
                    assert rows == 5, rows
                    if size == "desktop":
                        assert bottom <= h, (
                            f"the summary table ends at {bottom:.0f} px, below the first screen"
                        )
                for issue in page.evaluate(OVERFLOW_JS):
                    problems.append(f"{name} ({size}): overflow: {issue}")
                bad_images = page.evaluate(
                    "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0"
                    " || !i.hasAttribute('alt') || i.alt.trim() === '').map(i => i.src)"
                )
                problems += [
                    f"{name} ({size}): image without alt text or not loaded: {s}"
                    for s in bad_images
                ]
                page.add_script_tag(content=axe)
                violations = page.evaluate(
                    "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                    ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
                    ".map(v => v.id + ' (' + v.impact + '): ' + v.nodes.length + ' node(s), e.g. '"
                    " + v.nodes[0].target.join(' '))"
                )
                problems += [f"{name} ({size}): axe {v}" for v in violations]
            page.close()
        browser.close()
    assert problems == [], "\n".join(problems)
    assert (shots / "summary-desktop.png").is_file() and (shots / "summary-phone.png").is_file()
