from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from soteria_eval.cli import main
from soteria_eval.datasets import (
    DATASETS,
    load_cps_area_force,
    load_moj_rape_timeliness,
    load_sexual_offences_outcomes,
    outcomes_quality_flags,
)
from tests.conftest import REPO


def test_cli_validates_every_bundled_dataset() -> None:
    files = sorted((REPO / "data_dictionary" / "data").glob("*.csv"))
    files += sorted((REPO / "data_dictionary" / "examples").glob("*.csv"))
    assert len(files) >= 6
    result = CliRunner().invoke(main, ["validate", *map(str, files)])
    assert result.exit_code == 0, result.output
    assert result.output.count(": OK") == len(files)


def test_outcomes_integrity_totals() -> None:
    d = load_sexual_offences_outcomes()
    assert len(d) == 528 and d["force"].nunique() == 44
    # Column totals given with the source, as a transcription check.
    assert d["closed_oocd"].sum() == 25_168
    assert d["closed_charge"].sum() == 184_353
    assert d["recorded_oocd"].sum() == 24_443
    assert d["recorded_charge"].sum() == 169_185
    assert d.attrs["provenance"] is DATASETS["sexual_offences_outcomes"]


def test_known_quirks_are_flagged_not_dropped() -> None:
    d = load_sexual_offences_outcomes()
    assert len(d) == 528  # nothing dropped
    flag = d.set_index(["force", "fy"])["quality_flags"]
    assert "coverage_gap" in flag[("Greater Manchester", "2019/20")]
    for force in ("Cumbria", "Leicestershire", "British Transport Police"):
        assert "zero_as_missing" in flag[(force, "2014/15")]
    for key in (
        ("Metropolitan Police", "2014/15"),
        ("Dyfed-Powys", "2014/15"),
        ("Wiltshire", "2015/16"),
    ):
        assert "partial_recorded" in flag[key]
    ny = [flag[("North Yorkshire", fy)] for fy in ("2017/18", "2018/19", "2019/20", "2020/21")]
    assert all(ny)
    # Most rows are clean: the checks are specific.
    assert (flag == "").mean() > 0.9
    flags = outcomes_quality_flags(d)
    assert (flags.loc[flags["check"] == "part_year", "fy"] == "2025/26").all()


def test_other_bundled_tables() -> None:
    moj = load_moj_rape_timeliness()
    assert moj["year"].tolist() == list(range(2011, 2019))
    # MoJ 2018: 2,358 rape defendants, median 394.5 days offence to charge (domain brief).
    row = moj.set_index("year").loc[2018]
    assert row["defendants"] == 2358 and row["median_offence_to_charge_days"] == 394.5
    assert len(load_cps_area_force()) == 43


def test_repo_data_dictionary_files_exist() -> None:
    assert (REPO / "data_dictionary" / "datapackage.json").exists()
    assert isinstance(REPO, Path)
