"""Command line: ``soteria-eval validate | dictionary | run | book | init | simulate | recovery | placebo | ingest``.

Exit codes: 0 success; 1 an analysis failed; 2 the input is invalid (nothing written).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click

from soteria_eval import __version__
from soteria_eval.dictionary import SCHEMA_NAMES

EXIT_INVALID = 2


@click.group()
@click.version_option(__version__, prog_name="soteria-eval")
def main() -> None:
    """Evaluate Operation Soteria: validate data, run the evaluation, build the book."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--kind",
    type=click.Choice(SCHEMA_NAMES),
    default=None,
    help="Which table the file is; detected from its header if omitted.",
)
@click.option(
    "--rollout",
    "rollout_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="For panels: check units and pre-periods against this rollout (default: bundled).",
)
def validate(files: tuple[Path, ...], kind: str | None, rollout_path: Path | None) -> None:
    """Validate FILES (input files or data folders) against the data dictionary.

    A folder is checked as `run --data` reads it: every input it holds, `metadata.json`
    against its schema, panels against the folder's own rollout.csv; files a run does not
    read (SYNTHETIC.txt, calibration.csv, truth.csv) are named, not checked. Every
    problem is printed with the file, column, row(s) and rule; exit 2 if any is found.
    """
    from soteria_eval.data import DataValidationError, load_rollout
    from soteria_eval.pipeline.inputs import check_path

    try:
        rollout = load_rollout(rollout_path)
    except DataValidationError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_INVALID)
    bad = False
    for f in files:
        if not f.exists():
            bad = True
            click.echo(f"{f}: no such file or folder", err=True)
            continue
        for check in check_path(
            f, kind, rollout=None if rollout_path is None and f.is_dir() else rollout
        ):
            if check.status == "ok":
                click.echo(f"{check.file}: OK ({check.detail})")
            elif check.status == "not used":
                click.echo(f"{check.file}: not used by a run ({check.detail}); not checked")
            else:
                bad = True
                click.echo(
                    f"{check.file}: {len(check.issues)} problem(s) ({check.detail})", err=True
                )
                for issue in check.issues:
                    click.echo(f"  - {issue}", err=True)
    if bad:
        sys.exit(EXIT_INVALID)


@main.command()
@click.option("--check", is_flag=True, help="Validate the data dictionary with frictionless.")
def dictionary(check: bool) -> None:
    """Print the measure catalogue as Markdown (or validate the data dictionary)."""
    from soteria_eval.dictionary import render_markdown, validate_data_package

    if check:
        problems = validate_data_package()
        for p in problems:
            click.echo(p, err=True)
        if problems:
            sys.exit(EXIT_INVALID)
        click.echo("data dictionary: OK")
        return
    click.echo(render_markdown())


@main.command()
@click.option(
    "--data",
    "data_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder of user data (default: the embedded data).",
)
@click.option(
    "--plan",
    "plan_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Evaluation plan (default: the plan the package ships, never the current folder's).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("results"),
    show_default=True,
    help="Output folder (replaced atomically).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Analyses run in parallel.",
)
@click.option(
    "--seed", type=int, default=20210901, show_default=True, help="Seed for everything random."
)
@click.option("--only", multiple=True, help="Run only this analysis id (repeatable).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def run(
    data_dir: Path | None,
    plan_path: Path | None,
    out: Path,
    jobs: int,
    seed: int,
    only: tuple[str, ...],
    quiet: bool,
) -> None:
    """Run the evaluation: validate the data, run every planned analysis, write outputs.

    Exit codes: 0 all analyses succeeded; 1 an analysis failed (its row in the results
    says why); 2 invalid input or plan (nothing written).
    """
    from soteria_eval._io import OutputFolderError, interrupt_on_termination
    from soteria_eval._paths import default_plan
    from soteria_eval.data import DataValidationError
    from soteria_eval.pipeline import PlanError, run_evaluation

    plan = plan_path or default_plan()
    click.echo(f"plan: {plan}{'' if plan_path else ' (packaged default)'}", err=True)
    try:
        with interrupt_on_termination():
            summary = run_evaluation(
                plan,
                out=out,
                data_dir=data_dir,
                seed=seed,
                jobs=jobs,
                progress=not quiet,
                only=only or None,
            )
    except (DataValidationError, PlanError, OutputFolderError) as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_INVALID)
    except OSError as exc:  # disk full, file-size limit: the previous outputs are intact
        click.echo(f"{out}: outputs could not be written ({exc}); previous outputs kept", err=True)
        sys.exit(1)
    except KeyboardInterrupt as exc:
        click.echo(f"{out}: run interrupted ({exc or 'SIGINT'}); previous outputs kept", err=True)
        sys.exit(130)
    click.echo(
        f"wrote {summary.out_dir} ({summary.n_analyses} analyses, {len(summary.failed)} failed, "
        f"{len(summary.skipped)} skipped)"
    )
    if summary.skipped:
        click.echo(
            f"skipped (an input is missing): {', '.join(summary.skipped)} (see results.csv)",
            err=True,
        )
    if summary.failed:
        click.echo(f"failed: {', '.join(summary.failed)} (see results.csv and run.log)", err=True)
        sys.exit(1)


@main.command()
@click.option(
    "--results",
    type=click.Path(path_type=Path),
    default=Path("results"),
    show_default=True,
    help="Outputs of `soteria-eval run`.",
)
@click.option(
    "--book-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Book sources to build (default: the book the package ships; "
    "`soteria-eval init` writes an editable copy). Only read.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("site"),
    show_default=True,
    help="Folder the HTML site is written to (OUT/index.html), replaced atomically; "
    "nothing is written outside it.",
)
def book(results: Path, book_dir: Path | None, out: Path) -> None:
    """Build the evaluation book offline from a run's outputs into OUT."""
    from soteria_eval._io import OutputFolderError, interrupt_on_termination
    from soteria_eval._paths import default_book
    from soteria_eval.bookbuild import BookError, build_book

    click.echo(f"book sources: {book_dir or f'{default_book()} (packaged)'}", err=True)
    try:
        with interrupt_on_termination():
            html = build_book(results, out, source=book_dir)
    except OutputFolderError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_INVALID)
    except BookError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo(f"{out}: book build interrupted; previous site kept", err=True)
        sys.exit(130)
    click.echo(f"built {html / 'index.html'}")


@main.command()
@click.option(
    "--site",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("site"),
    show_default=True,
    help="The built book (soteria-eval book --out).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("brief.pdf"),
    show_default=True,
    help="The PDF to write (replaced only when printing succeeds).",
)
def brief(site: Path, out: Path) -> None:
    """Print the book's summary page to a PDF brief with headless Chromium."""
    from soteria_eval.bookbuild import BriefError, NoBrowserError, pdf_pages, print_brief

    try:
        pdf = print_brief(site, out)
    except NoBrowserError as exc:  # nothing was tried: an installation step is missing
        click.echo(str(exc), err=True)
        sys.exit(EXIT_INVALID)
    except BriefError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"wrote {pdf} ({pdf_pages(pdf)} pages)")


@main.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def init(folder: Path) -> None:
    """Write an editable copy of the plan, the analysis scripts and the book into FOLDER.

    FOLDER must not exist or be empty. Then: `soteria-eval run --plan
    FOLDER/analyses/plan.yaml` and `soteria-eval book --book-dir FOLDER/book`.
    """
    from soteria_eval.workspace import WorkspaceError, init_workspace

    try:
        made = init_workspace(folder)
    except WorkspaceError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_INVALID)
    click.echo(f"wrote {made}")
    click.echo(f"  run:  soteria-eval run --plan {made / 'analyses' / 'plan.yaml'} --out results")
    click.echo(f"  book: soteria-eval book --book-dir {made / 'book'} --results results --out site")


@main.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write (replaced atomically).",
)
@click.option("--seed", type=int, default=20210901, show_default=True)
@click.option(
    "--scale",
    type=click.FloatRange(min=0.001),
    default=1.0,
    show_default=True,
    help="Multiply every volume (0.1: a tenth of the cases).",
)
@click.option("--start", default="2016-01", show_default=True, help="First month (YYYY-MM).")
@click.option("--end", default="2025-12", show_default=True, help="Last month (YYYY-MM).")
@click.option(
    "--no-effects", is_flag=True, help="Simulate with no programme effect (a null world)."
)
@click.option(
    "--world",
    type=click.Choice(["ideal", "calibrated", "differential_trend"]),
    default="ideal",
    show_default=True,
    help="Constant force factors, or force trends and shocks fitted to the real force panel.",
)
def simulate(
    out: Path, seed: int, scale: float, start: str, end: str, no_effects: bool, world: str
) -> None:
    """Write synthetic case records, panels and a calibration report to OUT."""
    from soteria_eval.simulate import NO_EFFECTS, SimulationConfig, write_simulation
    from soteria_eval.simulate.config import world as in_world

    cfg = in_world(world, SimulationConfig(start=start, end=end, seed=seed, scale=scale))
    if no_effects:
        cfg = cfg.with_effects(NO_EFFECTS)
    import pandas as pd

    from soteria_eval._io import OutputFolderError, interrupt_on_termination

    try:
        with interrupt_on_termination():
            folder = write_simulation(out, cfg)
    except OutputFolderError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_INVALID)
    except OSError as exc:
        click.echo(f"{out}: outputs could not be written ({exc}); previous outputs kept", err=True)
        sys.exit(1)
    except KeyboardInterrupt as exc:  # SIGINT, SIGTERM, SIGHUP: as `run` does
        click.echo(
            f"{out}: simulation interrupted ({exc or 'SIGINT'}); previous outputs kept", err=True
        )
        sys.exit(130)
    calib = pd.read_csv(folder / "calibration.csv")
    n_ok = int(calib["within_tolerance"].sum())
    click.echo(
        f"wrote synthetic data to {folder} ({n_ok}/{len(calib)} calibration targets within ±10%)"
    )


@main.command()
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=40,
    show_default=True,
    help="Number of simulated seeds.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write recovery.csv (and the per-seed rows) into; replaced atomically.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Seeds run in parallel.",
)
@click.option(
    "--seed0", type=int, default=1, show_default=True, help="First seed (seeds seed0 .. seed0+S-1)."
)
@click.option(
    "--scheduler", default=None, help="Address of a dask.distributed scheduler to run on."
)
@click.option(
    "--scale",
    type=click.FloatRange(min=0.001),
    default=1.0,
    show_default=True,
    help="Simulation scale.",
)
@click.option(
    "--draws",
    type=click.IntRange(min=19),
    default=399,
    show_default=True,
    help="Wild bootstrap, randomization and multiplier draws per seed.",
)
@click.option(
    "--no-size", is_flag=True, help="Skip the no-effect worlds (the size column stays empty)."
)
@click.option(
    "--world",
    type=click.Choice(["ideal", "calibrated", "differential_trend"]),
    default="ideal",
    show_default=True,
    help="The simulator's world: constant force factors, or force trends and shocks fitted "
    "to the Home Office force panel.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def recovery(
    seeds: int, out: Path, jobs: int, seed0: int, scheduler: str | None, scale: float,
    draws: int, no_size: bool, world: str, quiet: bool,
) -> None:  # fmt: skip
    """Run the recovery study: does each design find the truth the simulator planted.

    Writes OUT/recovery.csv (measure, design, inference, n_seeds, truth, bias, rel_bias,
    rmse, coverage, size, world), OUT/recovery_seeds.csv (one row per seed and estimate) and
    OUT/recovery_mc.csv (Monte Carlo standard errors).
    """
    from soteria_eval._io import OutputFolderError, check_output_folder
    from soteria_eval._scheduler import SchedulerError, check_address
    from soteria_eval.validation import DesignSettings, RecoverySettings
    from soteria_eval.validation.recovery import recovery_study, write_recovery

    try:  # refuse a folder that must not be replaced before hours of work, not after
        check_output_folder(out)
        if scheduler is not None:
            check_address(scheduler)
    except (OutputFolderError, SchedulerError) as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_INVALID)
    settings = RecoverySettings(
        scale=scale, size=not no_size, designs=DesignSettings(n_boot=draws), world=world
    )
    try:
        res = recovery_study(
            seeds, seed0=seed0, settings=settings, n_jobs=jobs, scheduler=scheduler,
            progress=not quiet,
        )  # fmt: skip
    except SchedulerError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_INVALID)
    folder = write_recovery(res, out)
    click.echo(f"wrote {folder / 'recovery.csv'} ({seeds} seeds, {len(res.summary())} rows)")


@main.command()
@click.option(
    "--panel",
    "panel_path",
    type=click.Path(path_type=Path),
    default=None,
    help="A real force x period panel: the Home Office quarterly outcomes file as published "
    "(force, fy, q, counts) or a soteria-eval panel (level, unit, period, measure, value). "
    "Default: the copy of the Home Office file the package ships (2014/15 to 2025/26).",
)
@click.option(
    "--outcome",
    required=True,
    help="A count column of the Home Office file (analysed as its log) or a panel measure.",
)
@click.option(
    "--rate",
    default=None,
    help="NUMERATOR/DENOMINATOR columns of the Home Office file: the outcome is their rate in "
    "percentage points (then --outcome only names it).",
)
@click.option(
    "--draws",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Fake rollouts per rollout shape.",
)
@click.option(
    "--boot",
    type=click.IntRange(min=19),
    default=999,
    show_default=True,
    help="Wild bootstrap draws and randomization re-assignments per fake rollout.",
)
@click.option(
    "--window",
    default=None,
    help="FIRST:LAST periods, e.g. 2014-Q2:2019-Q2 (default: 2014/15 Q1 to 2019/20 Q1 for the "
    "Home Office file; every period before September 2021 for a panel).",
)
@click.option(
    "--starts",
    default="9:17",
    show_default=True,
    help="FIRST:LAST period (counted from 1 in the window) in which phase 1 may start.",
)
@click.option(
    "--rollouts",
    type=click.Choice(["pathfinders", "phased", "both"]),
    default="both",
    show_default=True,
    help="5 fake pathfinders with one start, the phased variant (7 more 5 periods later), or both.",
)
@click.option(
    "--keep-flagged",
    is_flag=True,
    help="Keep cells the data-quality checks warn about (default: treat them as missing).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write placebo.csv into; replaced atomically.",
)
@click.option(
    "--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes."
)
@click.option(
    "--scheduler", default=None, help="Address of a dask.distributed scheduler to run on."
)
@click.option(
    "--seed", type=int, default=20210901, show_default=True, help="Seed of every random draw."
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def placebo(
    panel_path: Path | None, outcome: str, rate: str | None, draws: int, boot: int, window: str | None,
    starts: str, rollouts: str, keep_flagged: bool, out: Path, jobs: int, scheduler: str | None, seed: int,
    quiet: bool,
) -> None:  # fmt: skip
    """Fake rollouts on a real panel before any programme: the real size of each test.

    Places Soteria-shaped fake rollouts (5 random forces, one start between the 9th and
    17th period; and a phased variant) on the panel, runs every design and inference
    the pipeline reports, and writes OUT/placebo.csv (outcome, design, inference,
    n_draws, size, mc_se, then rollout and context), OUT/placebo_draws.csv (each draw's
    estimate and p-value) and OUT/placebo.json. Design and inference labels are those of
    results.csv's recovery_design and recovery_inference.
    """
    from soteria_eval._io import OutputFolderError, check_output_folder, interrupt_on_termination
    from soteria_eval._scheduler import SchedulerError, check_address
    from soteria_eval.data import DataValidationError
    from soteria_eval.validation.placebo import (
        ROLLOUTS,
        PlaceboSettings,
        placebo_study,
        write_placebo,
    )
    from soteria_eval.validation.placebo_data import (
        PlaceboInputError,
        parse_rate,
        parse_starts,
        parse_window,
        placebo_panel,
    )

    if panel_path is None:
        from soteria_eval._paths import bundled_data_dir
        from soteria_eval.datasets import DATASETS

        panel_path = bundled_data_dir() / DATASETS["all_offences_outcomes"].file
    try:
        check_output_folder(out)
        if scheduler is not None:
            check_address(scheduler)
        data = placebo_panel(
            panel_path, outcome, rate=parse_rate(rate), window=parse_window(window),
            keep_flagged=keep_flagged,
        )  # fmt: skip
        first, last = parse_starts(starts)
        settings = PlaceboSettings(
            n_draws=draws, n_boot=boot, seed=seed, first_start=first, last_start=last,
            rollouts=ROLLOUTS if rollouts == "both" else (rollouts,),
        )  # fmt: skip
        settings.check(int(data.values.notna().all(axis=1).sum()), data.values.shape[1])
    except (DataValidationError, PlaceboInputError, OutputFolderError, SchedulerError,
            ValueError) as exc:  # fmt: skip
        click.echo(str(exc), err=True)
        sys.exit(EXIT_INVALID)
    for note in data.notes:
        click.echo(f"note: {note}", err=True)
    try:
        with interrupt_on_termination():
            res = placebo_study(
                data.values, outcome=data.outcome, settings=settings, n_jobs=jobs,
                scheduler=scheduler, progress=not quiet, data_label=data.data_label,
            )  # fmt: skip
            res = replace(res, notes=data.notes + res.notes)
            folder = write_placebo(res, out)
    except SchedulerError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_INVALID)
    except KeyboardInterrupt:
        click.echo(f"{out}: placebo study interrupted; previous outputs kept", err=True)
        sys.exit(130)
    summary = res.summary()
    click.echo(
        f"wrote {folder / 'placebo.csv'}: {data.outcome} ({data.scale}, {data.data_label}), "
        f"{len(res.units)} units, {res.periods[0]} to {res.periods[-1]}, {draws} draws per rollout"
    )
    for r in summary.itertuples():
        click.echo(
            f"  {r.rollout:<12} {r.design:<38} {r.inference:<9} size {r.size:6.1%} "
            f"(MC s.e. {r.mc_se:.1%})"
        )


@main.group()
def ingest() -> None:
    """Turn a publisher's files into a data folder that `run --data` reads."""


@ingest.command("home-office")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Data folder to write (replaced atomically; nothing is written on an error).",
)
def ingest_home_office_cmd(files: tuple[Path, ...], out: Path) -> None:
    """Read Home Office outcomes and recorded-crime FILES (ODS, XLSX or CSV) into OUT.

    OUT gets panel_force_quarter.csv with the rape-specific measures (ho_rape_*), a
    provenance record (home_office_provenance.json: each file's SHA-256 and rows, the
    rows each counting rule left out, negative counts) and metadata.json. Then
    `soteria-eval run --data OUT` runs the published-data analysis on them. Any unknown
    header, force name, outcome type or unreadable value is printed with its file, sheet,
    row and column, and nothing is written (exit 2).
    """
    from soteria_eval._io import OutputFolderError, interrupt_on_termination
    from soteria_eval.data import DataValidationError
    from soteria_eval.datasets.home_office import PROVENANCE_FILE, ingest_home_office

    missing = [f for f in files if not f.is_file()]
    if missing:
        for f in missing:
            click.echo(f"{f}: no such file", err=True)
        sys.exit(EXIT_INVALID)
    try:
        with interrupt_on_termination():
            folder = ingest_home_office(files, out)
    except DataValidationError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_INVALID)
    except OutputFolderError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_INVALID)
    except OSError as exc:
        click.echo(f"{out}: outputs could not be written ({exc}); previous outputs kept", err=True)
        sys.exit(1)
    import json

    prov = json.loads((folder / PROVENANCE_FILE).read_text(encoding="utf-8"))
    click.echo(
        f"wrote {folder / 'panel_force_quarter.csv'}: {prov['panel']['rows']} rows, "
        f"{prov['panel']['forces']} forces, {prov['panel']['periods'][0]} to "
        f"{prov['panel']['periods'][1]}"
        + (" (SYNTHETIC source files)" if prov["synthetic"] else "")
    )
    basis = {"count_closed": "closed basis", "count_recorded": "recorded basis",
             "offences": "offences"}  # fmt: skip
    for f in prov["files"]:
        taken = "; ".join(f"{basis[k]} from {v!r}" for k, v in f.get("columns", {}).items())
        if taken:
            click.echo(f"  {Path(f['path']).name}: {taken}")
    for reason, c in prov["excluded_from_totals"].items():
        click.echo(f"  left out of totals: {c['rows']} row(s), {reason}")
    if prov["negative_counts"]["n"]:
        click.echo(
            f"  {prov['negative_counts']['n']} negative count(s): listed in {PROVENANCE_FILE}"
        )
    if prov["not_available_counts"]["n"]:
        cells = sum(len(v) for v in prov["panel"]["not_available_cells"].values())
        click.echo(
            f"  {prov['not_available_counts']['n']} count(s) marked not available (..): "
            f"{cells} panel cell(s) left missing, listed in {PROVENANCE_FILE}"
        )


if __name__ == "__main__":  # pragma: no cover
    main()
