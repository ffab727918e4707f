"""A plan is data, not a way in: bounded YAML, safe ids, scripts inside the plan's folder."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from soteria_eval._paths import default_plan
from soteria_eval.cli import main
from soteria_eval.pipeline import PlanError, load_plan

REPO = Path(__file__).resolve().parents[1]


def _plan(folder: Path, body: str, *, script: str = "volume.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / script).write_text("def run(ctx):\n    raise RuntimeError('not run here')\n")
    p = folder / "plan.yaml"
    p.write_text(body, encoding="utf-8")
    return p


HEADER = "version: 1\n"
ONE = "analyses:\n  - id: volume\n    script: volume.py\n"


def test_a_valid_minimal_plan_loads(tmp_path: Path) -> None:
    plan = load_plan(_plan(tmp_path, HEADER + ONE))
    assert plan.disclosure_threshold == 10 and [a.id for a in plan.analyses] == ["volume"]


def test_billion_laughs_is_refused_without_expanding(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    p = _plan(tmp_path, HEADER + "\n".join(lines) + "\n" + ONE)
    with pytest.raises(PlanError, match=r"aliases \(\*name\) are not allowed"):
        load_plan(p)


def test_duplicate_key_cannot_hide_a_threshold(tmp_path: Path) -> None:
    p = _plan(tmp_path, HEADER + "disclosure_threshold: 1\ndisclosure_threshold: 10\n" + ONE)
    with pytest.raises(
        PlanError, match=r"duplicate key 'disclosure_threshold' \(first at line 2\)"
    ):
        load_plan(p)


@pytest.mark.parametrize("value", ["1", "9", "0", "-5", "true", "10.5", "'10'"])
def test_threshold_cannot_go_below_the_floor(tmp_path: Path, value: str) -> None:
    p = _plan(tmp_path, HEADER + f"disclosure_threshold: {value}\n" + ONE)
    with pytest.raises(PlanError, match="disclosure_threshold: must be an integer of at least 10"):
        load_plan(p)


def test_a_higher_threshold_is_allowed(tmp_path: Path) -> None:
    assert (
        load_plan(_plan(tmp_path, HEADER + "disclosure_threshold: 20\n" + ONE)).disclosure_threshold
        == 20
    )


@pytest.mark.parametrize("bad_id", ["../../X", "a/b", "", "1abc", "x" * 65, "a b", "é"])
def test_ids_must_be_safe(tmp_path: Path, bad_id: str) -> None:
    p = _plan(tmp_path, HEADER + f"analyses:\n  - id: '{bad_id}'\n    script: volume.py\n")
    with pytest.raises(PlanError, match=r"analyses\[0\]\.id"):
        load_plan(p)


def test_scripts_must_resolve_inside_the_plans_folder(tmp_path: Path) -> None:
    folder = tmp_path / "plans"
    (tmp_path / "evil.py").write_text("import os\nos.system('echo pwned')\n")
    for script, rule in [
        ("../evil.py", "relative to the plan's folder"),
        (str(tmp_path / "evil.py"), "relative to the plan's folder"),
        ("volume.txt", "relative to the plan's folder"),
        ("missing.py", "no such script"),
    ]:
        p = _plan(folder, HEADER + f"analyses:\n  - id: a\n    script: '{script}'\n")
        with pytest.raises(PlanError, match=rule):
            load_plan(p)
    os.symlink(tmp_path / "evil.py", folder / "link.py")
    p = _plan(folder, HEADER + "analyses:\n  - id: a\n    script: link.py\n")
    with pytest.raises(PlanError, match="resolves outside the plan's folder"):
        load_plan(p)


def test_non_utf8_and_oversized_plans_are_refused(tmp_path: Path) -> None:
    p = tmp_path / "plan.yaml"
    p.write_bytes(b"\xff\xfeversion: 1\n")
    with pytest.raises(PlanError, match="not UTF-8 text"):
        load_plan(p)
    p.write_text(HEADER + "# " + "x" * 300_000 + "\n" + ONE)
    with pytest.raises(PlanError, match="larger than"):
        load_plan(p)


@pytest.mark.parametrize(
    ("content", "args", "fragment"),
    [
        (b"\xff\xfe bad", [], "not UTF-8 text"),
        (None, ["--only", "nosuch"], "--only: unknown analysis id(s) ['nosuch']"),
        (b"version: 1\nanalyses:\n  - id: a\n    script: /etc/passwd\n", [], "relative to"),
    ],
)
def test_cli_exits_2_and_writes_nothing(
    tmp_path: Path, content: bytes | None, args: list[str], fragment: str
) -> None:
    if content is None:
        plan = tmp_path / "analyses" / "plan.yaml"
        shutil.copytree(
            REPO / "analyses", plan.parent, ignore=shutil.ignore_patterns("__pycache__")
        )
    else:
        plan = tmp_path / "plan.yaml"
        plan.write_bytes(content)
    out = tmp_path / "out"
    res = CliRunner().invoke(
        main, ["run", "--plan", str(plan), "--out", str(out), "--quiet", *args]
    )
    assert res.exit_code == 2, res.output
    assert fragment in res.output
    assert not out.exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_the_default_plan_is_the_shipped_one_never_the_current_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plan(tmp_path / "analyses", HEADER + ONE)
    monkeypatch.chdir(tmp_path)
    plan = default_plan()
    assert plan == REPO / "analyses" / "plan.yaml"
    assert not plan.resolve().is_relative_to(tmp_path.resolve())


@pytest.mark.parametrize(
    ("depth", "fragment"), [(5000, "nested too deeply to read"), (40, "nested more than 32 levels")]
)
def test_deeply_nested_plan_is_refused_not_a_traceback(
    tmp_path: Path, depth: int, fragment: str
) -> None:
    p = _plan(tmp_path, HEADER + "extra: " + "[" * depth + "]" * depth + "\n" + ONE)
    with pytest.raises(PlanError, match=fragment):
        load_plan(p)


@pytest.mark.parametrize(
    ("subgroup", "fragment"),
    [
        (
            "{domestc_abuse: 'true'}",
            "unknown case attribute 'domestc_abuse' (did you mean 'domestic_abuse'?)",
        ),
        ("{victim_age_band: [a, b]}", "must be one value"),
        ("'domestic_abuse'", "must map case attributes"),
    ],
)
def test_a_subgroup_is_checked_with_the_plan(tmp_path: Path, subgroup: str, fragment: str) -> None:
    body = HEADER + ONE + f"    options:\n      subgroup: {subgroup}\n"
    with pytest.raises(PlanError, match=re.escape(fragment)):
        load_plan(_plan(tmp_path, body))
    ok = HEADER + ONE + "    options:\n      subgroup: {domestic_abuse: 'true'}\n"
    assert load_plan(_plan(tmp_path / "ok", ok)).analyses[0].options["subgroup"] == {
        "domestic_abuse": "true"
    }
