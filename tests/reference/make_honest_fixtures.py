"""Make the HonestDiD fixtures with the PyPI port ``honestdid`` (0.1.1).

Inputs are the Medicaid-expansion example of the HonestDiD README (Rambachan and Roth):
``ehec`` (state-level ACS insurance coverage of low-income childless adults, 2008–2019),
as shipped by the PyPI package ``moderndid`` (``moderndid/core/datasets/ehec_data.pkl.gz``).
The event study is the README's non-staggered TWFE, ``dins ~ i(year, D, ref = 2013) |
stfips + year`` clustered by state, on years before 2016 without the 2015 adopters; it
is estimated here with ``pyfixest`` (the Python port of ``fixest``), so the inputs do not
come from soteria-eval. Two steps, because ``honestdid`` 0.1.1 fails under numpy 2.4 (a
1x1 array converted with ``float``) while ``pyfixest`` 0.60 needs numpy 2:

    python tests/reference/make_honest_fixtures.py inputs     # bench extra (pyfixest, moderndid)
    python tests/reference/make_honest_fixtures.py honestdid  # honestdid 0.1.1 with numpy<2

It writes ``tests/reference/data/ehec.csv`` and ``tests/reference/honest_ehec.json``
(inputs, honestdid confidence sets on a fixed grid, and the README's published values).
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
GRID = {"relative_magnitude": (-0.06, 0.16, 221), "smoothness": (-0.06, 0.16, 221)}


def load() -> pd.DataFrame:
    import moderndid

    path = Path(moderndid.__file__).parent / "core" / "datasets" / "ehec_data.pkl.gz"
    d = pd.read_pickle(path)
    d = d[["stfips", "year", "dins", "yexp2", "W"]].sort_values(["stfips", "year"])
    d.to_csv(HERE / "data" / "ehec.csv", index=False, float_format="%.10g")
    return pd.read_csv(HERE / "data" / "ehec.csv")


def event_study(d: pd.DataFrame) -> tuple[list[float], list[list[float]], list[str]]:
    import pyfixest as pf

    sub = d[(d["year"] < 2016) & (d["yexp2"].isna() | (d["yexp2"] != 2015))].copy()
    sub["D"] = (sub["yexp2"] == 2014).astype(float)
    fit = pf.feols("dins ~ i(year, D, ref=2013) | stfips + year", data=sub, vcov={"CRV1": "stfips"})
    names = list(fit.coef().index)
    return fit.coef().tolist(), np.asarray(fit._vcov).tolist(), names


def inputs() -> None:
    d = load()
    beta, sigma, names = event_study(d)
    out: dict[str, object] = {
        "pyfixest": metadata.version("pyfixest"),
        "terms": names,
        "betahat": beta,
        "sigma": sigma,
        "num_pre": 5,
        "num_post": 2,
        "grid": GRID,
        "published_readme": {
            "relative_magnitude_c_lf": {"mbar": [0.5, 1.0, 1.5, 2.0],
                                        "lb": [0.0240, 0.0170, 0.00824, -0.000916],
                                        "ub": [0.0672, 0.0720, 0.0797, 0.0881]},
            "smoothness_flci": {"m": [0.0, 0.01, 0.02, 0.03, 0.04, 0.05],
                                "lb": [0.0259, 0.0132, 0.00286, -0.00714, -0.0171, -0.0271],
                                "ub": [0.0607, 0.0787, 0.0907, 0.101, 0.111, 0.121]},
        },
    }  # fmt: skip
    (HERE / "honest_ehec.json").write_text(json.dumps(out, indent=1) + "\n")


def honestdid_cases() -> None:
    import honestdid as hd

    out = json.loads((HERE / "honest_ehec.json").read_text())
    out["honestdid"] = metadata.version("honestdid")
    b, s = np.array(out["betahat"]), np.array(out["sigma"])
    cases = []
    for restriction, fn in (
        ("relative_magnitude", hd.computeConditionalCS_DeltaRM),
        ("smoothness", hd.computeConditionalCS_DeltaSD),
    ):
        lo, hi, n = GRID[restriction]
        for flag in ("ARP", "LF"):
            for m in (0.5, 1.0, 2.0) if restriction == "relative_magnitude" else (0.0, 0.01, 0.03):
                for l_vec in ([1.0, 0.0], [0.5, 0.5]):
                    kw = {"Mbar": m} if restriction == "relative_magnitude" else {"M": m}
                    try:
                        grid = fn(b, s, 5, 2, l_vec=np.array(l_vec), alpha=0.05, hybrid_flag=flag,
                                  gridPoints=n, grid_lb=lo, grid_ub=hi, **kw)  # fmt: skip
                    except (
                        ZeroDivisionError
                    ) as err:  # honestdid 0.1.1: sigma_B == 0 in its primal step
                        cases.append({"restriction": restriction, "method": flag, "m": m,
                                      "l_vec": l_vec, "error": repr(err)})  # fmt: skip
                        continue
                    acc = grid.loc[grid["accept"] == 1, "grid"]
                    cases.append({"restriction": restriction, "method": flag, "m": m,
                                  "l_vec": l_vec, "lb": float(acc.min()), "ub": float(acc.max()),
                                  "accept": grid["accept"].astype(int).tolist()})  # fmt: skip
    out["cases"] = cases
    flcis = []
    for m in (0.0, 0.01, 0.02, 0.05):
        for l_vec in ([1.0, 0.0], [0.5, 0.5]):
            f = hd.find_optimal_flci(b, s, M=m, numPrePeriods=5, numPostPeriods=2,
                                     l_vec=np.array(l_vec), alpha=0.05)  # fmt: skip
            flcis.append({"m": m, "l_vec": l_vec, "lb": float(f["FLCI"][0]), "ub": float(f["FLCI"][1]),
                          "half_length": float(f["optimalHalfLength"])})  # fmt: skip
    out["flci"] = flcis
    (HERE / "honest_ehec.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    import sys

    {"inputs": inputs, "honestdid": honestdid_cases}[sys.argv[1]]()
