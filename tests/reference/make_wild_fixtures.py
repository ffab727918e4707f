"""Wild cluster bootstrap fixtures from ``wildboottest`` (full enumeration, so no randomness).

Run in an environment with the ``bench`` extra:

    python tests/reference/make_wild_fixtures.py

The model is an OLS with one dummy per unit and per period (statsmodels), on the first
12 units of ``twfe_panel.csv``: with Rademacher weights and 2**12 = 4,096 <= B draws,
``wildboottest`` enumerates every sign vector, so its p-values are exact numbers that any
correct implementation must reproduce.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pandas as pd
import statsmodels.api as sm
from wildboottest.wildboottest import wildboottest

HERE = Path(__file__).parent


def main() -> None:
    d = pd.read_csv(HERE / "twfe_panel.csv")
    d = d[d["unit"] <= 12].reset_index(drop=True)
    X = pd.get_dummies(
        d[["D", "x", "unit", "time"]].astype({"unit": str, "time": str}),
        drop_first=True,
        dtype=float,
    )
    X = sm.add_constant(X)
    model = sm.OLS(d["y"], X)
    out = {"wildboottest": metadata.version("wildboottest"), "n": len(d), "cases": {}}
    for param in ("D", "x"):
        for impose in (True, False):
            res = wildboottest(
                model,
                B=9999,
                cluster=d["unit"].to_numpy(),
                param=param,
                weights_type="rademacher",
                impose_null=impose,
                seed=1,
                show=False,
            )
            key = f"{param}|{'WCR' if impose else 'WCU'}"
            out["cases"][key] = {
                "p_value": float(res["p-value"].iloc[0]),
                "t_stat": float(res["statistic"].iloc[0]),
            }
            print(key, out["cases"][key])
    (HERE / "wild_fixtures.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
