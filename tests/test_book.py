"""Build the book from a pipeline run and check it (pages, figures, offline)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from soteria_eval.bookbuild import build_book, external_references
from soteria_eval.pipeline import run_evaluation
from tests.conftest import REPO

PAGES = [
    "index",
    "programme",
    "published",
    "data",
    "methods",
    "sensitivity",
    "limitations",
    "logs",
    "reproducibility",
    "api",
]


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory, small_data: Path, quick_plan: Path) -> Path:
    tmp = tmp_path_factory.mktemp("book")
    results = tmp / "results"
    run_evaluation(quick_plan, out=results, progress=False, data_dir=small_data)
    sources = sorted(p.relative_to(REPO) for p in (REPO / "book").rglob("*") if p.is_file())
    site = build_book(results, tmp / "site")  # the packaged book, as `soteria-eval book` builds it
    # The sources were only read: nothing was added to the book folder.
    assert sorted(p.relative_to(REPO) for p in (REPO / "book").rglob("*") if p.is_file()) == sources
    assert not [p.name for p in tmp.iterdir() if p.name.startswith(".")]  # no temporary left
    return site


def test_expected_pages_exist(html: Path) -> None:
    for page in PAGES:
        assert (html / f"{page}.html").is_file(), page


@pytest.mark.parametrize(
    "page",
    ["published", "volume", "quality", "timeliness", "victim_experience", "sensitivity", "methods"],
)
def test_results_pages_have_their_figures_with_alt_text(html: Path, page: str) -> None:
    text = (html / f"{page}.html").read_text()
    imgs = re.findall(r"<img[^>]*>", text)
    assert imgs and all('alt="' in i and 'alt=""' not in i for i in imgs)
    for img in imgs:
        src = re.search(r'src="([^"]+)"', img).group(1)  # type: ignore[union-attr]
        assert (html / src).is_file(), src
    assert "<table" in text


@pytest.mark.parametrize(
    "page", ["index", "volume", "quality", "timeliness", "victim_experience", "sensitivity"]
)
def test_synthetic_banner_on_synthetic_pages(html: Path, page: str) -> None:
    text = (html / f"{page}.html").read_text()
    assert "synthetic data" in text and "admonition warning" in text


def test_no_external_scripts_or_styles(html: Path) -> None:
    assert external_references(html) == []
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert "_static/mathjax/tex-chtml.js" in (html / "methods.html").read_text()


def test_measure_catalogue_is_rendered(html: Path) -> None:
    text = (html / "data.html").read_text()
    assert "Suspects charged" in text and "Victim experience" in text
    assert "<table" in (html / "published.html").read_text()


def test_external_reference_checker_detects_cdn(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text('<script src="https://cdn.example.org/x.js"></script>')
    assert len(external_references(tmp_path)) == 1


def test_rebuilding_on_refreshed_results_shows_the_new_numbers(html: Path) -> None:
    """Regression: Sphinx reused the pages it had parsed, so a rebuild kept old numbers."""
    import json
    import shutil

    results = html.parent / "results"
    fresh = html.parent / "results_refreshed"
    shutil.copytree(results, fresh)
    manifest = json.loads((fresh / "manifest.json").read_text())
    manifest["seed"] = 987654321
    (fresh / "manifest.json").write_text(json.dumps(manifest))
    again = build_book(fresh, html)  # replaces the site it wrote before
    page = (again / "reproducibility.html").read_text(encoding="utf-8")
    assert "987654321" in page


def test_no_figure_is_shown_twice_and_no_chapter_promises_what_exists(html: Path) -> None:
    for page in ("volume", "quality", "timeliness", "victim_experience"):
        text = (html / f"{page}.html").read_text(encoding="utf-8")
        srcs = re.findall(r'<img[^>]+src="([^"]+)"', text)
        assert len(srcs) == len(set(srcs)), page
        assert "still to come" not in text, page


def test_tables_show_counts_as_integers_and_small_p_values_in_words(html: Path) -> None:
    text = (html / "published.html").read_text(encoding="utf-8")
    assert not re.search(
        r">\s*-?\d+\.000\s*<", text
    )  # e.g. forces shown as 43.000, effects as -16.000
    assert ">0.000<" not in text


def test_summary_first_table_has_every_headline_in_readers_units(html: Path) -> None:
    text = (html / "index.html").read_text(encoding="utf-8")
    first = text[text.index("<table") : text.index("</table>")]
    for domain in ("Volume", "Quality", "Timeliness", "Victim experience", "published data"):
        assert domain in first, domain
    assert "synthetic" in first and "real" in first  # the badges
    assert "log points" not in first and not re.search(r"\d\.\d+ days", first)
    assert "%" in first  # the log-scale count shown as a percentage change


def test_published_chapter_reports_the_referees_checks(html: Path) -> None:
    text = (html / "published.html").read_text(encoding="utf-8")
    for needle in ("pre-trend", "false start", "HonestDiD", "randomization inference",
                   "wild cluster bootstrap", "neither phase-2 forces nor"):  # fmt: skip
        assert needle in text, needle
    assert "published_event_study.png" in text


def test_the_brief_is_one_or_two_pages_and_fails_cleanly(html: Path, tmp_path: Path) -> None:
    from soteria_eval.bookbuild import BriefError, find_chromium, pdf_pages, print_brief

    with pytest.raises(BriefError, match=r"no index\.html"):
        print_brief(tmp_path, tmp_path / "brief.pdf")
    with pytest.raises(BriefError, match=r"could not print|did not finish|wrote no PDF"):
        print_brief(html, tmp_path / "brief.pdf", chromium="/bin/false")
    assert not list(tmp_path.iterdir())  # a failed print leaves nothing behind
    if find_chromium() is None:
        pytest.skip("chromium is not installed (make validate installs it)")
    pdf = print_brief(html, tmp_path / "brief.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    assert 1 <= pdf_pages(pdf) <= 2


@pytest.mark.parametrize(
    "page",
    [
        "index",
        "published",
        "volume",
        "quality",
        "timeliness",
        "victim_experience",
        "sensitivity",
        "national",
    ],
)
def test_stakeholder_pages_show_no_raw_numbers_or_ids(html: Path, page: str) -> None:
    """No 'nan', no interval in log points, no fractional days, no scenario ids in the text."""
    import html as html_lib

    raw = (html / f"{page}.html").read_text(encoding="utf-8")
    raw = re.sub(r"<script.*?</script>", " ", raw, flags=re.S)
    text = html_lib.unescape(re.sub(r"<[^>]+>", " ", raw))
    assert not re.search(r"\bnan\b", text), page
    assert not re.search(r"\d\.\d+ days", text), page
    for ident in ("exposed_dropped", "launch_june_2021", "unconfirmed_phase2", "phase1_clean"):
        assert ident not in text, (page, ident)
    if page != "sensitivity":  # its method text names the log scale
        assert "log points" not in text, page


def test_book_builds_on_a_run_made_with_only(
    tmp_path: Path, small_data: Path, quick_plan: Path
) -> None:
    """Issue 31: methods.md read the coverage study unconditionally (a Jupyter traceback)."""
    results = tmp_path / "results"
    run_evaluation(quick_plan, out=results, progress=False, data_dir=small_data, only=["volume"])
    assert not (results / "tables" / "coverage_study.csv").exists()
    site = build_book(results, tmp_path / "site")
    methods = (site / "methods.html").read_text(encoding="utf-8")
    assert "did not include the coverage study" in methods


def test_brief_without_chromium_exits_2_with_the_install_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 33: no browser is an installation step to name, exit 2, not a failed print."""
    from click.testing import CliRunner

    from soteria_eval import bookbuild
    from soteria_eval.cli import main

    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<html></html>")
    monkeypatch.setattr(bookbuild, "find_chromium", lambda: None)
    res = CliRunner().invoke(
        main, ["brief", "--site", str(tmp_path / "site"), "--out", str(tmp_path / "b.pdf")]
    )
    assert res.exit_code == 2, res.output
    assert "apt-get install chromium" in res.output and not (tmp_path / "b.pdf").exists()
