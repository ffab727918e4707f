"""Write the monthly series used by the ITS reference fixtures (output committed).

Usage: python tests/reference/make_its_data.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

rng = np.random.default_rng(7)
n = 96
t = np.arange(n)
e = np.zeros(n)
shock = rng.normal(scale=2.0, size=n)
for i in range(n):
    e[i] = (0.5 * e[i - 1] if i else 0.0) + shock[i]
level = (t >= 60).astype(float)
slope = np.where(t >= 60, t - 60, 0.0)
month = (t % 12) + 1
y = 50 + 0.2 * t + 4 * level + 0.3 * slope + 3 * np.sin(2 * np.pi * month / 12) + e
pd.DataFrame({"t": t, "month": month, "level": level, "slope": slope, "y": np.round(y, 6)}).to_csv(
    Path(__file__).with_name("its_series.csv"), index=False
)
