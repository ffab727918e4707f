"""Randomization inference: the fast path equals refitting TWFE for every assignment."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

from soteria_eval.did import twfe
from soteria_eval.inference.randomization import (
    cs_randomization_test,
    its_randomization_test,
    permutation_test,
    randomization_test,
)
from soteria_eval.its import Interruption
from soteria_eval.linear_model import FewClustersWarning


def panel(
    n_units: int, n_periods: int, treated: list[int], start: int, seed: int = 0, effect: float = 0.4
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = pd.DataFrame(
        {"u": np.repeat(np.arange(n_units), n_periods), "t": np.tile(np.arange(n_periods), n_units)}
    )
    d["D"] = (d["u"].isin(treated) & (d["t"] >= start)).astype(float)
    d["y"] = (
        effect * d["D"]
        + rng.normal(size=n_units)[d["u"]]
        + rng.normal(size=len(d)) * (1 + d["u"] % 3)
    )
    return d


def refit_t(d: pd.DataFrame, treated: tuple[int, ...], start: int) -> tuple[float, float]:
    a = d.assign(D=(d["u"].isin(treated) & (d["t"] >= start)).astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        r = twfe(a, outcome="y", treatment="D", unit="u", time="t")
    return float(r.params["D"]), float(r.params["D"] / r.std_errors["D"])


def test_exact_p_value_equals_brute_force() -> None:
    d = panel(9, 8, [0, 1, 2], 4)
    ri = randomization_test(d, outcome="y", treatment="D", unit="u", time="t")
    assert ri.exact and ri.n_assignments == 84  # C(9, 3)
    b0, t0 = refit_t(d, (0, 1, 2), 4)
    assert ri.estimate == pytest.approx(b0, rel=1e-10) and ri.t_stat == pytest.approx(t0, rel=1e-10)
    ts = [refit_t(d, combo, 4)[1] for combo in itertools.combinations(range(9), 3)]
    assert ri.p_value == pytest.approx(np.mean(np.abs(ts) >= abs(t0) * (1 - 1e-12)), abs=1e-12)


def test_staggered_paths_use_monte_carlo_and_are_seeded() -> None:
    d = panel(20, 10, [0, 1, 2], 4)
    d.loc[d["u"].isin([3, 4]) & (d["t"] >= 7), "D"] = 1.0
    a = randomization_test(d, outcome="y", treatment="D", unit="u", time="t", n_draws=3000, seed=2)
    b = randomization_test(d, outcome="y", treatment="D", unit="u", time="t", n_draws=3000, seed=2)
    assert not a.exact and a.n_assignments == 3001 and a.p_value == b.p_value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        r = twfe(d, outcome="y", treatment="D", unit="u", time="t")
    assert a.estimate == pytest.approx(r.params["D"], rel=1e-10)
    assert "Monte Carlo" in a.tidy()["inference"].iloc[0]


def test_unbalanced_panel_is_refused() -> None:
    d = panel(9, 8, [0, 1], 4).iloc[1:]
    with pytest.raises(ValueError, match="balanced panel"):
        randomization_test(d, outcome="y", treatment="D", unit="u", time="t")


def test_generic_permutation_equals_fast_twfe_path() -> None:
    d = panel(9, 10, [0, 1, 2], 5, seed=4)
    d["treated"] = d["u"].isin([0, 1, 2]).astype(int)

    def stat(x: pd.DataFrame) -> tuple[float, float]:
        x = x.assign(D=((x["treated"] == 1) & (x["t"] >= 5)).astype(float))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FewClustersWarning)
            r = twfe(x, outcome="y", treatment="D", unit="u", time="t")
        return float(r.params["D"]), float(r.params["D"] / r.std_errors["D"])

    slow = permutation_test(d, unit="u", assignment="treated", statistic=stat)
    fast = randomization_test(d, outcome="y", treatment="D", unit="u", time="t")
    assert slow.exact and slow.n_assignments == 84 == fast.n_assignments
    assert slow.p_value == pytest.approx(fast.p_value)
    assert slow.p_value_coef == pytest.approx(fast.p_value_coef)
    assert slow.estimate == pytest.approx(fast.estimate)
    with pytest.raises(ValueError, match="varies within unit"):
        permutation_test(d, unit="u", assignment="D", statistic=stat)


def test_cs_and_its_randomization_tests() -> None:
    d = panel(10, 12, [0, 1, 2], 6, seed=5, effect=3.0)
    d["cohort"] = np.where(d["u"].isin([0, 1, 2]), 6, 0)
    cs = cs_randomization_test(d, outcome="y", unit="u", time="t", cohort="cohort")
    assert cs.exact and cs.n_assignments == 120
    # The observed assignment is one of the 120: the smallest attainable p-value is 1/120.
    assert 1 / 120 <= cs.p_value < 0.05
    # Under the null the randomization p-value is uniform: over all 120 re-dealt data sets
    # the share with p <= 0.05 is at most 0.05 by construction of an exact test.
    null = d.assign(y=d["y"] - 3.0 * d["D"])
    cs0 = cs_randomization_test(null, outcome="y", unit="u", time="t", cohort="cohort")
    assert cs0.p_value > 0.05
    d["treated"] = d["u"].isin([0, 1, 2]).astype(int)
    its = its_randomization_test(
        d.assign(y=d["y"] + 3.0 * d["D"]),
        outcome="y",
        time="t",
        unit="u",
        treated="treated",
        interruptions=[Interruption("p", 6, slope=False)],
        hac_lag=1,
    )
    assert its.exact and its.n_assignments == 120
    assert its.p_value <= 0.05 and its.p_value_coef < 0.02
    assert its.estimate == pytest.approx(6.0, abs=1.5)


def test_ties_exclude_drops_the_observed_assignment_in_an_exact_test() -> None:
    """Exact enumeration: "include" counts the observed assignment itself (and its ties)."""
    rng = np.random.default_rng(3)
    units, periods = 8, 6
    d = pd.DataFrame(
        {"u": np.repeat(np.arange(units), periods), "t": np.tile(np.arange(periods), units)}
    )
    d["D"] = ((d["u"] < 2) & (d["t"] >= 3)).astype(float)
    d["y"] = rng.normal(size=len(d)) + 0.8 * d["D"]
    kw = dict(outcome="y", treatment="D", unit="u", time="t")
    inc = randomization_test(d, **kw)  # type: ignore[arg-type]
    exc = randomization_test(d, ties="exclude", **kw)  # type: ignore[arg-type]
    assert inc.exact and inc.n_assignments == 28  # 8 choose 2
    # The observed assignment always ties with itself; others tie only by symmetry.
    assert inc.p_value - exc.p_value >= 1 / 28 - 1e-12
    assert exc.p_value * 28 == pytest.approx(round(exc.p_value * 28))
    with pytest.raises(ValueError, match="ties must be one of"):
        randomization_test(d, ties="none", **kw)  # type: ignore[arg-type]


# --- a sample that depends on the assignment: exposed units re-formed per assignment ---

GROUPS = {u: [f"g{u // 3}"] for u in range(9)}  # three groups of three units


def _exposed_sample(treated: tuple[int, ...]) -> list[int]:
    """Units kept when ``treated`` are treated: no untreated unit of a treated unit's group."""
    hit = {GROUPS[u][0] for u in treated}
    return [u for u in range(9) if u in treated or GROUPS[u][0] not in hit]


def test_reformed_sample_p_value_equals_refitting_every_assignment() -> None:
    d = panel(9, 8, [0, 3], 4)
    ri = randomization_test(
        d, outcome="y", treatment="D", unit="u", time="t",
        exposure={u: GROUPS[u] for u in range(9)},
    )  # fmt: skip
    assert ri.exact and ri.n_assignments == 36 and ri.resampled
    kept = _exposed_sample((0, 3))
    b0, t0 = refit_t(d[d["u"].isin(kept)], (0, 3), 4)
    assert ri.estimate == pytest.approx(b0, rel=1e-10) and ri.t_stat == pytest.approx(t0, rel=1e-10)
    assert ri.n_units == len(kept) == 5
    ts = []
    for combo in itertools.combinations(range(9), 2):
        ts.append(refit_t(d[d["u"].isin(_exposed_sample(combo))], combo, 4)[1])
    want = np.mean(np.abs(ts) >= abs(t0) * (1 - 1e-12))
    assert ri.p_value == pytest.approx(want, abs=1e-12)
    # the fixed-sample test on the observed sample is a different test (and p-value)
    fixed = randomization_test(d[d["u"].isin(kept)], outcome="y", treatment="D", unit="u", time="t")
    assert fixed.n_assignments == 10 and not fixed.resampled
    assert "sample re-formed per assignment" in ri.tidy()["inference"].iloc[0]


def test_reformed_sample_needs_every_unit_in_the_exposure_map() -> None:
    d = panel(9, 8, [0, 3], 4)
    with pytest.raises(ValueError, match="exposure lists no groups for 1 unit"):
        randomization_test(
            d, outcome="y", treatment="D", unit="u", time="t",
            exposure={u: GROUPS[u] for u in range(8)},
        )  # fmt: skip


def test_exposure_groups_reproduce_the_headline_sample() -> None:
    """On the bundled rollout, the observed assignment's re-formed sample is exposed_dropped."""
    from soteria_eval.data import load_rollout
    from soteria_eval.estimands import DID_WINDOW
    from soteria_eval.rollout import exposure_groups, treatment_panel

    ro = load_rollout()
    kw = dict(level="force", freq="quarter", start=DID_WINDOW[0], end=DID_WINDOW[1])
    full = treatment_panel(ro, **kw)  # type: ignore[arg-type]
    dropped = treatment_panel(ro, scenario="exposed_dropped", **kw)  # type: ignore[arg-type]
    rng = np.random.default_rng(4)
    units = sorted(full["unit"].unique())
    level = dict(zip(units, rng.normal(size=len(units)), strict=True))
    full = full.assign(
        y=full["unit"].map(level) + rng.normal(size=len(full)) + 0.2 * full["treated"],
        d=full["treated"].astype(float),
    )
    groups = exposure_groups(units, ro)
    assert groups["Metropolitan Police"] == ["London South"]
    ri = randomization_test(
        full, outcome="y", treatment="d", unit="unit", time="period", n_draws=199, exposure=groups
    )
    sub = full[full["unit"].isin(set(dropped["unit"]))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        ref = twfe(sub, outcome="y", treatment="d", unit="unit", time="period")
    assert ri.n_units == sub["unit"].nunique() == 30
    assert ri.estimate == pytest.approx(float(ref.params["d"]), rel=1e-10)
    assert ri.t_stat == pytest.approx(float(ref.params["d"] / ref.std_errors["d"]), rel=1e-10)
    with pytest.raises(ValueError, match="not a territorial force"):
        exposure_groups(["Durham", "Atlantis"])


def test_a_treated_unit_with_a_gap_still_exposes_its_neighbours() -> None:
    """Its outcome is unusable, but the assignment (and so the exposure) is not."""
    d = panel(9, 8, [0, 3], 4)
    d.loc[(d["u"] == 0) & (d["t"] == 2), "y"] = np.nan
    ri = randomization_test(
        d, outcome="y", treatment="D", unit="u", time="t",
        exposure={u: GROUPS[u] for u in range(9)},
    )  # fmt: skip
    kept = [u for u in _exposed_sample((0, 3)) if u != 0]
    assert ri.n_units == len(kept) == 4  # units 1 and 2 stay out: unit 0 is treated
    b0, t0 = refit_t(d[d["u"].isin(kept)], (0, 3), 4)
    assert ri.estimate == pytest.approx(b0, rel=1e-10)
    ts = []
    for combo in itertools.combinations(range(9), 2):
        sample = [u for u in _exposed_sample(combo) if u != 0]
        ts.append(refit_t(d[d["u"].isin(sample)], combo, 4)[1])
    assert ri.p_value == pytest.approx(np.mean(np.abs(ts) >= abs(t0) * (1 - 1e-12)), abs=1e-12)
    with pytest.raises(ValueError, match="balanced panel"):  # the fixed-sample test refuses gaps
        randomization_test(d, outcome="y", treatment="D", unit="u", time="t")
