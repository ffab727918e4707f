"""Read the Home Office's published crime and outcome files into rape-specific panels.

Two publications, as downloaded from GOV.UK (Open Government Licence), in ODS, XLSX or
CSV:

* the *police recorded crime and outcomes open data* outcomes tables: one row per force,
  financial quarter, offence code and outcome type, with two counts (outcomes of offences
  recorded in the quarter; outcomes of investigations closed in the quarter);
* the *police force area recorded crime* tables: one row per force, financial quarter
  and offence code, with the number of offences recorded.

:func:`read_home_office` streams every sheet of every file, finds the data sheets and
their header rows by content (cover, notes and contents sheets are skipped and named),
maps the headers by normalised synonyms (:data:`HEADER_SYNONYMS`) and the force names by
an explicit alias table (:data:`FORCE_ALIASES`). An unknown header, force name, year,
quarter or outcome type is an error that names the file, sheet, row and column; nothing
is dropped silently. Only the rows of the *Sexual offences* group (and the rape codes
19C–19H) are kept, so a year's 40 MB workbook is read in one pass in bounded memory.

Counting rules (:func:`rape_force_quarter_panel`):

* outcome type 0 (not yet assigned an outcome) is not an outcome, and types 1a, 2a and
  3a are "of which" subsets of 1, 2 and 3: all are left out of every total and counted
  in the report;
* the central fraud bodies (Action Fraud, Cifas, UK Finance) are not forces, and British
  Transport Police is not a territorial force: their rows are left out and counted;
* negative counts (revisions) are kept in the sums and each one is reported; a panel cell
  whose sum is negative is left missing and reported;
* a force with no row at all in a quarter of a file (any offence) did not supply that
  quarter: its cells are missing, not zero, and the report lists them.

The outcome measures use the *closed* basis (outcomes of investigations closed in the
quarter), the usual basis for decision behaviour; the recorded basis undercounts recent
quarters (right-censoring). Periods are calendar quarters: financial quarter 1 of
2022/23 (April to June 2022) is ``2022-Q2``.

References
----------
Home Office (2024). *Police recorded crime and outcomes open data tables: user guide*.
Home Office (2024). *Crime outcomes in England and Wales: technical annex*.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from soteria_eval.data.errors import DataValidationError, ValidationIssue
from soteria_eval.datasets.workbooks import Cell, WorkbookError, iter_sheets

__all__ = [
    "ASSIGNED_TYPES",
    "FORCE_ALIASES",
    "FRAUD_BODIES",
    "HEADER_SYNONYMS",
    "MEASURES",
    "OOCD_TYPES",
    "PROVENANCE_FILE",
    "RAPE_CODES",
    "HomeOfficeData",
    "ingest_home_office",
    "rape_force_quarter_panel",
    "read_home_office",
    "sexual_offences_by_force_fy",
]

#: Home Office offence codes of rape (female and male victims, by age).
RAPE_CODES = ("19C", "19D", "19E", "19F", "19G", "19H")
#: Outcome types that are outcomes assigned (0 is "not yet assigned"; 1a-3a are subsets).
ASSIGNED_TYPES = tuple(str(t) for t in range(1, 23))
#: Out-of-court disposals, as in the bundled financial-year file (cautions, penalty
#: notices, cannabis/khat warnings, community resolutions, diversionary activity).
OOCD_TYPES = ("2", "3", "6", "7", "8", "22")
#: The "of which" subsets of types 1, 2 and 3.
SUBSET_TYPES = ("1a", "2a", "3a")
SEXUAL_OFFENCES = "sexual offences"
BTP = "British Transport Police"
#: Central fraud reporting bodies that appear in the force column; not police forces.
FRAUD_BODIES = ("Action Fraud", "Cifas", "UK Finance")

#: The provenance record written beside an ingested panel.
PROVENANCE_FILE = "home_office_provenance.json"
#: Panel measures built here (ids of the measure catalogue).
MEASURES = (
    "ho_rape_recorded",
    "ho_rape_outcomes_assigned",
    "ho_rape_charged",
    "ho_rape_charge_rate",
    "ho_rape_victim_does_not_support",
    "ho_rape_evidential_difficulties",
    "ho_rape_no_suspect",
)


def normalise(text: object) -> str:
    """Lower-case words of ``text``: accents folded, ``&`` read as "and", punctuation dropped."""
    s = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    s = s.lower().replace("&", " and ")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", s).split())


#: Field -> header texts seen in (or plausible for) the publisher's files, normalised.
HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "financial_year": ("financial year", "fin year", "year", "financial year of recording"),
    "financial_quarter": ("financial quarter", "fin quarter", "quarter", "fin qtr"),
    "force": ("force name", "force", "police force", "police force area", "force area",
              "pfa", "pfa name", "police force area name"),
    "offence_description": ("offence description", "offence", "offence name"),
    "offence_group": ("offence group",),
    "offence_subgroup": ("offence subgroup", "offence sub group"),
    "offence_code": ("offence code", "ho offence code", "home office offence code"),
    "offence_code_expired": ("offence code expired", "expired", "offence code expired flag"),
    "outcome_description": ("outcome description", "outcome"),
    "outcome_group": ("outcome group",),
    "outcome_type": ("outcome type", "outcome code", "outcome type code", "outcome number"),
    "count_recorded": (
        "force outcomes for offences recorded in quarter",
        "outcomes for offences recorded in the quarter",
        "number of outcomes for offences recorded in the quarter",
        "number of outcomes for offences that were recorded in the quarter",
    ),
    "count_closed": (
        "force outcomes recorded in quarter",
        "outcomes for investigations closed in the quarter",
        "number of outcomes for investigations closed in the quarter",
        "number of outcomes for investigations that were closed in the quarter",
    ),
    "offences": ("number of offences", "offences", "number of recorded offences",
                 "recorded offences", "offence count"),
}  # fmt: skip
_HEADER_LOOKUP = {normalise(s): f for f, syn in HEADER_SYNONYMS.items() for s in syn}
#: Fields a data sheet must have, by table kind.
REQUIRED: dict[str, tuple[str, ...]] = {
    "outcomes": ("financial_year", "financial_quarter", "force", "offence_code",
                 "outcome_type", "count_recorded", "count_closed"),
    "recorded_crime": ("financial_year", "financial_quarter", "force", "offence_code",
                       "offences"),
}  # fmt: skip

_TERRITORIAL = (
    "Avon and Somerset", "Bedfordshire", "Cambridgeshire", "Cheshire", "City of London",
    "Cleveland", "Cumbria", "Derbyshire", "Devon and Cornwall", "Dorset", "Durham",
    "Dyfed-Powys", "Essex", "Gloucestershire", "Greater Manchester", "Gwent", "Hampshire",
    "Hertfordshire", "Humberside", "Kent", "Lancashire", "Leicestershire", "Lincolnshire",
    "Merseyside", "Metropolitan Police", "Norfolk", "North Wales", "North Yorkshire",
    "Northamptonshire", "Northumbria", "Nottinghamshire", "South Wales", "South Yorkshire",
    "Staffordshire", "Suffolk", "Surrey", "Sussex", "Thames Valley", "Warwickshire",
    "West Mercia", "West Midlands", "West Yorkshire", "Wiltshire",
)  # fmt: skip
#: Normalised published name -> the package's force name (or a fraud body, or BTP).
FORCE_ALIASES: dict[str, str] = {
    **{normalise(f): f for f in (*_TERRITORIAL, BTP, *FRAUD_BODIES)},
    "metropolitan police service": "Metropolitan Police",
    "metropolitan": "Metropolitan Police",
    "london city of": "City of London",
    "city of london police": "City of London",
    "hampshire and isle of wight": "Hampshire",
    "btp": BTP,
    "british transport police btp": BTP,
    "financial fraud action uk": "UK Finance",
    "cifas uk": "Cifas",
}
_FORCE_SUFFIX = re.compile(r" (police service|police|constabulary)$")
_FY = re.compile(r"^(20\d\d)\s*(?:/|-|–|—|to)\s*(\d\d|20\d\d)$")
_TYPE = re.compile(r"^(\d{1,2})([a-z]?)$")


def force_name(published: object) -> str | None:
    """Return the package's name for a published force name (``None`` if unknown).

    Tries the name as published, then without a trailing "Police", "Police Service" or
    "Constabulary"; never guesses beyond :data:`FORCE_ALIASES`.
    """
    key = normalise(published)
    if key in FORCE_ALIASES:
        return FORCE_ALIASES[key]
    short = _FORCE_SUFFIX.sub("", key)
    return FORCE_ALIASES.get(short)


def financial_year(value: Cell) -> str | None:
    """``"2022/23"`` from ``2022/23``, ``2022-23``, ``2022/2023`` or ``2022 to 2023``."""
    if value is None:
        return None
    m = _FY.match(str(value).strip())
    if m is None:
        return None
    start, end = int(m.group(1)), int(m.group(2))
    end = end if end > 100 else 2000 + end
    return f"{start}/{end % 100:02d}" if end == start + 1 else None


def _quarter(value: Cell) -> int | None:
    if isinstance(value, float):
        return int(value) if value in (1.0, 2.0, 3.0, 4.0) else None
    m = re.fullmatch(r"(?:q|quarter|qtr)?\s*([1-4])", str(value).strip().lower())
    return int(m.group(1)) if m else None


def calendar_quarter(fy: str, fq: int) -> str:
    """Calendar-quarter label of financial quarter ``fq`` of ``fy`` (Q1 is April to June)."""
    year = int(fy[:4]) + (1 if fq == 4 else 0)
    return f"{year}-Q{fq + 1 if fq < 4 else 1}"


def _outcome_type(value: Cell) -> str | None:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and 0 <= value <= 22 else None
    m = _TYPE.match(str(value).strip().lower().removesuffix(".0"))
    if m is None:
        return None
    n, sub = int(m.group(1)), m.group(2)
    if sub:
        return f"{n}a" if sub == "a" and n in (1, 2, 3) else None
    return str(n) if n <= 22 else None


def _code(value: Cell) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip().upper()


#: Cells the publisher marks as not available (GSS symbols ``..`` and ``[x]``).
NOT_AVAILABLE = ("..", "[x]")


def _count(value: Cell) -> float | None:
    """Read a count: a float, ``nan`` for an empty cell, ``-`` or ``[z]``, ``None`` if not a number.

    A cell marked not available (:data:`NOT_AVAILABLE`) is not a count: callers check
    :func:`_not_available` first.
    """
    if value is None:
        return float("nan")
    if isinstance(value, float):
        return value if value.is_integer() else None
    text = str(value).strip().replace(",", "")
    if text in ("", "-", "[z]"):
        return float("nan")
    try:
        v = float(text)
    except ValueError:
        return None
    return v if v.is_integer() else None


def _not_available(value: Cell) -> bool:
    return isinstance(value, str) and value.strip() in NOT_AVAILABLE


def _column_letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


@dataclass
class FileRead:
    """What was read from one source file (for the provenance record)."""

    path: str
    sha256: str
    format: str
    kinds: list[str] = field(default_factory=list)
    sheets_read: list[str] = field(default_factory=list)
    sheets_skipped: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)
    rows_read: int = 0
    rows_kept: int = 0
    marked_synthetic: bool = False


@dataclass
class HomeOfficeData:
    """Rows of the sexual-offence codes read from the publisher's files, and what was left out.

    Attributes
    ----------
    outcomes : pandas.DataFrame
        ``file, sheet, row, fy, fq, period, force, offence_code, sexual, outcome_type,
        count_recorded, count_closed``: one row per published row kept.
    recorded : pandas.DataFrame
        ``file, sheet, row, fy, fq, period, force, offence_code, sexual, offences``.
    files : list of FileRead
        One entry per source file.
    excluded : dict
        ``{reason: {"rows": n, "count_closed": total, ...}}`` for every rule that left
        rows out of the totals (type 0, types 1a-3a, fraud bodies).
    negative : list of dict
        Every negative count: file, sheet, row, column and value.
    blank_counts : int
        Count cells that were empty (or ``-``, ``[z]``), read as 0.
    unavailable : list of dict
        Count cells marked not available (``..``, ``[x]``): file, sheet, row, column,
        force and quarter. A measure summing such a cell is left missing for that force
        and quarter, never read as 0.
    supplied : dict
        ``{kind: set of (force, period)}``: the quarters in which each force has any row
        (any offence) in the files of that kind.
    """

    outcomes: pd.DataFrame
    recorded: pd.DataFrame
    files: list[FileRead]
    excluded: dict[str, dict[str, float]]
    negative: list[dict[str, Any]]
    blank_counts: int
    supplied: dict[str, set[tuple[str, str]]]
    unavailable: list[dict[str, Any]] = field(default_factory=list)

    @property
    def synthetic(self) -> bool:
        """True if any source file says it is synthetic (test fixtures do)."""
        return any(f.marked_synthetic for f in self.files)


class _Collector:
    """Accumulates rows and problems across files."""

    MAX_ISSUES = 100

    def __init__(self) -> None:
        self.issues: list[ValidationIssue] = []
        self.rows: dict[str, list[tuple[Any, ...]]] = {"outcomes": [], "recorded_crime": []}
        self.excluded: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.negative: list[dict[str, Any]] = []
        self.blank = 0
        self.unavailable: list[dict[str, Any]] = []
        self.supplied: dict[str, set[tuple[str, str]]] = {
            "outcomes": set(),
            "recorded_crime": set(),
        }

    def issue(self, file: str, rule: str, msg: str, column: str | None = None,
              row: int | None = None) -> None:  # fmt: skip
        if len(self.issues) < self.MAX_ISSUES:
            self.issues.append(ValidationIssue(file, rule, msg, column, (row,) if row else ()))


#: Words a count header may use (anything else makes it an unknown header).
_COUNT_WORDS = frozenset(
    [
        "number",
        "of",
        "force",
        "police",
        "outcome",
        "outcomes",
        "for",
        "offences",
        "offence",
        "that",
        "which",
        "were",
        "was",
        "recorded",
        "in",
        "the",
        "a",
        "quarter",
        "investigations",
        "investigation",
        "closed",
    ]
)


def count_basis(header: str) -> str | None:
    """Which outcome count a header names, by the words that carry the meaning.

    The publisher rewords these headers between years ("Force outcomes for offences
    recorded in quarter", "Outcomes for offences that were recorded in the quarter",
    "Outcomes for investigations closed in the quarter", ...). A header about outcomes
    that speaks of investigations or of closing is the closed basis (``count_closed``);
    one about outcomes of offences recorded is the recorded basis (``count_recorded``).
    Returns None for any other header, and for one with a word outside that vocabulary
    (e.g. "... (revised)": a different count, which must not be read silently).
    """
    words = set(normalise(header).split())
    if not words & {"outcome", "outcomes"} or words - _COUNT_WORDS:
        return None
    if words & {"closed", "investigations", "investigation"}:
        return "count_closed"
    if words & {"offences", "offence"} and "recorded" in words:
        return "count_recorded"
    return None


def _header(cells: list[Cell]) -> dict[str, int]:
    """Map a candidate header row's cells to fields (unknown cells map to ``""``)."""
    out: dict[str, int] = {}
    for i, c in enumerate(cells):
        if c is None:
            continue
        f = _HEADER_LOOKUP.get(normalise(c), "") or (count_basis(str(c)) or "")
        out.setdefault(f or f"?{i}", i)
    return out


def _kind(mapped: dict[str, int]) -> str | None:
    if "outcome_type" in mapped:
        return "outcomes"
    if "offences" in mapped:
        return "recorded_crime"
    return None


#: How many leading rows of a sheet are searched for its header row.
HEADER_SEARCH_ROWS = 30


def _read_file(path: Path, col: _Collector) -> FileRead:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            sha.update(chunk)
    info = FileRead(str(path), sha.hexdigest(), path.suffix.lower().lstrip("."))
    try:
        for sheet, rows in iter_sheets(path):
            where = f"{path} [sheet {sheet!r}]" if sheet else str(path)
            found = _read_sheet(where, rows, col, info)
            (info.sheets_read if found else info.sheets_skipped).append(sheet)
    except (WorkbookError, OSError) as exc:
        col.issue(str(path), "format", str(exc))
        return info
    if not info.sheets_read and not any(i.file.startswith(str(path)) for i in col.issues):
        col.issue(
            str(path), "no-table",
            "no sheet has a header row of the outcomes tables (outcome type and the two "
            "outcome counts) or of the recorded crime tables (number of offences) in its "
            f"first {HEADER_SEARCH_ROWS} rows; sheets seen: "
            + (", ".join(repr(s) for s in info.sheets_skipped) or "none"),
        )  # fmt: skip
    return info


def _read_sheet(where: str, rows: Iterable[tuple[int, list[Cell]]], col: _Collector,
                info: FileRead) -> bool:  # fmt: skip
    """Read one sheet; return whether it was a data sheet."""
    header: dict[str, int] | None = None
    kind = ""
    for number, cells in rows:
        if header is None:
            if number > HEADER_SEARCH_ROWS:
                return False
            if any(isinstance(c, str) and "synthetic" in c.lower() for c in cells):
                info.marked_synthetic = True
            mapped = _header(cells)
            known = {f for f in mapped if not f.startswith("?")}
            k = _kind(mapped)
            if k is None or not {"force", "financial_year"} <= known:
                continue
            missing = [f for f in REQUIRED[k] if f not in known]
            unknown = [(i, cells[i]) for f, i in mapped.items() if f.startswith("?")]
            for i, text in unknown:
                col.issue(where, "unknown-header",
                          f"header {text!r} is not a column of the Home Office {k.replace('_', ' ')} "
                          "tables the package knows (HEADER_SYNONYMS)", _column_letter(i), number)  # fmt: skip
            if missing:
                col.issue(where, "missing-header",
                          f"the {k.replace('_', ' ')} header row lacks {', '.join(missing)}",
                          None, number)  # fmt: skip
            if unknown or missing:
                return True
            header, kind = mapped, k
            info.kinds.append(k)
            for f in ("count_recorded", "count_closed", "offences"):
                if f in mapped:
                    info.columns.setdefault(f, str(cells[mapped[f]]))
            continue
        info.rows_read += 1
        _read_row(where, number, cells, header, kind, col, info)
    return header is not None


#: (raw force, raw year, raw quarter) -> (force, fy, fq, period), and
#: (raw code, raw group) -> (code, sexual): the leading cells repeat across many rows.
_MEMO_PLACE: dict[tuple[Cell, Cell, Cell], tuple[str, str, int, str]] = {}
_MEMO_OFFENCE: dict[tuple[Cell, Cell], tuple[str, bool]] = {}


def _read_row(where: str, number: int, cells: list[Cell], h: dict[str, int], kind: str,
              col: _Collector, info: FileRead) -> None:  # fmt: skip
    n = len(cells)

    def get(f: str) -> Cell:
        i = h.get(f)
        return cells[i] if i is not None and i < n else None

    raw_force, raw_fy, raw_q = get("force"), get("financial_year"), get("financial_quarter")
    place = _MEMO_PLACE.get((raw_force, raw_fy, raw_q))
    if place is None:
        if raw_force is None and raw_fy is None and raw_q is None:
            return  # a note or a blank line below the table
        force = force_name(raw_force) if raw_force is not None else None
        if force is None:
            col.issue(where, "unknown-force",
                      f"force name {raw_force!r} is not a police force the package knows; add it "
                      "to FORCE_ALIASES if it is one (names are never guessed)",
                      _column_letter(h["force"]), number)  # fmt: skip
            return
        fy = financial_year(raw_fy)
        fq = _quarter(raw_q) if raw_q is not None else None
        if fy is None or fq is None:
            bad, f = (raw_fy, "financial_year") if fy is None else (raw_q, "financial_quarter")
            col.issue(where, "period",
                      f"{f.replace('_', ' ')} {bad!r} is not a financial year like 2022/23 or a "
                      "quarter 1-4", _column_letter(h[f]), number)  # fmt: skip
            return
        place = (force, fy, fq, calendar_quarter(fy, fq))
        _MEMO_PLACE[(raw_force, raw_fy, raw_q)] = place
    force, fy, fq, period = place
    col.supplied[kind].add((force, period))
    raw_code, raw_group = get("offence_code"), get("offence_group")
    offence = _MEMO_OFFENCE.get((raw_code, raw_group))
    if offence is None:
        offence = (_code(raw_code), normalise(raw_group) == SEXUAL_OFFENCES)
        _MEMO_OFFENCE[(raw_code, raw_group)] = offence
    code, sexual = offence
    if not sexual and code not in RAPE_CODES:
        return
    count_fields = ("count_recorded", "count_closed") if kind == "outcomes" else ("offences",)
    counts = []
    for f in count_fields:
        if _not_available(get(f)):  # its force and quarter cannot be summed: left missing
            col.unavailable.append({"file": where, "row": number, "column": _column_letter(h[f]),
                                    "field": f, "force": force, "period": period,
                                    "offence_code": code})  # fmt: skip
            counts.append(float("nan"))
            continue
        v = _count(get(f))
        if v is None:
            col.issue(where, "count", f"{get(f)!r} is not a whole number",
                      _column_letter(h[f]), number)  # fmt: skip
            return
        if v != v:  # nan: empty
            col.blank += 1
            v = 0.0
        elif v < 0:
            col.negative.append({"file": where, "row": number, "column": _column_letter(h[f]),
                                 "field": f, "value": v, "force": force, "period": period,
                                 "offence_code": code})  # fmt: skip
        counts.append(v)
    outcome = ""
    if kind == "outcomes":
        raw_type = get("outcome_type")
        t = _outcome_type(raw_type) if raw_type is not None else None
        if t is None:
            col.issue(where, "outcome-type",
                      f"outcome type {raw_type!r} is not one of 0-22, 1a, 2a, 3a",
                      _column_letter(h["outcome_type"]), number)  # fmt: skip
            return
        outcome = t
    reason = None
    if force in FRAUD_BODIES:
        reason = "central fraud bodies (not police forces)"
    elif outcome == "0":
        reason = "outcome type 0 (not yet assigned an outcome)"
    elif outcome in SUBSET_TYPES:
        reason = "outcome types 1a, 2a, 3a (subsets of 1, 2, 3)"
    if reason is not None:
        c = col.excluded[reason]
        c["rows"] += 1
        for f, v in zip(count_fields, counts, strict=True):
            c[f] += 0.0 if v != v else v
        return
    info.rows_kept += 1
    col.rows[kind].append((where, number, fy, fq, period, force, code, sexual, outcome, *counts))


def read_home_office(paths: Sequence[str | Path]) -> HomeOfficeData:
    """Read outcomes and recorded-crime files of the Home Office (ODS, XLSX or CSV).

    Parameters
    ----------
    paths : sequence of path
        Any mix of outcomes files (one per financial year, or in-year updates) and police
        force area recorded crime workbooks.

    Returns
    -------
    HomeOfficeData
        The rows of the *Sexual offences* group and of the rape codes; British Transport
        Police rows are kept (they enter the financial-year cross-check, not the panels).

    Raises
    ------
    DataValidationError
        Every problem found (up to 100), each with file, sheet, row and column: unknown
        headers or force names, unreadable years, quarters, outcome types or counts, a file
        with no data sheet, or the same force, quarter, offence and outcome in two files.
    """
    col = _Collector()
    seen: dict[Path, str] = {}
    unique = []
    for p in paths:
        key = Path(p).resolve()
        if key in seen:
            col.issue(
                str(p), "duplicate",
                f"the same file is given twice (as {seen[key]!r} and {str(p)!r}): each file "
                "once, or its counts would be added twice",
            )  # fmt: skip
            continue
        seen[key] = str(p)
        unique.append(Path(p))
    files = [_read_file(p, col) for p in unique]
    by_hash: dict[str, str] = {}
    for f in files:
        if f.sha256 in by_hash:
            col.issue(
                f.path, "duplicate",
                f"has the same contents as {by_hash[f.sha256]!r}: each file once, or its counts "
                "would be added twice",
            )  # fmt: skip
        by_hash.setdefault(f.sha256, f.path)
    cols = ["file", "row", "fy", "fq", "period", "force", "offence_code", "sexual"]
    outcomes = pd.DataFrame(
        col.rows["outcomes"], columns=[*cols, "outcome_type", "count_recorded", "count_closed"]
    )
    recorded = pd.DataFrame(
        [r[:8] + r[9:] for r in col.rows["recorded_crime"]], columns=[*cols, "offences"]
    )
    for frame, keys in ((outcomes, ["force", "period", "offence_code", "outcome_type"]),
                        (recorded, ["force", "period", "offence_code"])):  # fmt: skip
        source = frame["file"].str.replace(r" \[sheet .*\]$", "", regex=True)
        per_key = frame.assign(_src=source).groupby(keys)["_src"].nunique()
        for key in per_key[per_key > 1].index[:10]:
            sel = frame.set_index(keys).loc[key]
            where = sorted(set(sel["file"]))
            col.issue(
                where[0], "overlap",
                f"{', '.join(map(str, key))} appears in more than one file ({'; '.join(where)}): "
                "pass each period once (an in-year update or the final year, not both)",
            )  # fmt: skip
    if col.issues:
        raise DataValidationError(col.issues)
    excluded = {k: {f: float(v) for f, v in c.items()} for k, c in sorted(col.excluded.items())}
    for k in excluded:
        excluded[k]["rows"] = int(excluded[k]["rows"])
    return HomeOfficeData(
        outcomes=outcomes,
        recorded=recorded,
        files=files,
        excluded=excluded,
        negative=col.negative,
        blank_counts=col.blank,
        unavailable=col.unavailable,
        supplied={"outcomes": col.supplied["outcomes"],
                  "recorded_crime": col.supplied["recorded_crime"]},
    )  # fmt: skip


def _grid(supplied: set[tuple[str, str]]) -> pd.MultiIndex:
    pairs = sorted((f, p) for f, p in supplied if f in _TERRITORIAL)
    return pd.MultiIndex.from_tuples(pairs, names=["unit", "period"])


def rape_force_quarter_panel(data: HomeOfficeData) -> tuple[pd.DataFrame, dict[str, Any]]:
    r"""Build the force-by-quarter panel of the ``ho_rape_*`` measures.

    Returns
    -------
    panel : pandas.DataFrame
        Long panel in the package's format (``level, unit, period, measure, value,
        numerator, denominator, synthetic``) for the measures of :data:`MEASURES` that the
        files support: ``ho_rape_recorded`` needs recorded crime tables, the others the
        outcomes tables.
    report : dict
        ``not_supplied`` (force-quarters with no row in the files, left missing),
        ``negative_cells`` (cells whose sum is negative, left missing),
        ``not_available_cells`` (cells summing a count marked ``..``, left missing) and
        ``left_out_rows`` (rape rows of British Transport Police, not a territorial force).

    Notes
    -----
    With :math:`n_k` the closed-basis count of outcome type :math:`k` for the rape codes in
    a force and quarter, and :math:`A = \sum_{k=1}^{22} n_k` the outcomes assigned:
    ``ho_rape_charge_rate`` :math:`= n_1/A`, ``ho_rape_victim_does_not_support``
    :math:`= n_{16}/A`, ``ho_rape_evidential_difficulties`` :math:`= (n_{14}+n_{15}+n_{16})/A`
    and ``ho_rape_no_suspect`` :math:`= n_{18}/A`; undefined (missing) where :math:`A = 0`.
    """
    synthetic = "yes" if data.synthetic else "no"
    parts: list[pd.DataFrame] = []
    report: dict[str, Any] = {"not_supplied": {}, "negative_cells": {}, "not_available_cells": {}}

    def cells(frame: pd.DataFrame, value: str, kind: str) -> pd.DataFrame:
        grid = _grid(data.supplied[kind])
        by = frame.groupby(["force", "period"])[value]
        g = by.sum().where(~by.apply(lambda v: v.isna().any()))  # a ".." cell: not known
        g.index = g.index.set_names(["unit", "period"])
        return g.reindex(grid, fill_value=0.0).to_frame("n")

    def add(measure: str, num: pd.Series, den: pd.Series | None, family: str) -> None:
        frame = pd.DataFrame({"numerator": num})
        if den is None:
            frame["value"] = num
            frame["denominator"] = np.nan
        else:
            frame["denominator"] = den
            frame["value"] = (num / den.where(den > 0)).round(6)
        unknown = frame["numerator"].isna() | (frame["denominator"].isna() & (den is not None))
        if unknown.any():
            report["not_available_cells"][measure] = [f"{u} {p}" for u, p in frame.index[unknown]]
            frame.loc[unknown, ["value", "numerator", "denominator"]] = np.nan
        bad = frame["numerator"].lt(0) | frame["denominator"].lt(0)
        if bad.any():
            report["negative_cells"][measure] = [f"{u} {p}" for u, p in frame.index[bad]]
            frame.loc[bad, ["value", "numerator", "denominator"]] = np.nan
        frame = frame.reset_index()
        frame.insert(0, "level", "force")
        frame.insert(3, "measure", measure)
        parts.append(frame)

    rec = data.recorded[data.recorded["offence_code"].isin(RAPE_CODES)]
    out = data.outcomes[data.outcomes["offence_code"].isin(RAPE_CODES)]
    report["left_out_rows"] = {
        "British Transport Police (not a territorial force)": int(
            rec["force"].eq(BTP).sum() + out["force"].eq(BTP).sum()
        )
    }
    if len(data.supplied["recorded_crime"]):
        n = cells(rec, "offences", "recorded_crime")["n"]
        add("ho_rape_recorded", n, None, "recorded_crime")
        report["not_supplied"]["recorded_crime"] = _not_supplied(data, "recorded_crime")
    if len(data.supplied["outcomes"]):

        def n_of(types: Sequence[str]) -> pd.Series:
            return cells(out[out["outcome_type"].isin(types)], "count_closed", "outcomes")["n"]

        assigned = n_of(ASSIGNED_TYPES)
        add("ho_rape_outcomes_assigned", assigned, None, "outcomes")
        add("ho_rape_charged", n_of(("1",)), None, "outcomes")
        add("ho_rape_charge_rate", n_of(("1",)), assigned, "outcomes")
        add("ho_rape_victim_does_not_support", n_of(("16",)), assigned, "outcomes")
        add("ho_rape_evidential_difficulties", n_of(("14", "15", "16")), assigned, "outcomes")
        add("ho_rape_no_suspect", n_of(("18",)), assigned, "outcomes")
        report["not_supplied"]["outcomes"] = _not_supplied(data, "outcomes")
    if not parts:
        return pd.DataFrame(
            columns=["level", "unit", "period", "measure", "value", "numerator",
                     "denominator", "synthetic"]
        ), report  # fmt: skip
    panel = pd.concat(parts, ignore_index=True)
    for c in ("numerator", "denominator"):
        panel[c] = panel[c].round().astype("Int64")  # whole counts, written without ".0"
    panel["synthetic"] = synthetic
    panel = panel[["level", "unit", "period", "measure", "value", "numerator", "denominator",
                   "synthetic"]]  # fmt: skip
    return panel.sort_values(["measure", "unit", "period"], kind="stable").reset_index(
        drop=True
    ), report


def _not_supplied(data: HomeOfficeData, kind: str) -> dict[str, list[str]]:
    """Force-quarters in the files' span in which a force has no row at all (any offence).

    ``absent_forces``: territorial forces with no row in any quarter; ``gaps``: the
    quarters missing for the other forces, as ``"force period"``.
    """
    supplied = {(f, p) for f, p in data.supplied[kind] if f in _TERRITORIAL}
    periods = sorted({p for _, p in supplied})
    present = {f for f, _ in supplied}
    return {
        "absent_forces": [f for f in _TERRITORIAL if f not in present],
        "gaps": [f"{f} {p}" for f in _TERRITORIAL if f in present for p in periods
                 if (f, p) not in supplied],
    }  # fmt: skip


def ingest_home_office(paths: Sequence[str | Path], out: str | Path) -> Path:
    """Read the publisher's files and write a data folder that ``soteria-eval run`` reads.

    Writes ``panel_force_quarter.csv`` (:func:`rape_force_quarter_panel`),
    ``home_office_provenance.json`` (each source file's SHA-256, format, sheets read and
    skipped, rows read and kept; the rows left out by each rule; every negative count;
    the force-quarters not supplied) and ``metadata.json`` (``synthetic`` is true when a
    source file says it is synthetic). The folder is replaced atomically; on any error
    nothing is written.

    Raises
    ------
    DataValidationError
        As :func:`read_home_office`, or when the files hold no rape rows at all.
    """
    from soteria_eval import __version__
    from soteria_eval._io import AtomicOutputDir, write_json

    data = read_home_office(paths)
    panel, report = rape_force_quarter_panel(data)
    if panel.empty or panel["numerator"].fillna(0).sum() == 0:
        raise DataValidationError([ValidationIssue(
            str(paths[0]), "no-rape-rows",
            f"no row of the rape offence codes ({', '.join(RAPE_CODES)}) in any file",
        )])  # fmt: skip
    target = AtomicOutputDir(Path(out))
    try:
        panel.to_csv(target.tmp / "panel_force_quarter.csv", index=False, lineterminator="\n")
        from soteria_eval.data import load_panel

        load_panel(target.tmp / "panel_force_quarter.csv")  # what a run will read: check it now
        write_json(target.tmp / PROVENANCE_FILE, {
            "generator": f"soteria-eval {__version__} ingest home-office",
            "synthetic": data.synthetic,
            "files": [vars(f) for f in data.files],
            "excluded_from_totals": data.excluded,
            "negative_counts": {"n": len(data.negative), "first": data.negative[:200]},
            "blank_counts_read_as_zero": data.blank_counts,
            "not_available_counts": {"n": len(data.unavailable), "first": data.unavailable[:200]},
            "panel": {"rows": len(panel), "measures": sorted(panel["measure"].unique()),
                      "periods": [panel["period"].min(), panel["period"].max()],
                      "forces": int(panel["unit"].nunique()), **report},
        })  # fmt: skip
        write_json(target.tmp / "metadata.json", {
            "synthetic": data.synthetic,
            "generator": f"soteria-eval {__version__} ingest home-office",
            "source": "Home Office police recorded crime and outcomes open data tables; police "
                      "force area recorded crime tables" + (" (SYNTHETIC test files)" if data.synthetic else ""),
            "files": {Path(f.path).name: f.sha256 for f in data.files},
        })  # fmt: skip
    except BaseException:
        target.abort()
        raise
    target.commit()
    return target.target


def sexual_offences_by_force_fy(data: HomeOfficeData) -> pd.DataFrame:
    """Sum the *Sexual offences* group by force and financial year, in the bundled layout.

    Returns ``force, fy, closed_oocd, closed_charge, recorded_oocd, recorded_charge``
    (charges: outcome type 1; out-of-court disposals: :data:`OOCD_TYPES`), with British
    Transport Police, as in ``sexual_offences_outcomes_by_force_fy.csv``: a check of the
    readers against the bundled file.
    """
    o = data.outcomes[data.outcomes["sexual"]]
    kind = np.select(
        [o["outcome_type"].eq("1"), o["outcome_type"].isin(OOCD_TYPES)], ["charge", "oocd"], ""
    )
    o = o.assign(kind=kind)
    o = o[o["kind"] != ""]
    g = o.groupby(["force", "fy", "kind"])[["count_closed", "count_recorded"]].sum().unstack()
    out = (
        pd.DataFrame(
            {
                "closed_oocd": g[("count_closed", "oocd")],
                "closed_charge": g[("count_closed", "charge")],
                "recorded_oocd": g[("count_recorded", "oocd")],
                "recorded_charge": g[("count_recorded", "charge")],
            }
        )
        .fillna(0)
        .astype("int64")
    )
    return out.reset_index()
