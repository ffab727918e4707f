"""Write the simulated panel used by the R covariance fixtures (run once; output committed).

Usage: python tests/reference/make_twfe_data.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

rng = np.random.default_rng(20210901)
U, T = 43, 16
d = pd.DataFrame(
    {"unit": np.repeat(np.arange(1, U + 1), T), "time": np.tile(np.arange(1, T + 1), U)}
)
d["area"] = (d["unit"] - 1) % 14 + 1
start = np.full(U + 1, 99)
start[[1, 2, 3, 4, 5]] = 9
start[[6, 7, 8]] = 12
d["D"] = (d["time"] >= start[d["unit"]]).astype(int)
d["x"] = np.round(rng.normal(size=len(d)), 6)
d["w"] = np.round(rng.uniform(0.5, 2.0, size=len(d)), 6)
noise = rng.normal(size=len(d)) * (1 + 0.5 * (d["unit"] % 3))
d["y"] = np.round(
    0.4 * d["D"] + 0.2 * d["x"] + rng.normal(size=U + 1)[d["unit"]] + 0.1 * d["time"] + noise, 6
)
d = d.drop(index=rng.choice(len(d), size=25, replace=False)).reset_index(drop=True)
d.to_csv(Path(__file__).with_name("twfe_panel.csv"), index=False)
