"""Time and peak memory of reading a year of the Home Office outcomes tables as ODS.

A year of the published outcomes tables is about 40 MB of ODS (several hundred MB of XML
once unzipped). This benchmark writes a SYNTHETIC workbook of that size in the
publisher's layout (43 forces, 4 quarters, 1,150 offence codes, up to 26 outcome types per
code), then, in a fresh process, reads it with ``read_home_office`` and builds the rape
panel, and reports the wall time and the process's peak resident memory. Targets: under
60 s and 1 GB.

Run alone: ``python benchmarks/bench_home_office.py [n_codes]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

CHILD = """
import json, resource, sys, time
from soteria_eval.datasets.home_office import read_home_office, rape_force_quarter_panel
t0 = time.perf_counter()
data = read_home_office([sys.argv[1]])
panel, _ = rape_force_quarter_panel(data)
t1 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows_read": data.files[0].rows_read, "rows_kept": data.files[0].rows_kept,
                  "panel_rows": len(panel), "seconds": round(t1 - t0, 1),
                  "peak_mib": round(peak)}))
"""

WRITER = f"""
import sys
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from bench_home_office import write_workbook
print(write_workbook(Path(sys.argv[1]), int(sys.argv[2])))
"""


def write_workbook(path: Path, n_codes: int = 180, seed: int = 1) -> int:
    """Write a synthetic year of the outcomes tables; return its number of data rows."""
    import home_office_fixtures as fx

    rng = np.random.default_rng(seed)
    codes = ["19C", "19D", "19E", "19F", "19G", "19H", "17A"]
    codes += [f"{100 + i}X" for i in range(n_codes - len(codes))]
    for c in codes:
        fx.CODES.setdefault(c, ("Other offence", "Other crimes against society", "Other"))
    types = [str(t) for t in range(23)] + ["1a", "2a", "3a"]
    for t in types:
        fx.OUTCOMES.setdefault(t, f"Outcome {t}")
    rows = []
    for force in fx.FORCES:
        for q in (1, 2, 3, 4):
            for code in codes:
                present = rng.random(len(types)) < 0.45
                for t in np.array(types)[present]:
                    rows.append(["2022/23", q, force, code, str(t), int(rng.poisson(20)),
                                 int(rng.poisson(22))])  # fmt: skip
    fx.write_outcomes(path, rows, "a")
    return len(rows)


def main(n_codes: int = 180) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "outcomes_2022_23.ods"
        t0 = time.perf_counter()
        # Written by a separate process: a child inherits its parent's peak memory
        # (Linux keeps ru_maxrss across fork and exec), and the writer holds every row.
        n = int(subprocess.run(
            [sys.executable, "-c", WRITER, str(path), str(n_codes)],
            capture_output=True, text=True, check=True,
        ).stdout)  # fmt: skip
        size = path.stat().st_size / 2**20
        print(f"wrote {n:,} rows, {size:.1f} MB of ODS in {time.perf_counter() - t0:.0f} s")
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True
        )
        res = json.loads(out.stdout)
    res["ods_mb"] = round(size, 1)
    print(
        f"read {res['rows_read']:,} rows ({res['rows_kept']:,} sexual-offence rows kept) in "
        f"{res['seconds']} s, peak {res['peak_mib']} MiB (targets: 60 s, 1024 MiB)"
    )
    return res


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1150)
