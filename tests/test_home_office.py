"""Readers of the Home Office's outcomes and recorded-crime files, and `ingest home-office`.

The files are SYNTHETIC fixtures in the publisher's layout (tests/home_office_fixtures.py):
cover sheets, rows above the header, header variants, force aliases, type 0 and 1a rows,
British Transport Police, a fraud body and a negative count.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from soteria_eval.cli import main
from soteria_eval.data import DataValidationError, load_panel
from soteria_eval.datasets.home_office import (
    MEASURES,
    calendar_quarter,
    financial_year,
    force_name,
    rape_force_quarter_panel,
    read_home_office,
    sexual_offences_by_force_fy,
)
from soteria_eval.datasets.workbooks import iter_sheets
from tests import home_office_fixtures as fx

FORMATS = ("ods", "xlsx", "csv")


@pytest.fixture(scope="module")
def fixture_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """The same rows as ODS (header variant a), XLSX (variant b) and CSV (variant a/b)."""
    d = tmp_path_factory.mktemp("ho")
    out, rec = fx.make_rows()
    files = {}
    for ext, vo, vr in (("ods", "a", "b"), ("xlsx", "b", "a"), ("csv", "a", "a")):
        files[ext] = (
            fx.write_outcomes(d / f"outcomes.{ext}", out, vo),
            fx.write_recorded(d / f"recorded.{ext}", rec, vr),
        )
    return files


def _expected(rows: list[list[object]]) -> pd.DataFrame:
    """The rape panel's counts computed directly from the logical rows (an independent sum)."""
    f = pd.DataFrame(rows, columns=["fy", "q", "force", "code", "type", "rec", "closed"])
    f["force"] = f["force"].map(force_name)
    f = f[f["code"].isin(["19C", "19F"]) & f["force"].isin(fx.FORCES)]
    f["period"] = [calendar_quarter(y, q) for y, q in zip(f["fy"], f["q"], strict=True)]
    t = f["type"].astype(str)
    assigned = (
        f[t.isin([str(k) for k in range(1, 23)])].groupby(["force", "period"])["closed"].sum()
    )
    charged = f[t == "1"].groupby(["force", "period"])["closed"].sum()
    return pd.DataFrame({"assigned": assigned, "charged": charged}).fillna(0)


def test_three_formats_give_identical_panels(fixture_files) -> None:
    panels = {
        ext: rape_force_quarter_panel(read_home_office(list(paths)))[0]
        for ext, paths in fixture_files.items()
    }
    pd.testing.assert_frame_equal(panels["ods"], panels["xlsx"])
    pd.testing.assert_frame_equal(panels["ods"], panels["csv"])
    assert set(panels["ods"]["measure"]) == set(MEASURES)


def test_panel_counts_follow_the_counting_rules(fixture_files) -> None:
    """Type 0 and 1a are not outcomes; the closed basis; rape codes only; BTP and fraud out."""
    out, _ = fx.make_rows()
    want = _expected(out)
    panel, report = rape_force_quarter_panel(read_home_office(list(fixture_files["ods"])))
    wide = panel.pivot_table(index=["unit", "period"], columns="measure", values="numerator")
    got = wide[["ho_rape_outcomes_assigned", "ho_rape_charged"]].set_axis(
        ["assigned", "charged"], axis=1
    )
    got.index = got.index.set_names(["force", "period"])
    pd.testing.assert_frame_equal(
        got.sort_index().astype(float), want.reindex(got.index).sort_index().astype(float)
    )
    rate = panel[panel["measure"] == "ho_rape_charge_rate"]
    np.testing.assert_allclose(
        rate["value"], rate["numerator"] / rate["denominator"], rtol=0, atol=1e-6
    )
    assert not panel["unit"].isin(["British Transport Police", "Action Fraud"]).any()
    assert report["left_out_rows"]["British Transport Police (not a territorial force)"] == 3


def test_exclusions_and_negative_counts_are_reported(fixture_files) -> None:
    data = read_home_office(list(fixture_files["xlsx"]))
    out, _ = fx.make_rows()
    sexual = [r for r in out if r[3] != "8N" and r[2] != "Action Fraud"]  # the rows kept
    n0 = sum(1 for r in sexual if r[4] == "0")
    n1a = sum(1 for r in sexual if r[4] == "1a")
    ex = data.excluded
    assert ex["outcome type 0 (not yet assigned an outcome)"]["rows"] == n0
    assert ex["outcome types 1a, 2a, 3a (subsets of 1, 2, 3)"]["rows"] == n1a
    assert ex["central fraud bodies (not police forces)"]["rows"] == 1  # the rape-code row
    assert len(data.negative) == 1
    neg = data.negative[0]
    assert neg["value"] == -1 and neg["force"] == "Avon and Somerset"
    assert "sheet 'Outcomes'" in neg["file"] and neg["column"] == "M" and neg["row"] > 4
    assert data.synthetic  # the cover sheet says so
    f = data.files[0]
    assert f.sheets_read == ["Outcomes"] and f.sheets_skipped == ["Cover"]


def test_financial_year_cross_check_reproduces_the_bundled_layout(fixture_files) -> None:
    """Summing the sexual-offence codes per year gives the bundled file's columns and totals."""
    from soteria_eval.datasets import load_sexual_offences_outcomes

    data = read_home_office(list(fixture_files["csv"]))
    fy = sexual_offences_by_force_fy(data)
    bundled = load_sexual_offences_outcomes()
    assert list(fy.columns) == [c for c in bundled.columns if c in fy.columns]
    assert set(bundled.columns) >= set(fy.columns)
    out, _ = fx.make_rows()
    f = pd.DataFrame(out, columns=["fy", "q", "force", "code", "type", "rec", "closed"])
    f = f[f["code"].isin(["19C", "19F", "17A"]) & (f["force"] != "Action Fraud")]
    f["force"] = f["force"].map(force_name)
    for (force, year), row in fy.set_index(["force", "fy"]).iterrows():
        g = f[(f["force"] == force) & (f["fy"] == year)]
        assert row["closed_charge"] == g.loc[g["type"] == "1", "closed"].sum()
        oocd = g["type"].isin(["2", "3", "6", "7", "8", "22"])
        assert row["recorded_oocd"] == g.loc[oocd, "rec"].sum()
    assert "British Transport Police" in set(fy["force"])


def test_unknown_force_is_a_located_error(tmp_path: Path) -> None:
    out, _rec = fx.make_rows(forces=("Durham", "Kent"))
    out.append(["2020/21", 2, "Gotham Constabulary", "19C", "1", 1, 1])
    path = fx.write_outcomes(tmp_path / "outcomes.ods", out, "a")
    with pytest.raises(DataValidationError) as err:
        read_home_office([path])
    (issue,) = err.value.issues
    assert issue.rule == "unknown-force" and issue.column == "C"
    assert "Gotham Constabulary" in issue.message and "sheet 'Outcomes'" in issue.file
    assert issue.rows == (len(out) + 4,)  # 3 preamble rows + header, then the rows in order


@pytest.mark.parametrize(
    ("header", "rule"),
    [("Force outcomes for offences recorded in quarter (revised)", "unknown-header"),
     (None, "missing-header")],
)  # fmt: skip
def test_unknown_or_missing_header_is_a_located_error(tmp_path: Path, header, rule) -> None:
    out, _ = fx.make_rows(forces=("Durham",))
    saved = list(fx.OUTCOME_HEADERS["a"])
    try:
        if header is None:
            fx.OUTCOME_HEADERS["a"][-1] = ""  # no closed-basis count
        else:
            fx.OUTCOME_HEADERS["a"][-2] = header
        path = fx.write_outcomes(tmp_path / "outcomes.xlsx", out, "a")
    finally:
        fx.OUTCOME_HEADERS["a"] = saved
    with pytest.raises(DataValidationError) as err:
        read_home_office([path])
    issue = err.value.issues[0]
    assert issue.rule == rule and issue.rows == (4,)
    if header is not None:
        assert issue.column == "K" and "revised" in issue.message


def test_bad_values_are_located_not_dropped(tmp_path: Path) -> None:
    out, _ = fx.make_rows(forces=("Durham",), quirks=False)
    out[3] = [*out[3][:4], "23", *out[3][5:]]  # no outcome type 23
    out[5] = ["2020-2022", *out[5][1:]]  # not a financial year
    path = fx.write_outcomes(tmp_path / "outcomes.csv", out, "a")
    with pytest.raises(DataValidationError) as err:
        read_home_office([path])
    rules = {(i.rule, i.rows) for i in err.value.issues}
    # CSV: the notice, a blank line, the header; row 4 is the first data row
    assert rules == {("outcome-type", (4 + 3,)), ("period", (4 + 5,))}


def test_a_period_in_two_files_is_refused(fixture_files, tmp_path: Path) -> None:
    out, _ = fx.make_rows()
    again = fx.write_outcomes(tmp_path / "outcomes_update.csv", out, "b")
    with pytest.raises(DataValidationError) as err:
        read_home_office([fixture_files["ods"][0], again])
    assert err.value.issues[0].rule == "overlap"


def test_a_file_with_no_data_sheet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text("Notes\nThese tables are published quarterly\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match="no sheet has a header row"):
        read_home_office([path])


def test_ods_reader_handles_repeats_merged_cells_and_text_spaces(tmp_path: Path) -> None:
    """Repeated rows and cells, covered (merged) cells, <text:s/> spaces, entities."""
    content = (
        '<?xml version="1.0"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:t="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body>'
        '<office:spreadsheet><t:table t:name="A &amp; B">'
        '<t:table-row><t:table-cell office:value-type="string"><text:p>x<text:s text:c="2"/>y'
        '</text:p></t:table-cell><t:table-cell t:number-columns-repeated="2"/>'
        '<t:table-cell office:value-type="float" office:value="3"><text:p>3</text:p>'
        "</t:table-cell></t:table-row>"
        '<t:table-row t:number-rows-repeated="4"><t:table-cell/></t:table-row>'
        '<t:table-row t:number-rows-repeated="2"><t:table-cell office:value-type="string" '
        't:number-columns-repeated="2"><text:p>a&lt;b</text:p></t:table-cell>'
        '<t:covered-table-cell office:value-type="float" office:value="1.5"/></t:table-row>'
        "</t:table></office:spreadsheet></office:body></office:document-content>"
    )
    path = tmp_path / "t.ods"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("content.xml", content)
    ((name, rows),) = list((n, list(r)) for n, r in iter_sheets(path))
    assert name == "A & B"
    assert rows == [
        (1, ["x  y", None, None, 3.0]),
        (6, ["a<b", "a<b", 1.5]),
        (7, ["a<b", "a<b", 1.5]),
    ]


def test_parsers() -> None:
    assert financial_year("2022-23") == financial_year("2022/2023") == "2022/23"
    assert financial_year("2022/24") is None
    assert (
        calendar_quarter("2022/23", 1) == "2022-Q2" and calendar_quarter("2022/23", 4) == "2023-Q1"
    )
    assert force_name("Avon & Somerset Constabulary") == "Avon and Somerset"
    assert force_name("London, City of") == "City of London"
    assert force_name("Hampshire and Isle of Wight") == "Hampshire"
    assert force_name("Metropolitan Police Service") == "Metropolitan Police"
    assert force_name("Northumberland") is None  # never guessed


def _ingest(args: list[str]) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["ingest", "home-office", *args])
    return r.exit_code, r.output


def test_ingest_writes_the_same_panel_from_each_format(fixture_files, tmp_path: Path) -> None:
    written = {}
    for ext, (o, r) in fixture_files.items():
        code, text = _ingest(["--out", str(tmp_path / ext), str(o), str(r)])
        assert code == 0, text
        assert "SYNTHETIC" in text and "outcome type 0" in text
        written[ext] = (tmp_path / ext / "panel_force_quarter.csv").read_bytes()
    assert written["ods"] == written["xlsx"] == written["csv"]
    folder = tmp_path / "ods"
    panel = load_panel(folder / "panel_force_quarter.csv")  # valid in the package's format
    assert panel["synthetic"].all()
    prov = json.loads((folder / "home_office_provenance.json").read_text())
    assert [Path(f["path"]).name for f in prov["files"]] == ["outcomes.ods", "recorded.ods"]
    assert all(len(f["sha256"]) == 64 and f["rows_kept"] > 0 for f in prov["files"])
    assert prov["negative_counts"]["n"] == 1
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["synthetic"] is True


def test_ingest_refuses_an_unknown_force_and_writes_nothing(tmp_path: Path) -> None:
    out, _ = fx.make_rows(forces=("Durham",))
    out.append(["2020/21", 1, "Mercia Police", "19C", "1", 2, 2])
    path = fx.write_outcomes(tmp_path / "bad.ods", out, "a")
    target = tmp_path / "ingested"
    code, text = _ingest(["--out", str(target), str(path)])
    assert code == 2
    assert "Mercia Police" in text and "column 'C'" in text and "sheet 'Outcomes'" in text
    assert not target.exists()


def test_ingest_never_replaces_a_folder_it_did_not_write(fixture_files, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("precious")
    code, text = _ingest(["--out", str(mine), *map(str, fixture_files["csv"])])
    assert code == 2 and (mine / "keep.txt").read_text() == "precious"
    assert "did not write" in text or "soteria-eval" in text


def test_a_run_on_the_ingested_panel_reports_the_rape_measures(quick_plan, tmp_path: Path) -> None:
    """All 43 forces, five years, charges up by half in phase 1 from 2021/22 Q2: recovered."""
    out, rec = fx.make_rows(
        fx.FORCES, ("2019/20", "2020/21", "2021/22", "2022/23", "2023/24"), ("19C", "19F"),
        effect=0.5,
    )  # fmt: skip
    o = fx.write_outcomes(tmp_path / "outcomes.csv", out, "b")
    r = fx.write_recorded(tmp_path / "recorded.xlsx", rec, "a")
    code, text = _ingest(["--out", str(tmp_path / "ho"), str(o), str(r)])
    assert code == 0, text
    res = CliRunner().invoke(
        main,
        ["run", "--data", str(tmp_path / "ho"), "--plan", str(quick_plan), "--out",
         str(tmp_path / "res"), "--only", "published_outcomes", "--only", "volume", "--quiet"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = pd.read_csv(tmp_path / "res" / "results.csv")
    rape = rows[rows["measure"].str.startswith("ho_rape_", na=False)]
    assert set(rape["measure"]) == set(MEASURES)
    assert set(rape["data_label"]) == {"synthetic"}
    charged = rape[(rape["measure"] == "ho_rape_charged") & rape["inference"].str.contains("WCR")]
    (est,) = charged["estimate"]
    assert abs(est - np.log(1.5)) < 0.1  # the planted +50%, in log points
    assert charged["ci_lower"].iloc[0] < np.log(1.5) < charged["ci_upper"].iloc[0]
    # the case-data analyses find none of their measures: skipped with a reason, not failed
    vol = rows[rows["analysis"] == "volume"]
    assert list(vol["status"]) == ["skipped"] and "case data" in vol["note"].iloc[0]


def test_book_pages_of_analyses_that_did_not_run_say_so(tmp_path: Path) -> None:
    """A run on an ingested panel alone skips the case-data analyses; their pages say why."""
    import shutil

    from soteria_eval._paths import default_book
    from soteria_eval.bookbuild import stub_pages_not_run

    book = tmp_path / "book"
    shutil.copytree(default_book(), book, ignore=shutil.ignore_patterns("_build", "_generated"))
    results = tmp_path / "res"
    results.mkdir()
    pd.DataFrame(
        {
            "analysis": ["volume", "attrition", "published_outcomes"],
            "status": ["skipped", "skipped", "ok"],
            "note": [
                "not run: the data folder /somewhere/private/ho has no case data measures",
                "not run: the data folder /somewhere/private/ho has no case records",
                "",
            ],
        }
    ).to_csv(results / "results.csv", index=False)
    plain = tmp_path / "book_no_manifest"
    shutil.copytree(book, plain)
    stubbed = stub_pages_not_run(plain, results)  # no manifest: the results rows decide
    assert "volume" in stubbed and "attrition" in stubbed and "index" in stubbed
    assert "published" not in stubbed and "quality" in stubbed  # quality: not in the results
    assert "methods" not in stubbed and "recovery" not in stubbed  # they explain themselves
    (results / "manifest.json").write_text(json.dumps({
        "analyses": ["volume", "attrition", "published_outcomes", "quality"],
        "skipped": ["volume", "attrition"],
    }))  # fmt: skip
    stubbed = stub_pages_not_run(book, results)
    assert {"volume", "attrition"} <= set(stubbed)
    assert "quality" not in stubbed and "index" not in stubbed  # one domain ran: a summary
    text = (book / "volume.md").read_text()
    assert text.startswith("# Results: Volume") and "has no case data measures" in text
    assert "/somewhere" not in text and "published-data chapter" in text
    assert "code-cell" not in text
    assert "code-cell" in (book / "published.md").read_text()  # untouched


def test_a_count_marked_not_available_leaves_its_cell_missing(tmp_path: Path) -> None:
    """``..`` is not a zero: the force-quarter it enters is missing, counted and reported."""
    out, _ = fx.make_rows(forces=("Durham", "Kent"), quirks=False)
    i = next(k for k, r in enumerate(out) if r[2] == "Durham" and r[3] == "19C" and r[4] == "1")
    fy, q = out[i][0], out[i][1]
    out[i] = [*out[i][:6], ".."]
    path = fx.write_outcomes(tmp_path / "outcomes.csv", out, "a")
    data = read_home_office([path])
    assert len(data.unavailable) == 1 and data.unavailable[0]["force"] == "Durham"
    panel, report = rape_force_quarter_panel(data)
    period = calendar_quarter(str(fy), int(q))
    cell = panel[(panel["unit"] == "Durham") & (panel["period"] == period)].set_index("measure")
    for m in ("ho_rape_charged", "ho_rape_outcomes_assigned", "ho_rape_charge_rate"):
        assert pd.isna(cell.loc[m, "value"]) and pd.isna(cell.loc[m, "numerator"]), m
    assert report["not_available_cells"]["ho_rape_charged"] == [f"Durham {period}"]
    kent = panel[(panel["unit"] == "Kent") & (panel["period"] == period)]
    assert kent["value"].notna().all()  # only the cell the mark enters


def test_the_same_file_given_twice_is_refused(fixture_files, tmp_path: Path) -> None:
    ods = fixture_files["ods"][0]
    with pytest.raises(DataValidationError) as err:
        read_home_office([ods, ods])
    assert [i.rule for i in err.value.issues] == ["duplicate"]
    copy = tmp_path / "renamed.ods"
    copy.write_bytes(ods.read_bytes())
    with pytest.raises(DataValidationError) as err:
        read_home_office([ods, copy])
    assert "duplicate" in {i.rule for i in err.value.issues}


def _mutate_xlsx(src: Path, dst: Path, member: str, old: bytes, new: bytes) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == member:
                data, n = re.subn(old, new, data, count=1)
                assert n == 1, (member, old)
            zout.writestr(item, data)
    return dst


SHEET = "xl/worksheets/sheet2.xml"


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        (rb'<c r="A', b'<c r="ZZZZZZZZ', "not a column A to XFD"),
        (rb'<row r="1">', b'<row r="two">', "row number 'two' is not 1 to"),
        (rb'<row r="1">', b'<row r="99999999999">', "is not 1 to 1,048,576"),
        (rb't="s"><v>\d+</v>', b't="s"><v>99999999</v>', "shared string '99999999' is not one of"),
        (rb"</row>", b'<c r="ZA1"><v>abc</v></c></row>', "number cell holds 'abc'"),
    ],
)
def test_hostile_xlsx_cells_are_located_errors(
    fixture_files, tmp_path: Path, old: bytes, new: bytes, fragment: str
) -> None:
    src = fixture_files["xlsx"][0]
    bad = _mutate_xlsx(src, tmp_path / "outcomes.xlsx", SHEET, old, new)
    with pytest.raises(DataValidationError) as err:
        read_home_office([bad])
    msg = str(err.value)
    assert fragment in msg and "outcomes.xlsx" in msg and "sheet" in msg, msg
    res = CliRunner().invoke(
        main, ["ingest", "home-office", str(bad), "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 2 and "Traceback" not in res.output and fragment in res.output
    assert not (tmp_path / "o").exists()


def test_too_many_shared_strings_are_refused(
    fixture_files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from soteria_eval.datasets import workbooks

    monkeypatch.setattr(workbooks, "MAX_SHARED_STRINGS", 5)
    with pytest.raises(DataValidationError, match="more than 5 shared strings"):
        read_home_office([fixture_files["xlsx"][0]])


@pytest.mark.parametrize(
    ("header", "basis"),
    [
        ("Outcomes for offences that were recorded in the quarter", "count_recorded"),
        ("Outcomes for investigations closed in the quarter", "count_closed"),
        ("Force outcomes for offences recorded in quarter", "count_recorded"),
        ("Number of outcomes for investigations that were closed in the quarter", "count_closed"),
        ("Offence group", None),
        ("Number of offences", None),
    ],
)
def test_count_headers_are_read_by_their_meaning(header: str, basis: str | None) -> None:
    from soteria_eval.datasets.home_office import count_basis

    assert count_basis(header) == basis


def test_reworded_count_headers_ingest_and_say_which_column_was_taken(tmp_path: Path) -> None:
    out, _ = fx.make_rows(forces=("Durham",), quirks=False)
    saved = list(fx.OUTCOME_HEADERS["a"])
    fx.OUTCOME_HEADERS["a"][-2:] = [
        "Outcomes for offences that were recorded in the quarter",
        "Outcomes for investigations closed in the quarter",
    ]
    try:
        path = fx.write_outcomes(tmp_path / "outcomes.csv", out, "a")
    finally:
        fx.OUTCOME_HEADERS["a"] = saved
    res = CliRunner().invoke(
        main, ["ingest", "home-office", str(path), "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 0, res.output
    assert "closed basis from 'Outcomes for investigations closed in the quarter'" in res.output
    prov = json.loads((tmp_path / "o" / "home_office_provenance.json").read_text())
    assert prov["files"][0]["columns"]["count_recorded"].startswith("Outcomes for offences that")


def test_a_count_header_with_an_unknown_qualifier_stays_unknown() -> None:
    from soteria_eval.datasets.home_office import count_basis

    assert count_basis("Force outcomes for offences recorded in quarter (revised)") is None
