r"""The validation studies as a run uses them: cached, resumable and shipped with the release.

The recovery study (:mod:`soteria_eval.validation.recovery`), the coverage study
(:mod:`soteria_eval.inference.coverage`) and the real-panel placebo study
(:mod:`soteria_eval.validation.real_placebo`) depend only on the package's code and their
settings, never on a run's data. Each result is therefore keyed by
:func:`studied_code_hash` (the settings, the package version and the source of every
module a study can run) and looked up in three places, in order:

1. **the user's cache** (:func:`soteria_eval.simulate.output.cache_dir`);
2. **the copy shipped with the release** (``soteria_eval/validation/shipped/``): the
   studies of the default plan, computed by the maintainers with ``make studies``
   (:func:`ship`); a test fails when the studied code changed and they were not
   regenerated, so a shipped study is never stale;
3. **computed**, then cached. The recovery study writes its seeds in chunks as they
   finish, so an interrupted study resumes where it stopped.

Each result says where it came from: :attr:`RecoveryResults.source` and the ``source``
entry of a table's ``attrs`` (``"shipped with soteria-eval X.Y"``, ``"cached"`` or
``"computed"``). This module is not part of the studied code: editing it does not
invalidate a study.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import sys
import tarfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from soteria_eval.validation.designs import DesignSettings
from soteria_eval.validation.recovery import (
    RecoveryResults,
    RecoverySettings,
    read_seed_rows,
    recovery_study,
)

#: Folder of the shipped studies (package data).
SHIPPED_DIR = Path(__file__).with_name("shipped")

#: Modules the studies never run: editing them does not invalidate a cached or shipped study.
NOT_STUDIED = frozenset(
    {
        "pipeline",
        "_io.py",
        "_paths.py",
        "panels/attrition.py",
        "cli.py",
        "report.py",
        "plotting.py",
        "bookbuild.py",
        "disclosure.py",
        "evaluation.py",
        "validation/verdicts.py",
        "validation/studies.py",
        "datasets/home_office.py",
        "datasets/workbooks.py",
        "_scheduler.py",
        "validation/placebo.py",
        "validation/_placebo_kernels.py",
        "validation/placebo_data.py",
        "validation/real_placebo.py",
    }
)

#: The run's default seed (``soteria-eval run --seed``): the coverage study is keyed by it.
DEFAULT_SEED = 20210901

#: Rough time of one seed of one world on one core at full scale (for the time-left message).
SECONDS_PER_SEED = 2.5

#: Designs of the stress study: those a headline can use.
STRESS_DESIGNS: tuple[str, ...] = ("twfe", "callaway_santanna", "imputation_trends")


def studied_code_hash(params: dict[str, Any]) -> str:
    """Hash of ``params``, the package version and the source of every studied module.

    The studied modules are all but :data:`NOT_STUDIED`: what a simulation study can run.
    """
    from soteria_eval import __version__

    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256(json.dumps({**params, "version": __version__}, sort_keys=True).encode())
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] not in NOT_STUDIED and rel.as_posix() not in NOT_STUDIED:
            h.update(str(rel).encode() + path.read_bytes())
    return h.hexdigest()[:12]


def shipped_label() -> str:
    """``"shipped with soteria-eval X.Y.Z"``: the source of a shipped study."""
    from soteria_eval import __version__

    return f"shipped with soteria-eval {__version__}"


def _shipped(name: str) -> Path | None:
    path = SHIPPED_DIR / name
    return path if path.is_file() else None


# --- Settings of the plan's studies (the analyses and `make studies` share them) -------


def recovery_settings(options: dict[str, Any]) -> tuple[int, int, RecoverySettings]:
    """``(n_seeds, seed0, settings)`` of the recovery study from a plan entry's options."""
    settings = RecoverySettings(
        scale=float(options.get("scale", 1.0)),
        size=bool(options.get("size", True)),
        designs=DesignSettings(n_boot=int(options.get("draws", 399))),
        world=str(options.get("world", "ideal")),
    )
    return int(options.get("seeds", 200)), int(options.get("seed0", 1)), settings


def stress_settings(options: dict[str, Any]) -> tuple[int, int, RecoverySettings] | None:
    """Return the stress study's ``(n_seeds, seed0, settings)`` (None without ``stress_world``).

    The headline designs (:data:`STRESS_DESIGNS`) on the primary measures, on all forces
    and on the headline sample, in the plan's ``stress_world``.
    """
    from soteria_eval.dictionary import DOMAINS, load_catalogue
    from soteria_eval.validation.verdicts import HEADLINE_SAMPLE

    world = options.get("stress_world")
    if not world:
        return None
    n, seed0, base = recovery_settings(options)
    cat = load_catalogue()
    settings = replace(
        base,
        world=str(world),
        samples=("default", HEADLINE_SAMPLE),
        designs=DesignSettings(
            n_boot=base.designs.n_boot,
            designs=STRESS_DESIGNS,
            measures=tuple(cat.primary(d).id for d in DOMAINS),
        ),
    )
    return int(options.get("stress_seeds", n)), seed0, settings


def coverage_settings(options: dict[str, Any], seed: int) -> dict[str, int]:
    """Keyword arguments of :func:`cached_coverage_study` from a plan entry's options."""
    return {
        "n_reps": int(options.get("reps", 1000)),
        "n_reps_slow": int(options.get("reps_slow", 200)),
        "n_boot": int(options.get("draws", 399)),
        "seed": seed,
    }


def placebo_settings(options: dict[str, Any]) -> Any:
    """Return the placebo study's :class:`~soteria_eval.validation.placebo.PlaceboSettings`."""
    from soteria_eval.validation.placebo import PlaceboSettings

    return PlaceboSettings(
        n_draws=int(options.get("draws", 1000)), n_boot=int(options.get("boot", 399))
    )


# --- The recovery study ------------------------------------------------------------------


def recovery_name(settings: RecoverySettings) -> str:
    """Name of a recovery study's cache folder (and, ``.tar.xz`` added, of its shipped copy)."""
    from soteria_eval import __version__

    key = studied_code_hash(
        {"scale": settings.scale, "size": settings.size, "designs": repr(settings.designs),
         "world": settings.world}
    )  # fmt: skip
    return f"recovery-{__version__}-{key}"


def _write_seed(folder: Path, seed: int, text: bytes) -> None:
    tmp = folder / f".{seed}.csv.{os.getpid()}.tmp"
    tmp.write_bytes(text)
    os.replace(tmp, folder / f"{seed}.csv")  # atomic: a parallel run never reads half a file


def _restore_shipped_seeds(name: str, folder: Path, wanted: set[int]) -> set[int]:
    """Copy the wanted seeds the shipped archive holds into the cache folder; return them."""
    archive = _shipped(f"{name}.tar.xz")
    if archive is None or not wanted:
        return set()
    got = set()
    with tarfile.open(archive, "r:xz") as tar:
        for member in tar.getmembers():
            stem = Path(member.name).name.removesuffix(".csv")
            if not (member.isfile() and stem.isdigit() and int(stem) in wanted):
                continue
            data = tar.extractfile(member)
            if data is None:
                continue
            folder.mkdir(parents=True, exist_ok=True)
            _write_seed(folder, int(stem), data.read())
            got.add(int(stem))
    return got


def cached_recovery(
    n_seeds: int,
    *,
    seed0: int = 1,
    settings: RecoverySettings | None = None,
    n_jobs: int = 1,
    progress: bool = False,
    chunk: int | None = None,
) -> RecoveryResults:
    """Run the recovery study once per seed and reuse it (see the module docstring).

    Seeds already in the user's cache are read; seeds the shipped copy holds are copied
    from it; the rest are computed ``chunk`` seeds at a time (default: four per job) and
    written as each chunk finishes, so an interrupted study resumes. Studies of different
    lengths share their common seeds. A cached seed is read back exactly as it was
    written, so a first, a cached and a shipped run give identical tables.

    Returns
    -------
    RecoveryResults
        With ``source``: ``"shipped with soteria-eval X.Y"`` when every seed came from the
        shipped copy (now or in an earlier run), ``"computed"`` when any seed was computed
        now, otherwise ``"cached"``.
    """
    from soteria_eval.simulate.output import cache_dir

    st = settings or RecoverySettings()
    if n_seeds < 1:
        raise ValueError(f"n_seeds must be at least 1, got {n_seeds}")
    name = recovery_name(st)
    folder = cache_dir() / name / "seeds"
    seeds = list(range(seed0, seed0 + n_seeds))
    todo = {s for s in seeds if not (folder / f"{s}.csv").is_file()}
    todo -= _restore_shipped_seeds(name, folder, todo)
    step = chunk or max(4 * n_jobs, 4)
    pending = sorted(todo)
    if pending:
        minutes = len(pending) * SECONDS_PER_SEED * (2 if st.size else 1) / max(n_jobs, 1) / 60
        message = (
            f"recovery study ({st.world} world): computing {len(pending)} of {n_seeds} seeds for "
            f"this code, about {max(1, round(minutes))} min on {n_jobs} core(s); the release "
            "ships the studies of its own code, so this happens only after a change to a "
            "studied module (seeds are saved as they finish: an interrupted study resumes)"
        )
        logging.getLogger("soteria_eval").warning(message)
        if progress:
            print(message, file=sys.stderr)
    opts: dict[str, Any] = {"lineterminator": "\n", "float_format": "%.10g", "index": False}
    bar = None
    if progress and pending:
        from tqdm import tqdm

        bar = tqdm(total=len(pending), desc=f"recovery ({st.world})", unit="seed", file=sys.stderr)
    while pending:
        block, pending = pending[:step], pending[step:]
        # Contiguous runs of the block (a study of seeds a..b needs seed0 and a count).
        runs: list[list[int]] = []
        for s in block:
            if runs and s == runs[-1][-1] + 1:
                runs[-1].append(s)
            else:
                runs.append([s])
        rows = pd.concat(
            [recovery_study(len(r), seed0=r[0], settings=st, n_jobs=n_jobs, progress=False).seeds
             for r in runs],
            ignore_index=True,
        )  # fmt: skip
        folder.mkdir(parents=True, exist_ok=True)
        for key, part in rows.groupby("seed", sort=True):
            buf = io.StringIO()
            part.to_csv(buf, **opts)
            _write_seed(folder, int(str(key)), buf.getvalue().encode())
        if bar is not None:
            bar.update(len(block))
    if bar is not None:
        bar.close()
    rows = pd.concat([read_seed_rows(folder / f"{s}.csv") for s in seeds], ignore_index=True)
    if todo:
        source = "computed"
    elif _ships_seeds(name, set(seeds)):
        source = shipped_label()
    else:
        source = "cached"
    return RecoveryResults(seeds=rows, settings=st, n_seeds=n_seeds, seed0=seed0, source=source)


def _ships_seeds(name: str, seeds: set[int]) -> bool:
    archive = _shipped(f"{name}.tar.xz")
    if archive is None:
        return False
    with tarfile.open(archive, "r:xz") as tar:
        have = {
            int(Path(m.name).name.removesuffix(".csv"))
            for m in tar.getmembers()
            if Path(m.name).name.removesuffix(".csv").isdigit()
        }
    return seeds <= have


# --- Coverage and placebo ----------------------------------------------------------------


def _cached_table(name: str, compute: Any) -> pd.DataFrame:
    """Read a Parquet table from the cache, else the shipped copy, else compute and cache it."""
    from soteria_eval.simulate.output import cache_dir

    path = cache_dir() / name
    shipped = _shipped(name)
    if path.is_file():
        table = pd.read_parquet(path)
        table.attrs["source"] = shipped_label() if shipped is not None else "cached"
        return table
    if shipped is not None:
        table = pd.read_parquet(shipped)
        table.attrs["source"] = shipped_label()
        return table
    computed = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    computed.to_parquet(tmp, index=False)
    os.replace(tmp, path)  # atomic: a parallel run never reads half a file
    table = pd.read_parquet(path)  # read back: a first run writes what a cached run does
    table.attrs["source"] = "computed"
    return table


def coverage_name(*, n_reps: int, n_reps_slow: int, n_boot: int, seed: int) -> str:
    """File name of a coverage study's cached (and shipped) table."""
    key = studied_code_hash(
        {"study": "coverage", "n_reps": n_reps, "n_reps_slow": n_reps_slow, "n_boot": n_boot,
         "seed": seed}
    )  # fmt: skip
    return f"coverage-{key}.parquet"


def cached_coverage_study(
    *, n_reps: int = 1000, n_reps_slow: int = 200, n_boot: int = 399, seed: int = 0
) -> pd.DataFrame:
    """:func:`~soteria_eval.inference.coverage.coverage_study` of the default designs, cached.

    Stored as Parquet and read back with the same values and types, so a cached or shipped
    run writes the same bytes as a first run; ``attrs["source"]`` says which it was.
    """
    from soteria_eval.inference.coverage import coverage_study

    name = coverage_name(n_reps=n_reps, n_reps_slow=n_reps_slow, n_boot=n_boot, seed=seed)
    return _cached_table(
        name,
        lambda: coverage_study(n_reps=n_reps, n_reps_slow=n_reps_slow, n_boot=n_boot, seed=seed),
    )


def placebo_name(settings: Any) -> str:
    """File name of a real-panel placebo study's cached (and shipped) table."""
    from soteria_eval._paths import bundled_data_dir
    from soteria_eval.datasets import DATASETS
    from soteria_eval.validation.real_placebo import MODULES, REAL_OUTCOMES

    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256(studied_code_hash({"study": "placebo", "settings": repr(settings),
                                          "outcomes": repr(REAL_OUTCOMES)}).encode())  # fmt: skip
    for rel in MODULES:
        h.update((root / rel).read_bytes())
    h.update((bundled_data_dir() / DATASETS["all_offences_outcomes"].file).read_bytes())
    return f"placebo-{h.hexdigest()[:12]}.parquet"


def cached_placebo(settings: Any = None, *, n_jobs: int = 1) -> pd.DataFrame:
    """:func:`~soteria_eval.validation.real_placebo.real_placebo`, cached (``attrs["source"]``)."""
    from soteria_eval.validation.placebo import PlaceboSettings
    from soteria_eval.validation.real_placebo import real_placebo

    st = settings or PlaceboSettings()
    return _cached_table(placebo_name(st), lambda: real_placebo(st, n_jobs=n_jobs))


# --- Shipping ----------------------------------------------------------------------------


def _plan_options(plan: str | Path) -> tuple[dict[str, dict[str, Any]], int]:
    from soteria_eval.pipeline.plan import load_plan

    p = load_plan(Path(plan))
    return {a.id: dict(a.options) for a in p.analyses}, DEFAULT_SEED


def shipped_names(plan: str | Path) -> dict[str, str]:
    """Name the file each study of ``plan`` is shipped as, for the current code (study → name)."""
    options, seed = _plan_options(plan)
    out: dict[str, str] = {}
    if "recovery" in options:
        _, _, st = recovery_settings(options["recovery"])
        out["recovery"] = recovery_name(st) + ".tar.xz"
        stress = stress_settings(options["recovery"])
        if stress is not None:
            out["recovery_stress"] = recovery_name(stress[2]) + ".tar.xz"
    if "coverage_study" in options:
        out["coverage"] = coverage_name(**coverage_settings(options["coverage_study"], seed))
    if "placebo" in options:
        out["placebo"] = placebo_name(placebo_settings(options["placebo"]))
    return out


def archive_seeds(name: str, seeds: Any, target: Path) -> Path:
    """Write the cached seeds of recovery study ``name`` into an ``.tar.xz`` archive.

    Members carry no owner, mode or time, so the archive depends on the seeds' bytes only.
    """
    from soteria_eval.simulate.output import cache_dir

    tmp = target.with_name(f".{target.name}.tmp")
    with tarfile.open(tmp, "w:xz", preset=9) as tar:
        for s in seeds:
            data = (cache_dir() / name / "seeds" / f"{s}.csv").read_bytes()
            info = tarfile.TarInfo(f"{s}.csv")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, target)
    return target


def _ship_table(name: str) -> Path:
    """Copy a cached table into the shipped folder (already there when it came from it)."""
    from soteria_eval.simulate.output import cache_dir

    src, target = cache_dir() / name, SHIPPED_DIR / name
    if src.is_file():
        shutil.copyfile(src, target)
    return target


def ship(plan: str | Path, *, n_jobs: int = 2, progress: bool = True) -> list[Path]:
    """Compute (or reuse) every study of ``plan`` and write the shipped copies (``make studies``).

    Writes :data:`SHIPPED_DIR`'s archives for the current code and removes every other
    study file there, so the folder holds exactly what :func:`shipped_names` expects.
    """
    options, seed = _plan_options(plan)
    SHIPPED_DIR.mkdir(exist_ok=True)
    written: list[Path] = []
    studies = []
    if "recovery" in options:
        studies.append(recovery_settings(options["recovery"]))
        stress = stress_settings(options["recovery"])
        if stress is not None:
            studies.append(stress)
    for n, seed0, st in studies:
        cached_recovery(n, seed0=seed0, settings=st, n_jobs=n_jobs, progress=progress)
        target = SHIPPED_DIR / f"{recovery_name(st)}.tar.xz"
        archive_seeds(recovery_name(st), range(seed0, seed0 + n), target)
        written.append(target)
    if "coverage_study" in options:
        kw = coverage_settings(options["coverage_study"], seed)
        cached_coverage_study(**kw)
        written.append(_ship_table(coverage_name(**kw)))
    if "placebo" in options:
        pst = placebo_settings(options["placebo"])
        cached_placebo(pst, n_jobs=n_jobs)
        written.append(_ship_table(placebo_name(pst)))
    for stale in SHIPPED_DIR.iterdir():
        if stale.is_file() and stale not in written and stale.name != "README.md":
            stale.unlink()
    return written


def main() -> None:
    """``python -m soteria_eval.validation.studies [PLAN]``: regenerate the shipped studies."""
    import sys

    plan = (
        sys.argv[1]
        if len(sys.argv) > 1
        else str(Path(__file__).resolve().parents[2] / "analyses" / "plan.yaml")
    )
    for path in ship(plan):
        print(f"shipped {path.name} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()


__all__ = [
    "NOT_STUDIED",
    "SHIPPED_DIR",
    "STRESS_DESIGNS",
    "archive_seeds",
    "cached_coverage_study",
    "cached_placebo",
    "cached_recovery",
    "coverage_name",
    "coverage_settings",
    "placebo_name",
    "placebo_settings",
    "recovery_name",
    "recovery_settings",
    "ship",
    "shipped_label",
    "shipped_names",
    "stress_settings",
    "studied_code_hash",
]
