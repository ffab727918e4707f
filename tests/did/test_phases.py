"""Per-phase ATTs from Callaway–Sant'Anna group-time effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from soteria_eval.did import callaway_santanna
from soteria_eval.did.phases import phase_att


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    rows = []
    # phase 1: cohorts 5 and 6 (two cohorts); phase 2: cohort 8; phase 3: not treated in 1..10
    plan = [(5, 1)] * 4 + [(6, 1)] * 3 + [(8, 2)] * 5 + [(0, 3)] * 12
    for i, (g, ph) in enumerate(plan):
        a = rng.normal()
        for t in range(1, 11):
            eff = (1.0 if ph == 1 else 0.4) * (g > 0 and t >= g)
            rows.append((f"u{i:02d}", t, g, ph, a + 0.1 * t + eff + rng.normal(scale=0.3)))
    return pd.DataFrame(rows, columns=["unit", "t", "g", "phase", "y"])


def test_a_one_cohort_phase_is_that_cohorts_effect(data: pd.DataFrame) -> None:
    res = callaway_santanna(
        data, outcome="y", unit="unit", time="t", cohort="g", control_group="not_yet_treated"
    )
    grp = res.aggregate("group")
    p2 = phase_att(res, data, 2)
    assert p2.params.index.tolist() == ["ATT phase 2"]
    assert p2.params.iloc[0] == pytest.approx(grp.params["cohort 8"], abs=1e-12)
    assert p2.std_errors.iloc[0] == pytest.approx(grp.std_errors["cohort 8"], abs=1e-12)


def test_a_phase_of_several_cohorts_averages_its_treated_unit_periods(data: pd.DataFrame) -> None:
    res = callaway_santanna(
        data, outcome="y", unit="unit", time="t", cohort="g", control_group="not_yet_treated"
    )
    att = res.att_gt
    post = att[(att["time"] >= att["cohort"]) & att["cohort"].isin([5, 6])]
    n = {5: 4, 6: 3}
    want = sum(n[int(r.cohort)] * r.estimate for r in post.itertuples()) / sum(
        n[int(c)] for c in post["cohort"]
    )
    p1 = phase_att(res, data, 1)
    assert p1.params.iloc[0] == pytest.approx(want, abs=1e-12)
    assert 0.7 < p1.params.iloc[0] < 1.3 and p1.std_errors.iloc[0] > 0
    # the variance is w'Vw of the cohort effects
    grp = res.aggregate("group")
    w = np.array([4 * 6, 3 * 5], dtype=float)
    w /= w.sum()
    v = grp.cov.loc[["cohort 5", "cohort 6"], ["cohort 5", "cohort 6"]].to_numpy()
    assert p1.std_errors.iloc[0] == pytest.approx(np.sqrt(w @ v @ w), rel=1e-12)
    with pytest.raises(ValueError, match="no estimated cohort belongs to phase 3"):
        phase_att(res, data, 3)


def test_t_with_the_phases_treated_units_minus_one_df(data: pd.DataFrame) -> None:
    from scipy import stats

    res = callaway_santanna(
        data, outcome="y", unit="unit", time="t", cohort="g", control_group="not_yet_treated"
    )
    normal = phase_att(res, data, 2).tidy().iloc[0]
    t5 = phase_att(res, data, 2, df="treated").tidy().iloc[0]  # cohort 8: 5 treated units
    assert t5["estimate"] == normal["estimate"] and t5["std_error"] == normal["std_error"]
    assert t5["df"] == 4 and "t(4): 5 treated units" in t5["inference"]
    half = (t5["ci_upper"] - t5["ci_lower"]) / 2
    assert half == pytest.approx(stats.t.ppf(0.975, 4) * t5["std_error"], rel=1e-12)
    assert t5["p_value"] == pytest.approx(2 * stats.t.sf(abs(t5["statistic"]), 4), rel=1e-12)
    with pytest.raises(ValueError, match="df must be one of"):
        phase_att(res, data, 2, df="satterthwaite")


def test_simple_att_with_treated_units_minus_one_df(data: pd.DataFrame) -> None:
    from scipy import stats

    from soteria_eval.did.phases import simple_att

    res = callaway_santanna(
        data, outcome="y", unit="unit", time="t", cohort="g", control_group="not_yet_treated"
    )
    agg = res.aggregate("simple").tidy().iloc[0]
    normal = simple_att(res).tidy().iloc[0]
    assert normal.equals(agg)  # the default is R did's aggte(type = "simple")
    t11 = simple_att(res, df="treated").tidy().iloc[0]  # 4 + 3 + 5 treated units
    assert t11["estimate"] == agg["estimate"] and t11["std_error"] == agg["std_error"]
    assert t11["df"] == 11 and "t(11): 12 treated units" in t11["inference"]
    half = (t11["ci_upper"] - t11["ci_lower"]) / 2
    assert half == pytest.approx(stats.t.ppf(0.975, 11) * t11["std_error"], rel=1e-12)
    assert t11["p_value"] == pytest.approx(2 * stats.t.sf(abs(t11["statistic"]), 11), rel=1e-12)
    with pytest.raises(ValueError, match="df must be one of"):
        simple_att(res, df="bm")
