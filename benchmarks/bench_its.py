"""Benchmark: segmented ITS with Newey–West SEs for every measure and all 43 forces.

Target (issue 5): about 43 x 20 monthly series, each with its force's own programme start
(phase 1, 2 or national) and a COVID-19 shock, in 10 s or less on 2 cores. Two ways are
timed: one :func:`~soteria_eval.its.segmented_regression` call per series, and
:func:`~soteria_eval.its.multi_unit_its`, which fits every force sharing a start date in
one solve. Missing months (rates with a zero denominator in small forces) are carried
forward so that every series is complete; both ways must give the same estimates.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from _timing import best

from soteria_eval.data import load_rollout
from soteria_eval.its import Interruption, multi_unit_its, segmented_regression
from soteria_eval.simulate import default_data

COVID = Interruption("covid", "2020-04", programme=False)


def series() -> pd.DataFrame:
    p = pd.read_csv(default_data() / "panel_force_month.csv")
    p = p.sort_values(["measure", "unit", "period"])
    p["value"] = p.groupby(["measure", "unit"])["value"].transform(lambda s: s.ffill().bfill())
    starts = load_rollout().table.query("level == 'force'").set_index("unit")["start_date"]
    p["start"] = p["unit"].map(starts).dt.strftime("%Y-%m")
    return p


def per_series(p: pd.DataFrame) -> dict[tuple[str, str], float]:
    out = {}
    for (measure, unit), s in p.groupby(["measure", "unit"], sort=True):
        r = segmented_regression(
            s,
            outcome="value",
            time="period",
            interruptions=[Interruption("programme", s["start"].iloc[0]), COVID],
        )
        out[(str(measure), str(unit))] = float(r.params["level:programme"])
    return out


def batched(p: pd.DataFrame) -> dict[tuple[str, str], float]:
    out = {}
    for measure, m in p.groupby("measure", sort=True):
        r = multi_unit_its(
            m, outcome="value", time="period", unit="unit", start="start", interruptions=[COVID]
        )
        rows = r.by_unit().query("term == 'level:programme'")
        out.update(
            {(str(measure), u): e for u, e in zip(rows["unit"], rows["estimate"], strict=True)}
        )
    return out


def statsmodels_peer(p: pd.DataFrame) -> dict[tuple[str, str], float]:
    """The same fits with statsmodels OLS and HAC (design built here, lag as ours)."""
    import statsmodels.api as sm

    from soteria_eval.its import default_lag

    out = {}
    for (measure, unit), s in p.groupby(["measure", "unit"], sort=True):
        r = segmented_regression(
            s,
            outcome="value",
            time="period",
            interruptions=[Interruption("programme", s["start"].iloc[0]), COVID],
            errors="ols",
        )  # only to build the identical design matrix
        fit = sm.OLS(r.y, r.design.to_numpy()).fit(
            cov_type="HAC", cov_kwds={"maxlags": default_lag(len(r.y)), "use_correction": False}
        )
        out[(str(measure), str(unit))] = float(
            fit.params[r.design.columns.get_loc("level:programme")]
        )
    return out


def main() -> list[dict[str, Any]]:
    p = series()
    n_series = p.groupby(["measure", "unit"]).ngroups
    a, b = per_series(p), batched(p)
    gap = max(abs(a[k] - b[k]) for k in a)
    assert gap < 1e-8 * max(1.0, max(abs(v) for v in a.values())), gap
    task = f"segmented ITS + HAC, {n_series} force series x {p['period'].nunique()} months"
    rows = [
        {
            "task": task,
            "package": "soteria-eval (one call per series)",
            "seconds": best(lambda: per_series(p)),
        },
        {
            "task": task,
            "package": "soteria-eval (multi_unit_its, batched)",
            "seconds": best(lambda: batched(p)),
        },
    ]
    import statsmodels

    rows.append(
        {"task": task, "package": f"statsmodels {statsmodels.__version__} (OLS + HAC per series; design included)",
         "seconds": best(lambda: statsmodels_peer(p))}
    )  # fmt: skip
    for r in rows:
        print(f"{r['task']}: {r['package']}: {r['seconds']:.2f} s")
    return rows


if __name__ == "__main__":
    main()
