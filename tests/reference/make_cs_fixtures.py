"""Make the Callaway–Sant'Anna fixtures on ``mpdta`` with the Python port ``csdid``.

``csdid`` 0.4.3 agrees with R ``did`` 2.5.1 to better than 1e-8 on ``mpdta`` (checked by
the project for 12 specifications); the R values quoted in
``tests/did/test_callaway_santanna.py`` cross-check the fixture. Run in an environment
with the ``bench`` extra (``pip install -e '.[bench]'``):

    python tests/reference/make_cs_fixtures.py

It writes ``tests/reference/data/mpdta.csv`` (from ``moderndid.load_mpdta()``) and
``tests/reference/cs_mpdta.json`` (analytic standard errors, no bootstrap).
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from csdid.att_gt import ATTgt

HERE = Path(__file__).parent


def load() -> pd.DataFrame:
    import moderndid

    d = moderndid.load_mpdta().to_pandas()
    d = d[["year", "countyreal", "lpop", "lemp", "first.treat", "treat"]].sort_values(
        ["countyreal", "year"]
    )
    d.to_csv(HERE / "data" / "mpdta.csv", index=False, float_format="%.17g")
    return pd.read_csv(HERE / "data" / "mpdta.csv")


def spec(
    d: pd.DataFrame,
    control: str,
    method: str,
    xformla: str | None,
    base: str,
    unbalanced: bool = False,
) -> dict:
    att = ATTgt(
        yname="lemp",
        tname="year",
        idname="countyreal",
        gname="first.treat",
        data=d,
        control_group=control,
        xformla=xformla,
        clustervar=None,
        allow_unbalanced_panel=unbalanced,
    )
    att.fit(est_method=method, base_period=base, bstrap=False)
    r = att.results
    out = {
        "att_gt": {
            "group": [int(g) for g in r["group"]],
            "time": [int(t) for t in r["year"]],
            "att": [float(a) for a in r["att"]],
            "se": [float(s) for s in r["se"]],
        }
    }
    for typ in ("simple", "group", "dynamic", "calendar"):
        a = att.aggte(typec=typ, bstrap=False)
        res = a.atte if hasattr(a, "atte") else att.atte
        entry = {"overall_att": float(res["overall_att"]), "overall_se": float(res["overall_se"])}
        if typ != "simple":
            entry["egt"] = [float(e) for e in np.atleast_1d(res["egt"])]
            entry["att_egt"] = [float(v) for v in np.atleast_1d(res["att_egt"])]
            entry["se_egt"] = [float(v) for v in np.atleast_1d(res["se_egt"])]
        out[typ] = entry
    return out


def main() -> None:
    d = load()
    fixtures = {
        "csdid": metadata.version("csdid"),
        "moderndid": metadata.version("moderndid"),
        "specs": {},
    }
    for control in ("nevertreated", "notyettreated"):
        for method in ("reg", "ipw", "dr"):
            for x in (None, "~ lpop"):
                for base in ("varying", "universal"):
                    if x is not None and base == "universal":
                        continue
                    key = f"{control}|{method}|{'lpop' if x else 'none'}|{base}"
                    fixtures["specs"][key] = spec(d, control, method, x, base)
                    print(key, fixtures["specs"][key]["simple"])
    (HERE / "cs_mpdta.json").write_text(json.dumps(fixtures, indent=1) + "\n")
    # Unbalanced: drop 5% of the county-years at random (seeded), keep every row otherwise.
    drop = np.random.default_rng(5).random(len(d)) < 0.05
    ub = d[~drop].reset_index(drop=True)
    ub.to_csv(HERE / "data" / "mpdta_unbalanced.csv", index=False, float_format="%.17g")
    ub = pd.read_csv(HERE / "data" / "mpdta_unbalanced.csv")
    unbalanced = {"csdid": metadata.version("csdid"), "rows_dropped": int(drop.sum()), "specs": {}}
    for control in ("nevertreated", "notyettreated"):
        for method, x in (("reg", None), ("reg", "~ lpop"), ("ipw", "~ lpop"), ("dr", "~ lpop")):
            key = f"{control}|{method}|{'lpop' if x else 'none'}|varying"
            unbalanced["specs"][key] = spec(ub, control, method, x, "varying", unbalanced=True)
            print("unbalanced", key, unbalanced["specs"][key]["simple"])
    (HERE / "cs_mpdta_unbalanced.json").write_text(json.dumps(unbalanced, indent=1) + "\n")


if __name__ == "__main__":
    main()
