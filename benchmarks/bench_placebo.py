"""Benchmark: a placebo study of 1,000 fake rollouts on the real quarterly panel.

Target (issue 29): at most 60 s on 2 cores for 1,000 draws. Timed as the command runs
it: ``soteria-eval placebo`` on the bundled Home Office file, log outcome-1 counts, both
rollout shapes (1,000 draws each: so 2,000 fake rollouts), 999 wild bootstrap and
randomization draws per rollout, two worker processes; and the one-shape study alone
(the issue's 1,000 draws). Each is the median of three runs in fresh processes.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from soteria_eval._paths import bundled_data_dir

BUDGET = 60.0


def _time(args: list[str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "soteria_eval.cli", "placebo", *args, "--out",
             str(Path(tmp) / "out"), "--quiet"],
            check=True, capture_output=True,
        )  # fmt: skip
        return time.perf_counter() - t0


def main(repeat: int = 3) -> list[dict[str, object]]:
    panel = str(bundled_data_dir() / "all_offences_outcomes_by_force_quarter.csv")
    common = ["--panel", panel, "--outcome", "closed_all_t1", "--draws", "1000", "--jobs", "2"]
    rows = []
    for label, extra in (
        ("placebo, 1,000 draws, 5 pathfinders", ["--rollouts", "pathfinders"]),
        ("placebo, 1,000 draws of each shape (2,000)", ["--rollouts", "both"]),
    ):
        runs = [_time(common + extra) for _ in range(repeat)]
        med = statistics.median(runs)
        print(f"{label}: {med:.1f} s (median of {repeat}; target {BUDGET:.0f} s on 2 cores)")
        rows.append({"task": label, "seconds": med, "runs": runs, "target_seconds": BUDGET})
    return rows


if __name__ == "__main__":
    main()
