"""Run the evaluation plan: validate inputs, run every analysis, write the outputs."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from soteria_eval import __version__
from soteria_eval._io import WRITE_ERRNOS, OutputFolderError, OutputWriteError
from soteria_eval._paths import bundled_data_dir, data_dictionary_dir, default_plan
from soteria_eval.data import DataValidationError, load_rollout
from soteria_eval.dictionary import load_catalogue
from soteria_eval.disclosure import check_no_small_cells, figure_problems
from soteria_eval.inference.multiplicity import adjust_pvalues
from soteria_eval.pipeline.context import RunContext
from soteria_eval.pipeline.inputs import (
    InputData,
    InputRead,
    MissingInputError,
    folder_issues,
    read_metadata,
)
from soteria_eval.pipeline.outputs import (
    AnalysisOutput,
    AtomicOutputDir,
    failure_row,
    labelled_table,
    normalise_results,
    sha256_file,
    withhold_figure,
    write_figure,
    write_json,
)
from soteria_eval.pipeline.plan import AnalysisSpec, Plan, PlanError, load_plan
from soteria_eval.pipeline.readback import drawn_but_undeclared
from soteria_eval.simulate.output import default_data

#: Columns that define a multiplicity family: the same question asked of several measures.
FAMILY_KEYS = ["analysis", "domain", "design", "level", "scenario", "estimand", "term", "inference"]
RECORDED_PACKAGES = (
    "numpy",
    "pandas",
    "scipy",
    "statsmodels",
    "linearmodels",
    "matplotlib",
    "frictionless",
)


@dataclass
class RunSummary:
    """What a run did."""

    out_dir: Path
    n_analyses: int
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every analysis succeeded."""
        return not self.failed


def load_analysis(plan: Plan, spec: AnalysisSpec) -> ModuleType:
    """Import an analysis script from the plan's folder."""
    path = plan.analyses_dir / spec.script
    name = f"soteria_analysis_{spec.id}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, "run"):
        raise AttributeError(f"{path} defines no run(ctx) function")
    return module


_Outcome = tuple[
    str, pd.DataFrame, list[dict[str, Any]], list[str], float, str | None, list[InputRead]
]


def _run_one(plan: Plan, spec: AnalysisSpec, base: dict[str, Any]) -> _Outcome:
    """Run one analysis and write its figures and tables.

    A failing analysis becomes a failure row; only an error writing the outputs (disk
    full, file-size limit) is raised, so the run stops and replaces nothing. Every table
    is checked for disclosure before anything of the analysis is written.
    """
    from threadpoolctl import threadpool_limits

    _free_memory()  # what the previous analysis left (a national extract is gigabytes)
    t0 = time.perf_counter()
    ctx = RunContext(spec=spec, **base)
    ctx.inputs.reads.clear()  # this analysis's reads only (workers get a copy)
    try:
        module = load_analysis(plan, spec)
        # One BLAS thread, in the main process as in parallel workers: a threaded matrix
        # product sums in a different order, and optimisers (SLSQP in the fixed-length
        # intervals) can carry that last-digit noise into the results files.
        with threadpool_limits(limits=1):
            output: AnalysisOutput = module.run(ctx)
        for name, table in output.tables.items():
            check_no_small_cells(
                table, table.attrs.get("count_columns", ()), ctx.disclosure_threshold, name
            )
        figures = []
        for f in output.figures:
            problems = (
                figure_problems(f.data, ctx.disclosure_threshold)
                if f.data is not None
                else ["it declares no underlying data to check"]
            )
            if problems:
                reason = "; ".join(problems)
                figures.append(withhold_figure(f, reason))
                output.notes.append(f"figure {f.name} withheld (disclosure control): {reason}")
                continue
            record = write_figure(f, ctx.out_dir / "figures", ctx.data_label)
            # Read the figure back from its SVG, as a reader could: it must draw nothing
            # but its declared (disclosure-checked) data.
            stray = drawn_but_undeclared(ctx.out_dir / record["svg"], f.data)
            if stray:
                for ext in ("png", "svg", "csv"):
                    (ctx.out_dir / "figures" / f"{f.name}.{ext}").unlink(missing_ok=True)
                reason = (
                    f"{len(stray)} value(s) read back from the drawing are not in its declared data"
                )
                figures.append({"name": f.name, "withheld": reason, "caption": f.caption})
                output.notes.append(f"figure {f.name} withheld (disclosure control): {reason}")
                continue
            figures.append(record)
        for name, table in output.tables.items():
            (ctx.out_dir / "tables").mkdir(exist_ok=True)
            label = str(table.attrs.get("data_label") or ctx.data_label)
            labelled_table(table, label).to_csv(
                ctx.out_dir / "tables" / f"{name}.csv", index=False, lineterminator="\n"
            )
        rows = normalise_results(output.rows)
        reads = list(ctx.inputs.reads.values())
        return spec.id, rows, figures, output.notes, time.perf_counter() - t0, None, reads
    except MissingInputError as exc:  # the folder holds a subset of the inputs: not a failure
        logging.getLogger("soteria_eval").info("analysis %s skipped: %s", spec.id, exc)
        row = failure_row(spec.id, spec.domain, base["data_label"], exc)
        row["status"] = "skipped"
        row["note"] = f"not run: {exc}"
        reads = list(ctx.inputs.reads.values())
        return spec.id, row, [], [f"not run: {exc}"], time.perf_counter() - t0, None, reads
    except OSError as exc:
        if exc.errno in WRITE_ERRNOS:  # the outputs cannot be written: stop the run, commit nothing
            raise OutputWriteError(exc.errno, f"analysis {spec.id}: {exc}") from exc
        return _failed(spec, base, exc, t0)
    except Exception as exc:  # a failed analysis must not stop the others
        return _failed(spec, base, exc, t0)


def _free_memory() -> None:
    """Collect garbage (figures hold reference cycles) and hand freed memory to the system."""
    import gc

    from soteria_eval.data.loaders import release_free_memory

    gc.collect()
    release_free_memory()


def _failed(spec: AnalysisSpec, base: dict[str, Any], exc: BaseException, t0: float) -> _Outcome:
    """Log a failed analysis (called inside its ``except``) and return its failure row."""
    logging.getLogger("soteria_eval").exception("analysis %s failed", spec.id)
    rows = failure_row(spec.id, spec.domain, base["data_label"], exc)
    reads = list(base["inputs"].reads.values())
    err = f"{type(exc).__name__}: {exc}"
    return spec.id, rows, [], [], time.perf_counter() - t0, err, reads


#: Files only the simulator writes: a folder holding one is synthetic, whatever else it says.
SIMULATOR_FILES: tuple[str, ...] = ("SYNTHETIC.txt", "truth.csv", "calibration.csv")


def _is_synthetic(folder: Path) -> bool:
    """Return True when ``metadata.json`` says ``"synthetic": true`` or a simulator file is there.

    A folder written by ``simulate`` stays synthetic when its ``metadata.json`` is lost or
    edited: ``SYNTHETIC.txt``, ``truth.csv`` or ``calibration.csv`` are enough.
    """
    meta, _ = read_metadata(folder)
    return meta.get("synthetic") is True or any((folder / f).exists() for f in SIMULATOR_FILES)


def _data_label(plan_label: str | None, synthetic: bool, plan_path: Path) -> str:
    """Return the run's data label: the plan's, which may never call synthetic data real."""
    if plan_label is None:
        return "synthetic" if synthetic else "real"
    if synthetic and "synthetic" not in plan_label.lower():
        raise PlanError(
            f"{plan_path.name}: data_label {plan_label!r} on synthetic data (metadata.json or a "
            "simulator file says so); a synthetic extract is never published as real: remove "
            "data_label or make it say synthetic"
        )
    return plan_label


def _bundled_rollout() -> Path:
    return bundled_data_dir() / "rollout.csv"


def _installed_from() -> str:
    """How the package is installed: a source checkout (editable) or an installed wheel."""
    from soteria_eval._paths import PACKAGE_DIR

    return (
        "source checkout"
        if (PACKAGE_DIR.parent / "pyproject.toml").is_file()
        else "installed package"
    )


def _git_commit() -> str:
    """Commit of the source checkout the package runs from ("not a git checkout" otherwise)."""
    from soteria_eval._paths import PACKAGE_DIR

    start = PACKAGE_DIR.parent
    if not (start / ".git").exists():
        return "not a git checkout (see soteria_eval_version)"
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=start,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "soteria-eval": __version__}
    for name in RECORDED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def add_adjusted_pvalues(results: pd.DataFrame, method: str = "holm") -> pd.DataFrame:
    """Fill ``p_adjusted``: Holm (or BH) across a domain's secondary measures.

    A family is the same question (analysis, domain, design, level, scenario, estimand,
    term and inference) asked of several measures. Each domain's pre-specified primary
    measure is tested alone, so its adjusted p-value equals its p-value; the secondary
    measures are adjusted together.

    Measures linked by construction (the catalogue's ``family``: complements such as the
    CPS charge and no-further-action rates, or shares of one denominator) answer one
    question, so they count once: the correction runs over the families' smallest
    p-values, :math:`m` is the number of families (a measure linked to none is its own),
    and each member's adjusted p-value is the larger of its own p-value and its family's
    adjusted p-value.
    """
    out = results.copy()
    cat = load_catalogue()
    primary = {m.id for m in cat.values() if m.primary}
    family = {m.id: m.family or m.id for m in cat.values()}
    ok = out["status"] == "ok"
    is_primary = out["measure"].isin(primary)
    out.loc[ok & is_primary, "p_adjusted"] = out.loc[ok & is_primary, "p_value"]
    for _, idx in out[ok & ~is_primary].groupby(FAMILY_KEYS, sort=True).groups.items():
        block = out.loc[idx, ["measure", "p_value"]]
        fam = block["measure"].map(lambda m: family.get(m, m))
        p = block["p_value"].to_numpy(dtype=float)
        fam_min = pd.Series(p, index=block.index).groupby(fam.to_numpy()).min()
        fam_adj = pd.Series(adjust_pvalues(fam_min.to_numpy(), method), index=fam_min.index)
        adj = np.fmax(p, fam.map(fam_adj).to_numpy(dtype=float))
        out.loc[idx, "p_adjusted"] = np.where(np.isnan(p), np.nan, adj)
    return out


def run_evaluation(
    plan_path: str | Path,
    *,
    out: str | Path = "results",
    data_dir: str | Path | None = None,
    seed: int = 20210901,
    jobs: int = 1,
    progress: bool = True,
    only: Sequence[str] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> RunSummary:
    """Run every analysis in a plan and write the outputs atomically to ``out``.

    Parameters
    ----------
    plan_path : str or Path
        The evaluation plan (YAML).
    out : str or Path
        Output folder; replaced only when the run completes.
    data_dir : str or Path, optional
        Folder with the user's data; default: the embedded data.
    seed : int
        Seed for everything random (bootstrap, randomization inference, simulation).
    jobs : int
        Analyses run in parallel (joblib); results do not depend on it.
    progress : bool
        Show a progress bar on standard error.
    only : sequence of str, optional
        Run only these analysis ids.
    on_step : callable, optional
        Called with each analysis id as it finishes.

    Returns
    -------
    RunSummary

    Raises
    ------
    PlanError, DataValidationError
        Before anything is written.
    """
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    plan = load_plan(plan_path)
    specs = list(plan.analyses)
    if only is not None:
        unknown = sorted(set(only) - {s.id for s in specs})
        if unknown:
            raise PlanError(
                f"{plan.path.name}: --only: unknown analysis id(s) {unknown}; "
                f"the plan has {[s.id for s in specs]}"
            )
        specs = [s for s in specs if s.id in set(only)]
    t0 = time.perf_counter()
    data_path = Path(data_dir) if data_dir is not None else default_data()
    out_path, data_real = Path(out).resolve(), data_path.resolve()
    if out_path == data_real or out_path in data_real.parents:
        raise OutputFolderError(
            f"{out}: is the data folder or contains it; write the results to another folder"
        )
    timings["prepare_data"] = time.perf_counter() - t0
    early = folder_issues(data_path)  # links and misnamed files, before any file is read
    if early:
        raise DataValidationError(early)
    rollout_file = data_path / "rollout.csv" if (data_path / "rollout.csv").exists() else None
    t0 = time.perf_counter()
    rollout = load_rollout(rollout_file)
    synthetic = _is_synthetic(data_path)
    inputs = InputData(data_path, rollout, synthetic, embedded=data_dir is None)
    inputs.validate_all()
    timings["validate"] = time.perf_counter() - t0
    data_label = _data_label(plan.data_label, synthetic, plan.path)
    target = AtomicOutputDir(Path(out))
    log_path = target.tmp / "run.log"
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("soteria_eval")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        base = {
            "rollout": rollout,
            "inputs": inputs,
            "out_dir": target.tmp,
            "seed": seed,
            "data_label": data_label,
            "disclosure_threshold": plan.disclosure_threshold,
        }
        if jobs > 1:
            from joblib import Parallel, delayed

            outputs = Parallel(n_jobs=jobs)(delayed(_run_one)(plan, s, base) for s in specs)
        else:
            from tqdm import tqdm

            outputs = [
                _run_one(plan, s, base)
                for s in tqdm(specs, desc="analyses", disable=not progress, file=sys.stderr)
            ]
        frames, figures, notes, failed, skipped = [], [], {}, [], []
        reads: dict[tuple[str, str], InputRead] = {}
        for aid, rows, figs, nts, secs, err, used in outputs:
            for r in used:
                reads.setdefault((r.role, r.path), r)
            if len(rows) and (rows["status"] == "skipped").all():
                skipped.append(aid)
            frames.append(rows)
            figures.extend(figs)
            notes[aid] = nts
            timings[f"analysis:{aid}"] = secs
            logger.info(
                "analysis %s finished in %.2fs%s", aid, secs, f" (FAILED: {err})" if err else ""
            )
            if err:
                failed.append(aid)
            if on_step:
                on_step(aid)
        names = [f["name"] for f in figures]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"two analyses wrote figures with the same name: {dupes}")
        results = add_adjusted_pvalues(normalise_results(frames), plan.multiplicity)
        results = _apply_recovery_verdicts(results, target.tmp / "tables", notes)
        results.to_csv(
            target.tmp / "results.csv", index=False, lineterminator="\n", float_format="%.10g"
        )
        results.to_parquet(target.tmp / "results.parquet", index=False)
        write_json(target.tmp / "figures.json", sorted(figures, key=lambda f: f["name"]))
        write_json(target.tmp / "notes.json", notes)
        inputs.reads.clear()
        inputs.record(
            "rollout", rollout_file or _bundled_rollout(), "user" if rollout_file else "bundled"
        )
        inputs.record("data_dictionary", data_dictionary_dir() / "measures.csv", "bundled")
        reads.update(inputs.reads)
        timings["total"] = time.perf_counter() - t_start
        manifest = {
            "soteria_eval_version": __version__,
            "plan": str(plan.path),
            "title": plan.title,
            "plan_source": "packaged default" if plan.path == default_plan() else "user",
            "seed": seed,
            "jobs": jobs,
            "disclosure_threshold": plan.disclosure_threshold,
            "data_label": data_label,
            "data": "embedded default (synthetic)"
            if data_dir is None
            else str(data_path.resolve()),
            "inputs": [
                {"role": r.role, "source": r.source, "path": r.path, "sha256": r.sha256}
                for r in sorted(reads.values(), key=lambda r: (r.role, r.source, r.path))
            ],
            "packages": _versions(),
            "installed_from": _installed_from(),
            "git_commit": _git_commit(),
            "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
            "analyses": [s.id for s in specs],
            "failed": failed,
            "skipped": skipped,
            "results_sha256": sha256_file(target.tmp / "results.csv"),
            # Where each validation study came from: shipped with the release, the user's
            # cache, or computed in this run (the studies' own notes).
            "validation_studies": {
                aid: [n for n in notes.get(aid, []) if n.startswith(STUDY_NOTE_PREFIXES)]
                for aid in ("recovery", "coverage_study", "placebo")
                if aid in notes
            },
        }
        write_json(target.tmp / "manifest.json", manifest)
    except BaseException:
        _close_log(logger, handler)
        target.abort()
        raise
    _close_log(logger, handler)
    target.commit()
    return RunSummary(Path(out), len(specs), failed, skipped)


#: Notes of the study analyses that say where a study came from (copied into the manifest).
STUDY_NOTE_PREFIXES = ("validation study:", "stress world", "coverage study:", "placebo study:")


def _close_log(logger: logging.Logger, handler: logging.Handler) -> None:
    """Detach and close the run log; a failure to flush it must not stop the clean-up."""
    logger.removeHandler(handler)
    with contextlib.suppress(OSError):  # e.g. the file-size limit hit while flushing
        handler.close()


def _apply_recovery_verdicts(
    results: pd.DataFrame, tables: Path, notes: dict[str, list[str]]
) -> pd.DataFrame:
    """Refuse the rows the recovery study shows failing and mark each domain's headline.

    Only when the run made the study (its ``recovery`` and ``recovery_verdicts`` tables).
    """
    from soteria_eval.validation.verdicts import (
        apply_verdicts,
        choose_headlines,
        headline_candidates,
        trend_flags,
    )

    path = tables / "recovery_verdicts.csv"
    if not path.is_file():
        return results
    verdicts = pd.read_csv(path)
    recovery = pd.read_csv(tables / "recovery.csv")
    n_seeds = int(verdicts["n_seeds"].max()) if len(verdicts) else 0
    out = apply_verdicts(results, verdicts, n_seeds)
    refused = int((out["status"] == "refused").sum() - (results["status"] == "refused").sum())
    notes.setdefault("recovery", []).append(f"{refused} result rows refused by the recovery study")
    real = tables / "placebo_verdicts.csv"
    placebo = pd.read_csv(real, keep_default_na=False, na_values=[""]) if real.is_file() else None
    stress_file = tables / "recovery_stress.csv"
    stress = pd.read_csv(stress_file) if stress_file.is_file() else None
    flags = trend_flags(out)
    out = choose_headlines(out, recovery, verdicts, placebo, stress, flags)
    # Why each headline uses its design: every candidate tried, in order, with its verdict.
    path_table = headline_candidates(out, recovery, verdicts, placebo, stress, flags)
    label = "synthetic" if out["data_label"].astype(str).str.contains("synthetic").any() else "real"
    path_table.assign(data_label=label).to_csv(
        tables / "headline_path.csv", index=False, lineterminator="\n"
    )
    notes["recovery"].append(
        f"{int(out['headline'].sum())} of 4 domains have a validated headline"
        + (
            ""
            if placebo is not None
            else " (not checked on real placebos: analysis placebo not run)"
        )
    )
    return out


def run_script(script: str, analysis_id: str) -> None:
    """Run one analysis of the plan beside ``script`` (for ``python analyses/x.py``)."""
    import argparse

    parser = argparse.ArgumentParser(description=f"Run the analysis {analysis_id!r} alone.")
    parser.add_argument("--out", default=f"results/{analysis_id}")
    parser.add_argument("--data", default=None, help="folder of user data (default: embedded)")
    parser.add_argument("--seed", type=int, default=20210901)
    args = parser.parse_args()
    plan = Path(script).resolve().with_name("plan.yaml")
    summary = run_evaluation(
        plan, out=args.out, data_dir=args.data, seed=args.seed, only=[analysis_id]
    )
    print(f"wrote {summary.out_dir}")
    raise SystemExit(0 if summary.ok else 1)


__all__ = [
    "DataValidationError",
    "RunSummary",
    "add_adjusted_pvalues",
    "load_analysis",
    "run_evaluation",
    "run_script",
]
