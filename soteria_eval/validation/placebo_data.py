"""Real panels for placebo studies: the Home Office quarterly file and the package's panels.

:func:`placebo_panel` reads a file, validates it against its schema in the data
dictionary (errors name the file, column, rows and rule), picks one outcome, puts it on
the scale the pipeline analyses it on (log counts; rates in percentage points) and
returns a wide force × period panel over a window before any programme.

Two layouts are read:

* the Home Office all-offences outcomes file (``force, fy, q`` and the counts,
  :func:`soteria_eval.datasets.load_all_offences_outcomes`), as published: British
  Transport Police is left out (not a territorial force), and cells that
  :func:`~soteria_eval.datasets.quarterly_quality_flags` warns about in a column the
  outcome uses are treated as missing, so their force leaves the balanced panel (named
  in the notes) unless ``keep_flagged``;
* the package's long panels (``level, unit, period, measure, value, ...``,
  :func:`soteria_eval.data.load_panel`), one measure at a time, at force level.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from soteria_eval.validation.placebo import wide_outcome

#: The window of the Home Office file before any programme: 2014/15 Q1 to 2019/20 Q1
#: (Avon and Somerset's precursor, Project Bluestone, ran from 2019/20).
HOME_OFFICE_WINDOW: tuple[str, str] = ("2014-Q2", "2019-Q2")
#: The first month of the programme (phase 1): default windows end before it.
PROGRAMME_START = pd.Timestamp("2021-09-01")
NON_TERRITORIAL = ("British Transport Police",)


class PlaceboInputError(ValueError):
    """The file, outcome or window cannot be used for a placebo study (message names which)."""


@dataclass(frozen=True)
class PlaceboPanel:
    """A wide outcome panel and what was done to get it.

    Attributes
    ----------
    values : pandas.DataFrame
        Units × periods on the analysis scale.
    outcome : str
        The outcome's label (``COLUMN`` or ``NUMERATOR/DENOMINATOR``).
    scale : str
        ``"log"`` or ``"percentage points"`` (or the catalogue's scale of a panel measure).
    data_label : str
        ``"real (published)"``, ``"real"`` or ``"synthetic"``.
    notes : tuple of str
        Units and cells left out, and why.
    """

    values: pd.DataFrame
    outcome: str
    scale: str
    data_label: str
    notes: tuple[str, ...]


def _layout(path: Path) -> str:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            header = fh.readline(100_000).strip().split(",")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlaceboInputError(f"{path}: cannot be read as a CSV file ({exc})") from exc
    cols = {c.strip().strip('"') for c in header}
    if {"force", "fy", "q"} <= cols:
        return "home_office"
    if {"level", "unit", "period", "measure", "value"} <= cols:
        return "panel"
    raise PlaceboInputError(
        f"{path}: neither the Home Office quarterly outcomes layout (force, fy, q, counts) "
        "nor a soteria-eval panel (level, unit, period, measure, value); header starts "
        f"{', '.join(header[:6])}"
    )


def _window(periods: list[str], window: tuple[str, str] | None, default: tuple[str, str],
            path: Path) -> tuple[str, str]:  # fmt: skip
    lo, hi = window or default
    if lo > hi:
        raise PlaceboInputError(f"window {lo}:{hi}: the first period comes after the last")
    inside = [p for p in periods if lo <= p <= hi]
    if not inside:
        raise PlaceboInputError(
            f"{path}: no period in the window {lo}:{hi} (the file has {periods[0]} to {periods[-1]})"
        )
    return lo, hi


def _home_office(path: Path, outcome: str, rate: tuple[str, str] | None,
                 window: tuple[str, str] | None, keep_flagged: bool) -> PlaceboPanel:  # fmt: skip
    from soteria_eval.datasets import load_all_offences_outcomes

    frame = load_all_offences_outcomes(path)
    used = list(rate) if rate else [outcome]
    counts = [c for c in frame.columns if c.startswith(("closed_", "recorded_"))]
    unknown = [c for c in used if c not in counts]
    if unknown:
        raise PlaceboInputError(
            f"{path}: column {unknown[0]!r} is not a count of the file; counts are named "
            "{closed|recorded}_{all|ex_fraud}_{t1|t2|t3|t6|t7|t8|t22|oocd|positive|assigned}"
        )
    notes = [f"{', '.join(NON_TERRITORIAL)} left out (not a territorial force)"]
    frame = frame[~frame["force"].isin(NON_TERRITORIAL)]
    lo, hi = _window(sorted(frame["period"].unique()), window, HOME_OFFICE_WINDOW, path)
    inside = frame[(frame["period"] >= lo) & (frame["period"] <= hi)].copy()
    flags = frame.attrs["flags"]
    warn = flags[(flags["severity"] == "warning") & flags["column"].isin(used)]
    key = pd.MultiIndex.from_frame(inside[["force", "fy", "q"]])
    bad = key.isin(pd.MultiIndex.from_frame(warn[["force", "fy", "q"]]))
    if bad.any():
        cells = inside.loc[bad, ["force", "period"]]
        listed = "; ".join(f"{f} {p}" for f, p in zip(cells["force"], cells["period"], strict=True))
        if keep_flagged:
            notes.append(f"{int(bad.sum())} flagged cell(s) kept as published: {listed}")
        else:
            for c in used:
                inside[c] = inside[c].astype(float).where(~bad)
            notes.append(
                f"{int(bad.sum())} cell(s) flagged by the quality checks treated as missing, so "
                f"their force is left out: {listed}"
            )
    label = f"{rate[0]}/{rate[1]}" if rate else outcome
    wide = wide_outcome(inside, label, rate=rate, unit="force", period="period")
    return PlaceboPanel(wide, label, "percentage points" if rate else "log",
                        "real (published)", tuple(notes))  # fmt: skip


def _panel(path: Path, outcome: str, window: tuple[str, str] | None) -> PlaceboPanel:
    from soteria_eval.data import load_panel
    from soteria_eval.dictionary import load_catalogue
    from soteria_eval.estimands import SCALES
    from soteria_eval.periods import labels_to_periods

    frame = load_panel(path)
    freq = frame.attrs["freq"]
    frame = frame[frame["level"] == "force"]
    if frame.empty:
        raise PlaceboInputError(f"{path}: the panel has no force-level rows (level = force)")
    measures = sorted(frame["measure"].unique())
    if outcome not in measures:
        raise PlaceboInputError(
            f"{path}: measure {outcome!r} is not in the panel; it has {', '.join(measures)}"
        )
    rows = frame[frame["measure"] == outcome]
    kind = load_catalogue()[outcome].type
    periods = sorted(rows["period"].astype(str).unique())
    ends = labels_to_periods(periods, freq).end_time
    before = [p for p, e in zip(periods, ends, strict=True) if e < PROGRAMME_START]
    if not before:
        raise PlaceboInputError(
            f"{path}: no period of {outcome!r} before the programme (Sept 2021)"
        )
    lo, hi = _window(periods, window, (before[0], before[-1]), path)
    synthetic = rows["synthetic"].astype(str).str.lower().isin(["yes", "true", "1"]).any()
    scale = SCALES[kind]
    values = rows.assign(v=rows["value"].astype(float))
    wide = wide_outcome(values, "v", unit="unit", period="period", window=(lo, hi),
                        scale="log" if scale.transform == "log" else "level")  # fmt: skip
    if scale.transform != "log":
        wide = wide * scale.multiplier
    return PlaceboPanel(wide, outcome, scale.unit, "synthetic" if synthetic else "real", ())


def placebo_panel(
    path: str | Path,
    outcome: str,
    *,
    rate: tuple[str, str] | None = None,
    window: tuple[str, str] | None = None,
    keep_flagged: bool = False,
) -> PlaceboPanel:
    """Read a real panel for :func:`~soteria_eval.validation.placebo.placebo_study`.

    Parameters
    ----------
    path : str or Path
        The Home Office quarterly outcomes file, or a package panel (long format).
    outcome : str
        A count column of the Home Office file (analysed as its log), or a measure of the
        panel (on its analysis scale).
    rate : (str, str), optional
        Home Office file only: numerator and denominator columns; the outcome is then
        ``100 * numerator / denominator`` (percentage points).
    window : (str, str), optional
        First and last period. Default: 2014/15 Q1 to 2019/20 Q1 for the Home Office
        file; every period that ends before September 2021 for a panel.
    keep_flagged : bool
        Keep cells the quality checks warn about (default: treat them as missing).

    Raises
    ------
    PlaceboInputError, soteria_eval.data.DataValidationError
        With the file and what is wrong.
    """
    p = Path(path)
    if not p.is_file():
        raise PlaceboInputError(f"{p}: no such file")
    layout = _layout(p)
    if layout == "home_office":
        return _home_office(p, outcome, rate, window, keep_flagged)
    if rate is not None:
        raise PlaceboInputError(
            f"{p}: --rate is for the Home Office file; a panel's rates are measures (name one)"
        )
    return _panel(p, outcome, window)


def parse_rate(text: str | None) -> tuple[str, str] | None:
    """``"NUMERATOR/DENOMINATOR"`` as a pair of column names (None stays None)."""
    if text is None:
        return None
    parts = [s.strip() for s in text.split("/")]
    if len(parts) != 2 or not all(parts):
        raise PlaceboInputError(f"--rate {text!r}: write NUMERATOR/DENOMINATOR (two column names)")
    return parts[0], parts[1]


def parse_window(text: str | None) -> tuple[str, str] | None:
    """``"FIRST:LAST"`` period labels as a pair (None stays None)."""
    if text is None:
        return None
    parts = [s.strip() for s in text.split(":")]
    if len(parts) != 2 or not all(parts):
        raise PlaceboInputError(f"--window {text!r}: write FIRST:LAST, e.g. 2014-Q2:2019-Q2")
    return parts[0], parts[1]


def parse_starts(text: str) -> tuple[int, int]:
    """``"FIRST:LAST"`` whole numbers as a pair."""
    parts = [s.strip() for s in text.split(":")]
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise PlaceboInputError(f"--starts {text!r}: write FIRST:LAST, two whole numbers like 9:17")
    return int(parts[0]), int(parts[1])


__all__ = [
    "HOME_OFFICE_WINDOW",
    "PlaceboInputError",
    "PlaceboPanel",
    "parse_rate",
    "parse_starts",
    "parse_window",
    "placebo_panel",
]
