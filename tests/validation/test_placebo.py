"""Placebo study: batched kernels against the package's estimators, samples, the CLI."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from soteria_eval.cli import main
from soteria_eval.did import callaway_santanna, twfe
from soteria_eval.did.phases import simple_att
from soteria_eval.inference._fwl_stats import masked_twfe
from soteria_eval.inference._panel_stats import ri_path_pvalues
from soteria_eval.validation._placebo_kernels import (
    OUTSIDE,
    one_cohort_cs,
    permuted_codes,
    ri_pvalues,
    trend_imputation,
    twfe_draws,
    wcr_pvalues,
)
from soteria_eval.validation.placebo import (
    PLACEBO_COLUMNS,
    ROLLOUTS,
    TREATED_T,
    PlaceboSettings,
    exposure_incidence,
    fake_rollouts,
    placebo_study,
    sample_mask,
    wide_outcome,
)
from tests.conftest import REPO

HO_FILE = REPO / "data_dictionary" / "data" / "all_offences_outcomes_by_force_quarter.csv"
SMALL = PlaceboSettings(
    n_draws=6, n_treated=3, first_start=5, last_start=9, phase2_treated=4, phase2_gap=2, n_boot=49
)


def _panel(seed: int = 1, n: int = 20, t: int = 12) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, t)).cumsum(axis=1) + rng.normal(size=(n, 1)) * 3


def _masks(paths, n: int, every: int = 4) -> np.ndarray:  # type: ignore[no-untyped-def]
    mask = np.ones((len(paths.start), n), dtype=bool)
    mask[:, 1::every] = False
    mask[paths.codes > 0] = True
    return mask


@pytest.mark.parametrize("rollout", ROLLOUTS)
def test_twfe_kernel_equals_the_masked_fit(rollout: str) -> None:
    y = _panel()
    paths = fake_rollouts(*y.shape, rollout, SMALL)
    treat = paths.treatment(y.shape[1])
    mask = _masks(paths, y.shape[0])
    fit = twfe_draws(y, treat, mask)
    for b in range(SMALL.n_draws):
        ref = masked_twfe(np.where(mask[b][:, None], y, np.nan), treat[b][None])
        got = [fit.beta[b], fit.se_cr1[b], fit.se_cr2[b], fit.df_cr2[b], fit.df_cr1[b]]
        want = [ref.beta[0], ref.se_cr1[0], ref.se_cr2[0], ref.df_cr2[0], ref.df_cr1]
        np.testing.assert_allclose(got, want, rtol=1e-9)


def test_twfe_kernel_equals_the_estimator_with_cr2() -> None:
    """Against the public estimator (CR1 and CR2 p-values, one draw, a sample with a gap)."""
    y = _panel(2)
    paths = fake_rollouts(*y.shape, "phased", SMALL)
    treat = paths.treatment(y.shape[1])
    mask = _masks(paths, y.shape[0])
    fit = twfe_draws(y, treat, mask)
    b = 3
    n, t = y.shape
    frame = pd.DataFrame(
        {"u": np.repeat(np.arange(n), t), "t": np.tile(np.arange(t), n),
         "d": treat[b].ravel(), "y": y.ravel()}
    )[np.repeat(mask[b], t)]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = twfe(frame, outcome="y", treatment="d", unit="u", time="t")
    r1 = res.tidy().iloc[0]
    r2 = res.with_vcov("CR2").tidy().iloc[0]
    assert fit.beta[b] == pytest.approx(r1["estimate"], rel=1e-9)
    assert fit.p_cr1[b] == pytest.approx(r1["p_value"], rel=1e-7)
    assert fit.p_cr2[b] == pytest.approx(r2["p_value"], rel=1e-7)


@pytest.mark.parametrize("rollout", ROLLOUTS)
def test_wild_and_randomization_kernels_equal_the_package(rollout: str) -> None:
    y = _panel(3)
    paths = fake_rollouts(*y.shape, rollout, SMALL)
    treat = paths.treatment(y.shape[1])
    mask = _masks(paths, y.shape[0], every=5)
    fit = twfe_draws(y, treat, mask)
    rng = np.random.default_rng(3)
    v = rng.choice([-1.0, 1.0], size=(SMALL.n_draws, 99, y.shape[0]))
    pw = wcr_pvalues(fit, v)
    assign = permuted_codes(paths.codes, mask, 49, rng)
    pr = ri_pvalues(fit, paths, assign)
    pm = paths.path_matrix(y.shape[1])
    for b in range(SMALL.n_draws):
        ref = masked_twfe(np.where(mask[b][:, None], y, np.nan), treat[b][None])
        assert pw[b] == pytest.approx(ref.wild_pvalue(0.0, v[b][:, mask[b]]))
        d_sub = treat[b][mask[b]]
        uniq = np.unique(d_sub, axis=0)
        code = {k: int(np.flatnonzero((uniq == pm[b, k]).all(axis=1))[0])
                for k in range(3) if (uniq == pm[b, k]).all(axis=1).any()}  # fmt: skip
        a = np.vectorize(code.get)(assign[b][:, mask[b]]).astype(np.int64)
        assert pr[b] == pytest.approx(ri_path_pvalues(y[mask[b]][None], d_sub, a)[0])


def test_permutations_stay_inside_the_sample() -> None:
    paths = fake_rollouts(20, 12, "phased", SMALL)
    mask = _masks(paths, 20)
    assign = permuted_codes(paths.codes, mask, 200, np.random.default_rng(0))
    assert assign.shape == (SMALL.n_draws, 201, 20)
    for b in range(SMALL.n_draws):
        np.testing.assert_array_equal(assign[b, 0][mask[b]], paths.codes[b][mask[b]])
        assert (assign[b][:, ~mask[b]] == OUTSIDE).all()
        inside = np.sort(assign[b][:, mask[b]], axis=1)
        assert (inside == inside[0]).all()  # every row a permutation of the observed codes
        # every unit of the sample is treated in some permutation (they are not fixed)
        assert (assign[b][:, mask[b]] > 0).any(axis=0).all()


def test_one_cohort_callaway_santanna_equals_the_estimator() -> None:
    y = _panel(4)
    paths = fake_rollouts(*y.shape, "pathfinders", SMALL)
    mask = _masks(paths, y.shape[0])
    cs = one_cohort_cs(y, paths, mask)
    n, t = y.shape
    for b in range(SMALL.n_draws):
        g = np.where(paths.codes[b] == 1, paths.start[b] + 1, 0)
        frame = pd.DataFrame(
            {"u": np.repeat(np.arange(n), t), "t": np.tile(np.arange(1, t + 1), n),
             "g": np.repeat(g, t), "y": y.ravel()}
        )[np.repeat(mask[b], t)]  # fmt: skip
        res = callaway_santanna(
            frame, outcome="y", unit="u", time="t", cohort="g", control_group="not_yet_treated"
        )
        row = res.aggregate("simple").tidy().iloc[0]
        assert cs.att[b] == pytest.approx(row["estimate"], rel=1e-9)
        assert cs.se[b] == pytest.approx(row["std_error"], rel=1e-9)
        assert cs.p_value[b] == pytest.approx(row["p_value"], rel=1e-7)
        t_row = simple_att(res, df="treated").tidy().iloc[0]
        assert cs.p_treated[b] == pytest.approx(t_row["p_value"], rel=1e-7)
        assert cs.n_treated[b] == SMALL.n_treated


@pytest.mark.parametrize("rollout", ROLLOUTS)
def test_trend_imputation_kernel_equals_the_estimator(rollout: str) -> None:
    from soteria_eval.did import imputation_did

    y = _panel(5)
    paths = fake_rollouts(*y.shape, rollout, SMALL)
    mask = _masks(paths, y.shape[0])
    k = trend_imputation(y, paths, mask)
    n, t = y.shape
    for b in range(SMALL.n_draws):
        g = np.array([0, paths.start[b] + 1, paths.start2[b] + 1])[paths.codes[b]]
        g = np.where(g > t, 0, g)
        frame = pd.DataFrame(
            {"u": np.repeat(np.arange(n), t), "t": np.tile(np.arange(1, t + 1), n),
             "g": np.repeat(g, t), "y": y.ravel()}
        )[np.repeat(mask[b], t)]  # fmt: skip
        res = imputation_did(frame, outcome="y", unit="u", time="t", cohort="g", unit_trends=True)
        assert k.att[b] == pytest.approx(res.params["overall"], rel=1e-8, abs=1e-10)
        assert k.se[b] == pytest.approx(res.std_errors["overall"], rel=1e-7)
        assert k.n_treated[b] == res.info["n_treated"]
    assert np.all((k.p_treated >= k.p_value) | np.isnan(k.p_value))


def test_exposed_sample_matches_the_rollout_rule() -> None:
    """The real pathfinders as a 'fake' draw drop exactly the forces the rollout drops."""
    from soteria_eval.data import load_rollout
    from soteria_eval.geography import load_geography
    from soteria_eval.rollout import treatment_panel
    from soteria_eval.validation._placebo_kernels import Paths

    forces = list(load_geography().forces)
    rollout = load_rollout()
    tp = treatment_panel(rollout, level="force", freq="quarter", start="2018-Q1", end="2023-Q2",
                         scenario="exposed_dropped")  # fmt: skip
    tab = rollout.table
    phases = tab[tab["level"] == "force"].set_index("unit")["phase"]
    codes = np.array([[1 if phases[f] == 1 else 2 if phases[f] == 2 else 0 for f in forces]])
    paths = Paths(codes=codes, start=np.array([14]), start2=np.array([19]))
    mask = sample_mask(paths.treatment(22), exposure_incidence(forces), "exposed_dropped")
    kept = {f for f, k in zip(forces, mask[0], strict=True) if k}
    assert kept == set(tp["unit"])
    assert exposure_incidence(["Durham", "Not a force"]) is None


def test_study_is_deterministic_and_independent_of_workers() -> None:
    y = pd.DataFrame(_panel(5, n=24, t=14), index=[f"u{i:02d}" for i in range(24)],
                     columns=[f"p{j:02d}" for j in range(14)])  # fmt: skip
    st = PlaceboSettings(n_draws=60, n_boot=49, first_start=6, last_start=10,
                         samples=("default",))  # fmt: skip
    one = placebo_study(y, outcome="y", settings=st)
    two = placebo_study(y, outcome="y", settings=st, n_jobs=2)
    pd.testing.assert_frame_equal(one.draws, two.draws)
    s = one.summary()
    assert tuple(s.columns) == PLACEBO_COLUMNS
    assert set(s["design"]) == {"twfe", "callaway_santanna", "imputation_trends"}
    assert set(s["inference"]) == {"CR1", "CR2", "WCR", "RI", "analytic", TREATED_T}
    row = s[(s["rollout"] == "pathfinders") & (s["inference"] == "CR1")].iloc[0]
    d = one.draws
    p = d[(d["rollout"] == "pathfinders") & (d["inference"] == "CR1")]["p_value"]
    assert row["size"] == pytest.approx((p <= 0.05).mean())
    assert row["mc_se"] == pytest.approx(np.sqrt(row["size"] * (1 - row["size"]) / 60))
    assert (s["n_draws"] == 60).all() and (s["data_label"] == "real (published)").all()
    # non-force units: the exposed sample cannot be formed, so it is not reported
    assert not s["design"].str.contains("exposed").any()


def test_units_with_gaps_are_left_out_and_named() -> None:
    y = pd.DataFrame(_panel(6, n=22, t=14), index=[f"u{i:02d}" for i in range(22)])
    y.iloc[3, 2] = np.nan
    st = PlaceboSettings(n_draws=5, n_boot=19, first_start=6, last_start=10,
                         rollouts=("pathfinders",))  # fmt: skip
    res = placebo_study(y, outcome="y", settings=st)
    assert res.left_out == ("u03",) and len(res.units) == 21
    assert "u03" in res.notes[0]


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="first_start"):
        PlaceboSettings(first_start=1).check(43, 21)
    with pytest.raises(ValueError, match="at least"):
        PlaceboSettings(n_treated=40).check(43, 21)
    with pytest.raises(ValueError, match="rollouts"):
        PlaceboSettings(rollouts=("nope",)).check(43, 21)


def test_wide_outcome_scales_and_refuses_duplicates() -> None:
    d = pd.DataFrame({"unit": ["a", "a", "b", "b"], "period": ["1", "2", "1", "2"],
                      "n": [10.0, 0.0, 5.0, 20.0], "den": [100.0, 50.0, 0.0, 40.0]})  # fmt: skip
    w = wide_outcome(d, "n")
    assert w.loc["a", "1"] == pytest.approx(np.log(10)) and np.isnan(w.loc["a", "2"])
    r = wide_outcome(d, "rate", rate=("n", "den"))
    assert r.loc["a", "1"] == pytest.approx(10.0) and np.isnan(r.loc["b", "1"])
    with pytest.raises(ValueError, match="more than one row"):
        wide_outcome(pd.concat([d, d.iloc[:1]]), "n")


def test_real_panel_cr1_size_matches_the_issue_figure() -> None:
    """Issue 29: CR1 rejects a true null in 11.4% of 1,000 fake rollouts (log outcome 1)."""
    from soteria_eval.validation.placebo_data import placebo_panel

    data = placebo_panel(HO_FILE, "closed_all_t1")
    assert data.values.shape == (43, 21)
    st = PlaceboSettings(n_draws=1000, n_boot=99, rollouts=("pathfinders",), samples=("default",))
    s = placebo_study(data.values, outcome=data.outcome, settings=st).summary()
    cr1 = s[(s["design"] == "twfe") & (s["inference"] == "CR1")].iloc[0]
    assert abs(cr1["size"] - 0.114) < 2.5 * cr1["mc_se"]
    cs = s[s["design"] == "callaway_santanna"].iloc[0]
    assert abs(cs["size"] - 0.113) < 2.5 * cs["mc_se"]


def _invoke(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["placebo", *args])
    return r.exit_code, r.output


def test_cli_writes_the_study(tmp_path: Path) -> None:
    out = tmp_path / "pl"
    code, text = _invoke(
        "--panel", str(HO_FILE), "--outcome", "charge_rate",
        "--rate", "closed_all_t1/closed_all_assigned", "--draws", "20", "--boot", "19",
        "--out", str(out), "--quiet",
    )  # fmt: skip
    assert code == 0, text
    table = pd.read_csv(out / "placebo.csv")
    assert tuple(table.columns) == PLACEBO_COLUMNS
    assert set(table["rollout"]) == {"pathfinders", "phased"}
    assert (table["outcome"] == "closed_all_t1/closed_all_assigned").all()
    assert {"twfe (exposed_dropped)", "callaway_santanna (exposed_dropped)"} <= set(table["design"])
    meta = json.loads((out / "placebo.json").read_text())
    assert "Metropolitan Police" in meta["left_out"]  # flagged 2014/15 assigned outcomes
    assert "British Transport Police" not in meta["units"] + meta["left_out"]
    assert "treated as missing" in text
    # the same seed gives the same bytes
    again = tmp_path / "pl2"
    _invoke("--panel", str(HO_FILE), "--outcome", "charge_rate", "--rate",
            "closed_all_t1/closed_all_assigned", "--draws", "20", "--boot", "19", "--out",
            str(again), "--quiet")  # fmt: skip
    assert (out / "placebo.csv").read_bytes() == (again / "placebo.csv").read_bytes()


def test_cli_labels_a_synthetic_panel(tmp_path: Path) -> None:
    from soteria_eval.validation.placebo_data import placebo_panel

    rng = np.random.default_rng(0)
    from soteria_eval.geography import load_geography

    forces = load_geography().forces
    periods = [f"{y}-Q{q}" for y in (2017, 2018, 2019, 2020) for q in (1, 2, 3, 4)]
    periods += ["2021-Q1", "2021-Q2", "2021-Q3"]  # 2021-Q3 holds September 2021: left out
    rows = [("force", f, p, "charges", int(rng.integers(20, 60)), "", "", "no", "yes")
            for f in forces for p in periods]  # fmt: skip
    panel = tmp_path / "panel_force_quarter.csv"
    pd.DataFrame(rows, columns=["level", "unit", "period", "measure", "value", "numerator",
                                "denominator", "small_cell", "synthetic"]).to_csv(panel, index=False)  # fmt: skip
    data = placebo_panel(panel, "charges")
    assert data.data_label == "synthetic" and data.values.shape == (43, 18)
    code, text = _invoke("--panel", str(panel), "--outcome", "charges", "--draws", "5",
                         "--boot", "19", "--rollouts", "pathfinders", "--out",
                         str(tmp_path / "o"), "--quiet")  # fmt: skip
    assert code == 0, text
    code, text = _invoke("--panel", str(panel), "--outcome", "charges", "--starts", "9:30",
                         "--out", str(tmp_path / "o2"))  # fmt: skip
    assert code == 2 and "last_start <= 18" in text
    assert (pd.read_csv(tmp_path / "o" / "placebo.csv")["data_label"] == "synthetic").all()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--outcome", "closed_all_t99"], "column 'closed_all_t99' is not a count"),
        (["--outcome", "x", "--rate", "closed_all_t1"], "NUMERATOR/DENOMINATOR"),
        (["--outcome", "closed_all_t1", "--window", "2019-Q2:2014-Q2"], "comes after"),
        (["--outcome", "closed_all_t1", "--window", "2030-Q1:2031-Q1"], "no period in the window"),
        (["--outcome", "closed_all_t1", "--window", "2014-Q2:2015-Q1"], "last_start"),
        (["--outcome", "closed_all_t1", "--scheduler", "nonsense"], "not a scheduler address"),
        (["--outcome", "closed_all_t1", "--scheduler", "http://"], "not a scheduler address"),
        (["--outcome", "closed_all_t1", "--scheduler", ""], "not a scheduler address"),
        (["--outcome", "closed_all_t1", "--starts", "nine"], "two whole numbers"),
    ],
)
def test_cli_refuses_bad_requests(tmp_path: Path, args: list[str], fragment: str) -> None:
    code, text = _invoke("--panel", str(HO_FILE), *args, "--out", str(tmp_path / "o"), "--quiet")
    assert code == 2, text
    assert fragment in text
    assert not (tmp_path / "o").exists()


def test_cli_refuses_a_file_of_another_layout(tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    code, text = _invoke("--panel", str(other), "--outcome", "a", "--out", str(tmp_path / "o"))
    assert code == 2 and "other.csv" in text and "neither" in text
    code, text = _invoke("--panel", str(tmp_path / "none.csv"), "--outcome", "a", "--out",
                         str(tmp_path / "o"))  # fmt: skip
    assert code == 2 and "no such file" in text


def test_cli_defaults_to_the_bundled_home_office_panel(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        main, ["placebo", "--outcome", "closed_all_t1", "--draws", "5", "--boot", "19",
               "--rollouts", "pathfinders", "--out", str(tmp_path / "o"), "--quiet"]
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "43 units, 2014-Q2 to 2019-Q2" in r.output
    assert (pd.read_csv(tmp_path / "o" / "placebo.csv")["data_label"] == "real (published)").all()


def test_reformed_randomization_kernel_refits_each_assignment_on_its_own_sample() -> None:
    """Exposed-dropped RI: each permutation drops its own exposed forces (against twfe_draws)."""
    from soteria_eval.geography import load_geography
    from soteria_eval.inference._reformed_ri import reformed_tstats
    from soteria_eval.validation._placebo_kernels import Paths, reformed_ri_pvalues

    forces = sorted(load_geography().forces)
    inc = exposure_incidence(forces)
    assert inc is not None
    y = _panel(4, n=len(forces), t=14)
    st = PlaceboSettings(n_draws=3, first_start=6, last_start=10)
    paths = fake_rollouts(len(forces), 14, "pathfinders", st)
    rng = np.random.default_rng(5)
    assign = permuted_codes(paths.codes, np.ones_like(paths.codes, dtype=bool), 30, rng)
    for b in range(3):
        sub = Paths(assign[b], np.repeat(paths.start[b], 31), np.repeat(paths.start2[b], 31))
        treat = sub.treatment(14)
        fit = twfe_draws(y, treat, sample_mask(treat, inc, "exposed_dropped"))
        beta, t = reformed_tstats(y[None], treat, inc)
        np.testing.assert_allclose(beta[0], fit.beta, rtol=1e-9)
        np.testing.assert_allclose(t[0], fit.beta / fit.se_cr1, rtol=1e-9)
    p = reformed_ri_pvalues(y, paths, inc, 30, np.random.default_rng(5))
    assert p.shape == (3,) and ((p > 0) & (p <= 1)).all()
