"""Each result family's face in a notebook: one-line repr, cut HTML tables, .plot()."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from soteria_eval.data import load_rollout
from soteria_eval.did import callaway_santanna, twfe
from soteria_eval.its import Interruption, segmented_regression
from soteria_eval.plotting import time_ticks
from soteria_eval.results import HTML_MAX_ROWS, html_table
from soteria_eval.rollout import treatment_panel
from soteria_eval.sensitivity import honest_sensitivity, synthetic_control


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    tp = treatment_panel(
        load_rollout(), level="force", freq="quarter", start="2016-Q1", end="2023-Q2"
    )
    rng = np.random.default_rng(5)
    unit = tp["unit"].map({u: rng.normal() for u in tp["unit"].unique()})
    return tp.assign(
        y=unit + rng.normal(size=len(tp)) * 0.5 + tp["treated"] * 0.8,
        treated_f=tp["treated"].astype(float),
    )


def _close(fig: object) -> None:
    assert fig is not None and hasattr(fig, "savefig")
    plt.close(fig)  # type: ignore[arg-type]


def test_twfe_repr_is_one_line_and_plot_draws_the_terms(panel: pd.DataFrame) -> None:
    res = twfe(panel, outcome="y", treatment="treated_f", unit="unit", time="period")
    text = repr(res)
    assert text.startswith("<LinearResults: ") and "\n" not in text and "treated_f = " in text
    assert len(text) < 250
    fig = res.plot()
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["treated_f"]
    _close(fig)


def test_callaway_santanna_html_is_cut_with_a_count_and_plots(panel: pd.DataFrame) -> None:
    with pytest.warns(UserWarning):
        cs = callaway_santanna(
            panel,
            outcome="y",
            unit="unit",
            time="period",
            cohort="cohort",
            control_group="not_yet_treated",
        )
    n = len(cs.att_gt)
    assert n > HTML_MAX_ROWS
    page = cs._repr_html_()
    assert page.count("<tr>") == HTML_MAX_ROWS + 1  # rows shown and the "…" row
    assert f"{n - HTML_MAX_ROWS} of {n} rows not shown" in page
    assert "group-time cells" in repr(cs) and "\n" not in repr(cs)
    _close(cs.plot())
    dyn = cs.aggregate("dynamic")
    fig = dyn.plot()
    assert "event time" in fig.axes[0].get_xlabel()
    _close(fig)
    _close(cs.aggregate("simple").plot())


def test_html_table_keeps_short_tables_whole() -> None:
    t = pd.DataFrame({"a": range(5)})
    assert "not shown" not in html_table(t) and html_table(t).count("<tr>") == 5


def test_its_plot_has_a_y_label_and_yearly_ticks() -> None:
    months = pd.period_range("2016-01", "2023-06", freq="M").strftime("%Y-%m")
    rng = np.random.default_rng(2)
    s = pd.DataFrame({"period": months, "charges": 100 + rng.normal(size=len(months))})
    res = segmented_regression(
        s, outcome="charges", time="period", interruptions=[Interruption("phase 1", "2021-09")]
    )
    assert repr(res).startswith("<ITSResults: ")
    fig = res.plot()
    ax = fig.axes[0]
    assert ax.get_ylabel() == "charges"
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{y}-01" for y in range(2016, 2024)]
    _close(fig)


def test_time_ticks() -> None:
    q = [f"{y}-Q{k}" for y in range(2016, 2024) for k in (1, 2, 3, 4)]
    assert [q[i] for i in time_ticks(q)] == [f"{y}-Q1" for y in range(2016, 2024)]
    m = pd.period_range("2000-01", "2025-12", freq="M").strftime("%Y-%m").tolist()
    picked = [m[i] for i in time_ticks(m, max_ticks=12)]
    assert len(picked) <= 13 and all(p.endswith("-01") for p in picked)
    fy = [f"{y}/{(y + 1) % 100:02d}" for y in range(2014, 2026)]
    assert time_ticks(fy) == list(range(12))


def test_sensitivity_results_have_a_short_repr(panel: pd.DataFrame) -> None:
    hon = honest_sensitivity(
        np.array([0.0, 0.1, 0.5]),
        np.eye(3) * 0.01,
        num_pre=2,
        num_post=1,
        m_values=(0.5, 1.0),
        grid_points=50,
    )
    assert repr(hon).startswith("<HonestResults: HonestDiD") and "\n" not in repr(hon)
    sub = panel[panel["phase"].isin([1, 3])]
    donors = sorted(sub.loc[sub["phase"] == 3, "unit"].unique())[:8]
    force = sorted(sub.loc[sub["phase"] == 1, "unit"].unique())[0]
    d = sub[sub["unit"].isin([force, *donors])]
    sc = synthetic_control(
        d,
        outcome="y",
        unit="unit",
        time="period",
        treated_unit=force,
        start="2021-Q3",
        donors=donors,
    )
    assert repr(sc).startswith(f"<SyntheticControlResults: synthetic control for {force}")
    _close(sc.plot())
