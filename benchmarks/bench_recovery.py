"""Benchmark: one seed of the recovery study, stage by stage, on one core.

Target (issues 12 and 29): one seed — simulate, aggregate, estimate every design — in at
most 3 s on one core at the default scale, in the ``ideal`` world and in the
``calibrated`` world (force trends and shocks; the world the verdicts come from). The stages are timed separately: the coupled
simulation (both worlds from one set of draws), aggregation of both worlds, the truth,
the designs on the world with effects, and the designs on the world without them (the
size column).

A study's worker runs seed after seed in one process, so the per-seed cost is measured
there: one process with one BLAS thread runs a full-size seed first (its first large
arrays cost page faults that later seeds reuse; that first seed is reported as "cold"),
then seeds 1 to 5, and the median over them of each stage is the per-seed time.
"""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json, statistics, sys, time
from threadpoolctl import threadpool_limits
from soteria_eval.validation import RecoverySettings, run_seed
rows = []
with threadpool_limits(limits=1):
    for seed in (99, 1, 2, 3, 4, 5):
        tm = {}
        t0 = time.perf_counter()
        run_seed(seed, RecoverySettings(world=sys.argv[1]), timings=tm)
        tm["total"] = time.perf_counter() - t0
        tm["without_size"] = tm["total"] - tm.get("estimate_null", 0.0)
        rows.append(tm)
cold, warm = rows[0], rows[1:]
median = {k: statistics.median(r[k] for r in warm) for k in warm[0]}
print(json.dumps({"cold": cold, "median": median}))
"""


def main() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for world in ("ideal", "calibrated"):
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT, world], capture_output=True, text=True, check=True
        )
        res = json.loads(out.stdout.strip().splitlines()[-1])
        med, cold = res["median"], res["cold"]
        for k, v in med.items():
            print(f"recovery seed, {world} world (median of 5): {k:<14} {v:6.2f} s")
        print(
            f"first seed of a process (cold): {cold['without_size']:.2f} s without the size world"
        )
        print(
            f"recovery seed, {world} world, without the size world: "
            f"{med['without_size']:.2f} s (target 3 s)"
        )
        rows.append(
            {
                "task": f"recovery_seed ({world})",
                "world": world,
                **med,
                "cold_without_size": cold["without_size"],
                "target_seconds": 3.0,
            }
        )
    return rows


if __name__ == "__main__":
    main()
