"""PPML reference values from pyfixest ``fepois`` (the Python port of R fixest).

Writes ``ppml_panel.csv`` (43 units in 14 areas, 16 periods, Poisson counts) and
``ppml_fixest.json``: the coefficient and its CR1 standard error clustered by area, under
fixest's default small-sample convention (fixest ``fixef.K = "nested"``, pyfixest
``fixef_k="nonnested"``: fixed effects nested in
the clusters do not count, but one) and with every fixed effect counted (``"full"``).

Run (needs the ``bench`` extra): ``python tests/reference/make_ppml_fixtures.py``.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pyfixest as pf

HERE = Path(__file__).parent


def panel() -> pd.DataFrame:
    rng = np.random.default_rng(20210901)
    units, periods = 43, 16
    area = np.sort(np.arange(units) % 14)
    d = pd.DataFrame(
        {"u": np.repeat(np.arange(units), periods), "t": np.tile(np.arange(periods), units)}
    )
    d["area"] = area[d["u"]]
    d["D"] = ((d["area"] < 5) & (d["t"] >= 8)).astype(float)
    mu = np.exp(1.5 + 0.2 * d["D"] + rng.normal(0, 0.5, units)[d["u"]] + 0.03 * d["t"])
    d["y"] = rng.poisson(mu)
    return d


def main() -> None:
    d = panel()
    d.to_csv(HERE / "ppml_panel.csv", index=False)
    out = {"pyfixest": metadata.version("pyfixest")}
    # pyfixest names fixest's "nested" convention "nonnested" (count the non-nested ones).
    for ours, theirs in (("nested", "nonnested"), ("full", "full")):
        fit = pf.fepois(
            "y ~ D | u + t",
            data=d,
            vcov={"CRV1": "area"},
            ssc=pf.ssc(k_fixef=theirs),
            iwls_tol=1e-12,
            fixef_tol=1e-12,
        )
        out[ours] = {"coef": float(fit.coef()["D"]), "se": float(fit.se()["D"])}
    (HERE / "ppml_fixest.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
