"""Read CSV or Parquet files into string tables, reporting unreadable input as issues."""

from __future__ import annotations

import io
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
    """Read a file as strings; return the table or the issues that stop it being read."""
    p = Path(path)
    name = str(path)
    if not p.exists():
        return None, [ValidationIssue(name, "file", "file does not exist")]
    if p.is_dir():
        return None, [ValidationIssue(name, "file", "expected a file, got a folder")]
    if p.suffix.lower() in {".parquet", ".pq"}:
        try:
            df = pd.read_parquet(p)
        except Exception as exc:  # pyarrow raises several types
            return None, [ValidationIssue(name, "format", f"not a readable Parquet file: {exc}")]
        frame = pd.DataFrame({i: _as_strings(df[c]) for i, c in enumerate(df.columns)})
        return RawTable(name, frame, tuple(str(c) for c in df.columns), 1), []
    data = p.read_bytes()
    if not data.strip():
        return None, [ValidationIssue(name, "empty-file", "the file is empty (no header, no rows)")]
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return None, [ValidationIssue(name, "encoding", "the file is UTF-16; save it as UTF-8 CSV")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, [
            ValidationIssue(
                name,
                "encoding",
                f"the file is not UTF-8 (byte 0x{data[exc.start]:02x} at line {line}); "
                "save it as UTF-8 CSV",
                rows=(line,),
            )
        ]
    first_line = text.splitlines()[0]
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
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.ParserError as exc:
        return None, [ValidationIssue(name, "malformed-csv", f"cannot parse the CSV: {exc}")]
    header = tuple(str(c) for c in df.columns)
    # pandas renames duplicate headers to "x.1": report them from the raw first line instead
    raw_header = next(iter(pd.read_csv(io.StringIO(first_line), header=None, dtype=str).values))
    raw_names = tuple("" if isinstance(v, float) else str(v) for v in raw_header)
    if len(raw_names) == len(header):
        header = raw_names
    df.columns = pd.Index(range(len(header)))
    return RawTable(name, df, header, 2), []
