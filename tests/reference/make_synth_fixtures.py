"""Make the synthetic-control and synthetic-DiD fixtures with the PyPI package ``diff-diff``.

A factor-model panel (30 units, 24 periods; unit 0 treated alone from period 16 for the
synthetic control; units 0–2 treated from period 16 for synthetic DiD) is written to
``tests/reference/data/synth_panel.csv``. ``diff_diff.SyntheticControl`` is asked for the
outcome-only fit (every pre-period outcome a predictor, V = identity, no standardisation),
which is the quadratic programme soteria-eval solves; ``diff_diff.SyntheticDiD`` uses its
defaults. Run in an environment with the ``bench`` extra:

    python tests/reference/make_synth_fixtures.py
"""

from __future__ import annotations

import json
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
START = 16


def panel() -> pd.DataFrame:
    rng = np.random.default_rng(2021)
    n, t = 30, 24
    f = np.cumsum(rng.normal(size=(t, 2)), axis=0)
    load = rng.uniform(0.2, 1.5, size=(n, 2))
    y = 10 + rng.normal(size=n)[:, None] + load @ f.T + rng.normal(scale=0.5, size=(n, t))
    y[:3, START:] += 2.0
    d = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n), t),
            "time": np.tile(np.arange(t), n),
            "y": y.ravel().round(8),
        }
    )
    d.to_csv(HERE / "data" / "synth_panel.csv", index=False)
    return pd.read_csv(HERE / "data" / "synth_panel.csv")


def main() -> None:
    from diff_diff import SyntheticControl, SyntheticDiD

    d = panel()
    sc_data = d[~d["unit"].isin([1, 2])].copy()
    sc_data["treat"] = ((sc_data["unit"] == 0) & (sc_data["time"] >= START)).astype(int)
    pre = list(range(START))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc = SyntheticControl(v_method="custom", custom_v=np.ones(len(pre)), standardize="none").fit(
            sc_data, outcome="y", treatment="treat", unit="unit", time="time",
            post_periods=list(range(START, 24)), treated_unit=0,
            special_predictors=[("y", [p], "mean") for p in pre],
        )  # fmt: skip
        d["treat"] = (d["unit"] < 3).astype(int)
        sd = SyntheticDiD(seed=1).fit(
            d, outcome="y", treatment="treat", unit="unit", time="time",
            post_periods=list(range(START, 24)),
        )  # fmt: skip
    weights = {str(k): float(v) for k, v in sc.donor_weights.items()}
    out = {
        "diff_diff": metadata.version("diff-diff"),
        "start": START,
        "sc_att": float(sc.att),
        "sc_weights": weights,
        "sdid_att": float(sd.att),
        "sdid_unit_weights": {str(k): float(v) for k, v in sd.unit_weights.items()},
        "sdid_time_weights": {str(k): float(v) for k, v in sd.time_weights.items()},
    }
    (HERE / "synth_fixtures.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
