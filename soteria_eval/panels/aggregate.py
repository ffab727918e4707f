"""Case records to area-by-period panels, for every measure the records can give.

Each measure is counted by the date of the event it describes (reports by report date,
charges by charge date, ...). Counts, numerators and denominators are accumulated with
``numpy.bincount`` over a combined unit-and-period key, so a million records aggregate in
a few seconds for every panel at once. Timeliness handles right-censoring two ways: the
closed-case mean or median by event period, and censoring-aware measures by report
cohort (a Kaplan–Meier median, and the share charged within a fixed 365-day window for
cohorts followed up that long).

Cases of the Metropolitan Police are split between London North and London South at
CPS-Area level by a fixed hash of the case id (about half each, the 50/50 split of
:data:`soteria_eval.geography.MET_AREA_SPLIT`; the same case always goes to the same Area).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from soteria_eval.geography import Geography, load_geography
from soteria_eval.panels.survival import km_quantile_by_group
from soteria_eval.periods import Frequency, date_to_period, pandas_freq, period_label

Statistic = Literal["sum", "ratio", "mean", "median", "km_median"]
Bool = NDArray[np.bool_]
Floats = NDArray[np.float64]

#: Panels built by default: (level, frequency).
DEFAULT_PANELS: tuple[tuple[str, Frequency], ...] = (
    ("force", "month"),
    ("force", "quarter"),
    ("area", "quarter"),
    ("force", "fy"),
    ("area", "fy"),
)
PANEL_COLUMNS = (
    "level",
    "unit",
    "period",
    "measure",
    "value",
    "numerator",
    "denominator",
    "small_cell",
    "synthetic",
)


def _codes(col: pd.Series) -> NDArray[np.object_]:
    """Return a text column as objects whose missing values compare unequal to every code.

    An object column is returned as a view (no copy of a big extract): its ``None`` and
    NaN already compare unequal. Other dtypes (``string``: ``pd.NA`` would propagate) are
    converted with missing values as ``""``.
    """
    if col.dtype == object:
        return col.to_numpy(dtype=object)
    return col.to_numpy(dtype=object, na_value="")


@dataclass(frozen=True)
class CaseArrays:
    """Case-record columns as numpy arrays (days since 1970 for dates; NaN when missing)."""

    n: int
    day: dict[str, NDArray[np.floating[Any]]]
    flag: dict[str, Bool]
    text: dict[str, NDArray[Any]]
    num: dict[str, Floats]
    extract: float
    force: NDArray[np.object_] | None = None
    force_code: NDArray[np.int64] | None = None
    forces: tuple[str, ...] = ()
    met_case_ids: NDArray[np.object_] | None = None
    window: tuple[str, str] | None = None
    synthetic: bool = False
    _memo: dict[str, Bool] = field(default_factory=dict, repr=False, compare=False)

    def memo(self, name: str, make: Callable[[], Bool]) -> Bool:
        """Return the case selection ``name``, made once per arrays by ``make()``.

        Several measures share a selection (charged, decided, closed cases); each is a
        comparison over every case, so aggregating at two frequencies, or many measures,
        computes it once.
        """
        if name not in self._memo:
            made = make()
            made.flags.writeable = False  # shared by every measure: never changed in place
            self._memo[name] = made
        return self._memo[name]

    @classmethod
    def from_frame(cls, cases: pd.DataFrame, extract_date: str | None = None) -> CaseArrays:
        """Take the columns the measures need from a case-records frame."""
        day = {}
        for c in cases.columns:
            # The offence date dates no measure: not copied (memory on big extracts).
            if c.endswith("_date") and c != "offence_date":
                vals = cases[c].to_numpy(dtype="datetime64[D]")
                # 32-bit floats hold every day number exactly (memory on big extracts); the
                # measures compute durations in 64 bits (see _days).
                days = vals.view(np.int64).astype(np.float32)
                days[np.isnat(vals)] = np.nan
                day[c] = days
        flag = {
            c: cases[c].fillna(False).to_numpy(dtype=bool)
            for c in (
                "early_advice",
                "guilty_plea_first_hearing",
                "isva_engaged",
                "withdrew_after_charge",
                "vrr_request",
            )
        }
        text = {c: _codes(cases[c]) for c in ("outcome", "charge_decision", "verdict")}
        num: dict[str, Floats] = {
            c: np.asarray(
                cases[c].astype("Float64").to_numpy(dtype=float, na_value=np.nan), dtype=np.float64
            )
            for c in ("action_plans", "satisfaction")
        }
        if extract_date is None:
            extract_date = cases.attrs.get("extract_date")
        if extract_date is None:
            extract_date = str(
                max(np.nanmax(v) for v in day.values()).astype("int64").astype("datetime64[D]")
            )
        window = cases.attrs.get("window")
        if window is None and len(cases):
            window = (str(cases["report_date"].min())[:7], str(cases["report_date"].max())[:7])
        synthetic = bool(cases["synthetic"].fillna(False).all()) if "synthetic" in cases else False
        force = cases["force"].to_numpy(dtype=object) if "force" in cases else None
        met = None
        if force is not None and "case_id" in cases:
            # Only the Met's ids become Python strings (all of them would cost ~60 bytes each).
            met = cases.loc[force == "Metropolitan Police", "case_id"].to_numpy(dtype=object)
        return cls(
            len(cases),
            day,
            flag,
            text,
            num,
            float(np.datetime64(extract_date, "D").astype(np.int64)),
            force=force,
            met_case_ids=met,
            window=None if window is None else (str(window[0]), str(window[1])),
            synthetic=synthetic,
        )

    def unit_codes(self, level: str, geo: Geography) -> tuple[NDArray[np.int64], list[str]]:
        """Panel unit of every case (force, or CPS Area with the Met split by case id)."""
        forces = list(geo.forces)
        if self.force_code is not None and tuple(self.forces) == tuple(forces):
            fcodes = self.force_code
        else:
            if self.force is None:
                raise ValueError("case records have no force column")
            # factorize hashes the ~44 distinct names; a Categorical of millions of strings
            # would need several times the memory on a national extract.
            codes, uniques = pd.factorize(self.force)
            if (codes < 0).any():
                raise ValueError("case records have a missing force")
            where = pd.Index(forces).get_indexer(pd.Index(uniques))
            if (where < 0).any():
                unknown = sorted(str(u) for u in np.asarray(uniques)[where < 0])
                raise ValueError(f"case records name unknown forces {unknown[:5]}")
            fcodes = where.astype(np.int64)[codes]
        if level == "force":
            return fcodes, forces
        units = list(geo.areas)
        pos = {a: i for i, a in enumerate(units)}
        first = np.array([pos[geo.force_areas[f][0]] for f in forces], dtype=np.int64)
        codes = first[fcodes]
        met_code = forces.index("Metropolitan Police") if "Metropolitan Police" in forces else -1
        met = fcodes == met_code
        if met.any():
            areas = geo.force_areas["Metropolitan Police"]
            if self.met_case_ids is None or len(self.met_case_ids) != int(met.sum()):
                raise ValueError("Area panels need the case ids of Metropolitan Police cases")
            bucket = np.asarray(
                pd.util.hash_array(self.met_case_ids) % np.uint64(len(areas)), dtype=np.int64
            )
            codes[met] = np.array([pos[a] for a in areas])[bucket]
        return codes, units


@dataclass(frozen=True)
class MeasureSpec:
    """How a measure is computed from case arrays.

    ``date`` picks the period; ``base`` selects the cases counted (the denominator, or the
    count itself for counts); ``hit`` selects the numerator among them (ratios); ``x`` is
    the value averaged (means, medians). With ``hit_date`` the numerator is not a subset of
    the denominator's cases but the cases with ``hit`` dated in the period by
    ``hit_date`` (an *outcome rate*, as the Home Office publishes it: outcomes assigned
    in the period over offences recorded in the period).
    """

    id: str
    statistic: Statistic
    date: str
    base: Callable[[CaseArrays], Bool]
    hit: Callable[[CaseArrays], Bool] | None = None
    x: Callable[[CaseArrays], Floats] | None = None
    hit_date: str | None = None


def _has(a: CaseArrays, col: str) -> Bool:
    return a.memo(f"has {col}", lambda: ~np.isnan(a.day[col]))


def _days(a: CaseArrays, end: str, start: str) -> Floats:
    out: Floats = np.subtract(a.day[end], a.day[start], dtype=np.float64)
    return out


def _decided(a: CaseArrays) -> Bool:
    return a.memo("decided", lambda: _charged(a) | (a.text["charge_decision"] == "nfa"))


def _closed(a: CaseArrays) -> Bool:
    return a.memo("closed", lambda: (a.text["outcome"] != "open") & _has(a, "outcome_date"))


def _charged(a: CaseArrays) -> Bool:
    return a.memo("charged", lambda: a.text["charge_decision"] == "charge")


def _within_365(a: CaseArrays) -> Bool:
    return _charged(a) & (_days(a, "charge_decision_date", "report_date") <= 365)


def _followed_365(a: CaseArrays) -> Bool:
    return a.day["report_date"] + 365 <= a.extract


MEASURES: tuple[MeasureSpec, ...] = (
    MeasureSpec("recorded_rapes", "sum", "report_date", lambda a: np.ones(a.n, dtype=bool)),
    MeasureSpec("cps_receipts", "sum", "referral_date", lambda a: _has(a, "referral_date")),
    MeasureSpec("early_advice_requests", "sum", "early_advice_date", lambda a: a.flag["early_advice"]),
    MeasureSpec("charges", "sum", "charge_decision_date", _charged),
    MeasureSpec("prosecutions", "sum", "first_hearing_date", lambda a: _has(a, "first_hearing_date")),
    MeasureSpec("convictions", "sum", "completion_date", lambda a: a.text["verdict"] == "convicted"),
    MeasureSpec("police_charge_rate", "ratio", "report_date", lambda a: np.ones(a.n, dtype=bool), lambda a: (a.text["outcome"] == "1") & _has(a, "outcome_date"), hit_date="outcome_date"),
    MeasureSpec("cps_charge_rate", "ratio", "charge_decision_date", _decided, _charged),
    MeasureSpec("conviction_rate", "ratio", "completion_date", lambda a: _has(a, "completion_date"), lambda a: a.text["verdict"] == "convicted"),
    MeasureSpec("action_plans_over_two", "ratio", "charge_decision_date", _decided, lambda a: np.nan_to_num(a.num["action_plans"]) > 2),
    MeasureSpec("police_nfa_evidential", "ratio", "outcome_date", _closed, lambda a: np.isin(a.text["outcome"], ["14", "15"])),
    MeasureSpec("cps_nfa_rate", "ratio", "charge_decision_date", _decided, lambda a: a.text["charge_decision"] == "nfa"),
    MeasureSpec("admin_finalisation_rate", "ratio", "charge_decision_date", lambda a: _has(a, "charge_decision_date"), lambda a: a.text["charge_decision"] == "admin_finalised"),
    MeasureSpec("guilty_plea_first_hearing", "ratio", "first_hearing_date", lambda a: _has(a, "first_hearing_date"), lambda a: a.flag["guilty_plea_first_hearing"]),
    MeasureSpec("days_report_to_charge", "median", "charge_decision_date", _charged, x=lambda a: _days(a, "charge_decision_date", "report_date")),
    MeasureSpec("days_report_to_charge_km", "km_median", "report_date", lambda a: _has(a, "referral_date")),
    MeasureSpec("charged_within_365_days", "ratio", "report_date", _followed_365, _within_365),
    MeasureSpec("days_referral_to_decision", "mean", "charge_decision_date", _decided, x=lambda a: _days(a, "charge_decision_date", "referral_date")),
    MeasureSpec("days_charge_to_completion", "mean", "completion_date", lambda a: _has(a, "completion_date") & _charged(a), x=lambda a: _days(a, "completion_date", "charge_decision_date")),
    MeasureSpec("victim_does_not_support", "ratio", "outcome_date", _closed, lambda a: a.text["outcome"] == "16"),
    MeasureSpec("isva_engagement", "ratio", "report_date", lambda a: np.ones(a.n, dtype=bool), lambda a: a.flag["isva_engaged"]),
    MeasureSpec("withdrawal_after_charge", "ratio", "charge_decision_date", _charged, lambda a: a.flag["withdrew_after_charge"]),
    MeasureSpec("vrr_requests", "ratio", "charge_decision_date", lambda a: a.text["charge_decision"] == "nfa", lambda a: a.flag["vrr_request"]),
    MeasureSpec("victim_satisfaction", "mean", "report_date", lambda a: ~np.isnan(a.num["satisfaction"]), x=lambda a: a.num["satisfaction"]),
)  # fmt: skip

#: Catalogue measures the case records cannot give: they come from other systems (the
#: simulator makes them per CPS Area in :mod:`soteria_eval.simulate.area_series`).
NOT_FROM_CASES: tuple[str, ...] = ("judges_directions_on_time", "trials_effective")


def _period_codes(
    days: NDArray[np.floating[Any]], freq: Frequency, first: pd.Period, n_periods: int
) -> NDArray[np.int32]:
    """Period index (0 = ``first``) of each date, -1 outside the window or missing.

    Uses pandas' period ordinals computed arithmetically: months since 1970-01, quarters
    since 1970Q1, and financial years numbered by the calendar year they end in, minus 1970.
    32-bit codes: an aggregation keeps one array per date column (memory on big extracts).
    """
    ok = ~np.isnan(days)
    out = np.full(days.shape, -1, dtype=np.int32)
    if ok.any():
        months = (
            days[ok]
            .astype(np.int64)
            .astype("datetime64[D]")
            .astype("datetime64[M]")
            .astype(np.int64)
        )
        if freq == "month":
            ords = months
        elif freq == "quarter":
            ords = months // 3
        else:
            ords = (months + 9) // 12
        ords = ords - first.ordinal
        ords[(ords < 0) | (ords >= n_periods)] = -1
        out[ok] = ords
    return out


def _group_median(key: NDArray[np.int64], x: Floats, size: int) -> Floats:
    out = np.full(size, np.nan)
    if key.size:
        s = pd.Series(x).groupby(key).median()
        out[s.index.to_numpy()] = s.to_numpy()
    return out


def aggregate_cases(
    cases: pd.DataFrame,
    *,
    level: str,
    freq: Frequency,
    start: str | None = None,
    end: str | None = None,
    threshold: int = 10,
    geography: Geography | None = None,
    extract_date: str | None = None,
    measures: Sequence[str] | None = None,
    arrays: CaseArrays | None = None,
) -> pd.DataFrame:
    """Aggregate case records to a long panel (the ``panel`` schema).

    Parameters
    ----------
    cases : pandas.DataFrame
        Validated case records (:func:`soteria_eval.data.load_cases` or the simulator).
    level : {"force", "area"}
        Panel unit.
    freq : {"month", "quarter", "fy"}
        Panel frequency.
    start, end : str, optional
        First and last months (``YYYY-MM``) of the window; default: ``cases.attrs["window"]``
        or the range of report dates. The panel has the periods that lie wholly inside it.
    threshold : int
        Disclosure threshold for the ``small_cell`` flag.
    geography : Geography, optional
        Forces and Areas (default: bundled).
    extract_date : str, optional
        Date of the extract (for censoring); default ``cases.attrs["extract_date"]``.
    measures : sequence of str, optional
        Measure ids to build (default: all of :data:`MEASURES`).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PANEL_COLUMNS`: one row per unit, period and measure, every period of
        the window present (counts of zero included; ratios with a zero denominator have
        a missing value). ``small_cell`` is true when the count (or the denominator) is
        between 1 and ``threshold - 1``.
    """
    a = arrays or CaseArrays.from_frame(cases, extract_date)
    return aggregate_arrays(
        a, level=level, freq=freq, start=start, end=end, threshold=threshold,
        geography=geography, measures=measures,
    )  # fmt: skip


#: Measures whose numerator is dated by the outcome, not a subset of the denominator's
#: cases (outcome rates; a small cell can exceed 1).
OUTCOME_RATES: frozenset[str] = frozenset(m.id for m in MEASURES if m.hit_date is not None)


def aggregate_arrays(
    a: CaseArrays,
    *,
    level: str,
    freq: Frequency,
    start: str | None = None,
    end: str | None = None,
    threshold: int = 10,
    geography: Geography | None = None,
    measures: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Aggregate case arrays to a long panel (what :func:`aggregate_cases` does).

    The arrays carry the window, the synthetic flag and each case's force; see
    :func:`aggregate_cases` for the parameters and the result.
    """
    geo = geography or load_geography()
    window = a.window
    if start is None or end is None:
        if window is None:
            raise ValueError("give start and end: the case arrays carry no window")
        start = start or window[0]
        end = end or window[1]
    # Only periods that lie wholly inside the window: a partial first or last period
    # (e.g. a financial year cut by a January start) would miscount.
    w_start = pd.Timestamp(f"{start}-01")
    w_end = pd.Period(end, freq="M").end_time
    first = date_to_period(pd.DatetimeIndex([w_start]), freq)[0]
    last = date_to_period(pd.DatetimeIndex([w_end.normalize()]), freq)[0]
    if first.start_time < w_start:
        first += 1
    if last.end_time > w_end:
        last -= 1
    n_p = int(last.ordinal - first.ordinal + 1)
    labels = [period_label(p, freq) for p in pd.period_range(first, last, freq=pandas_freq(freq))]
    unit_code, units = a.unit_codes(level, geo)
    n_u = len(units)
    size = n_u * n_p
    specs = [m for m in MEASURES if measures is None or m.id in measures]
    period_cache: dict[str, NDArray[np.int32]] = {}
    window_cache: dict[str, Bool] = {}

    def keys(pc: NDArray[np.int32], sel: Bool | NDArray[np.intp]) -> NDArray[np.int64]:
        # The cell (unit, period) of the selected cases only: a key for every case would
        # hold 8 bytes per case per date column on a national extract.
        out: NDArray[np.int64] = unit_code[sel] * n_p + pc[sel]
        return out

    frames = []
    synthetic = a.synthetic
    for m in specs:
        if m.date not in period_cache:
            period_cache[m.date] = _period_codes(a.day[m.date], freq, first, n_p)
            window_cache[m.date] = period_cache[m.date] >= 0
        pc = period_cache[m.date]
        base = m.base(a) & window_cache[m.date]
        den = np.bincount(keys(pc, base), minlength=size).astype(float)
        if m.statistic == "sum":
            value, num, den_out, n_small = den, den, np.full(size, np.nan), den
        elif m.statistic == "ratio":
            assert m.hit is not None
            if m.hit_date is None:
                num = np.bincount(keys(pc, base & m.hit(a)), minlength=size).astype(float)
            else:
                if m.hit_date not in period_cache:
                    period_cache[m.hit_date] = _period_codes(a.day[m.hit_date], freq, first, n_p)
                    window_cache[m.hit_date] = period_cache[m.hit_date] >= 0
                hc = period_cache[m.hit_date]
                hits = m.hit(a) & window_cache[m.hit_date]
                num = np.bincount(keys(hc, hits), minlength=size).astype(float)
            with np.errstate(invalid="ignore", divide="ignore"):
                value = np.where(den > 0, num / den, np.nan)
            den_out, n_small = den, den
        elif m.statistic == "mean":
            assert m.x is not None
            x = m.x(a)
            ok = base & ~np.isnan(x)
            k = keys(pc, ok)
            den = np.bincount(k, minlength=size).astype(float)
            num = np.bincount(k, weights=x[ok], minlength=size)
            with np.errstate(invalid="ignore", divide="ignore"):
                value = np.where(den > 0, num / den, np.nan)
            den_out, n_small = den, den
        elif m.statistic == "median":
            assert m.x is not None
            x = m.x(a)
            ok = base & ~np.isnan(x)
            k = keys(pc, ok)
            den = np.bincount(k, minlength=size).astype(float)
            value = _group_median(k, x[ok], size)
            num, den_out, n_small = np.full(size, np.nan), den, den
        else:  # km_median: days from report to charge among referred cases, by report cohort
            # On the base cases only (memory on big extracts): an event is a charge with a
            # decision date; others are censored at their decision date or the extract date.
            sel = np.flatnonzero(base)
            dec = a.day["charge_decision_date"][sel]
            event = _charged(a)[sel] & ~np.isnan(dec)
            stop = np.where(np.isnan(dec), a.extract, dec).astype(np.float64)
            value = km_quantile_by_group(
                keys(pc, sel), stop - a.day["report_date"][sel], event, size, 0.5
            )
            num, den_out, n_small = np.full(size, np.nan), den, den
        frames.append(
            pd.DataFrame(
                {
                    "level": level,
                    "unit": np.repeat(units, n_p),
                    "period": np.tile(labels, n_u),
                    "measure": m.id,
                    "value": value,
                    "numerator": num,
                    "denominator": den_out,
                    "small_cell": (n_small > 0) & (n_small < threshold),
                    "synthetic": synthetic,
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out.attrs["freq"] = freq
    out.attrs["synthetic"] = synthetic
    return out[list(PANEL_COLUMNS)]


def build_panels(
    cases: pd.DataFrame,
    panels: Sequence[tuple[str, Frequency]] = DEFAULT_PANELS,
    *,
    threshold: int = 10,
    geography: Geography | None = None,
    extract_date: str | None = None,
) -> dict[tuple[str, Frequency], pd.DataFrame]:
    """Build several panels from the same records (the case arrays are prepared once)."""
    arrays = CaseArrays.from_frame(cases, extract_date)
    return {
        (lvl, f): aggregate_cases(
            cases, level=lvl, freq=f, arrays=arrays, threshold=threshold, geography=geography
        )
        for lvl, f in panels
    }
