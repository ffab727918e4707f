"""The planted truth: coupled worlds, the intensity path, truth.csv and its estimands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from soteria_eval.cli import main
from soteria_eval.data import load_rollout, validate_file
from soteria_eval.geography import load_geography
from soteria_eval.panels.aggregate import CaseArrays, aggregate_arrays, aggregate_cases
from soteria_eval.simulate import NO_EFFECTS, SimulationConfig
from soteria_eval.simulate.cases import (
    _poisson_inverse,
    _Timing,
    case_arrays,
    cases_frame,
    simulate_arrays,
    simulate_coupled,
)

SMALL = SimulationConfig(scale=0.05, seed=11)


def _day(iso: str) -> int:
    return int(np.datetime64(iso, "D").astype(np.int64))


def test_intensity_never_drops_at_a_forces_own_start() -> None:
    geo = load_geography()
    forces = list(geo.forces)
    timing = _Timing(SimulationConfig(), load_rollout(), geo, forces)
    days = np.arange(_day("2019-01-01"), _day("2026-01-01"))
    for i, f in enumerate(forces):
        path = timing.intensity(days, np.full(days.shape, i, dtype=np.int64))
        assert np.all(np.diff(path) >= -1e-12), f"intensity of {f} falls"
        start = int(timing.start[i])
        before = timing.intensity(np.array([start - 1]), np.array([i]))[0]
        at = timing.intensity(np.array([start]), np.array([i]))[0]
        assert at >= before, f
    # Avon and Somerset keeps its anticipation level (0.5) through its start.
    aands = forces.index("Avon and Somerset")
    s = int(timing.start[aands])
    assert timing.intensity(np.array([s - 10, s, s + 10]), np.full(3, aands))[1] == 0.5
    # An exposed control keeps its spillover level (0.3) on the day it joins.
    devon = forces.index("Devon and Cornwall")
    s = int(timing.start[devon])
    assert timing.intensity(np.array([s]), np.array([devon]))[0] == pytest.approx(0.3)


def test_intensity_table_equals_the_formula() -> None:
    geo = load_geography()
    timing = _Timing(SimulationConfig(), load_rollout(), geo, list(geo.forces))
    rng = np.random.default_rng(0)
    day = rng.integers(_day("2015-01-01"), _day("2027-01-01"), 5000)
    force = rng.integers(0, 43, 5000)
    direct = timing.intensity(day, force)
    timing.tabulate(_day("2012-01-01"), _day("2030-01-01"))
    np.testing.assert_array_equal(timing._lookup(day, force), direct)


def test_poisson_inversion_is_poisson_and_monotone() -> None:
    rng = np.random.default_rng(1)
    u = rng.random(200_000)
    for lam in (0.3, 1.8, 6.0):
        k = _poisson_inverse(np.full(u.shape, lam), u)
        assert k.mean() == pytest.approx(lam, rel=0.02)
        assert k.var() == pytest.approx(lam, rel=0.03)
    low = _poisson_inverse(np.full(u.shape, 1.0), u)
    high = _poisson_inverse(np.full(u.shape, 1.3), u)
    assert np.all(high >= low)


def test_number_of_draws_does_not_depend_on_effects() -> None:
    """A world without effects simulated alone equals the coupled one (same draws)."""
    treated, untreated = simulate_coupled(SMALL)
    alone = simulate_arrays(SMALL.with_effects(NO_EFFECTS))
    assert treated.n > 0
    np.testing.assert_array_equal(alone.case_no, untreated.case_no)
    for k in alone.day:
        np.testing.assert_array_equal(alone.day[k], untreated.day[k])
    # Reports, people and case numbers are shared by both worlds.
    common = np.intersect1d(treated.case_no, untreated.case_no)
    assert len(common) > 0.99 * treated.n
    a = pd.Series(treated.day["report"], index=treated.case_no).loc[common]
    b = pd.Series(untreated.day["report"], index=untreated.case_no).loc[common]
    assert a.equals(b)


def test_arrays_path_equals_table_path() -> None:
    sim = simulate_arrays(SMALL)
    cases = cases_frame(sim)
    fast = case_arrays(sim)
    for level in ("force", "area"):
        pd.testing.assert_frame_equal(
            aggregate_cases(cases, level=level, freq="quarter"),
            aggregate_arrays(fast, level=level, freq="quarter"),
        )
    slow = CaseArrays.from_frame(cases)
    for key in slow.day:
        np.testing.assert_array_equal(slow.day[key], fast.day[key])


@pytest.fixture(scope="module")
def coupled_folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("truth")
    runner = CliRunner()
    for name, extra in (("with", []), ("without", ["--no-effects"])):
        res = runner.invoke(
            main,
            ["simulate", "--out", str(base / name), "--seed", "7", "--scale", "0.05", *extra],
        )
        assert res.exit_code == 0, res.output
    return base / "with", base / "without"


def test_no_effect_run_equals_truth_without_programme(coupled_folders: tuple[Path, Path]) -> None:
    with_dir, without_dir = coupled_folders
    truth = pd.read_csv(with_dir / "truth.csv", low_memory=False)
    cells = truth[truth["kind"] == "cell"]
    n_checked = 0
    for panel_file in sorted(without_dir.glob("panel_*.csv")):
        _, level, freq = panel_file.stem.split("_")
        panel = pd.read_csv(panel_file)
        c = cells[(cells["level"] == level) & (cells["freq"] == freq)]
        m = panel.merge(c, on=["unit", "period", "measure"], how="outer", indicator=True)
        assert (m["_merge"] == "both").all(), panel_file.name
        np.testing.assert_allclose(
            m["value"].to_numpy(float), m["without_programme"].to_numpy(float), rtol=1e-9
        )
        n_checked += len(m)
    assert n_checked > 50_000


def test_truth_file_validates_and_is_labelled(coupled_folders: tuple[Path, Path]) -> None:
    with_dir, without_dir = coupled_folders
    report = validate_file(with_dir / "truth.csv")
    assert report.ok and report.kind == "truth", [str(i) for i in report.issues[:3]]
    truth = pd.read_csv(with_dir / "truth.csv", low_memory=False)
    assert truth["synthetic"].all()
    meta = json.loads((with_dir / "metadata.json").read_text())
    assert "truth.csv" in meta["files"]
    # In a null world the truth is exactly zero everywhere.
    null = pd.read_csv(without_dir / "truth.csv", low_memory=False)
    assert np.nanmax(np.abs(null["effect"].to_numpy(float))) == 0.0


def test_estimands_are_means_of_cell_effects(coupled_folders: tuple[Path, Path]) -> None:
    truth = pd.read_csv(coupled_folders[0] / "truth.csv", low_memory=False)
    cells = truth[
        (truth["kind"] == "cell") & (truth["level"] == "force") & (truth["freq"] == "quarter")
    ]
    est = truth[truth["kind"] == "estimand"].set_index(["measure", "estimand", "unit"])
    from soteria_eval.rollout import treatment_panel

    tp = treatment_panel(
        load_rollout(), level="force", freq="quarter", start="2018-Q1", end="2023-Q2"
    )
    d = tp.merge(cells[cells["measure"] == "police_charge_rate"], on=["unit", "period"])
    treated = d[d["treated"]]
    assert est.loc[("police_charge_rate", "ATT", "all"), "effect"] == pytest.approx(
        treated["effect"].mean()
    )
    p1 = treated[treated["phase"] == 1]
    assert est.loc[("police_charge_rate", "ATT phase 1", "all"), "effect"] == pytest.approx(
        p1["effect"].mean()
    )
    durham = treated[treated["unit"] == "Durham"]
    assert est.loc[("police_charge_rate", "ATT force Durham", "Durham"), "effect"] == pytest.approx(
        durham["effect"].mean()
    )
    # Counts: log points, and PPML's log rate ratio from the summed counts.
    ch = tp.merge(cells[cells["measure"] == "charges"], on=["unit", "period"])
    ch = ch[ch["treated"] & (ch["without_programme"] > 0) & (ch["with_programme"] > 0)]
    assert est.loc[("charges", "ATT (log rate ratio)", "all"), "effect"] == pytest.approx(
        np.log(ch["with_programme"].sum() / ch["without_programme"].sum())
    )
    assert {"national effect 12 months after phase 1", "pathfinders, average effect"} <= set(
        est.index.get_level_values("estimand")
    )


def test_the_headline_samples_estimands_are_in_the_truth(
    coupled_folders: tuple[Path, Path],
) -> None:
    """Issue 29: truth.csv holds the estimand of every sample a design uses."""
    from soteria_eval.rollout import treatment_panel
    from soteria_eval.simulate.truth import SAMPLE_SCENARIOS

    truth = pd.read_csv(coupled_folders[0] / "truth.csv", low_memory=False)
    cells = truth[
        (truth["kind"] == "cell") & (truth["level"] == "force") & (truth["freq"] == "quarter")
    ]
    est = truth[truth["kind"] == "estimand"].set_index(["measure", "estimand", "unit"])
    for sc in SAMPLE_SCENARIOS:
        tp = treatment_panel(load_rollout(), level="force", freq="quarter", start="2018-Q1",
                             end="2023-Q2", scenario=sc)  # fmt: skip
        d = tp.merge(cells[cells["measure"] == "charges"], on=["unit", "period"])
        want = d.loc[d["treated"], "effect"].mean()
        assert est.loc[("charges", f"ATT ({sc})", "all"), "effect"] == pytest.approx(want)
    # the exposed forces are out of the headline sample, so its estimand differs
    assert est.loc[("charges", "ATT (exposed_dropped)", "all"), "effect"] != pytest.approx(
        est.loc[("charges", "ATT", "all"), "effect"]
    )
    assert not est.index.get_level_values("estimand").str.match(r"ATT force .* \(").any()
    validate = validate_file(coupled_folders[0] / "truth.csv", "truth")
    assert validate.ok, validate.issues
