"""Make Sun–Abraham and imputation (Borusyak–Jaravel–Spiess) fixtures with ``diff-diff``.

R ``fixest::sunab`` and ``didimputation`` are not installable here; ``diff-diff`` (a
bench-extra peer) implements both. On ``tests/reference/data/mpdta.csv`` (never-treated
controls, standard errors clustered by county) this writes every event-time estimate, the
overall ATT, and their standard errors to ``tests/reference/sa_bjs_mpdta.json``. Run in an
environment with the ``bench`` extra:

    python tests/reference/make_sa_bjs_fixtures.py
"""

from __future__ import annotations

import json
import warnings
from importlib import metadata
from pathlib import Path

import pandas as pd

HERE = Path(__file__).parent


def main() -> None:
    from diff_diff import ImputationDiD, SunAbraham

    d = pd.read_csv(HERE / "data" / "mpdta.csv")
    kw = dict(outcome="lemp", unit="countyreal", time="year", first_treat="first.treat")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sa = SunAbraham(cluster="countyreal").fit(d, **kw)
        im = ImputationDiD(cluster="countyreal").fit(d, aggregate="event_study", **kw)

    def events(effects: dict) -> dict:  # type: ignore[type-arg]
        return {
            f"event {int(e):+d}": {"estimate": float(v["effect"]), "se": float(v["se"])}
            for e, v in effects.items()
            if v.get("n_obs", 1) != 0
        }

    out = {
        "diff_diff": metadata.version("diff-diff"),
        "sun_abraham": {
            "events": events(sa.event_study_effects),
            "overall": {"estimate": float(sa.overall_att), "se": float(sa.overall_se)},
        },
        "imputation": {
            "events": events(im.event_study_effects),
            "overall": {"estimate": float(im.overall_att), "se": float(im.overall_se)},
        },
    }
    (HERE / "sa_bjs_mpdta.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
