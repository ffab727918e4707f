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

# A comparison series for the comparative ITS fixtures (its_comparative.csv): it shares the
# COVID-19-like shock at t = 30 and has no programme change at t = 60.
rng = np.random.default_rng(11)
e0 = np.zeros(n)
shock0 = rng.normal(scale=1.5, size=n)
for i in range(n):
    e0[i] = (0.4 * e0[i - 1] if i else 0.0) + shock0[i] + 0.5 * shock[i]
covid = (t >= 30).astype(float)
y0 = 40 + 0.15 * t - 3 * covid + 3 * np.sin(2 * np.pi * month / 12) + e0
y1 = y - 3 * covid
frames = [
    pd.DataFrame({"t": t, "month": month, "g": g, "y": np.round(v, 6)})
    for g, v in (("comparison", y0), ("treated", y1))
]
pd.concat(frames).to_csv(Path(__file__).with_name("its_comparative.csv"), index=False)

# A panel of six quarterly-like series with two programme start dates (its_multi.csv):
# AR(1) errors with a common period shock, unit intercepts and trends.
rng = np.random.default_rng(23)
n_units, n_t = 6, 60
common = rng.normal(scale=0.7, size=n_t)
rows = []
for u in range(n_units):
    start_at = 36 if u < 3 else 44
    e = np.zeros(n_t)
    z = rng.normal(scale=1.0, size=n_t)
    for i in range(n_t):
        e[i] = (0.3 * e[i - 1] if i else 0.0) + z[i] + common[i]
    tt = np.arange(n_t)
    yy = (
        20
        + 3 * u
        + (0.1 + 0.02 * u) * tt
        - 2 * (tt >= 20)
        + 2.5 * (tt >= start_at)
        + 0.1 * np.where(tt >= start_at, tt - start_at, 0)
        + e
    )
    rows.append(pd.DataFrame({"unit": f"u{u}", "t": tt, "start": start_at, "y": np.round(yy, 6)}))
pd.concat(rows).to_csv(Path(__file__).with_name("its_multi.csv"), index=False)
