"""Peak memory of validating and aggregating a large case-record file.

A national extract of several years has millions of rows. This benchmark writes a
5-million-row ``case_records.csv`` (the simulated default cases, repeated with new ids),
then, in a fresh process, validates the folder and builds the force-by-quarter panel,
and reports the process's peak resident memory. The target is below 2 GB.

With ``--run`` it also runs the default plan on that folder (``soteria-eval run``) and
reports the peak resident memory of the largest process of the run. The recovery study
is left out of that run: it simulates its own seeds and never reads the extract, so its
memory does not depend on the file (it is cached, and one seed's process stays near
0.5 GB at the default scale).

Run alone: ``python benchmarks/bench_memory.py [n_rows] [--run]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

CHILD = """
import json, resource, sys, time
from pathlib import Path
from soteria_eval.data import load_rollout
from soteria_eval.pipeline.inputs import InputData
t0 = time.perf_counter()
inputs = InputData(Path(sys.argv[1]), load_rollout())
inputs.validate_all()
t1 = time.perf_counter()
panel = inputs.panel("force", "quarter")
t2 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": len(inputs.cases()), "validate_s": round(t1 - t0, 1),
                  "aggregate_s": round(t2 - t1, 1), "peak_mb": round(peak)}))
"""


def make_big(folder: Path, n_rows: int) -> Path:
    """Write ``n_rows`` case records (copies of the default cases with new ids) as CSV."""
    from soteria_eval.simulate.output import default_data

    base = pd.read_parquet(default_data() / "case_records.parquet")
    path = folder / "case_records.csv"
    written, copy = 0, 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        while written < n_rows:
            part = base.iloc[: n_rows - written].copy()
            part["case_id"] = part["case_id"] + f"-{copy}"
            part.to_csv(fh, index=False, header=copy == 0, date_format="%Y-%m-%d")
            written += len(part)
            copy += 1
    (folder / "metadata.json").write_text(json.dumps({"extract_date": "2025-12-31"}))
    return path


RUN_CHILD = """
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"exit": done.returncode, "run_s": round(time.perf_counter() - t0, 1),
                  "run_peak_mb": round(peak), "stderr_tail": done.stderr[-400:]}))
"""


def _plan_ids() -> list[str]:
    from soteria_eval._paths import default_plan
    from soteria_eval.pipeline.plan import load_plan

    return [a.id for a in load_plan(default_plan()).analyses]


def run(n_rows: int = 5_000_000, full_run: bool = False) -> dict[str, object]:
    """Return rows, file size, seconds and peak memory (MB) of validating ``n_rows`` cases.

    With ``full_run`` also the seconds and peak memory of ``soteria-eval run`` on them
    (every planned analysis but the recovery study), measured in a process of its own.
    """
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "data"
        folder.mkdir()
        t0 = time.perf_counter()
        # Written by a process of its own: a child inherits its parent's peak memory (Linux
        # keeps ru_maxrss across fork and exec), and the writer holds every record.
        maker = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); "
                 f"from pathlib import Path; from bench_memory import make_big; "
                 f"print(make_big(Path({str(folder)!r}), {n_rows}))")  # fmt: skip
        made = subprocess.run([sys.executable, "-c", maker], capture_output=True, text=True,
                              check=True)  # fmt: skip
        path = Path(made.stdout.strip().splitlines()[-1])
        size_mb = path.stat().st_size / 1e6
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(folder)], capture_output=True, text=True, check=True
        )
        res: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
        res["file_mb"] = round(size_mb)
        res["write_s"] = round(time.perf_counter() - t0, 1)
        if full_run:
            only = [f"--only={i}" for i in _plan_ids() if i != "recovery"]
            cmd = [sys.executable, "-m", "soteria_eval.cli", "run", "--data", str(folder),
                   "--out", str(Path(tmp) / "out"), "--quiet", *only]  # fmt: skip
            done = subprocess.run(
                [sys.executable, "-c", RUN_CHILD, *cmd], capture_output=True, text=True, check=True
            )
            res.update(json.loads(done.stdout.strip().splitlines()[-1]))
        return res


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--run"]
    print(run(int(args[0]) if args else 5_000_000, full_run="--run" in sys.argv))
