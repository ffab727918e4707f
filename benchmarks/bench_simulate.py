"""Benchmark: generating the default data set and aggregating a million records.

Targets (issue 3): the default data set (about 600,000 cases) in 30 s or less; every panel
from 1,000,000 case records in 5 s or less with a peak under 2 GB, on the 2-core machine.
Peak memory is the process's resident high-water mark (``ru_maxrss``) measured in a fresh
subprocess per task, so one task's memory does not hide another's.
"""

from __future__ import annotations

import json
import subprocess
import sys

TASKS = {
    "simulate_default": "from soteria_eval.simulate import simulate_cases; c = simulate_cases()",
    "aggregate_1m": (
        "from soteria_eval.simulate import SimulationConfig, simulate_cases; "
        "from soteria_eval.panels import build_panels; "
        "c = simulate_cases(SimulationConfig(scale=1.0e6 / 607_000)); "
        "import time; t0 = time.perf_counter(); p = build_panels(c); T = time.perf_counter() - t0"
    ),
}


def run_task(code: str) -> dict[str, float]:
    script = (
        "import time, resource, json\n"
        "t0 = time.perf_counter()\n"
        f"{code}\n"
        "elapsed = globals().get('T', time.perf_counter() - t0)\n"
        "n = len(c)\n"
        "print(json.dumps({'seconds': elapsed, 'n_cases': n, "
        "'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> list[dict[str, object]]:
    rows = []
    for name, code in TASKS.items():
        best = None
        for _ in range(2):
            r = run_task(code)
            best = r if best is None or r["seconds"] < best["seconds"] else best
        rows.append({"task": name, **(best or {})})
    for r in rows:
        print(
            f"{r['task']:<18} {r['n_cases']:>10,.0f} cases  {r['seconds']:6.2f} s  peak {r['peak_mb']:7.0f} MB"
        )
    return rows


if __name__ == "__main__":
    main()
