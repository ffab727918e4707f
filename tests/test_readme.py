"""The README's Python example runs as written."""

from __future__ import annotations

import re

from tests.conftest import REPO


def test_readme_example_runs(capsys) -> None:  # type: ignore[no-untyped-def]
    text = (REPO / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)  # type: ignore[union-attr]
    assert len(block.strip().splitlines()) <= 14
    exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "Two-way fixed effects DiD" in out and "CR2" in out
    for needed in (
        "make evaluate",
        "make test",
        "How to add a measure",
        "How to change the rollout",
        "Folder layout",
    ):
        assert needed in text
