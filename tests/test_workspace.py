"""`soteria-eval init` and `soteria-eval book` as a user calls them (no build here: see test_book)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from soteria_eval._paths import default_book, default_plan, install_hint
from soteria_eval.cli import main


def invoke(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, list(args))
    return res.exit_code, res.output


def test_init_writes_an_editable_plan_analyses_and_book(tmp_path: Path) -> None:
    code, out = invoke("init", str(tmp_path / "ws"))
    assert code == 0, out
    ws = tmp_path / "ws"
    assert (ws / "analyses" / "plan.yaml").read_bytes() == default_plan().read_bytes()
    scripts = sorted(p.name for p in default_plan().parent.glob("*.py"))
    assert sorted(p.name for p in (ws / "analyses").glob("*.py")) == scripts
    assert (ws / "book" / "_config.yml").read_bytes() == (
        default_book() / "_config.yml"
    ).read_bytes()
    assert (ws / "book" / "_ext" / "offline_assets.py").is_file()
    assert not list(ws.rglob("__pycache__")) and not list(ws.rglob("_build"))
    assert "soteria-eval run --plan" in (ws / "README.txt").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["ws"]  # no temporary folder left
    assert "--plan" in out and "--book-dir" in out


def test_init_never_overwrites(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "mine.txt").write_text("keep me")
    code, out = invoke("init", str(ws))
    assert code == 2 and "never overwrites" in out
    assert [p.name for p in ws.iterdir()] == ["mine.txt"]
    assert (ws / "mine.txt").read_text() == "keep me"
    (tmp_path / "file").write_text("x")
    assert invoke("init", str(tmp_path / "file"))[0] == 2


def test_init_into_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    code, out = invoke("init", str(tmp_path / "ws"))
    assert code == 0, out
    assert (tmp_path / "ws" / "analyses" / "plan.yaml").is_file()


def test_book_refuses_a_folder_that_is_not_a_book_or_not_ours(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "results.csv").write_text("x\n")
    code, out = invoke(
        "book",
        "--results",
        str(results),
        "--book-dir",
        str(tmp_path),
        "--out",
        str(tmp_path / "site"),
    )
    assert code == 1 and "not a book folder" in out
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    code, out = invoke("book", "--results", str(results), "--out", str(foreign))
    assert code == 2 and "was not written by soteria-eval" in out
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    code, out = invoke("book", "--results", str(tmp_path / "none"), "--out", str(tmp_path / "site"))
    assert code == 1 and "has no results.csv" in out
    assert not (tmp_path / "site").exists()


def test_install_hint_names_the_source_checkout_command() -> None:
    # The tests run from a source checkout (editable install).
    assert install_hint("book") == "pip install -e '.[book]' (in the source checkout)"
