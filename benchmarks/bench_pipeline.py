"""Benchmark: the whole default evaluation run, book excluded (target: 2 minutes or less).

Runs ``soteria-eval run`` on the embedded default data in a fresh process (the cached
data set is generated first if missing, and timed separately) and reports the wall time
and the peak resident memory of the run.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> dict[str, float]:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "from soteria_eval.simulate import default_data; default_data()"],
        check=True,
    )
    prepare = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "soteria_eval.cli",
                "run",
                "--out",
                tmp,
                "--quiet",
                "--plan",
                str(REPO / "analyses" / "plan.yaml"),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - t0
        timings = json.loads((Path(tmp) / "manifest.json").read_text())["timings_seconds"]
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    row = {"default_data_seconds": prepare, "run_seconds": seconds, "peak_mb": peak}
    print(f"default run: {seconds:.1f} s (data ready in {prepare:.1f} s), peak {peak:.0f} MB")
    print("  steps:", ", ".join(f"{k} {v:.1f}s" for k, v in sorted(timings.items())))
    return row


if __name__ == "__main__":
    main()
