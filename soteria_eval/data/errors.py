"""Typed validation errors that say where the problem is and which rule it breaks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: How many row numbers an issue lists before summarising the rest.
MAX_ROWS_SHOWN = 10


@dataclass(frozen=True)
class ValidationIssue:
    """One problem found in an input file.

    Attributes
    ----------
    file : str
        The file (as given by the user).
    rule : str
        Short id of the rule broken (e.g. ``"type"``, ``"unknown-unit"``).
    message : str
        What is wrong, in words a person can act on.
    column : str or None
        The column, if the problem belongs to one.
    rows : tuple of int
        Row numbers as a spreadsheet shows them: the header is row 1, so the first record
        is row 2 (Parquet files have no header row; their first record is row 1).
    """

    file: str
    rule: str
    message: str
    column: str | None = None
    rows: tuple[int, ...] = ()

    def location(self) -> str:
        """Return ``column 'x', rows 2, 5`` style text (empty if neither is known)."""
        parts = []
        if self.column is not None:
            parts.append(f"column '{self.column}'")
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:MAX_ROWS_SHOWN])
            more = len(self.rows) - MAX_ROWS_SHOWN
            word = "row" if len(self.rows) == 1 else "rows"
            parts.append(f"{word} {shown}" + (f" (+{more} more)" if more > 0 else ""))
        return ", ".join(parts)

    def __str__(self) -> str:
        loc = self.location()
        return f"{self.file}: {loc + ': ' if loc else ''}[{self.rule}] {self.message}"


class DataValidationError(ValueError):
    """Raised when an input file breaks one or more rules; carries every issue found."""

    def __init__(self, issues: Sequence[ValidationIssue]) -> None:
        self.issues: tuple[ValidationIssue, ...] = tuple(issues)
        files = sorted({i.file for i in self.issues})
        head = f"{len(self.issues)} problem(s) in {', '.join(files)}"
        super().__init__(head + "\n" + "\n".join(f"  - {i}" for i in self.issues))

    @property
    def rules(self) -> set[str]:
        """The distinct rule ids broken."""
        return {i.rule for i in self.issues}
