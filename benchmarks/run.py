"""Benchmarks: time and peak memory, with peer packages side by side where installed.

Run with ``make bench`` (installs the ``bench`` extra). Results print as a table and are
written to ``benchmarks/out/results.json``. Timings are the best of several repeats.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from soteria_eval.data import validate_file
from soteria_eval.did import twfe
from soteria_eval.linear_model import FewClustersWarning

OUT = Path(__file__).with_name("out")
sys.path.insert(0, str(Path(__file__).parent))
import bench_cs  # noqa: E402
import bench_home_office  # noqa: E402
import bench_its  # noqa: E402
import bench_memory  # noqa: E402
import bench_pipeline  # noqa: E402
import bench_placebo  # noqa: E402
import bench_power  # noqa: E402
import bench_recovery  # noqa: E402
import bench_simulate  # noqa: E402
import bench_wild  # noqa: E402


def measure(fn: Callable[[], Any], repeat: int = 5) -> dict[str, float]:
    """Best wall time over ``repeat`` runs and peak traced memory of one run."""
    fn()  # warm up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"seconds": min(times), "peak_mb": peak / 2**20}


def panel(n_units: int = 43, n_periods: int = 40, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n_units), n_periods),
            "time": np.tile(np.arange(n_periods), n_units),
        }
    )
    d["D"] = ((d["unit"] < 5) & (d["time"] >= n_periods // 2)).astype(float)
    d["y"] = 0.3 * d["D"] + rng.normal(size=n_units)[d["unit"]] + rng.normal(size=len(d))
    return d


def bench_twfe() -> list[dict[str, Any]]:
    d = panel()
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewClustersWarning)
        for vcov in ("CR1", "CR2"):
            r = measure(
                lambda v=vcov: twfe(d, outcome="y", treatment="D", unit="unit", time="time", vcov=v)
            )
            rows.append(
                {"task": f"TWFE {vcov}, 43 units x 40 periods", "package": "soteria-eval", **r}
            )
    try:
        import pyfixest as pf

        r = measure(lambda: pf.feols("y ~ D | unit + time", data=d, vcov={"CRV1": "unit"}).tidy())
        rows.append(
            {
                "task": "TWFE CR1, 43 units x 40 periods",
                "package": f"pyfixest {pf.__version__}",
                **r,
            }
        )
    except ImportError:
        rows.append(
            {
                "task": "TWFE CR1, 43 units x 40 periods",
                "package": "pyfixest (not installed)",
                "seconds": float("nan"),
                "peak_mb": float("nan"),
            }
        )
    return rows


def bench_validate(tmp: Path) -> list[dict[str, Any]]:
    from soteria_eval.geography import load_geography
    from soteria_eval.periods import period_range

    forces = load_geography().forces
    months = period_range("2016-01", "2025-12", "month")
    measures = ["charges", "police_charge_rate"]
    n = len(forces) * len(months) * len(measures)
    idx = pd.MultiIndex.from_product(
        [forces, months, measures], names=["unit", "period", "measure"]
    ).to_frame(index=False)
    rng = np.random.default_rng(2)
    den = rng.integers(50, 500, n).astype(float)
    num = np.floor(den * rng.uniform(0, 0.1, n))
    is_count = idx["measure"].eq("charges").to_numpy()
    p = idx.assign(
        level="force",
        value=np.where(is_count, num, num / den),
        numerator=num,
        denominator=np.where(is_count, np.nan, den),
    )
    path = tmp / "panel.csv"
    p[["level", "unit", "period", "measure", "value", "numerator", "denominator"]].to_csv(
        path, index=False
    )
    r = measure(lambda: validate_file(path, "panel"), repeat=3)
    return [
        {"task": f"validate a {n:,}-row force x month panel (CSV)", "package": "soteria-eval", **r}
    ]


def _seconds(rows: list[dict[str, Any]], **match: str) -> float:
    """Seconds of the first row whose fields start with the given values (NaN: none)."""
    for r in rows:
        if all(str(r.get(k, "")).startswith(v) for k, v in match.items()):
            return float(r["seconds"])
    return float("nan")


def ratios(
    twfe_rows: list[dict[str, Any]],
    cs: list[dict[str, Any]],
    its: list[dict[str, Any]],
    run: dict[str, float],
    recovery: list[dict[str, Any]],
    placebo: list[dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """Every speed target of issue 17 as a ratio: ours over the peer (or over the budget).

    A ratio at or under its target meets it; NaN means the peer is not installed (install
    the ``bench`` extra) or failed.
    """
    its_task = its[0]["task"] if its else ""
    pairs = [
        ("Callaway–Sant'Anna + 999 draws, mpdta (median of 20)",
         _seconds(cs, data="mpdta", package="soteria-eval"),
         _seconds(cs, data="mpdta", package=bench_cs.RATIO_PEER), bench_cs.RATIO_PEER, 0.5),
        ("Callaway–Sant'Anna + 999 draws, 10,000 units (median of 20)",
         _seconds(cs, data="10,000", package="soteria-eval"),
         _seconds(cs, data="10,000", package=bench_cs.RATIO_PEER), bench_cs.RATIO_PEER, 0.5),
        (f"batched ITS, {its_task.split(', ', 1)[-1]}",
         _seconds(its, package="soteria-eval (multi_unit_its"),
         _seconds(its, package="statsmodels"), "statsmodels loop", 0.5),
        ("TWFE CR1, 43 units x 40 periods",
         _seconds(twfe_rows, task="TWFE CR1", package="soteria-eval"),
         _seconds(twfe_rows, task="TWFE CR1", package="pyfixest "), "pyfixest", 0.5),
        ("default soteria-eval run, against a 45 s budget",
         float(run["run_seconds"]), 45.0, "45 s", 1.0),
        ("soteria-eval book on that run, against a 45 s budget",
         float(run["book_seconds"]), 45.0, "45 s", 1.0),
        *[(f"one recovery-study seed, {r['world']} world, without its size world (median of 5), "
           "against 3 s", float(r["without_size"]), 3.0, "3 s", 1.0) for r in recovery],
        *[(f"{p['task']}, 2 workers (median of 3), against 60 s", float(p["seconds"]),
           bench_placebo.BUDGET, "60 s", 1.0) for p in placebo or []],
    ]  # fmt: skip
    out = pd.DataFrame(pairs, columns=["task", "ours_s", "peer_s", "against", "target"])
    out["ratio"] = out["ours_s"] / out["peer_s"]
    out["met"] = np.where(out["ratio"].notna(), out["ratio"] <= out["target"], None)
    return out


def main() -> None:
    import tempfile

    OUT.mkdir(exist_ok=True)
    rows = bench_twfe()
    with tempfile.TemporaryDirectory() as tmp:
        rows += bench_validate(Path(tmp))
    table = pd.DataFrame(rows)
    sim = bench_simulate.main()
    run = bench_pipeline.main()
    wild = bench_wild.main()
    cs = bench_cs.main()
    its = bench_its.main()
    power = bench_power.main()
    recovery = bench_recovery.main()
    placebo = bench_placebo.main()
    memory = bench_memory.run()
    print(f"5-million-row case file: {memory}")
    home_office = bench_home_office.main(1150)  # about 41 MB of ODS: the 40 MB
    print(f"python {platform.python_version()} on {platform.machine()}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    ratio_table = ratios(rows, cs, its, run, recovery, placebo)
    print(f"\nSpeed ratios ({time.strftime('%Y-%m-%d')}, {platform.machine()}, "
          f"{os.cpu_count()} cores): ours / peer, target at or under")  # fmt: skip
    print(ratio_table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    (OUT / "results.json").write_text(
        json.dumps(
            {
                "estimators": rows,
                "simulation": sim,
                "pipeline": run,
                "wild_bootstrap": wild,
                "callaway_santanna": cs,
                "interrupted_time_series": its,
                "power": power,
                "recovery": recovery,
                "placebo": placebo,
                "case_file_memory": memory,
                "home_office_ods": home_office,
                "ratios": ratio_table.to_dict(orient="records"),
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
