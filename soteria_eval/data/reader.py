"""Read CSV or Parquet files into string tables, reporting unreadable input as issues."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from soteria_eval.data.errors import ValidationIssue


@dataclass(frozen=True)
class RawTable:
    """A file's contents as strings (missing values as ``""``), before typing."""

    file: str
    frame: pd.DataFrame
    header: tuple[str, ...]
    first_row: int  # spreadsheet row number of the first record


def _as_strings(col: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(col):
        out = col.dt.strftime("%Y-%m-%d")
    elif pd.api.types.is_bool_dtype(col):
        out = col.map({True: "true", False: "false"})
    elif pd.api.types.is_float_dtype(col):
        vals = col.to_numpy(dtype=float, na_value=np.nan)
        integral = np.isfinite(vals) & (np.floor(vals) == vals) & (np.abs(vals) < 2**53)
        text = col.astype(str)
        text[integral] = pd.Series(
            vals[integral].astype(np.int64), index=col.index[integral]
        ).astype(str)
        out = text
    else:
        out = col.astype(str)
    result: pd.Series = out.where(col.notna(), "").astype(object)
    return result


def read_raw(path: str | Path) -> tuple[RawTable | None, list[ValidationIssue]]:
    """Read a whole file as strings; return the table or the issues that stop it being read."""
    chunks, issues = iter_raw(path)
    if chunks is None:
        return None, issues
    try:
        return join_chunks(next(chunks), chunks), []
    except pd.errors.ParserError as exc:
        return None, [malformed_csv(path, exc)]


def join_chunks(first: RawTable, rest: Iterator[RawTable]) -> RawTable:
    """Join the chunks of :func:`iter_raw` into one table (may raise ``ParserError``)."""
    more = [c.frame for c in rest]
    if not more:
        return first
    frame = pd.concat([first.frame, *more], ignore_index=True)
    return RawTable(first.file, frame, first.header, first.first_row)


def malformed_csv(path: str | Path, exc: Exception) -> ValidationIssue:
    """Return the issue for a CSV that pandas cannot parse (found reading its chunks)."""
    return ValidationIssue(str(path), "malformed-csv", f"cannot parse the CSV: {exc}")


#: Case-record files are read and checked in chunks of this many rows (bounded memory).
CHUNK_ROWS = 100_000


def _first_invalid_utf8(path: Path) -> tuple[int, int, int] | None:
    """Return (byte offset, byte, line) of the first invalid UTF-8 byte, streaming."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, lines = 0, 1
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                bad = max(exc.start, 0)
                return (
                    offset + bad,
                    block[bad] if bad < len(block) else 0,
                    lines + block[:bad].count(b"\n"),
                )
            offset += len(block)
            lines += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return offset, 0, lines
    return None


def iter_raw(
    path: str | Path, chunk_rows: int | None = None
) -> tuple[Iterator[RawTable] | None, list[ValidationIssue]]:
    """Read a file as strings in chunks of ``chunk_rows`` rows (bounded memory).

    Each chunk is a :class:`RawTable` whose ``first_row`` is its first record's row number
    in the whole file, so issues found in a chunk name the file's rows. The checks that
    stop a file being read (missing, empty, UTF-16, not UTF-8, wrong delimiter) run before
    the first chunk, streaming.
    """
    p = Path(path)
    name = str(path)
    chunk_rows = chunk_rows or CHUNK_ROWS
    if not p.exists():
        return None, [ValidationIssue(name, "file", "file does not exist")]
    if p.is_dir():
        return None, [ValidationIssue(name, "file", "expected a file, got a folder")]
    if p.suffix.lower() in {".parquet", ".pq"}:
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(p)
        except Exception as exc:  # pyarrow raises several types
            return None, [ValidationIssue(name, "format", f"not a readable Parquet file: {exc}")]

        def parquet_chunks() -> Iterator[RawTable]:
            first = 1
            for batch in pf.iter_batches(batch_size=chunk_rows):
                df = batch.to_pandas()
                frame = pd.DataFrame({i: _as_strings(df[c]) for i, c in enumerate(df.columns)})
                yield RawTable(name, frame, tuple(str(c) for c in df.columns), first)
                first += len(df)
            if first == 1:  # no rows: one empty chunk carries the header
                cols = tuple(pf.schema_arrow.names)
                yield RawTable(name, pd.DataFrame({i: [] for i in range(len(cols))}), cols, 1)

        return parquet_chunks(), []
    with p.open("rb") as fh:
        head = fh.read(1 << 16)
    if not head.strip():
        return None, [ValidationIssue(name, "empty-file", "the file is empty (no header, no rows)")]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return None, [ValidationIssue(name, "encoding", "the file is UTF-16; save it as UTF-8 CSV")]
    bad = _first_invalid_utf8(p)
    if bad is not None:
        _, byte, line = bad
        return None, [
            ValidationIssue(
                name,
                "encoding",
                f"the file is not UTF-8 (byte 0x{byte:02x} at line {line}); save it as UTF-8 CSV",
                rows=(line,),
            )
        ]
    first_line = head.decode("utf-8-sig", errors="replace").splitlines()[0]
    if "," not in first_line:
        for delim, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            if delim in first_line:
                return None, [
                    ValidationIssue(
                        name,
                        "delimiter",
                        f"the header is separated by {label}, not commas; save the file as "
                        "comma-separated CSV",
                        rows=(1,),
                    )
                ]
    raw_header = next(iter(pd.read_csv(io.StringIO(first_line), header=None, dtype=str).values))
    raw_names = tuple("" if isinstance(v, float) else str(v) for v in raw_header)

    def csv_chunks() -> Iterator[RawTable]:
        first = 2
        reader = pd.read_csv(
            p,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8-sig",
            chunksize=chunk_rows,
        )
        empty = True
        for df in reader:
            header = raw_names if len(raw_names) == df.shape[1] else tuple(map(str, df.columns))
            df.columns = pd.Index(range(len(header)))
            yield RawTable(name, df, header, first)
            first += len(df)
            empty = False
        if empty:
            yield RawTable(name, pd.DataFrame({i: [] for i in range(len(raw_names))}), raw_names, 2)

    return csv_chunks(), []
