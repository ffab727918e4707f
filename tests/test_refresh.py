"""Refreshing the data: a folder with a subset of inputs, a refreshed outcomes file, the manifest."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from soteria_eval._io import sha256_file
from soteria_eval._paths import bundled_data_dir, default_plan
from soteria_eval.cli import main
from soteria_eval.datasets import load_sexual_offences_outcomes, outcomes_quality_flags
from soteria_eval.pipeline.inputs import OUTCOMES_FILE
from tests.conftest import REPO

BUNDLED = bundled_data_dir() / OUTCOMES_FILE


def refreshed_folder(tmp: Path, part_years: list[str] | None = None) -> Path:
    """The bundled outcomes file with one value changed and a new year, FY2026/27, added."""
    d = tmp / "refresh"
    d.mkdir()
    data = pd.read_csv(BUNDLED)
    row = (data["force"] == "South Wales") & (data["fy"] == "2019/20")
    data.loc[row, "closed_charge"] = data.loc[row, "closed_charge"] * 2 // 3
    new = data[data["fy"] == "2024/25"].assign(fy="2026/27")
    pd.concat([data, new]).to_csv(d / OUTCOMES_FILE, index=False)
    if part_years is not None:
        (d / "metadata.json").write_text(json.dumps({"part_years": part_years}))
    return d


def run_cli(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, list(args))
    return res.exit_code, res.output


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> tuple[Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("refresh")
    data = refreshed_folder(tmp, part_years=["2025/26"])
    here = os.getcwd()
    os.chdir(tmp)  # a relative --data, as a user types it
    try:
        code, out = run_cli(
            "run", "--data", data.name, "--out", str(tmp / "new"), "--quiet",
            "--only", "published_outcomes", "--only", "volume",
        )  # fmt: skip
    finally:
        os.chdir(here)
    assert code == 0, out
    # A folder without an outcomes file: the bundled one is read (the run to compare with).
    code, out = run_cli(
        "run", "--data", str(tiny_data), "--out", str(tmp / "old"), "--quiet",
        "--only", "published_outcomes",
    )  # fmt: skip
    assert code == 0, out
    return data, tmp / "new", tmp / "old"


def test_a_refreshed_outcomes_file_alone_is_a_valid_data_folder(
    runs: tuple[Path, Path, Path],
) -> None:
    data, _, _ = runs
    code, out = run_cli("validate", str(data))
    assert code == 0, out
    assert f"{OUTCOMES_FILE}: OK (sexual_offences_outcomes, 572 rows)" in out


def test_the_refreshed_file_is_used_and_changes_the_estimate(
    runs: tuple[Path, Path, Path],
) -> None:
    _, new, old = runs
    a = pd.read_csv(new / "results.csv").query(
        "analysis == 'published_outcomes' and design == 'twfe' and term == 'treated_f'"
    )
    b = pd.read_csv(old / "results.csv").query("design == 'twfe' and term == 'treated_f'")
    assert len(a) == len(b) > 0
    assert not np.allclose(a["estimate"].to_numpy(), b["estimate"].to_numpy())
    assert a["note"].str.contains("data to 2026/27, refreshed file").all()
    assert b["note"].str.contains("data to 2024/25, bundled file").all()
    # The new year enters the trend table; the estimates still end before the national model.
    table = pd.read_csv(new / "tables" / "published_charges_by_group.csv")
    assert table["period"].iloc[-1] == "2026/27" and "2025/26" not in set(table["period"])
    assert a["note"].str.contains("years 2014/15 to 2022/23").all()
    manifest = json.loads((old / "manifest.json").read_text())
    assert [
        (i["source"], Path(i["path"]).name)
        for i in manifest["inputs"]
        if i["role"] == "published_outcomes"
    ] == [("bundled", OUTCOMES_FILE)]


def test_the_manifest_names_the_file_read_by_role_and_hash(runs: tuple[Path, Path, Path]) -> None:
    data, new, _ = runs
    manifest = json.loads((new / "manifest.json").read_text())
    outcomes = [i for i in manifest["inputs"] if i["role"] == "published_outcomes"]
    assert outcomes == [
        {
            "role": "published_outcomes",
            "source": "user",
            "path": str((data / OUTCOMES_FILE).resolve()),
            "sha256": sha256_file(data / OUTCOMES_FILE),
        }
    ]
    assert sha256_file(data / OUTCOMES_FILE) != sha256_file(BUNDLED)
    assert manifest["data"] == str(data.resolve())  # absolute, whatever was typed
    assert manifest["plan_source"] == "packaged default"
    assert manifest["plan"] == str(default_plan())


def test_an_analysis_without_its_input_is_skipped_with_a_row_naming_it(
    runs: tuple[Path, Path, Path],
) -> None:
    _, new, _ = runs
    res = pd.read_csv(new / "results.csv")
    vol = res[res["analysis"] == "volume"]
    assert len(vol) == 1 and vol["status"].iloc[0] == "skipped"
    assert "has no case records" in vol["note"].iloc[0]
    manifest = json.loads((new / "manifest.json").read_text())
    assert manifest["skipped"] == ["volume"] and manifest["failed"] == []


def test_quality_flags_take_several_part_years() -> None:
    data = load_sexual_offences_outcomes(with_flags=False)
    both = outcomes_quality_flags(data, part_years=["2024/25", "2025/26"])
    parts = both.loc[both["check"] == "part_year", "fy"]
    assert set(parts) == {"2024/25", "2025/26"}
    # part years are left out of the medians and of the checks
    assert not both[
        (both["check"] != "part_year")
        & both["fy"].isin(["2024/25", "2025/26"])
        & (both["column"] == "closed_charge")
    ].shape[0]
    assert (outcomes_quality_flags(data, part_years="2025/26")
            .equals(outcomes_quality_flags(data)))  # fmt: skip


def test_a_refreshed_file_without_part_years_has_none(tmp_path: Path) -> None:
    d = refreshed_folder(tmp_path)
    frame = load_sexual_offences_outcomes(d / OUTCOMES_FILE)
    assert frame.attrs["part_years"] == ()
    assert frame.attrs["source"] == str(d / OUTCOMES_FILE)


def test_part_years_in_metadata_must_be_financial_years(tmp_path: Path) -> None:
    d = refreshed_folder(tmp_path)
    (d / "metadata.json").write_text(json.dumps({"part_years": ["2026-27"]}))
    code, out = run_cli("validate", str(d))
    assert code == 2 and "part_years" in out and "2026-27" in out


def test_validate_accepts_the_folder_simulate_wrote(small_data: Path) -> None:
    for args in ([str(small_data)], sorted(str(p) for p in small_data.iterdir())):
        code, out = run_cli("validate", *args)
        assert code == 0, out
        for name in ("SYNTHETIC.txt", "calibration.csv", "truth.csv"):
            assert f"{name}: not used by a run" in out
        assert "metadata.json: OK (metadata" in out
        assert "case_records.parquet: OK (case_records" in out


def test_validate_checks_metadata_as_json_and_names_a_missing_path(tmp_path: Path) -> None:
    d = refreshed_folder(tmp_path)
    (d / "metadata.json").write_text('{"synthetic": "yes"}')
    code, out = run_cli("validate", str(d), str(tmp_path / "nosuch.csv"))
    assert code == 2
    assert "[metadata] must be true or false" in out and "nosuch.csv: no such file or folder" in out


def _published_script():  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "published_outcomes_script", REPO / "analyses" / "published_outcomes.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("factor", [0.05, 20.0])
def test_no_exclusion_flag_uses_post_programme_outcomes(factor: float) -> None:
    """Multiplying every force's charges from 2021/22 on leaves the exclusions unchanged."""
    script = _published_script()
    data = load_sexual_offences_outcomes(with_flags=False)
    flags = script.exclusion_flags(data)
    assert len(flags) and (flags["fy"].map(lambda y: int(y[:4])) < 2021).all()
    shocked = data.copy()
    post = shocked["fy"].map(lambda y: int(y[:4])) >= 2021
    shocked.loc[post, "closed_charge"] = (shocked.loc[post, "closed_charge"] * factor).round()
    again = script.exclusion_flags(shocked)
    assert again.reset_index(drop=True).equals(flags.reset_index(drop=True))
