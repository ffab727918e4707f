"""Benchmark: power curve for one measure, 11 effect sizes x 500 simulations (target 60 s).

The design (treated forces and their start quarters, 40 quarters, the measure's noise) is
estimated from the default data's force-by-quarter panel of the police charge rate. Each
inference method of the evaluation is timed with 2 joblib workers.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from soteria_eval.data import load_rollout
from soteria_eval.inference import PowerDesign, power_curve
from soteria_eval.simulate import default_data


def design() -> PowerDesign:
    p = pd.read_csv(default_data() / "panel_force_quarter.csv")
    p = p[p["measure"] == "police_charge_rate"].copy()
    p["value"] = p.groupby("unit")["value"].transform(lambda s: s.ffill().bfill())
    periods = sorted(p["period"].unique())
    p["t"] = p["period"].map({q: i for i, q in enumerate(periods)})
    starts = load_rollout().table.query("level == 'force'").set_index("unit")["start_date"]
    first = {u: f"{d.year}-Q{(d.month - 1) // 3 + 1}" for u, d in starts.items()}
    index = {q: i for i, q in enumerate(periods)}
    # Staggered phases 1 and 2 only: the national roll-out leaves no comparison forces.
    phase = load_rollout().table.query("level == 'force'").set_index("unit")["phase"]
    p["start"] = p["unit"].map(lambda u: index.get(first[u], 0) if phase[u] < 3 else 0)
    return PowerDesign.from_panel(p, outcome="value", unit="unit", time="t", start="start")


def main() -> list[dict[str, Any]]:
    des = design()
    sd = float(np.median(des.unit_sd))
    effects = np.linspace(0, 3 * sd, 11)
    rows = []
    for method in ("cr1", "wcr", "ri"):
        t0 = time.perf_counter()
        res = power_curve(des, effects, n_sims=500, method=method, n_jobs=2, seed=1)  # type: ignore[arg-type]
        seconds = time.perf_counter() - t0
        rows.append(
            {
                "task": "power curve, 11 effects x 500 simulations (43 forces x 40 quarters)",
                "method": method,
                "seconds": seconds,
                "mde_80": res.mde(),
                "size": float(res.tidy()["power"].iloc[0]),
            }
        )
        print(
            f"power {method}: {seconds:.1f} s, MDE(80%) {res.mde():.4f}, size {rows[-1]['size']:.3f}"
        )
    return rows


if __name__ == "__main__":
    main()
