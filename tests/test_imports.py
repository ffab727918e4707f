"""Imports stay light: `from soteria_eval.did import twfe` does not pull in heavy modules."""

from __future__ import annotations

import subprocess
import sys

import soteria_eval.did as did

HEAVY = ("scipy.stats", "scipy.sparse", "matplotlib", "statsmodels", "linearmodels", "frictionless")


def test_the_readme_import_loads_no_heavy_module() -> None:
    code = (
        "import sys; from soteria_eval.did import twfe; "
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lazy_exports_resolve_and_are_listed() -> None:
    assert sorted(did.__all__) == sorted(did._EXPORTS)
    for name in did.__all__:
        assert getattr(did, name).__name__ == name
    assert set(did.__all__) <= set(dir(did))
    try:
        did.nosuch  # noqa: B018
    except AttributeError as exc:
        assert "has no attribute 'nosuch'" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("an unknown name must raise AttributeError")


def test_a_function_named_like_its_module_stays_the_function() -> None:
    code = (
        "import soteria_eval.did.twfe, soteria_eval.did.callaway_santanna; "
        "from soteria_eval.did import twfe, callaway_santanna; import soteria_eval.did as d; "
        "print(callable(twfe), callable(callaway_santanna), callable(d.ppml), type(d.twfe).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "True", "function"]


def test_no_control_characters_in_sources() -> None:
    """A "\\b" written in a non-raw docstring becomes a backspace and breaks the API page's math."""
    from tests.conftest import REPO

    bad = [
        str(p.relative_to(REPO))
        for folder in ("soteria_eval", "analyses", "book")
        for p in (REPO / folder).rglob("*")
        if p.suffix in (".py", ".md") and "_build" not in p.parts
        and any(ord(c) < 32 and c not in "\n\t\r" for c in p.read_text(encoding="utf-8"))
    ]  # fmt: skip
    assert bad == []
