"""Benchmark: the whole default evaluation run, then the book built from it (45 s each).

Runs ``soteria-eval run`` on the embedded default data in a fresh process (the cached
data set is generated first if missing, and timed separately) and reports the wall time
and the peak resident memory of the run; then times ``soteria-eval book`` on its results.
The run reads the recovery and coverage studies from their caches when the studied code
has not changed (the first run after a change makes them, which takes minutes).
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
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as site:
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
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "soteria_eval.cli", "book", "--results", tmp, "--out", site],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        book = time.perf_counter() - t0
    row = {"default_data_seconds": prepare, "run_seconds": seconds, "peak_mb": peak,
           "book_seconds": book}  # fmt: skip
    print(f"default run: {seconds:.1f} s (data ready in {prepare:.1f} s), peak {peak:.0f} MB")
    print(f"book build: {book:.1f} s")
    print("  steps:", ", ".join(f"{k} {v:.1f}s" for k, v in sorted(timings.items())))
    return row


if __name__ == "__main__":
    main()
