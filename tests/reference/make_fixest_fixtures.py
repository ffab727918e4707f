"""TWFE reference values under fixest's default small-sample convention, from pyfixest.

R ``fixest`` is not installable here, so its defaults (``ssc(adj = TRUE, fixef.K =
"nested", cluster.adj = TRUE)``, ``t(G - 1)`` tests) come from pyfixest ``feols``, which
follows them (its name for fixef.K = "nested" is ``k_fixef="nonnested"``). Writes
``fixest_twfe.json``: coefficients and CR1 standard errors of ``y ~ D + x | unit + time``
on ``twfe_panel.csv``, clustered by unit and by area.

Run (needs the ``bench`` extra): ``python tests/reference/make_fixest_fixtures.py``.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pandas as pd
import pyfixest as pf

HERE = Path(__file__).parent


def main() -> None:
    d = pd.read_csv(HERE / "twfe_panel.csv")
    out: dict[str, object] = {"pyfixest": metadata.version("pyfixest")}
    for cl in ("unit", "area"):
        fit = pf.feols(
            "y ~ D + x | unit + time", data=d, vcov={"CRV1": cl},
            ssc=pf.ssc(k_adj=True, k_fixef="nonnested", G_adj=True),
        )  # fmt: skip
        out[f"CR1_{cl}"] = {
            "terms": ["D", "x"],
            "estimate": [float(v) for v in fit.coef()[["D", "x"]]],
            "std_error": [float(v) for v in fit.se()[["D", "x"]]],
        }
    (HERE / "fixest_twfe.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
