"""The validation studies as a run uses them: cached, resumable, shipped with the release."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from soteria_eval.validation import DesignSettings, RecoverySettings, studies
from soteria_eval.validation.recovery import with_designs
from tests.conftest import REPO

TINY = with_designs(RecoverySettings(scale=0.03, designs=DesignSettings(n_boot=19)), ["twfe"])


def test_the_shipped_studies_are_those_of_the_current_code() -> None:
    """Fails when a studied module changed and `make studies` was not run."""
    names = studies.shipped_names(REPO / "analyses" / "plan.yaml")
    assert set(names) == {"recovery", "recovery_stress", "coverage", "placebo"}
    missing = [n for n in names.values() if not (studies.SHIPPED_DIR / n).is_file()]
    assert not missing, (
        f"the shipped studies are stale (no {missing}): a studied module changed; run `make studies`"
    )
    # Nothing else is shipped: no stale study is carried along.
    extra = {p.name for p in studies.SHIPPED_DIR.iterdir()} - set(names.values()) - {"README.md"}
    assert not extra


def test_a_shipped_study_is_used_instead_of_computing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOTERIA_CACHE", str(tmp_path / "maintainer"))
    made = studies.cached_recovery(3, seed0=2, settings=TINY)
    assert made.source == "computed"
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    name = studies.recovery_name(TINY)
    studies.archive_seeds(name, range(2, 5), shipped / f"{name}.tar.xz")
    # A user: an empty cache, the release's shipped copy, and no computing allowed.
    monkeypatch.setenv("SOTERIA_CACHE", str(tmp_path / "user"))
    monkeypatch.setattr(studies, "SHIPPED_DIR", shipped)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a shipped seed was computed again")

    monkeypatch.setattr(studies, "recovery_study", refuse)
    used = studies.cached_recovery(3, seed0=2, settings=TINY)
    assert used.source.startswith("shipped with soteria-eval ")
    pd.testing.assert_frame_equal(used.seeds, made.seeds)
    opts = {"index": False, "lineterminator": "\n"}
    assert used.summary().to_csv(**opts) == made.summary().to_csv(**opts)
    # Seeds beyond the shipped ones are computed (here: refused, so it raises).
    with pytest.raises(AssertionError, match="computed again"):
        studies.cached_recovery(4, seed0=2, settings=TINY)
    # Another code version (another key) never reads this archive.
    other = with_designs(TINY, ["twfe", "ppml"])
    assert studies.recovery_name(other) != name


def test_an_interrupted_study_resumes_from_its_finished_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOTERIA_CACHE", str(tmp_path))
    real = studies.recovery_study
    calls: list[int] = []

    def dies_on_the_second_chunk(n: int, **kw: object) -> object:
        calls.append(int(kw["seed0"]))  # type: ignore[call-overload]
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(n, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(studies, "recovery_study", dies_on_the_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        studies.cached_recovery(4, seed0=1, settings=TINY, chunk=2)
    folder = tmp_path / studies.recovery_name(TINY) / "seeds"
    assert sorted(p.name for p in folder.glob("*.csv")) == ["1.csv", "2.csv"]
    calls.clear()
    monkeypatch.setattr(
        studies,
        "recovery_study",
        lambda n, **kw: (calls.append(int(kw["seed0"])), real(n, **kw))[1],
    )  # type: ignore[arg-type]
    again = studies.cached_recovery(4, seed0=1, settings=TINY, chunk=2)
    assert calls == [3] and again.source == "computed"
    fresh = real(4, seed0=1, settings=TINY, progress=False)
    pd.testing.assert_frame_equal(again.summary(), fresh.summary())


def test_shipped_tables_are_read_when_the_cache_is_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = pd.DataFrame({"design": ["twfe"], "size": [0.05]})
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    table.to_parquet(shipped / "placebo-abc.parquet", index=False)
    monkeypatch.setenv("SOTERIA_CACHE", str(tmp_path / "user"))
    monkeypatch.setattr(studies, "SHIPPED_DIR", shipped)
    got = studies._cached_table("placebo-abc.parquet", lambda: pytest.fail("computed"))
    pd.testing.assert_frame_equal(got, table)
    assert got.attrs["source"].startswith("shipped with")
    made = studies._cached_table("placebo-new.parquet", lambda: table)
    assert made.attrs["source"] == "computed"
    assert (
        studies._cached_table("placebo-new.parquet", lambda: pytest.fail("again")).attrs["source"]
        == "cached"
    )


@pytest.mark.validate
def test_the_shipped_recovery_study_equals_a_fresh_five_seed_slice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recompute seeds 1-5 of both shipped recovery studies in an empty cache: same bytes."""
    import tarfile

    options = {a: o for a, o in studies._plan_options(REPO / "analyses" / "plan.yaml")[0].items()}
    monkeypatch.setenv("SOTERIA_CACHE", str(tmp_path))
    monkeypatch.setattr(studies, "SHIPPED_DIR", tmp_path / "none")  # compute, never read
    for found in (studies.recovery_settings(options["recovery"]),
                  studies.stress_settings(options["recovery"])):  # fmt: skip
        assert found is not None
        _, _, st = found
        name = studies.recovery_name(st)
        fresh = studies.cached_recovery(5, seed0=1, settings=st, n_jobs=2)
        assert fresh.source == "computed"
        with tarfile.open(
            REPO / "soteria_eval" / "validation" / "shipped" / f"{name}.tar.xz"
        ) as tar:
            for s in range(1, 6):
                member = tar.extractfile(f"{s}.csv")
                assert member is not None
                shipped = member.read()
                assert (tmp_path / name / "seeds" / f"{s}.csv").read_bytes() == shipped, (name, s)
