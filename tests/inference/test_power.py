"""Power by simulation: vectorised statistics equal the package's estimators; determinism."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

from soteria_eval.did import twfe
from soteria_eval.inference._panel_stats import (
    demean2,
    ri_block_pvalues,
    ri_path_pvalues,
    twfe_cr1,
    wild_pvalues,
)
from soteria_eval.inference.power import (
    PowerDesign,
    PowerResults,
    _path_codes,
    power_curve,
    simulate_outcomes,
)
from soteria_eval.inference.randomization import randomization_test
from soteria_eval.inference.wild import draw_weights, wild_cluster_bootstrap
from soteria_eval.linear_model import FewClustersWarning


def design(n: int = 12, t: int = 10) -> PowerDesign:
    start = np.full(n, -1)
    start[:3] = 6
    return PowerDesign(
        units=tuple(range(n)), n_periods=t, start=start, unit_sd=np.linspace(0.5, 2, n), phi=0.3
    )


def long(y: np.ndarray, des: PowerDesign) -> pd.DataFrame:
    n, t = y.shape
    return pd.DataFrame(
        {
            "u": np.repeat(np.arange(n), t),
            "t": np.tile(np.arange(t), n),
            "y": y.ravel(),
            "D": des.treatment.ravel(),
        }
    )


def test_vectorised_statistics_equal_the_estimators() -> None:
    des = design()
    y = simulate_outcomes(des, 0.4, 3, np.random.default_rng(1))
    d, units = demean2(des.treatment), np.arange(12)
    beta, se, _ = twfe_cr1(y, d, units, 12)
    v, _ = draw_weights("webb", 999, 12, np.random.default_rng(5))
    p_wcr = wild_pvalues(y, d, units, 12, v, impose_null=True)
    p_wcu = wild_pvalues(y, d, units, 12, v, impose_null=False)
    # All C(12, 3) = 220 assignments: the exact randomization distribution.
    codes = _path_codes(des)
    treated_code = codes[0]
    assign = np.full((220, 12), codes[-1])
    for row, combo in enumerate(itertools.combinations(range(12), 3)):
        assign[row, list(combo)] = treated_code
    assign = np.vstack([codes[None, :], assign])
    p_ri = ri_path_pvalues(y, des.treatment, assign)
    # The block formula with clusters = units gives the same p-values.
    treated = assign == treated_code
    p_block = ri_block_pvalues(y, (np.arange(10) >= 6).astype(float), units, treated)
    np.testing.assert_allclose(p_block, p_ri)
    for s in range(3):
        d = long(y[s], des)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FewClustersWarning)
            fit = twfe(d, outcome="y", treatment="D", unit="u", time="t")
            wild = wild_cluster_bootstrap(
                fit, "D", n_boot=999, weights="webb", seed=5, conf_int=False
            )
            wcu = wild_cluster_bootstrap(
                fit, "D", n_boot=999, weights="webb", seed=5, conf_int=False, impose_null=False
            )
        assert beta[s] == pytest.approx(fit.params["D"], rel=1e-10)
        assert se[s] == pytest.approx(fit.std_errors["D"], rel=1e-10)
        assert p_wcr[s] == pytest.approx(wild.info["wild"]["D"]["p_value"], abs=1e-12)
        assert p_wcu[s] == pytest.approx(wcu.info["wild"]["D"]["p_value"], abs=1e-12)
        ri = randomization_test(d, outcome="y", treatment="D", unit="u", time="t")
        assert ri.exact and ri.n_assignments == 220
        # Row 0 repeats the observed assignment, which the exact set already holds once.
        assert p_ri[s] * 221 - 1 == pytest.approx(ri.p_value * 220, abs=1e-9)


def test_power_is_deterministic_and_sized() -> None:
    des = design(20, 12)
    a = power_curve(des, [0.0, 0.5, 1.5], n_sims=300, method="cr1", seed=3, chunk_size=60)
    b = power_curve(des, [0.0, 0.5, 1.5], n_sims=300, method="cr1", seed=3, chunk_size=60, n_jobs=2)
    pd.testing.assert_frame_equal(a.tidy(), b.tidy())
    t = a.tidy()
    assert t["power"].is_monotonic_increasing and t["power"].iloc[-1] > 0.9
    assert list(t.columns) == ["effect", "power", "mc_se", "n_sims", "method", "alpha"]
    for method in ("wcr", "ri", "its"):
        r = power_curve(des, [0.0, 1.5], n_sims=100, method=method, n_boot=199, seed=1)  # type: ignore[arg-type]
        assert r.tidy()["power"].iloc[1] > r.tidy()["power"].iloc[0]
    fig = a.plot(title="power")
    assert fig.axes


def test_power_on_a_local_dask_cluster() -> None:
    distributed = pytest.importorskip("distributed")
    des = design(16, 10)
    local = power_curve(des, [0.0, 1.0], n_sims=200, method="cr1", seed=9, chunk_size=50)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        remote = power_curve(
            des,
            [0.0, 1.0],
            n_sims=200,
            method="cr1",
            seed=9,
            chunk_size=50,
            backend="dask",
            progress=True,
        )
    pd.testing.assert_frame_equal(local.tidy(), remote.tidy())


def test_design_from_panel_recovers_noise() -> None:
    truth = PowerDesign(
        units=tuple(range(40)), n_periods=60, start=np.r_[np.full(5, 50), np.full(35, -1)],
        unit_sd=np.full(40, 2.0), phi=0.5,
    )  # fmt: skip
    y = simulate_outcomes(truth, 0.0, 1, np.random.default_rng(0))[0]
    d = long(y, truth).assign(start=lambda x: np.where(x["u"] < 5, 50, 0))
    est = PowerDesign.from_panel(d, outcome="y", unit="u", time="t", start="start")
    assert est.phi == pytest.approx(0.5, abs=0.08)
    assert np.median(est.unit_sd) == pytest.approx(2.0, rel=0.15)
    assert est.info["pre_periods"] == 50 and (est.start[:5] == 50).all()
    with pytest.raises(ValueError, match="no unit has a start"):
        PowerDesign.from_panel(d.assign(start=0), outcome="y", unit="u", time="t", start="start")


def test_mde_interpolates() -> None:
    table = pd.DataFrame(
        {"effect": [0.0, 1.0, 2.0], "power": [0.05, 0.6, 0.9], "mc_se": 0.0, "n_sims": 1,
         "method": "cr1", "alpha": 0.05}
    )  # fmt: skip
    res = PowerResults(table=table, design=design())
    assert res.mde(0.8) == pytest.approx(1 + 0.2 / 0.3)
    assert np.isnan(res.mde(0.95))
    with pytest.raises(ValueError, match="no treated unit"):
        PowerDesign(
            units=(0, 1), n_periods=4, start=np.array([-1, -1]), unit_sd=np.ones(2), phi=0.0
        )
