"""Stream the rows of a spreadsheet: ODS, XLSX or CSV, one sheet at a time.

The publishers' workbooks are large (a year of the Home Office outcomes tables is about
40 MB of ODS, several hundred MB of XML once unzipped), so nothing here loads a whole
sheet: ODS and XLSX are read with :func:`xml.etree.ElementTree.iterparse` over the zipped
XML, each row is handed on as soon as it is complete, and its element is then freed.
Only the standard library is used.

Each reader yields ``(sheet_name, rows)`` where ``rows`` yields ``(row_number, cells)``:
``row_number`` as a spreadsheet shows it (the first row is 1) and ``cells`` a list of
``str``, ``float`` or ``None`` (empty). Trailing empty cells are dropped and empty rows
skipped. The row iterator of one sheet must be consumed (or abandoned) before the next
sheet is asked for.
"""

from __future__ import annotations

import csv
import html
import io
import re
import zipfile
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import iterparse

Cell = str | float | None
Rows = Iterator[tuple[int, list[Cell]]]
Sheets = Iterator[tuple[str, Rows]]

__all__ = ["Cell", "Rows", "Sheets", "WorkbookError", "iter_sheets"]

_ODS_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_ODS_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_ODS_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
_XLSX_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_XLSX_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
#: A non-empty row repeated more often than this is refused (a real table never does it).
MAX_REPEAT = 10_000
#: The largest sheet a spreadsheet program makes: 1,048,576 rows by 16,384 columns (XFD).
MAX_ROW, MAX_COL = 1_048_576, 16_384
#: More shared strings than this is refused (a year of outcomes tables has a few thousand).
MAX_SHARED_STRINGS = 1_000_000
#: Cells repeated up to this many times are expanded once and cached (see ``_cells``).
_FAST_REPEAT = 64
#: Cache markers: an empty cell, or a filled one, repeated more than _FAST_REPEAT times.
_EMPTY_RUN = object()
_LONG_RUN = object()


class WorkbookError(ValueError):
    """A file cannot be read as the spreadsheet its name says it is."""


def iter_sheets(path: Path) -> Sheets:
    """Yield ``(sheet_name, rows)`` for every sheet of an ODS, XLSX or CSV file.

    The format is chosen by the file's suffix (``.ods``, ``.xlsx``, ``.csv``); a CSV file
    is one sheet named ``""``.

    Raises
    ------
    WorkbookError
        Unknown suffix, or a file that is not the zip or XML the suffix promises.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        yield "", _csv_rows(path)
    elif suffix == ".ods":
        yield from _ods_sheets(path)
    elif suffix == ".xlsx":
        yield from _xlsx_sheets(path)
    else:
        raise WorkbookError(f"{path}: not an .ods, .xlsx or .csv file")


def _csv_rows(path: Path) -> Rows:
    raw = path.read_bytes()[:4]
    encoding = "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    with path.open(encoding=encoding, newline="") as fh:
        try:
            for i, row in enumerate(csv.reader(fh), start=1):
                cells: list[Cell] = [c.strip() or None for c in row]
                while cells and cells[-1] is None:
                    cells.pop()
                if cells:
                    yield i, cells
        except UnicodeDecodeError as exc:
            raise WorkbookError(f"{path}: not UTF-8 text ({exc.reason})") from exc


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise WorkbookError(f"{path}: not a spreadsheet (not a zip archive: {exc})") from exc


def _ods_sheets(path: Path) -> Sheets:
    """Stream an ODS ``content.xml`` by scanning its bytes for rows.

    An element-tree parse spends most of its time creating an object for every element
    (about 25 per row); the scanner instead finds each ``table-row`` with a compiled
    regular expression and decodes only its cells. The namespace prefixes are read from
    the document's own declarations.
    """
    zf = _open_zip(path)
    with zf:
        try:
            stream = zf.open("content.xml")
        except KeyError as exc:
            raise WorkbookError(f"{path}: not an ODS file (no content.xml)") from exc
        with stream:
            yield from _OdsScanner(stream, path).sheets()


class _OdsScanner:
    CHUNK = 1 << 23

    def __init__(self, stream: IO[bytes], path: Path) -> None:
        self.stream, self.path = stream, path
        self.buf = b""
        self.pos = 0
        self.eof = False
        head = self._fill_until(lambda: b"office:body" in self.buf or b":body" in self.buf)
        t = self._prefix(_ODS_TABLE, head, b"table")
        x = self._prefix(_ODS_TEXT, head, b"text")
        o = self._prefix(_ODS_OFFICE, head, b"office")
        te = re.escape(t)
        self.token = re.compile(
            rb"<"
            + te
            + rb":table(?=[\s>])([^>]*)>|</"
            + te
            + rb":table>|<"
            + te
            + rb":table-row(?=[\s>/])([^>]*?)(/?)>"
        )
        self.row_end = b"</" + t + b":table-row>"
        self.cell = re.compile(
            rb"<"
            + te
            + rb":(?:covered-)?table-cell(?=[\s>/])([^>]*?)(?:/>|>(.*?)</"
            + te
            + rb":(?:covered-)?table-cell>)",
            re.S,
        )
        self.attr = re.compile(rb"([\w.-]+:[\w.-]+)=\"([^\"]*)\"")
        self.para = re.compile(rb"<" + re.escape(x) + rb":p(?:\s[^>]*)?(?:/>|>(.*?)</"
                               + re.escape(x) + rb":p>)", re.S)  # fmt: skip
        self.space = re.compile(rb"<" + re.escape(x) + rb':s(?=[\s/])[^>]*?(?::c="(\d+)")?\s*/>')
        self.tags = re.compile(rb"<[^>]*>")
        self.a_name = t + b":name"
        self.a_rows = t + b":number-rows-repeated"
        self.a_cols = t + b":number-columns-repeated"
        self.a_type = o + b":value-type"
        self.a_value = o + b":value"
        self._cache: dict[bytes, list[Cell] | object] = {}
        self.cell_open = b"<" + t + b":table-cell"
        self.covered = b"<" + t + b":covered-table-cell"

    @staticmethod
    def _prefix(uri: str, head: bytes, default: bytes) -> bytes:
        m = re.search(rb'xmlns:([\w.-]+)="' + re.escape(uri.encode()) + rb'"', head)
        return m.group(1) if m else default

    def _read(self) -> bool:
        if self.eof:
            return False
        chunk = self.stream.read(self.CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        return True

    def _fill_until(self, cond: object) -> bytes:
        while not cond() and self._read():  # type: ignore[operator]
            pass
        return self.buf

    def sheets(self) -> Sheets:
        while True:
            m = self.token.search(self.buf, self.pos)
            if m is None:
                keep = max(self.pos, len(self.buf) - 512)  # a token may straddle chunks
                self.pos = keep
                if not self._read():
                    return
                continue
            if not m.group(0).startswith(b"</") and m.group(2) is None:  # a table starts
                self.pos = m.end()
                attrs = dict(self.attr.findall(m.group(1) or b""))
                name = attrs.get(self.a_name, b"").decode("utf-8")
                rows = self._rows()
                yield html.unescape(name), rows
                for _ in rows:
                    pass
            else:
                self.pos = m.end()

    def _rows(self) -> Rows:
        number = 0
        while True:
            m = self.token.search(self.buf, self.pos)
            if m is None:
                self.pos = max(self.pos, len(self.buf) - 512)
                if not self._read():
                    return
                continue
            whole = m.group(0)
            if whole.startswith(b"</"):  # end of the table
                self.pos = m.end()
                return
            if m.group(2) is None:
                raise WorkbookError(f"{self.path}: a table inside a table is not supported")
            row_attrs = m.group(2)
            repeat = (
                int(dict(self.attr.findall(row_attrs)).get(self.a_rows, b"1")) if row_attrs else 1
            )
            if m.group(3) == b"/":
                self.pos = m.end()
                number += repeat
                continue
            end = self.buf.find(self.row_end, m.end())
            while end < 0:
                start = m.start() - self.pos
                if not self._read():
                    raise WorkbookError(f"{self.path}: content.xml ends inside a row")
                end = self.buf.find(self.row_end, start)
                m = self.token.search(self.buf, start)
                assert m is not None
            body = self.buf[m.end() : end]
            self.pos = end + len(self.row_end)
            cells = self._cells(body)
            if cells:
                if repeat > MAX_REPEAT:
                    raise WorkbookError(f"{self.path}: row {number + 1} repeats {repeat} times")
                if repeat == 1:
                    yield number + 1, cells
                else:
                    for k in range(repeat):
                        yield number + k + 1, list(cells)
            number += repeat

    def _cells(self, body: bytes) -> list[Cell]:
        """Decode one row's cells.

        Each distinct cell's bytes are decoded once into the list of values it stands for
        (a repeated cell gives several); a row is then the concatenation of its cells'
        lists, built in C. A cell repeated more than :data:`_FAST_REPEAT` times takes the
        general path, except empty cells at the end of the row (a spreadsheet program
        pads every row with them), which are dropped.
        """
        if self.covered in body:  # merged cells: the general pattern
            keys: list[bytes] = [m.group(0) for m in self.cell.finditer(body)]
        else:  # one split in C; each piece is one cell's bytes, which repeat a lot
            keys = body.split(self.cell_open)[1:]
        cache = self._cache
        try:
            parts = [cache[k] for k in keys]
        except KeyError:
            parts = [cache[k] if k in cache else self._remember(k) for k in keys]
        while parts and parts[-1] is _EMPTY_RUN:
            parts.pop()
        if _EMPTY_RUN in parts or _LONG_RUN in parts:
            return self._cells_slow(keys)
        cells: list[Cell] = list(chain.from_iterable(parts))  # type: ignore[arg-type]
        while cells and cells[-1] is None:
            cells.pop()
        return cells

    def _remember(self, key: bytes) -> list[Cell] | object:
        n, val = self._decode(key)
        if n > _FAST_REPEAT:
            entry: list[Cell] | object = _EMPTY_RUN if val is None else _LONG_RUN
        else:
            entry = [val] * n
        if len(self._cache) > 100_000:  # the distinct cells of a table are far fewer
            self._cache.clear()
        self._cache[key] = entry
        return entry

    def _decode(self, key: bytes) -> tuple[int, Cell]:
        m = self.cell.match(key if key.startswith(b"<") else self.cell_open + key)
        return self._cell(m.group(1), m.group(2) or b"") if m else (1, None)

    def _cells_slow(self, keys: list[bytes]) -> list[Cell]:
        cells: list[Cell] = []
        pending = 0
        for key in keys:
            n, val = self._decode(key)
            if val is None:
                pending += n
                continue
            if pending:
                cells.extend([None] * pending)
                pending = 0
            cells.extend([val] * min(n, MAX_REPEAT))
        return cells

    def _cell(self, attrs_raw: bytes, inner: bytes) -> tuple[int, Cell]:
        attrs = dict(self.attr.findall(attrs_raw)) if attrs_raw else {}
        n = int(attrs.get(self.a_cols, b"1"))
        kind = attrs.get(self.a_type)
        if kind is None:
            return n, None
        if kind in (b"float", b"percentage", b"currency"):
            return n, float(attrs.get(self.a_value, b"nan"))
        return n, self._text(inner) or None  # string, and date, time, boolean as shown

    def _text(self, inner: bytes) -> str:
        paras = self.para.findall(inner)
        out = []
        for p in paras:
            p = self.space.sub(lambda m: b" " * int(m.group(1) or 1), p)
            out.append(html.unescape(self.tags.sub(b"", p).decode("utf-8")))
        return "\n".join(out)


def _col_index(ref: str) -> int:
    """Zero-based column of a cell reference such as ``AB12`` (-1: no column letters).

    Reading stops past the last column a sheet can have (:data:`MAX_COL`), so a reference
    such as ``ZZZZZZZZ2`` gives a number just beyond it, not a list of billions of cells.
    """
    n = 0
    for ch in ref:
        if "A" <= ch <= "Z":
            n = n * 26 + ord(ch) - 64
            if n > MAX_COL:
                return MAX_COL
        else:
            break
    return n - 1


def _xlsx_sheets(path: Path) -> Sheets:
    zf = _open_zip(path)
    m = f"{{{_XLSX_MAIN}}}"
    with zf:
        try:
            workbook = zf.read("xl/workbook.xml")
            rels = zf.read("xl/_rels/workbook.xml.rels")
        except KeyError as exc:
            raise WorkbookError(f"{path}: not an XLSX file ({exc})") from exc
        targets = {}
        for _, el in iterparse(io.BytesIO(rels)):
            if el.tag == f"{{{_PKG_REL}}}Relationship":
                target = el.get("Target", "").lstrip("/")
                targets[el.get("Id")] = target if target.startswith("xl/") else f"xl/{target}"
        sheets = []
        for _, el in iterparse(io.BytesIO(workbook)):
            if el.tag == f"{m}sheet":
                sheets.append((el.get("name", ""), targets.get(el.get(f"{{{_XLSX_REL}}}id"))))
        strings: list[str] = []
        if "xl/sharedStrings.xml" in zf.namelist():
            with zf.open("xl/sharedStrings.xml") as fh:
                try:
                    for _, el in iterparse(fh):
                        if el.tag == f"{m}si":
                            if len(strings) >= MAX_SHARED_STRINGS:
                                raise WorkbookError(
                                    f"{path}: more than {MAX_SHARED_STRINGS:,} shared strings; "
                                    "not a publisher's table"
                                )
                            strings.append("".join(t.text or "" for t in el.iter(f"{m}t")))
                            el.clear()
                except SyntaxError as exc:
                    raise WorkbookError(
                        f"{path}: the shared strings are not well-formed XML ({exc})"
                    ) from exc
        for name, part in sheets:
            if part is None or part not in zf.namelist():
                raise WorkbookError(f"{path}: sheet {name!r} has no worksheet part")
            with zf.open(part) as fh:
                rows = _xlsx_rows(fh, strings, path, name)
                yield name, rows
                for _ in rows:
                    pass


def _xlsx_rows(fh: IO[bytes], strings: list[str], path: Path,
               sheet: str) -> Rows:  # fmt: skip
    m = f"{{{_XLSX_MAIN}}}"
    row_tag, c_tag, v_tag, is_tag, t_tag = f"{m}row", f"{m}c", f"{m}v", f"{m}is", f"{m}t"
    number = 0

    def bad(where: str, what: str) -> WorkbookError:
        return WorkbookError(f"{path}: sheet {sheet!r}, {where}: {what}")

    try:
        for _, el in iterparse(fh):
            if el.tag != row_tag:
                continue
            r = el.get("r")
            if r is None:
                number += 1
            elif not r.isdigit() or not 1 <= int(r) <= MAX_ROW:
                raise bad(f"after row {number}", f"row number {r[:20]!r} is not 1 to {MAX_ROW:,}")
            else:
                number = int(r)
            cells: list[Cell] = []
            for c in el.iter(c_tag):
                ref = c.get("r")
                col = _col_index(ref) if ref else len(cells)
                where = f"row {number}, cell {(ref or '?')[:20]}"
                if col >= MAX_COL or col < 0:
                    raise bad(where, "the cell reference is not a column A to XFD")
                t = c.get("t", "n")
                val: Cell = None
                if t == "inlineStr":
                    node = c.find(is_tag)
                    val = (
                        "".join(x.text or "" for x in node.iter(t_tag))
                        if node is not None
                        else None
                    )
                else:
                    v = c.find(v_tag)
                    if v is not None and v.text is not None:
                        text = v.text.strip()
                        if t == "s":
                            if not text.isdigit() or int(text) >= len(strings):
                                raise bad(
                                    where,
                                    f"shared string {text[:20]!r} is not one of the "
                                    f"{len(strings):,} in the file",
                                )
                            val = strings[int(text)]
                        elif t == "n":
                            try:
                                val = float(text)
                            except ValueError:
                                raise bad(where, f"number cell holds {text[:20]!r}") from None
                        else:  # str (formula result), b, e, d: as written
                            val = v.text
                if val is None or val == "":
                    continue
                if col > len(cells):
                    cells.extend([None] * (col - len(cells)))
                if col < len(cells):
                    cells[col] = val
                else:
                    cells.append(val)
            el.clear()
            if cells:
                yield number, cells
    except SyntaxError as exc:
        raise WorkbookError(f"{path}: sheet {sheet!r} is not well-formed XML ({exc})") from exc
