"""Benchmark: restricted wild cluster bootstrap, 9,999 draws, TWFE on 43 forces x 40 quarters.

Target (issue 6): 0.2 s or less, and at least 10x faster than ``wildboottest`` and
``pyfixest`` on the same problem. Peers run when installed (``make bench`` installs the
``bench`` extra); each timing is the best of three.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from _timing import best

from soteria_eval.did import twfe
from soteria_eval.inference.wild import wild_cluster_bootstrap


def panel(seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_units, n_periods = 43, 40
    d = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n_units), n_periods),
            "time": np.tile(np.arange(n_periods), n_units),
        }
    )
    d["D"] = ((d["unit"] < 5) & (d["time"] >= 20)).astype(float)
    d["y"] = 0.2 * d["D"] + rng.normal(size=n_units)[d["unit"]] + rng.normal(size=len(d))
    return d


def main() -> list[dict[str, Any]]:
    d = panel()
    warnings.simplefilter("ignore")
    res = twfe(d, outcome="y", treatment="D", unit="unit", time="time")
    rows = []
    ours = best(
        lambda: wild_cluster_bootstrap(res, "D", n_boot=9999, weights="webb", conf_int=False)
    )
    rows.append({"package": "soteria-eval", "seconds": ours, "what": "p-value"})
    with_ci = best(lambda: wild_cluster_bootstrap(res, "D", n_boot=9999, weights="webb"))
    rows.append(
        {"package": "soteria-eval", "seconds": with_ci, "what": "p-value + CI by test inversion"}
    )
    try:
        import statsmodels.api as sm
        from wildboottest.wildboottest import wildboottest

        x = sm.add_constant(
            pd.get_dummies(
                d[["D", "unit", "time"]].astype({"unit": str, "time": str}),
                drop_first=True,
                dtype=float,
            )
        )
        model = sm.OLS(d["y"], x)
        wildboottest(
            model,
            B=99,
            cluster=d["unit"].to_numpy(),
            param="D",
            weights_type="webb",
            seed=1,
            show=False,
        )  # compile
        t = best(
            lambda: wildboottest(
                model,
                B=9999,
                cluster=d["unit"].to_numpy(),
                param="D",
                weights_type="webb",
                seed=1,
                show=False,
            )
        )
        rows.append({"package": "wildboottest", "seconds": t, "what": "p-value"})
    except ImportError:
        rows.append(
            {"package": "wildboottest (not installed)", "seconds": float("nan"), "what": "p-value"}
        )
    try:
        import pyfixest as pf

        fit = pf.feols("y ~ D | unit + time", data=d, vcov={"CRV1": "unit"})
        fit.wildboottest(param="D", reps=99, seed=1)
        t = best(lambda: fit.wildboottest(param="D", reps=9999, seed=1))
        rows.append({"package": "pyfixest", "seconds": t, "what": "p-value"})
    except ImportError:
        rows.append(
            {"package": "pyfixest (not installed)", "seconds": float("nan"), "what": "p-value"}
        )
    from soteria_eval.inference.randomization import randomization_test

    t = best(
        lambda: randomization_test(d, outcome="y", treatment="D", unit="unit", time="time"),
        repeat=1,
    )
    rows.append(
        {
            "package": "soteria-eval",
            "seconds": t,
            "what": "exact randomization inference, all C(43,5) = 962,598 assignments",
        }
    )
    for r in rows:
        print(
            f"WCR 9,999 draws, 43 x 40 TWFE  {r['package']:<28} {r['seconds']:8.3f} s  ({r['what']})"
        )
    return rows


if __name__ == "__main__":
    main()
