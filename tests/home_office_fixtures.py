"""Synthetic files in the layout of the Home Office's outcomes and recorded-crime tables.

Every file written here is SYNTHETIC: invented counts in the publisher's layout, marked
as such on a cover sheet (ODS, XLSX) or in lines above the header (CSV). They exercise
what the readers must handle: cover sheets, rows above the header, header variants
between years, force-name aliases, outcome type 0 and the 1a subset rows, a central fraud
body, British Transport Police, other offence groups and a negative count.

``write_outcomes(path, rows, variant)`` and ``write_recorded(path, rows, variant)`` write
the same logical rows as ODS, XLSX or CSV (by the suffix), so the three formats must give
identical panels. The ODS and XLSX writers use only the standard library.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

NOTICE = "SYNTHETIC DATA: invented counts in the Home Office layout, for tests only"

OUTCOME_HEADERS = {
    # as in recent outcomes files
    "a": ["Financial Year", "Financial Quarter", "Force Name", "Offence Description",
          "Offence Group", "Offence Subgroup", "Offence Code", "Outcome Description",
          "Outcome Group", "Outcome Type", "Force outcomes for offences recorded in quarter",
          "Force outcomes recorded in quarter"],
    # another year's wording, with an expired-code flag
    "b": ["Financial year", "Quarter", "Force", "Offence", "Offence group",
          "Offence sub-group", "Offence code", "Offence code expired", "Outcome",
          "Outcome group", "Outcome type",
          "Number of outcomes for offences that were recorded in the quarter",
          "Number of outcomes for investigations that were closed in the quarter"],
}  # fmt: skip
RECORDED_HEADERS = {
    "a": ["Financial Year", "Financial Quarter", "Force Name", "Offence Description",
          "Offence Group", "Offence Subgroup", "Offence Code", "Number of Offences"],
    "b": ["Financial year", "Quarter", "Police force area", "Offence", "Offence group",
          "Offence sub-group", "Offence code", "Number of offences"],
}  # fmt: skip

#: Published spellings used for some forces (the readers must map them).
ALIASES = {
    "Avon and Somerset": "Avon & Somerset",
    "Metropolitan Police": "Metropolitan Police Service",
    "City of London": "London, City of",
    "Dyfed-Powys": "Dyfed Powys",
    "Devon and Cornwall": "Devon & Cornwall Police",
}
CODES = {
    "19C": ("Rape of a female aged 16 and over", "Sexual offences", "Rape"),
    "19F": ("Rape of a male aged 16 and over", "Sexual offences", "Rape"),
    "17A": ("Sexual assault on a male aged 13 and over", "Sexual offences",
            "Other sexual offences"),
    "8N": ("Assault with injury", "Violence against the person", "Violence with injury"),
}  # fmt: skip
OUTCOMES = {
    "0": "Not yet assigned an outcome", "1": "Charged/Summonsed",
    "1a": "Of which: charged or summonsed", "2": "Caution - youths",
    "14": "Evidential difficulties: suspect not identified; victim does not support",
    "15": "Evidential difficulties: suspect identified; victim supports action",
    "16": "Evidential difficulties: victim does not support action",
    "18": "Investigation complete - no suspect identified",
    "21": "Further investigation not in the public interest",
}  # fmt: skip
RATES = {"0": 0.4, "1": 0.06, "1a": 0.05, "2": 0.01, "14": 0.05, "15": 0.3, "16": 0.25,
         "18": 0.04, "21": 0.05}  # fmt: skip

FORCES = (
    "Avon and Somerset", "Bedfordshire", "Cambridgeshire", "Cheshire", "City of London",
    "Cleveland", "Cumbria", "Derbyshire", "Devon and Cornwall", "Dorset", "Durham",
    "Dyfed-Powys", "Essex", "Gloucestershire", "Greater Manchester", "Gwent", "Hampshire",
    "Hertfordshire", "Humberside", "Kent", "Lancashire", "Leicestershire", "Lincolnshire",
    "Merseyside", "Metropolitan Police", "Norfolk", "North Wales", "North Yorkshire",
    "Northamptonshire", "Northumbria", "Nottinghamshire", "South Wales", "South Yorkshire",
    "Staffordshire", "Suffolk", "Surrey", "Sussex", "Thames Valley", "Warwickshire",
    "West Mercia", "West Midlands", "West Yorkshire", "Wiltshire",
)  # fmt: skip
PHASE1 = ("Avon and Somerset", "Durham", "Metropolitan Police", "South Wales", "West Midlands")


def make_rows(
    forces: Sequence[str] = (
        "Avon and Somerset",
        "Durham",
        "Metropolitan Police",
        "City of London",
        "Dyfed-Powys",
        "Kent",
    ),
    years: Sequence[str] = ("2020/21", "2021/22"),
    codes: Sequence[str] = ("19C", "19F", "17A", "8N"),
    *,
    quirks: bool = True,
    effect: float = 0.0,
    seed: int = 7,
) -> tuple[list[list[object]], list[list[object]]]:
    """Return ``(outcome_rows, recorded_rows)`` as logical rows (published force names).

    Outcome rows: year, quarter, force, offence code, outcome type, recorded-basis and
    closed-basis counts. Recorded rows: year, quarter, force, offence code, offences.
    With ``quirks``: a British Transport Police row, an Action Fraud row and one negative
    count. ``effect`` multiplies phase-1 charges from financial quarter 2 of 2021/22.
    """
    rng = np.random.default_rng(seed)
    out: list[list[object]] = []
    rec: list[list[object]] = []
    for fy in years:
        for q in (1, 2, 3, 4):
            started = (int(fy[:4]), q) >= (2021, 2)
            for force in forces:
                name = ALIASES.get(force, force)
                size = 20 + 5 * (sum(map(ord, force)) % 17)
                for code in codes:
                    n = int(rng.poisson(size * (1.0 if code.startswith("19") else 2.0)))
                    rec.append([fy, q, name, code, n])
                    for t, rate in RATES.items():
                        lam = n * rate
                        if t in ("1", "1a") and force in PHASE1 and started:
                            lam *= 1 + effect
                        c_rec, c_closed = int(rng.poisson(lam)), int(rng.poisson(lam * 1.1))
                        if c_rec or c_closed:
                            out.append([fy, q, name, code, t, c_rec, c_closed])
    if quirks:
        out.append([years[0], 1, "British Transport Police", "19C", "1", 3, 4])
        out.append([years[0], 1, "British Transport Police", "19C", "16", 5, 6])
        rec.append([years[0], 1, "British Transport Police", "19C", 12])
        out.append([years[0], 2, "Action Fraud", "19C", "1", 2, 2])
        rec.append([years[0], 2, "Action Fraud", "8N", 3])
        out.append([years[-1], 3, ALIASES.get(forces[0], forces[0]), "19F", "21", 0, -1])
    return out, rec


def _outcome_table(rows: Sequence[Sequence[object]], variant: str) -> list[list[object]]:
    table: list[list[object]] = [list(OUTCOME_HEADERS[variant])]
    for fy, q, force, code, t, c_rec, c_closed in rows:
        desc, group, sub = CODES[str(code)]
        fyv = fy if variant == "a" else str(fy).replace("/", "-")
        qv: object = q if variant == "a" else f"Q{q}"
        head = [fyv, qv, force, desc, group, sub, code]
        if variant == "b":
            head.append("N")
        table.append([*head, OUTCOMES.get(str(t), "?"), "Group", t if "a" in str(t) else int(str(t)),
                      c_rec, c_closed])  # fmt: skip
    return table


def _recorded_table(rows: Sequence[Sequence[object]], variant: str) -> list[list[object]]:
    table: list[list[object]] = [list(RECORDED_HEADERS[variant])]
    for fy, q, force, code, n in rows:
        desc, group, sub = CODES[str(code)]
        table.append([fy, q, force, desc, group, sub, code, n])
    return table


def write_outcomes(path: Path, rows: Sequence[Sequence[object]], variant: str = "a") -> Path:
    """Write outcome rows as an outcomes-table file (format by the suffix)."""
    table = _outcome_table(rows, variant)
    return _write(path, {"Outcomes": table})


def write_recorded(path: Path, rows: Sequence[Sequence[object]], variant: str = "a") -> Path:
    """Write recorded-crime rows as a police force area table, one sheet per year."""
    sheets: dict[str, list[list[object]]] = {}
    for r in rows:
        sheets.setdefault(str(r[0]).replace("/", "-"), []).append(list(r))
    return _write(path, {k: _recorded_table(v, variant) for k, v in sheets.items()})


def _write(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        if len(sheets) != 1:
            rows = [r for i, t in enumerate(sheets.values()) for r in (t if i == 0 else t[1:])]
        else:
            rows = next(iter(sheets.values()))
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow([NOTICE])
            w.writerow([])
            w.writerows(rows)
        return path
    preamble: list[list[object]] = [["Title: police recorded crime (synthetic fixture)"],
                                    ["Notes: see the cover sheet"], []]  # fmt: skip
    cover = {"Cover": [[NOTICE], ["Contents: one data sheet per table"]]}
    full = {**cover, **{k: preamble + v for k, v in sheets.items()}}
    if suffix == ".ods":
        _write_ods(path, full)
    elif suffix == ".xlsx":
        _write_xlsx(path, full)
    else:
        raise ValueError(suffix)
    return path


def _ods_cell(v: object) -> str:
    if v is None or v == "":
        return "<table:table-cell/>"
    if isinstance(v, int | float) and not isinstance(v, bool):
        return f'<table:table-cell office:value-type="float" office:value="{v}"><text:p>{v}</text:p></table:table-cell>'
    return f'<table:table-cell office:value-type="string"><text:p>{escape(str(v))}</text:p></table:table-cell>'


def _write_ods(path: Path, sheets: dict[str, list[list[object]]]) -> None:
    ns = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet",
                   compress_type=zipfile.ZIP_STORED)  # fmt: skip
        z.writestr(
            "META-INF/manifest.xml",
            '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
            '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
            '<manifest:file-entry manifest:full-path="/" manifest:media-type='
            '"application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry '
            'manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>',
        )
        with z.open("content.xml", "w", force_zip64=True) as fh:
            fh.write(f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns}>'
                     "<office:body><office:spreadsheet>".encode())  # fmt: skip
            for name, rows in sheets.items():
                fh.write(f'<table:table table:name="{escape(name)}"><table:table-column '
                         'table:number-columns-repeated="16"/>'.encode())  # fmt: skip
                for r in rows:
                    cells = "".join(_ods_cell(v) for v in r)
                    # trailing empty cells, as a spreadsheet program writes them
                    cells += '<table:table-cell table:number-columns-repeated="1010"/>'
                    fh.write(f"<table:table-row>{cells}</table:table-row>".encode())
                fh.write(b'<table:table-row table:number-rows-repeated="1048000">'
                         b'<table:table-cell table:number-columns-repeated="1024"/>'
                         b"</table:table-row></table:table>")  # fmt: skip
            fh.write(b"</office:spreadsheet></office:body></office:document-content>")


def _xlsx_col(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _write_xlsx(path: Path, sheets: dict[str, list[list[object]]]) -> None:
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    strings: dict[str, int] = {}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        types = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for i in range(1, len(sheets) + 1)
        )
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.'
            'org/package/2006/content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
            '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName='
            '"/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            f'spreadsheetml.sharedStrings+xml"/>{types}</Types>',
        )
        z.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type='
            f'"{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        sheet_xml = "".join(
            f'<sheet name="{escape(n)}" sheetId="{i}" r:id="rId{i}"/>'
            for i, n in enumerate(sheets, start=1)
        )
        z.writestr("xl/workbook.xml", f'<?xml version="1.0" encoding="UTF-8"?><workbook '
                   f'xmlns="{main}" xmlns:r="{rel}"><sheets>{sheet_xml}</sheets></workbook>')  # fmt: skip
        rels = "".join(
            f'<Relationship Id="rId{i}" Type="{rel}/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, len(sheets) + 1)
        )
        n = len(sheets) + 1
        rels += (f'<Relationship Id="rId{n}" Type="{rel}/sharedStrings" '
                 'Target="sharedStrings.xml"/>')  # fmt: skip
        z.writestr("xl/_rels/workbook.xml.rels", '<?xml version="1.0" encoding="UTF-8"?>'
                   '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                   f'relationships">{rels}</Relationships>')  # fmt: skip
        for i, rows in enumerate(sheets.values(), start=1):
            with z.open(f"xl/worksheets/sheet{i}.xml", "w") as fh:
                fh.write(f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{main}">'
                         "<sheetData>".encode())  # fmt: skip
                for rn, r in enumerate(rows, start=1):
                    cells = []
                    for ci, v in enumerate(r):
                        ref = f"{_xlsx_col(ci)}{rn}"
                        if v is None or v == "":
                            continue
                        if isinstance(v, int | float) and not isinstance(v, bool):
                            cells.append(f'<c r="{ref}"><v>{v}</v></c>')
                        else:
                            k = strings.setdefault(str(v), len(strings))
                            cells.append(f'<c r="{ref}" t="s"><v>{k}</v></c>')
                    if cells:
                        fh.write(f'<row r="{rn}">{"".join(cells)}</row>'.encode())
                fh.write(b"</sheetData></worksheet>")
        si = "".join(f"<si><t>{escape(s)}</t></si>" for s in strings)
        z.writestr("xl/sharedStrings.xml", f'<?xml version="1.0" encoding="UTF-8"?><sst '
                   f'xmlns="{main}" count="{len(strings)}" uniqueCount="{len(strings)}">{si}</sst>')  # fmt: skip
