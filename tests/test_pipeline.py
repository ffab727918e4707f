"""End-to-end pipeline: a small plan, determinism, atomic outputs, disclosure, bad plans."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from soteria_eval.cli import main
from soteria_eval.disclosure import DisclosureError, check_no_small_cells, suppress_table
from soteria_eval.pipeline import RESULT_COLUMNS, PlanError, load_plan, run_evaluation
from tests.conftest import REPO

ANALYSES = REPO / "analyses"


def small_plan(tmp: Path, extra: str = "", scripts: dict[str, str] | None = None) -> Path:
    d = tmp / "analyses"
    d.mkdir()
    shutil.copy(ANALYSES / "published_outcomes.py", d)
    for name, text in (scripts or {}).items():
        (d / name).write_text(text)
    (d / "plan.yaml").write_text(
        "version: 1\ndata_label: synthetic (test)\nanalyses:\n"
        "  - id: published_outcomes\n    script: published_outcomes.py\n    domain: volume\n"
        "    scenarios: [default, exposed_dropped]\n" + extra
    )
    return d / "plan.yaml"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory, small_data: Path) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("runs")
    plan = small_plan(tmp)
    a = run_evaluation(plan, out=tmp / "a", progress=False, data_dir=small_data)
    b = run_evaluation(plan, out=tmp / "b", progress=False, jobs=2, data_dir=small_data)
    assert a.ok and b.ok
    return tmp / "a", tmp / "b"


def test_end_to_end_outputs(two_runs: tuple[Path, Path]) -> None:
    import json

    out, _ = two_runs
    for name in ("results.csv", "results.parquet", "manifest.json", "figures.json", "run.log"):
        assert (out / name).is_file(), name
    res = pd.read_csv(out / "results.csv")
    assert tuple(res.columns) == RESULT_COLUMNS
    assert set(res["scenario"]) == {"phase1_clean", "default", "exposed_dropped"}
    assert (res["status"] == "ok").all()
    # Every row counts the force-years it excludes; only the rows that keep them all may have none.
    kept = res["term"].str.contains("every force-year kept")
    assert kept.sum() == 2 and (res.loc[~kept, "n_dropped"] > 0).all()
    # The triple difference (against the same forces' other offences): CR2, WCR, its pre-trend
    # test, and its breakdown values on the estimate rows.
    ddd = res[res["design"] == "triple_difference"]
    assert sorted(ddd["term"]) == ["pre-trend F (triple difference)",
                                   *["treated_f (triple difference)"] * 2]  # fmt: skip
    est = ddd[ddd["term"] == "treated_f (triple difference)"]
    assert est["breakdown_rm"].notna().all() and est["estimate"].nunique() == 1
    assert ("all_offences_outcomes", "bundled", "all_offences_outcomes_by_force_quarter.csv") in {
        (i["role"], i["source"], Path(i["path"]).name)
        for i in json.loads((out / "manifest.json").read_text())["inputs"]
    }
    assert (out / "figures" / "published_charges_trend.png").is_file()
    assert (out / "figures" / "published_charges_trend.svg").is_file()

    figs = json.loads((out / "figures.json").read_text())
    assert figs[0]["alt_text"].startswith("Line chart")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 20210901 and "numpy" in manifest["packages"]
    assert manifest["disclosure_threshold"] == 10
    roles = {(i["role"], i["source"], Path(i["path"]).name) for i in manifest["inputs"]}
    assert ("published_outcomes", "bundled", "sexual_offences_outcomes_by_force_fy.csv") in roles
    assert ("rollout", "bundled", "rollout.csv") in roles
    # only what the run read: this plan runs the published-data analysis alone
    assert not any(r == "case_records" for r, _, _ in roles)
    assert "analysis:published_outcomes" in manifest["timings_seconds"]


def test_two_runs_and_jobs_give_identical_files(two_runs: tuple[Path, Path]) -> None:
    a, b = two_runs
    for name in (
        "results.csv",
        "results.parquet",
        "figures.json",
        "tables/published_charges_by_group.csv",
        "figures/published_charges_trend.png",
        "figures/published_charges_trend.svg",
    ):
        assert digest(a / name) == digest(b / name), name


FAILING = """
from soteria_eval.pipeline import AnalysisOutput
def run(ctx):
    raise RuntimeError("deliberate failure for the test")
"""

KILLED = """
def run(ctx):
    raise KeyboardInterrupt
"""


def test_failed_analysis_is_a_row_and_others_still_run(tmp_path: Path, small_data: Path) -> None:
    plan = small_plan(tmp_path, "  - id: broken\n    script: broken.py\n", {"broken.py": FAILING})
    summary = run_evaluation(plan, out=tmp_path / "out", progress=False, data_dir=small_data)
    assert summary.failed == ["broken"]
    res = pd.read_csv(tmp_path / "out" / "results.csv", keep_default_na=False)
    row = res[res["analysis"] == "broken"].iloc[0]
    assert row["status"] == "failed" and "deliberate failure" in row["note"]
    assert (res.loc[res["analysis"] == "published_outcomes", "status"] == "ok").all()
    result = CliRunner().invoke(
        main, ["run", "--plan", str(plan), "--out", str(tmp_path / "cli"), "--quiet"]
    )
    assert result.exit_code == 1


def test_killed_run_leaves_previous_outputs_intact(tmp_path: Path, small_data: Path) -> None:
    plan = small_plan(tmp_path)
    out = tmp_path / "out"
    run_evaluation(plan, out=out, progress=False, data_dir=small_data)
    before = digest(out / "results.csv")
    plan.write_text(plan.read_text() + "  - id: killed\n    script: killed.py\n")
    (plan.parent / "killed.py").write_text(KILLED)
    with pytest.raises(KeyboardInterrupt):
        run_evaluation(plan, out=out, progress=False, data_dir=small_data)
    assert digest(out / "results.csv") == before
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())


LEAKY = """
import pandas as pd
from soteria_eval.pipeline import AnalysisOutput
def run(ctx):
    out = AnalysisOutput()
    t = pd.DataFrame({"group": ["a", "b"], "count": [120, 4]})
    t.attrs["count_columns"] = ["count"]
    out.tables["leaky"] = t
    return out
"""


def test_planted_small_cell_is_caught(tmp_path: Path, small_data: Path) -> None:
    plan = small_plan(tmp_path, "  - id: leaky\n    script: leaky.py\n", {"leaky.py": LEAKY})
    summary = run_evaluation(plan, out=tmp_path / "out", progress=False, data_dir=small_data)
    assert summary.failed == ["leaky"]
    res = pd.read_csv(tmp_path / "out" / "results.csv", keep_default_na=False)
    assert "DisclosureError" in res.loc[res["analysis"] == "leaky", "note"].iloc[0]
    assert not (tmp_path / "out" / "tables" / "leaky.csv").exists()


def test_suppression_primary_and_secondary() -> None:
    counts = pd.DataFrame(
        {"a": [50, 3, 40], "b": [30, 25, 60], "c": [12, 44, 5]}, index=["x", "y", "z"]
    )
    t = suppress_table(counts)
    assert t.loc["y", "a"] == "[c]" and t.loc["z", "c"] == "[c]"
    # No row or column is left with a single suppressed cell.
    mask = t == "[c]"
    assert not (mask.sum(axis=1) == 1).any() and not (mask.sum(axis=0) == 1).any()
    check_no_small_cells(t, ["a", "b", "c"])
    with pytest.raises(DisclosureError, match="column 'a'"):
        check_no_small_cells(counts, ["a"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 2\nanalyses: []\n", "version: must be 1"),
        ("version: 1\nanalyses: []\n", "analyses: must be a non-empty list"),
        (
            "version: 1\ncolour: red\nanalyses: [{id: a, script: published_outcomes.py}]\n",
            "colour: unknown key",
        ),
        (
            "version: 1\nanalyses: [{id: a, script: nope.py}]\n",
            r"analyses\[0\].script: no such script",
        ),
        (
            "version: 1\nanalyses: [{id: a, script: published_outcomes.py, scenarios: [sunny]}]\n",
            r"analyses\[0\].scenarios\[0\]: unknown scenario 'sunny'",
        ),
        (
            "version: 1\nanalyses: [{id: a, script: published_outcomes.py, domain: speed}]\n",
            r"analyses\[0\].domain: must be one of",
        ),
        (
            "version: 1\nanalyses: [{id: a, script: published_outcomes.py}, {id: a, script: published_outcomes.py}]\n",
            "duplicate id 'a'",
        ),
        ("version: 1\nanalyses: [{id: a, scrpt: x.py}]\n", r"analyses\[0\].scrpt: unknown key"),
        ("version: [1\n", "not valid YAML"),
        (
            "version: 1\nanalyses: [{id: a, script: published_outcomes.py, designs: [twfe, magic]}]\n",
            r"analyses\[0\].designs\[1\]: unknown value 'magic'",
        ),
        (
            "version: 1\nanalyses: [{id: a, script: published_outcomes.py, inference: [CR9]}]\n",
            r"analyses\[0\].inference\[0\]: unknown value",
        ),
        (
            "version: 1\nanalyses: [{id: a, script: published_outcomes.py, levels: [region]}]\n",
            r"analyses\[0\].levels\[0\]: unknown value",
        ),
        (
            "version: 1\nmultiplicity: bonferroni\nanalyses: [{id: a, script: published_outcomes.py}]\n",
            "multiplicity: must be one of",
        ),
        (
            "version: 1\nanalyses: [{id: a, script: published_outcomes.py, measures: [chargez]}]\n",
            r"analyses\[0\].measures\[0\]: unknown measure 'chargez' \(did you mean 'charges'\?\)",
        ),
    ],
)
def test_bad_plan_gives_clear_error(tmp_path: Path, text: str, message: str) -> None:
    shutil.copy(ANALYSES / "published_outcomes.py", tmp_path)
    p = tmp_path / "plan.yaml"
    p.write_text(text)
    with pytest.raises(PlanError, match=message):
        load_plan(p)
    result = CliRunner().invoke(main, ["run", "--plan", str(p), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and not (tmp_path / "o").exists()


def test_plan_designs_and_inference_are_honoured(tmp_path: Path, small_data: Path) -> None:
    d = tmp_path / "analyses"
    d.mkdir()
    shutil.copy(ANALYSES / "volume.py", d)
    (d / "plan.yaml").write_text(
        "version: 1\nmultiplicity: bh\nanalyses:\n  - id: volume\n    script: volume.py\n    domain: volume\n"
        "    measures: [charges, cps_receipts]\n    designs: [twfe]\n    inference: [CR2]\n"
    )
    run_evaluation(d / "plan.yaml", out=tmp_path / "out", data_dir=small_data, progress=False)
    res = pd.read_csv(tmp_path / "out" / "results.csv")
    # TWFE only: the overall ATT and, for the primary measure, one per phase.
    assert set(res["design"]) == {"twfe", "twfe phase 1", "twfe phase 2"}
    assert set(res.loc[res["design"] != "twfe", "measure"]) == {"charges"}
    assert res["inference"].str.contains("CR2").all()
    assert set(res["measure"]) == {"charges", "cps_receipts"}


def test_default_plan_is_valid() -> None:
    plan = load_plan(ANALYSES / "plan.yaml")
    ids = [a.id for a in plan.analyses]
    assert ids == [
        "volume",
        "quality",
        "timeliness",
        "victim_experience",
        "victim_experience_domestic_abuse",
        "robustness",
        "sensitivity",
        "attrition",
        "national_its",
        "published_outcomes",
        "recovery",
        "placebo",
        "coverage_study",
    ]
    assert {a.domain for a in plan.analyses} - {None} == {
        "volume",
        "quality",
        "timeliness",
        "victim_experience",
    }


@pytest.fixture(scope="module")
def full_runs(tmp_path_factory: pytest.TempPathFactory, small_data: Path, quick_plan: Path) -> Path:
    """The default plan (quick settings) on 5%-scale data, run twice (1 and 2 jobs)."""
    tmp_path = tmp_path_factory.mktemp("full")
    a = run_evaluation(quick_plan, out=tmp_path / "a", data_dir=small_data, progress=False)
    b = run_evaluation(quick_plan, out=tmp_path / "b", data_dir=small_data, progress=False, jobs=2)
    assert a.ok and b.ok
    return tmp_path


def test_full_default_plan_is_deterministic_across_jobs(full_runs: Path) -> None:
    tmp_path = full_runs
    for name in ("results.csv", "results.parquet", "figures.json"):
        assert digest(tmp_path / "a" / name) == digest(tmp_path / "b" / name), name
    tables = sorted(p.name for p in (tmp_path / "a" / "tables").iterdir())
    assert tables and all(
        digest(tmp_path / "a" / "tables" / t) == digest(tmp_path / "b" / "tables" / t)
        for t in tables
    )
    res = pd.read_csv(tmp_path / "a" / "results.csv")
    assert {
        "twfe",
        "callaway_santanna",
        "event_study_cs",
        "ppml",
        "its_segmented",
        "did_2x2",
    } <= set(res["design"])
    assert res["inference"].str.contains("wild cluster bootstrap").any()
    assert res["inference"].str.contains("randomization inference").any()
    assert res["scenario"].str.contains("COVID-19 quarters excluded").any()
    # The measures held only per CPS Area are analysed at Area level, not listed as missing.
    area = res[res["level"] == "area"]
    assert set(area["measure"]) == {"judges_directions_on_time", "trials_effective"}
    assert set(area["design"]) == {"stacked_dose", "twfe_dose"}
    assert set(area["n_units"]) == {14} and (area["n_dropped"] >= 0).all()
    assert area["estimand"].str.startswith("effect of a full dose").all()
    notes = (tmp_path / "a" / "notes.json").read_text()
    assert "judges_directions_on_time" not in notes and "trials_effective" not in notes
    from soteria_eval.report import area_estimates, load_run

    table = area_estimates(load_run(tmp_path / "a"), "timeliness")
    assert table["Measure"].unique().tolist() == ["Trials that go ahead as listed"]
    assert set(table["Design"]) == {"stacked clean comparisons", "two-way fixed effects"}
    assert table["Effect of a full dose"].str.contains("percentage points").all()
    assert area_estimates(load_run(tmp_path / "a"), "volume").empty
    from soteria_eval.report import phase_estimates

    phases = phase_estimates(load_run(tmp_path / "a"), "volume")
    assert set(phases["Phase"]) == {1, 2}
    kinds = set(phases["Inference"])
    assert {"CR1", "CR2"} <= kinds  # Callaway–Sant'Anna may fail on 5%-scale data (gaps)
    assert kinds - {"CR1", "CR2"} in (set(), {"analytic, normal", "analytic, t(treated − 1)"})
    assert phases["Treated forces"].notna().all()
    assert phases.attrs["scenario"] in ("default", "exposed_dropped")


def test_long_table_secondary_suppression() -> None:
    from soteria_eval.disclosure import suppress_long

    t = pd.DataFrame(
        {
            "year": [2020, 2020, 2020, 2021, 2021],
            "group": list("abcab"),
            "cases": [4, 50, 30, 12, 40],
        }
    )
    out = suppress_long(t, ["cases"], secondary_by=["year"])
    assert list(out["cases"]) == ["[c]", 50, "[c]", 12, 40]  # 30 hides the 4 from the 2020 total


def test_yearly_table_of_a_median_is_unknown_not_zero() -> None:
    """Regression: a median has no numerator, and its yearly value was shown as 0.0 days."""
    from types import SimpleNamespace

    from soteria_eval.data import load_rollout
    from soteria_eval.dictionary import load_catalogue
    from soteria_eval.evaluation import _descriptive
    from soteria_eval.rollout import treatment_panel

    tp = treatment_panel(
        load_rollout(), level="force", freq="quarter", start="2018-Q1", end="2023-Q2"
    )
    cells = tp[["unit", "period"]]
    panel = pd.concat(
        [
            cells.assign(
                measure="days_report_to_charge", value=400.0, numerator=np.nan, denominator=40.0
            ),
            cells.assign(
                measure="days_referral_to_decision", value=120.0, numerator=4800.0, denominator=40.0
            ),
        ],
        ignore_index=True,
    ).assign(level="force", small_cell=False, synthetic=True)
    ctx = SimpleNamespace(
        rollout=load_rollout(), disclosure_threshold=10, spec=SimpleNamespace(options={})
    )
    cat = load_catalogue()
    median = _descriptive(panel, cat["days_report_to_charge"], ctx)  # type: ignore[arg-type]
    assert median["value"].isna().all() and (median["cases"] > 0).all()
    mean = _descriptive(panel, cat["days_referral_to_decision"], ctx)  # type: ignore[arg-type]
    assert np.allclose(mean["value"].astype(float), 120.0)
    # 2023 holds two quarters of the window: the table says so
    quarters = mean.drop_duplicates("year").set_index("year")["quarters"]
    assert quarters["2023"] == 2 and quarters["2019"] == 4


def test_a_rate_resting_on_a_small_numerator_or_complement_is_suppressed() -> None:
    """A rate and its cases give the numerator back: 1-9 charges (or not charged) is a leak."""
    from types import SimpleNamespace

    from soteria_eval.data import load_rollout
    from soteria_eval.dictionary import load_catalogue
    from soteria_eval.disclosure import SUPPRESSED
    from soteria_eval.evaluation import _descriptive
    from soteria_eval.rollout import treatment_panel

    tp = treatment_panel(
        load_rollout(), level="force", freq="quarter", start="2018-Q1", end="2023-Q2"
    )
    d = tp[["unit", "period", "group"]].assign(numerator=20.0, denominator=100.0)
    pathfinder = d["group"].eq("pathfinder")
    d.loc[pathfinder & d["period"].str.startswith("2019"), "numerator"] = 0.0
    first = d.index[pathfinder & d["period"].eq("2019-Q1")][0]
    d.loc[first, "numerator"] = 3.0  # 3 charges in 2019 across the pathfinders
    d.loc[pathfinder & d["period"].str.startswith("2020"), "numerator"] = 100.0
    last = d.index[pathfinder & d["period"].eq("2020-Q4")][0]
    d.loc[last, "numerator"] = 96.0  # 4 reports not charged in 2020
    panel = d.drop(columns="group").assign(
        measure="police_charge_rate",
        value=d["numerator"] / d["denominator"],
        level="force",
        small_cell=False,
        synthetic=True,
    )
    ctx = SimpleNamespace(
        rollout=load_rollout(), disclosure_threshold=10, spec=SimpleNamespace(options={})
    )
    t = _descriptive(panel, load_catalogue()["police_charge_rate"], ctx)  # type: ignore[arg-type]
    rows = t.set_index(["group", "year"])
    pf = next(g for g in rows.index.get_level_values(0).unique() if "athfinder" in g)
    assert rows.loc[(pf, "2019"), "value"] == SUPPRESSED
    assert rows.loc[(pf, "2020"), "value"] == SUPPRESSED
    assert rows.loc[(pf, "2021"), "value"] != SUPPRESSED


def test_every_published_figure_passes_disclosure_on_small_data(full_runs: Path) -> None:
    """Small data (5% scale) have many small cells: figures are withheld, never leaked."""
    import json

    from soteria_eval.disclosure import figure_data, figure_problems

    out = full_runs / "a"
    records = json.loads((out / "figures.json").read_text())
    published = [r for r in records if not r.get("withheld")]
    withheld = [r for r in records if r.get("withheld")]
    assert published and withheld  # the check bites at this scale
    for r in published:
        data = pd.read_csv(out / r["data"])
        marked = figure_data(
            data, count_columns=r["count_columns"], basis_column=r["basis_columns"],
            rate_parts=r["rate_parts"],
        )  # fmt: skip
        assert not figure_problems(marked, 10), r["name"]
        assert (out / r["png"]).is_file() and (out / r["svg"]).is_file()
    for r in withheld:
        assert not (out / "figures" / f"{r['name']}.png").exists()
        assert not (out / "figures" / f"{r['name']}.csv").exists()
    notes = json.loads((out / "notes.json").read_text())
    said = " ".join(n for ns in notes.values() for n in ns)
    assert all(f"figure {r['name']} withheld (disclosure control)" in said for r in withheld)
    # Counts drawn on the log scale are their own basis: the basis is what the figure shows.
    for r in published:
        if r["name"] == "synthetic_control_volume":
            d = pd.read_csv(out / r["data"])
            assert np.allclose(np.exp(d["treated"]), d["treated_cases"])


BLIND_FIGURE = """
import matplotlib.pyplot as plt
import pandas as pd
from soteria_eval.disclosure import figure_data
from soteria_eval.pipeline import AnalysisOutput, FigureSpec
def run(ctx):
    out = AnalysisOutput()
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [40, 7, 55])
    out.figures.append(FigureSpec("undeclared", fig, "a line"))
    fig2, ax2 = plt.subplots()
    ax2.plot([1, 2, 3], [40, 7, 55])
    data = figure_data(pd.DataFrame({"x": [1, 2, 3], "n": [40, 7, 55]}), count_columns=["n"])
    out.figures.append(FigureSpec("leaky_line", fig2, "a line", data=data))
    fig3, ax3 = plt.subplots()
    ax3.plot([1, 2, 3], [40, 0, 55])
    data = figure_data(pd.DataFrame({"x": [1, 2, 3], "n": [40, 0, 55]}), count_columns=["n"])
    out.figures.append(FigureSpec("safe_line", fig3, "a line", data=data))
    fig4, ax4 = plt.subplots()
    ax4.plot([1, 2, 3], [40, 7, 55])  # draws a 7 its declared data do not hold
    data = figure_data(pd.DataFrame({"x": [1, 2, 3], "n": [40, 12, 55]}), count_columns=["n"])
    out.figures.append(FigureSpec("sneaky_line", fig4, "a line", data=data))
    return out
"""


def test_figures_are_checked_before_they_are_written(tmp_path: Path, small_data: Path) -> None:
    import json

    from soteria_eval.report import load_run

    plan = small_plan(tmp_path, "  - id: blind\n    script: blind.py\n", {"blind.py": BLIND_FIGURE})
    summary = run_evaluation(plan, out=tmp_path / "out", progress=False, data_dir=small_data)
    assert summary.ok
    figs = {r["name"]: r for r in json.loads((tmp_path / "out" / "figures.json").read_text())}
    assert figs["undeclared"]["withheld"] == "it declares no underlying data to check"
    assert figs["leaky_line"]["withheld"] == "1 point(s) with a count under 10 (column 'n')"
    assert "withheld" not in figs["safe_line"]
    # Declared data can be clean while the drawing is not: the SVG is read back.
    assert figs["sneaky_line"]["withheld"] == (
        "1 value(s) read back from the drawing are not in its declared data"
    )
    written = sorted(p.name for p in (tmp_path / "out" / "figures").iterdir())
    assert not [n for n in written if n.startswith(("undeclared", "leaky_line", "sneaky"))]
    assert {"safe_line.png", "safe_line.svg", "safe_line.csv"} <= set(written)
    md = load_run(tmp_path / "out").figure_markdown("leaky_line")
    assert "withheld here under disclosure control" in md and "![" not in md
    # Alt text is written from the data: a withheld figure's must not be published.
    assert "alt_text" not in figs["leaky_line"] and "a line" not in md


def test_every_output_file_carries_its_data_label(full_runs: Path) -> None:
    """Tables and figure data have a ``data_label`` column; figures are stamped and tagged."""
    import json

    from PIL import Image

    from soteria_eval.pipeline.outputs import SYNTHETIC_MARK

    out = full_runs / "a"
    tables = sorted((out / "tables").glob("*.csv")) + sorted((out / "figures").glob("*.csv"))
    assert len(tables) > 20
    for path in tables:
        labels = set(pd.read_csv(path, keep_default_na=False)["data_label"])
        assert labels and "" not in labels, path.name
        # real published data: the published-data chapter and the placebo study's fake
        # rollouts on the Home Office panel
        real = path.name.startswith(("published_", "placebo"))
        assert all(("synthetic" in lab) != real for lab in labels), (path.name, labels)
    records = [r for r in json.loads((out / "figures.json").read_text()) if r.get("png")]
    assert len(records) > 15  # at 5% scale the rate checks withhold several (test above)
    for r in records:
        synthetic = "synthetic" in r["data_label"]
        assert synthetic != r["name"].startswith("published_"), r["name"]
        svg = (out / r["svg"]).read_text()
        png = Image.open(out / r["png"])
        assert f"Data: {r['data_label']}." in png.text["Description"], r["name"]
        assert f"Data: {r['data_label']}." in svg, r["name"]
        assert ('id="synthetic-data-label"' in svg) == synthetic, r["name"]
        assert (SYNTHETIC_MARK in png.text["Description"]) == synthetic, r["name"]


def test_count_trends_are_drawn_in_counts_on_a_log_axis(full_runs: Path) -> None:
    """Regression: the trend of a logged count showed mean logs (2.3, 2.5...) labelled "log scale"."""
    import json

    out = full_runs / "a"
    records = {r["name"]: r for r in json.loads((out / "figures.json").read_text())}
    drawn = [
        n
        for n in ("volume_cps_receipts_trend", "volume_recorded_rapes_trend")
        if records[n].get("data")
    ]
    assert drawn
    for name in drawn:
        data = pd.read_csv(out / records[name]["data"])
        assert (data["y"] > 1).all() and (data["y"] <= data["cases"]).all(), (
            name
        )  # counts, not logs
        svg = (out / records[name]["svg"]).read_text()
        assert "geometric mean" in records[name]["alt_text"]
        assert 'id="synthetic-data-label"' in svg


def test_figures_draw_only_their_declared_data(full_runs: Path) -> None:
    """Read every figure back from its SVG paths, as a hostile reader would (issue 14).

    Each value drawn (lines, bands, error bars, markers, bars, mapped to data units with
    the axis ticks) must be a value of the figure's declared data, which the disclosure
    check has seen; and no declared count may lie in 1 to 9.
    """
    import json

    from soteria_eval.pipeline.readback import read_svg, undeclared

    out = full_runs / "a"
    records = [r for r in json.loads((out / "figures.json").read_text()) if r.get("svg")]
    read = 0
    for r in records:
        data = pd.read_csv(out / r["data"])
        declared = data.select_dtypes("number").to_numpy(float).ravel()
        for col in [*r["count_columns"], *r["basis_columns"], *r["rate_parts"]]:
            counts = pd.to_numeric(data[col], errors="coerce")
            assert not counts.between(1, 9).any(), (r["name"], col)
        for num, den in r["rate_parts"].items():  # a rate times its cases: numerator and complement
            rest = pd.to_numeric(data[den], errors="coerce") - pd.to_numeric(
                data[num], errors="coerce"
            )
            assert not rest.between(1, 9).any(), (r["name"], num)
        axes = read_svg(out / r["svg"])
        assert axes, r["name"]
        for a in axes:
            assert undeclared(a, declared) == [], (r["name"], a.axis, a.scale)
            read += len(a.values)
        if r["name"] == "synthetic_control_volume":
            # The reviewer's leak: one force's log charges drawn from 2-9 cases.
            drawn = np.exp(np.array(axes[0].values))
            assert drawn.min() >= 9.5, drawn.min()
    assert len(records) > 15 and read > 1000  # rate checks withhold several at 5% scale


def test_svg_readback_finds_a_small_count_drawn_in_a_figure(tmp_path: Path) -> None:
    """The read-back is not blind: a line of counts 5, 4, 9 is read back as 5, 4, 9."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from soteria_eval.pipeline.readback import read_svg, undeclared

    for scale in ("linear", "log"):
        fig, ax = plt.subplots()
        ax.plot(range(6), [5, 4, 9, 12, 30, 7], marker="o")
        ax.axvline(2.5, color="grey")
        ax.set_yscale(scale)
        path = tmp_path / f"leak_{scale}.svg"
        fig.savefig(path, format="svg")
        plt.close(fig)
        (axes,) = read_svg(path)
        assert axes.scale == scale
        values = sorted({round(v, 3) for v in axes.values})
        assert values == [4, 5, 7, 9, 12, 30], values
        missed = undeclared(axes, np.array([5.0, 4, 9, 12, 30]))
        assert [round(v, 3) for v in missed] == [7.0, 7.0]  # the line's vertex and its marker


def test_national_its_starts_at_its_planned_month_whatever_the_extract_holds(
    tmp_path: Path, small_data: Path, quick_plan: Path
) -> None:
    """Regression: an extract without a window (a real one) starts its panel at its first
    report (burn-in months of a few records), and a month with no charge made a gap that
    failed the national ITS. The series now starts at the plan's ``start`` (2016-01)."""
    import json
    import shutil

    data = tmp_path / "data"
    shutil.copytree(small_data, data)
    meta = json.loads((data / "metadata.json").read_text())
    (data / "metadata.json").write_text(json.dumps({"extract_date": meta["extract_date"]}))
    for p in data.glob("panel_*"):
        p.unlink()
    summary = run_evaluation(
        quick_plan, out=tmp_path / "out", data_dir=data, progress=False, only=["national_its"]
    )
    assert summary.ok, (tmp_path / "out" / "run.log").read_text()[-2000:]
    res = pd.read_csv(tmp_path / "out" / "results.csv")
    its = res[res["design"] == "its_segmented"]
    assert len(its) and (its["status"] != "failed").all()
    assert set(its["n_obs"]) == {120}  # 2016-01 to 2025-12
    # Without the start, the same extract's series have gaps (so the test can see the bug):
    # each is a failed row with its reason, and the analysis goes on.
    early = tmp_path / "early.yaml"
    early.write_text(quick_plan.read_text().replace('start: "2016-01"', 'start: "2000-01"'))
    for p in quick_plan.parent.glob("*.py"):
        shutil.copy(p, tmp_path / p.name)
    run_evaluation(
        early, out=tmp_path / "out2", data_dir=data, progress=False, only=["national_its"]
    )
    res2 = pd.read_csv(tmp_path / "out2" / "results.csv")
    its2 = res2[res2["design"] == "its_segmented"]
    assert (its2["status"] == "failed").any()
    assert its2["note"].str.contains("no value|gap", regex=True).any()


def test_synthetic_data_is_never_labelled_real(tmp_path: Path, small_data: Path) -> None:
    """A plan's data_label cannot call synthetic data real, even without metadata.json."""
    import shutil

    from soteria_eval.pipeline.run import _data_label, _is_synthetic

    plan = tmp_path / "plan.yaml"
    with pytest.raises(PlanError, match="never published as real"):
        _data_label("real", True, plan)
    assert _data_label("synthetic (test)", True, plan) == "synthetic (test)"
    assert _data_label(None, False, plan) == "real"
    bare = tmp_path / "bare"
    shutil.copytree(small_data, bare)
    (bare / "metadata.json").unlink()
    assert _is_synthetic(bare)  # SYNTHETIC.txt, truth.csv and calibration.csv say so
    (tmp_path / "p").mkdir()
    p = small_plan(tmp_path / "p")
    p.write_text(p.read_text().replace("data_label: synthetic (test)", "data_label: real"))
    r = CliRunner().invoke(main, ["run", "--plan", str(p), "--data", str(bare), "--out",
                                  str(tmp_path / "o"), "--quiet"])  # fmt: skip
    assert r.exit_code == 2 and "never published as real" in r.output
    assert not (tmp_path / "o").exists()


def test_headlines_pass_the_real_placebo_and_say_why(full_runs: Path) -> None:
    """Every headline's pair keeps its size on real force data; the path explains the choice."""
    from soteria_eval.dictionary import DOMAINS, load_catalogue
    from soteria_eval.report import headline_path, load_run
    from soteria_eval.validation.verdicts import placebo_kind

    run = load_run(full_runs / "a")
    tables = full_runs / "a" / "tables"
    pv = pd.read_csv(tables / "placebo_verdicts.csv", keep_default_na=False)
    placebo = pd.read_csv(tables / "placebo.csv")
    assert (placebo["data_label"] == "real (published)").all()
    assert {"count", "proportion"} == set(placebo["kind"])
    cat = load_catalogue()
    heads = run.results[run.results["headline"].astype(str) == "True"]
    for _, row in heads.iterrows():
        kind = placebo_kind(cat[row["measure"]].type)
        hit = pv[(pv["kind"] == kind) & (pv["design"] == row["recovery_design"])
                 & (pv["inference"] == row["recovery_inference"])]  # fmt: skip
        assert len(hit) == 1 and hit["passed"].astype(str).eq("True").all(), row["measure"]
    for domain in DOMAINS:
        path = headline_path(run, domain)
        assert list(path.columns) == ["Design", "Sample", "Verdict"]
        assert path["Verdict"].str.len().gt(0).all()
        has = (heads["measure"] == cat.primary(domain).id).any()
        assert (path["Verdict"].iloc[-1] == "headline") == has, domain
        assert (path["Verdict"] == "headline").sum() == int(has)


def test_two_percent_data_give_located_reasons_not_failed_analyses(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """At --scale 0.02 the domestic-abuse subgroup and the national ITS raised ValueErrors."""
    import shutil

    from soteria_eval.simulate import SimulationConfig, write_simulation

    base = tmp_path_factory.mktemp("tiny")
    data = write_simulation(base / "sim", SimulationConfig(scale=0.02))
    for script in ("victim_experience.py", "national_its.py"):
        shutil.copy(REPO / "analyses" / script, base / script)
    (base / "plan.yaml").write_text(
        "version: 1\nanalyses:\n"
        "  - id: victim_experience_domestic_abuse\n    script: victim_experience.py\n"
        "    domain: victim_experience\n    scenarios: [default]\n"
        "    designs: [twfe]\n    inference: [CR1]\n"
        "    options:\n      subgroup: {domestic_abuse: 'true'}\n"
        "  - id: national_its\n    script: national_its.py\n"
    )
    res = CliRunner().invoke(
        main, ["run", "--plan", str(base / "plan.yaml"), "--data", str(data), "--out",
               str(base / "out"), "--quiet"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "0 failed" in res.output
    d = pd.read_csv(base / "out" / "results.csv")
    failed = d[d["status"] == "failed"]
    assert len(failed) and failed["measure"].astype(str).str.len().gt(0).all()  # located
    its = failed[failed["design"] == "its_segmented"]["note"]
    assert len(its) and its.str.contains("month\\(s\\) with no value").all()


def test_the_manifest_names_the_embedded_data_as_embedded(tmp_path: Path) -> None:
    """Issue 33: the embedded default data were recorded with source "user"."""
    from soteria_eval.data import load_rollout
    from soteria_eval.pipeline.inputs import InputData

    f = tmp_path / "case_records.csv"
    f.write_text("x\n")
    embedded = InputData(tmp_path, load_rollout(), synthetic=True, embedded=True)
    embedded.record("case_records", f)
    user = InputData(tmp_path, load_rollout(), synthetic=True)  # a folder simulate wrote
    user.record("case_records", f)
    assert [r.source for r in embedded.reads.values()] == ["embedded"]
    assert [r.source for r in user.reads.values()] == ["user"]


def test_candidate_headline_rows_carry_their_samples_breakdown_values(full_runs: Path) -> None:
    """Every row that could be a headline has the breakdown values of its own sample."""
    from soteria_eval.dictionary import DOMAINS, load_catalogue
    from soteria_eval.evaluation import BREAKDOWN_DESIGNS, FULL_SCENARIOS
    from soteria_eval.report import breakdown_sentence, load_run

    cat = load_catalogue()
    r = load_run(full_runs / "a").results
    primary = {cat.primary(d).id for d in DOMAINS}
    cand = r[r["measure"].isin(primary) & r["design"].isin(BREAKDOWN_DESIGNS)
             & (r["term"] == "programme") & r["scenario"].isin(FULL_SCENARIOS)
             & r["analysis"].isin(DOMAINS)]  # fmt: skip
    assert len(cand) >= 4 * 2 * 5
    # Computed wherever the sample has a Callaway–Sant'Anna estimate (at 5% scale a sparse
    # measure may have none: then no event study, no breakdown value).
    has_cs = cand[(cand["design"] == "callaway_santanna") & (cand["status"] != "failed")]
    with_cs = cand.set_index(["measure", "scenario"]).index.isin(
        has_cs.set_index(["measure", "scenario"]).index
    )
    assert with_cs.sum() >= 2 * 2 * 5
    assert cand.loc[with_cs, ["breakdown_rm", "breakdown_sd"]].notna().all().all()
    cand = cand[with_cs]
    assert (cand["breakdown_rm"] >= 0).all()
    # One value per sample: every design and inference of a measure and sample shares it.
    per_sample = cand.groupby(["measure", "scenario"])[["breakdown_rm", "breakdown_sd"]].nunique()
    assert (per_sample == 1).all().all()
    # Rows of other designs, measures or samples carry none.
    others = r.drop(cand.index)
    others = others[others["analysis"].isin(DOMAINS)]
    assert others.loc[~others["measure"].isin(primary), "breakdown_rm"].isna().all()
    assert (
        others.loc[others["design"].isin(["ppml", "event_study_cs"]), "breakdown_rm"].isna().all()
    )
    for _, row in cand.iterrows():
        text = breakdown_sentence(row)
        assert "Rambachan–Roth" in text
        assert "breakdown value" in text or "10 times" in text


def test_the_manifest_and_first_line_say_where_the_validation_studies_came_from(
    full_runs: Path,
) -> None:
    import json

    from soteria_eval.report import load_run, report_line

    manifest = json.loads((full_runs / "a" / "manifest.json").read_text())
    studies = manifest["validation_studies"]
    assert set(studies) == {"recovery", "coverage_study", "placebo"}
    first = next(n for n in studies["recovery"] if n.startswith("validation study:"))
    # The quick plan's 2-seed study is not the shipped one: computed or cached, never "shipped".
    assert first.startswith(("validation study: computed", "validation study: cached")), first
    assert "2 seeds (calibrated world)" in first
    assert any(n.startswith("stress world (differential_trend)") for n in studies["recovery"])
    assert studies["coverage_study"][0].startswith("coverage study: ")
    assert "validation study: " in report_line(load_run(full_runs / "a"))


def test_relative_magnitude_sets_never_report_the_search_edge_as_a_bound(full_runs: Path) -> None:
    """A set reaching HonestDiD's ±20 standard errors is unbounded there, never 'bounded' by it."""
    from scipy import stats

    r = pd.read_csv(full_runs / "a" / "results.csv")
    h = r[(r["analysis"] == "sensitivity") & (r["design"] == "honest_did")]
    checked = 0
    for _, g in h.groupby("measure"):
        if not (g["term"] == "original").any():
            continue  # at 5% scale a measure may have no event study: nothing to bound
        checked += 1
        orig = g[g["term"] == "original"].iloc[0]
        se = (orig["ci_upper"] - orig["ci_lower"]) / (2 * stats.norm.ppf(0.975))
        edge, step = 20 * se, 40 * se / 499
        rm = g[g["term"].str.startswith("Mbar") & (g["status"] == "ok")]
        for col in ("ci_lower", "ci_upper"):
            finite = rm[col][np.isfinite(rm[col])]
            assert (finite.abs() < edge - step / 2).all(), (orig["measure"], col)
    assert checked >= 2
