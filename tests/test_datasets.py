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


def test_quarterly_outcomes_integrity_and_provenance() -> None:
    import hashlib

    from soteria_eval._paths import bundled_data_dir
    from soteria_eval.datasets import load_all_offences_outcomes

    f = bundled_data_dir() / DATASETS["all_offences_outcomes"].file
    # The bytes as published by the source project (CRLF line endings kept).
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    assert digest == "621e2982c6b230bb46222fdaf7ef9ca24c0365acaf10fe7af550b06664612d03"
    d = load_all_offences_outcomes()
    assert len(d) == 2112 and d["force"].nunique() == 44
    assert d.groupby("force").size().eq(48).all()
    # Column totals given with the source, as a transcription check.
    assert d["closed_all_t1"].sum() == 5_689_684
    assert d["closed_all_assigned"].sum() == 57_210_139
    first = d.iloc[0]
    assert (first["fy"], first["q"], first["period"]) == ("2014/15", 1, "2014-Q2")
    assert d.loc[(d["fy"] == "2019/20") & (d["q"] == 4), "period"].unique().tolist() == ["2020-Q1"]
    assert "Open Government Licence" in DATASETS["all_offences_outcomes"].notes


def test_quarterly_outcomes_quirks_are_flagged_not_dropped() -> None:
    from soteria_eval.datasets import load_all_offences_outcomes

    d = load_all_offences_outcomes()
    flags = d.attrs["flags"]
    assert len(d) == 2112  # nothing dropped

    def flagged(force: str, fy: str, q: int, check: str, column: str) -> bool:
        hit = flags[(flags["force"] == force) & (flags["fy"] == fy) & (flags["q"] == q)]
        return bool(((hit["check"] == check) & (hit["column"] == column)).any())

    # Greater Manchester's records-system change, 2019/20 Q2-Q4, on both bases.
    for q in (2, 3, 4):
        assert flagged("Greater Manchester", "2019/20", q, "coverage_gap", "closed_all_t1")
    assert not flagged("Greater Manchester", "2019/20", 1, "coverage_gap", "closed_all_t1")
    # Recorded basis not supplied: every quarter of 2014/15 for BTP, Cumbria, Leicestershire.
    for force in ("British Transport Police", "Cumbria", "Leicestershire"):
        for q in (1, 2, 3, 4):
            assert flagged(force, "2014/15", q, "not_supplied", "recorded_all_t1")
    assert flagged("Wiltshire", "2015/16", 1, "not_supplied", "recorded_all_assigned")
    # Implausibly low assigned outcomes in early 2014/15.
    assert flagged("Metropolitan Police", "2014/15", 1, "coverage_gap", "closed_all_assigned")
    # Leicestershire's published correction of -2 penalty notices.
    assert flagged("Leicestershire", "2014/15", 4, "negative_count", "closed_all_t6")
    assert (flags["check"] == "ex_fraud_above_all").sum() == 9
    assert set(flags.loc[flags["check"] == "ex_fraud_above_all", "severity"]) == {"info"}
    row = d[(d["force"] == "Greater Manchester") & (d["fy"] == "2019/20") & (d["q"] == 3)]
    assert "coverage_gap:closed_all_t1" in row["quality_flags"].iloc[0].split(";")
    clean = d[(d["force"] == "Avon and Somerset") & (d["fy"] == "2017/18")]
    assert clean["quality_flags"].eq("").all()


def test_quarterly_outcomes_refreshed_copy_is_validated(tmp_path: Path) -> None:
    import pytest

    from soteria_eval.data import DataValidationError
    from soteria_eval.datasets import load_all_offences_outcomes

    src = REPO / "data_dictionary" / "data" / "all_offences_outcomes_by_force_quarter.csv"
    lines = src.read_text(encoding="utf-8").splitlines()
    lines[5] = lines[5].replace("Avon and Somerset", "Avon and Somerest", 1)
    fields = lines[9].split(",")
    fields[3] = "5"
    lines[9] = ",".join(fields)
    bad = tmp_path / "quarters.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataValidationError) as exc:
        load_all_offences_outcomes(bad)
    text = str(exc.value)
    assert "quarters.csv" in text and "Avon and Somerest" in text and "row 6" in text
    assert "column 'q', row 10" in text
