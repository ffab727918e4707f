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

import numpy as np
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


def _series(p: pd.DataFrame):  # type: ignore[no-untyped-def]
    """Yield ``(measure, unit), series, start`` for every force series."""
    for key, s in p.groupby(["measure", "unit"], sort=True):
        yield (str(key[0]), str(key[1])), s, s["start"].iloc[0]


def per_series(p: pd.DataFrame) -> dict[tuple[str, str], float]:
    out = {}
    for key, s, start in _series(p):
        r = segmented_regression(
            s,
            outcome="value",
            time="period",
            interruptions=[Interruption("programme", start), COVID],
        )
        out[key] = float(r.params["level:programme"])
    return out


def batched(p: pd.DataFrame) -> dict[tuple[str, str], float]:
    out = {}
    for measure, m in p.groupby("measure", sort=True):
        r = multi_unit_its(
            m, outcome="value", time="period", unit="unit", start="start", interruptions=[COVID]
        )
        rows = r.by_unit()
        rows = rows[rows["term"] == "level:programme"]
        out.update(
            {(str(measure), u): e for u, e in zip(rows["unit"], rows["estimate"], strict=True)}
        )
    return out


def statsmodels_peer(p: pd.DataFrame) -> dict[tuple[str, str], float]:
    """The same fits with statsmodels OLS and HAC; the design is built here with numpy."""
    import statsmodels.api as sm

    from soteria_eval.its import default_lag

    periods = sorted(p["period"].unique())
    t = np.arange(len(periods), dtype=float)
    covid = float(periods.index(str(COVID.at)))
    out = {}
    for key, s, start in _series(p):
        k = float(periods.index(start))
        x = np.column_stack(
            [np.ones_like(t), t, t >= k, np.where(t >= k, t - k, 0.0), t >= covid,
             np.where(t >= covid, t - covid, 0.0)]
        )  # fmt: skip
        fit = sm.OLS(s["value"].to_numpy(), x).fit(
            cov_type="HAC", cov_kwds={"maxlags": default_lag(len(t)), "use_correction": False}
        )
        out[key] = float(fit.params[2])
    return out


def main() -> list[dict[str, Any]]:
    p = series()
    n_series = p.groupby(["measure", "unit"]).ngroups
    a, b = per_series(p), batched(p)
    c = statsmodels_peer(p)
    gap = max(max(abs(a[k] - b[k]), abs(a[k] - c[k])) for k in a)
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
        {"task": task, "package": f"statsmodels {statsmodels.__version__} (OLS + HAC per series)",
         "seconds": best(lambda: statsmodels_peer(p))}
    )  # fmt: skip
    for r in rows:
        print(f"{r['task']}: {r['package']}: {r['seconds']:.2f} s")
    return rows


if __name__ == "__main__":
    main()
