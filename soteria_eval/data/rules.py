"""Rules beyond the schema: names, periods, ratios, date order, rollout logic."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from soteria_eval.data.errors import ValidationIssue
from soteria_eval.data.reader import RawTable
from soteria_eval.data.schema_check import rows_of
from soteria_eval.dictionary import MeasureCatalogue
from soteria_eval.geography import NON_TERRITORIAL_FORCES, Geography, suggest
from soteria_eval.periods import Frequency, infer_frequency, pandas_freq, parse_period, period_label

#: Date columns of a case record that must not go backwards, in journey order.
CASE_DATE_ORDER: tuple[tuple[str, str], ...] = (
    ("offence_date", "report_date"),
    ("report_date", "early_advice_date"),
    ("report_date", "referral_date"),
    ("report_date", "outcome_date"),
    ("referral_date", "charge_decision_date"),
    ("charge_decision_date", "first_hearing_date"),
    ("first_hearing_date", "trial_date"),
    ("first_hearing_date", "completion_date"),
    ("trial_date", "completion_date"),
)

#: Journey dates later than the report are also checked against the report directly, so a
#: missing referral date does not hide a charge dated before the report.
CASE_DATE_ORDER += (
    ("report_date", "charge_decision_date"),
    ("report_date", "first_hearing_date"),
    ("report_date", "trial_date"),
    ("report_date", "completion_date"),
)

#: Documented range of case dates: journey dates from 2000-01-01 (the Home Office outcomes
#: framework starts later), offence dates from 1900-01-01 (non-recent offences), and no
#: date after the extract date (or today, when the extract date is not known).
DATE_FLOOR = pd.Timestamp("2000-01-01")
OFFENCE_DATE_FLOOR = pd.Timestamp("1900-01-01")

#: (column, value that needs it, column that must then be filled)
CASE_REQUIRES: tuple[tuple[str, str | None, str], ...] = (
    ("outcome", "1", "outcome_date"),
    ("outcome", "14", "outcome_date"),
    ("outcome", "15", "outcome_date"),
    ("outcome", "16", "outcome_date"),
    ("outcome", "18", "outcome_date"),
    ("charge_decision", None, "referral_date"),
    ("charge_decision", None, "charge_decision_date"),
    ("verdict", None, "completion_date"),
    ("first_hearing_date", None, "charge_decision_date"),
)


def check_units(
    frame: pd.DataFrame,
    column: str,
    valid: Sequence[str],
    raw: RawTable,
    what: str,
    mask: pd.Series | None = None,
) -> list[ValidationIssue]:
    """Report names not in ``valid``, one issue per unknown name with a suggestion."""
    if column not in frame:
        return []
    col = frame[column]
    sel = col.notna() if mask is None else (col.notna() & mask)
    unknown = sel & ~col.isin(list(valid))
    issues = []
    for name in pd.unique(col[unknown]):
        rows = rows_of(unknown & col.eq(name), raw)
        issues.append(
            ValidationIssue(
                raw.file,
                "unknown-unit",
                f"unknown {what} {name!r}{suggest(str(name), valid)}",
                column,
                rows,
            )
        )
    return issues


def case_rules(
    frame: pd.DataFrame,
    raw: RawTable,
    geo: Geography,
    extract_date: pd.Timestamp | None = None,
) -> list[ValidationIssue]:
    """Rules for case records: known forces, dates in range and journey order, linked fields.

    Every date must lie in the documented range: from :data:`DATE_FLOOR`
    (:data:`OFFENCE_DATE_FLOOR` for ``offence_date``) to ``extract_date`` (default today).
    """
    issues = check_units(frame, "force", geo.forces, raw, "force")
    ceiling = extract_date if extract_date is not None else pd.Timestamp.today().normalize()
    for col in frame.columns:
        if not pd.api.types.is_datetime64_any_dtype(frame[col]):
            continue
        floor = OFFENCE_DATE_FLOOR if col == "offence_date" else DATE_FLOOR
        vals = frame[col]
        low = (vals < floor).to_numpy(dtype=bool)
        high = (vals > ceiling).to_numpy(dtype=bool)
        for mask, what in ((low, f"before {floor.date()}"), (high, f"after {ceiling.date()}")):
            if mask.any():
                first = vals[mask].iloc[0].date()
                where = "the extract date" if extract_date is not None else "today"
                issues.append(
                    ValidationIssue(
                        raw.file,
                        "date-range",
                        f"{first} is {what}; dates must lie between {floor.date()} and "
                        f"{ceiling.date()} ({where})",
                        col,
                        rows_of(mask, raw),
                    )
                )
    for early, late in CASE_DATE_ORDER:
        if early in frame and late in frame:
            bad = (frame[late] < frame[early]).fillna(False).to_numpy(dtype=bool)
            if bad.any():
                issues.append(
                    ValidationIssue(
                        raw.file,
                        "date-order",
                        f"{late} is earlier than {early}",
                        late,
                        rows_of(bad, raw),
                    )
                )
    for col, value, needed in CASE_REQUIRES:
        if col in frame and needed in frame:
            has = frame[col].notna() if value is None else frame[col].eq(value)
            bad = (has & frame[needed].isna()).to_numpy(dtype=bool)
            if bad.any():
                cond = f"{col} is filled" if value is None else f"{col} is {value!r}"
                issues.append(
                    ValidationIssue(
                        raw.file,
                        "required-if",
                        f"{needed} is required when {cond}",
                        needed,
                        rows_of(bad, raw),
                    )
                )
    return issues


def panel_frequency(
    frame: pd.DataFrame, raw: RawTable
) -> tuple[Frequency | None, list[ValidationIssue]]:
    """Infer the panel's single frequency from its period labels."""
    if "period" not in frame:
        return None, []
    periods = frame["period"].dropna()
    uniq = pd.unique(periods)
    freq_of = {p: infer_frequency(str(p)) for p in uniq}
    issues: list[ValidationIssue] = []
    bad_labels = [p for p, f in freq_of.items() if f is None]
    if bad_labels:
        mask = frame["period"].isin(bad_labels)
        issues.append(
            ValidationIssue(
                raw.file,
                "period",
                f"{bad_labels[0]!r} is not a period label (use 2021-09, 2021-Q3 or 2021/22)",
                "period",
                rows_of(mask, raw),
            )
        )
    freqs = pd.Series(list(freq_of.values()), index=list(freq_of.keys())).dropna()
    if freqs.nunique() > 1:
        main = freqs.value_counts().index[0]
        other = frame["period"].map(freq_of).ne(main) & frame["period"].map(freq_of).notna()
        issues.append(
            ValidationIssue(
                raw.file,
                "mixed-frequency",
                f"periods mix frequencies {sorted(freqs.unique())}; a panel has one frequency "
                f"(most rows are {main})",
                "period",
                rows_of(other, raw),
            )
        )
        return None, issues
    if freqs.empty:
        return None, issues
    return str(freqs.iloc[0]), issues  # type: ignore[return-value]


def panel_rules(
    frame: pd.DataFrame,
    raw: RawTable,
    geo: Geography,
    catalogue: MeasureCatalogue,
) -> tuple[Frequency | None, list[ValidationIssue]]:
    """Rules for a panel: units, measures, one frequency, no gaps, coherent ratios."""
    issues: list[ValidationIssue] = []
    if "level" in frame and "unit" in frame:
        for level in ("force", "area"):
            lv = frame["level"].eq(level)
            other = geo.areas if level == "force" else geo.forces
            wrong_level = lv & frame["unit"].isin(other) & ~frame["unit"].isin(geo.units(level))
            if wrong_level.any():
                name = frame.loc[wrong_level, "unit"].iloc[0]
                issues.append(
                    ValidationIssue(
                        raw.file,
                        "wrong-level",
                        f"{name!r} is a{'n Area' if level == 'force' else ' force'}, but the row's "
                        f"level is {level!r}",
                        "unit",
                        rows_of(wrong_level, raw),
                    )
                )
            issues += check_units(
                frame, "unit", geo.units(level), raw, level, mask=lv & ~wrong_level
            )
    if "measure" in frame:
        known = list(catalogue)
        col = frame["measure"]
        unknown = col.notna() & ~col.isin(known)
        for name in pd.unique(col[unknown]):
            issues.append(
                ValidationIssue(
                    raw.file,
                    "unknown-measure",
                    f"measure {name!r} is not in the measure catalogue{suggest(str(name), known)}",
                    "measure",
                    rows_of(unknown & col.eq(name), raw),
                )
            )
    freq, f_issues = panel_frequency(frame, raw)
    issues += f_issues
    ranged = _period_range(frame, raw) if freq is not None and "period" in frame else []
    issues += ranged
    if freq is not None and not ranged and {"level", "unit", "measure", "period"} <= set(frame):
        issues += _period_gaps(frame, raw, freq)
    if {"measure", "value"} <= set(frame):
        issues += _value_rules(frame, raw, catalogue)
    return freq, issues


def _period_range(frame: pd.DataFrame, raw: RawTable) -> list[ValidationIssue]:
    """Periods must start from :data:`DATE_FLOOR`'s year and not after next year."""
    year = pd.to_numeric(frame["period"].astype(str).str[:4], errors="coerce")
    last = pd.Timestamp.today().year + 1
    bad = ((year < DATE_FLOOR.year) | (year > last)).fillna(False)
    if not bad.any():
        return []
    return [
        ValidationIssue(
            raw.file,
            "period-range",
            f"period {frame.loc[bad, 'period'].iloc[0]!r} is outside {DATE_FLOOR.year} to {last}",
            "period",
            rows_of(bad, raw),
        )
    ]


def _period_gaps(frame: pd.DataFrame, raw: RawTable, freq: Frequency) -> list[ValidationIssue]:
    ok = frame[["level", "unit", "measure", "period"]].notna().all(axis=1)
    sub = frame.loc[ok, ["level", "unit", "measure", "period"]].copy()
    lookup: dict[object, float] = {}
    for p in pd.unique(sub["period"]):
        try:
            lookup[p] = parse_period(str(p), freq).ordinal
        except ValueError:
            lookup[p] = np.nan
    sub["ord"] = sub["period"].map(lookup)
    sub = sub.dropna(subset=["ord"]).drop_duplicates(["level", "unit", "measure", "ord"])
    g = sub.groupby(["level", "unit", "measure"], sort=False)["ord"]
    span = g.max() - g.min() + 1
    count = g.size()
    gappy = span[span != count].index
    issues = []
    for key in list(gappy)[:20]:
        have = set(
            sub.loc[
                (sub["level"] == key[0]) & (sub["unit"] == key[1]) & (sub["measure"] == key[2]),
                "ord",
            ].astype(int)
        )
        lo, hi = min(have), max(have)
        missing = [o for o in range(lo, hi + 1) if o not in have]
        first_missing = pd.Period(ordinal=missing[0], freq=pandas_freq(freq))
        mask = frame["unit"].eq(key[1]) & frame["measure"].eq(key[2]) & frame["level"].eq(key[0])
        issues.append(
            ValidationIssue(
                raw.file,
                "period-gap",
                f"{key[1]} / {key[2]} has {len(missing)} missing period(s), first "
                f"{period_label(first_missing, freq)}; a panel needs every period between its first "
                "and last (write the row with an empty value if the figure is unknown)",
                "period",
                rows_of(mask, raw),
            )
        )
    return issues


def _value_rules(
    frame: pd.DataFrame, raw: RawTable, catalogue: MeasureCatalogue
) -> list[ValidationIssue]:
    from soteria_eval.panels.aggregate import OUTCOME_RATES

    issues: list[ValidationIssue] = []
    mtype = frame["measure"].map({k: m.type for k, m in catalogue.items()})
    value = frame["value"]
    # An outcome rate counts outcomes of any cohort over the period's offences: it can
    # exceed 1 in a small cell, so only the ratio's consistency is checked.
    share = mtype.eq("proportion") & ~frame["measure"].isin(list(OUTCOME_RATES))

    def add(mask: pd.Series, rule: str, column: str, msg: str) -> None:
        m = mask.fillna(False).to_numpy(dtype=bool)
        if m.any():
            issues.append(ValidationIssue(raw.file, rule, msg, column, rows_of(m, raw)))

    add(mtype.eq("count") & (value < 0), "negative-count", "value", "a count cannot be negative")
    add(
        mtype.eq("duration") & (value < 0),
        "negative-duration",
        "value",
        "a duration cannot be negative",
    )
    add(
        (mtype.eq("proportion") & (value < 0)) | (share & (value > 1)),
        "proportion-range",
        "value",
        "a proportion must lie in [0, 1] (write 0.25, not 25%)",
    )
    add(
        mtype.eq("score") & ((value < 1) | (value > 5)),
        "score-range",
        "value",
        "a score must lie in [1, 5]",
    )
    if {"numerator", "denominator"} <= set(frame):
        num, den = frame["numerator"], frame["denominator"]
        add(
            share & (num > den),
            "numerator-exceeds-denominator",
            "numerator",
            "the numerator is larger than its denominator",
        )
        ratio = mtype.eq("proportion") & den.gt(0) & num.notna() & value.notna()
        add(
            ratio & ((value - num / den).abs() > 1e-4),
            "inconsistent-ratio",
            "value",
            "value differs from numerator / denominator by more than 0.0001",
        )
    if "numerator" in frame:
        # A count row's numerator is the count itself (a published count with a larger
        # numerator would let a reader recover a number the count hides).
        num = frame["numerator"]
        add(
            mtype.eq("count") & num.notna() & (value >= 0) & (value != num),
            "count-numerator",
            "value",
            "a count row's value must equal its numerator (leave the numerator empty or repeat the count)",
        )
    return issues


def rollout_rules(frame: pd.DataFrame, raw: RawTable, geo: Geography) -> list[ValidationIssue]:
    """Rules for a rollout: known units at their level; phases start in order."""
    issues: list[ValidationIssue] = []
    if "level" not in frame or "unit" not in frame:
        return issues
    for level in ("force", "area"):
        issues += check_units(
            frame, "unit", geo.units(level), raw, level, mask=frame["level"].eq(level)
        )
    if {"phase", "start_date"} <= set(frame):
        for level in ("force", "area"):
            sub = frame[
                frame["level"].eq(level) & frame["phase"].notna() & frame["start_date"].notna()
            ]
            if sub.empty:
                continue
            latest = sub.groupby("phase")["start_date"].max().sort_index()
            earliest = sub.groupby("phase")["start_date"].min().sort_index()
            phases = list(latest.index)
            for i, p in enumerate(phases):
                prior_latest = latest.iloc[:i].max() if i else None
                if prior_latest is not None and earliest[p] < prior_latest:
                    bad = (
                        frame["level"].eq(level)
                        & frame["phase"].eq(p)
                        & (frame["start_date"] < prior_latest)
                    ).fillna(False)
                    issues.append(
                        ValidationIssue(
                            raw.file,
                            "phase-order",
                            f"phase {p} ({level}) starts on {earliest[p]:%Y-%m-%d}, before an earlier "
                            f"phase's start on {prior_latest:%Y-%m-%d}: phase dates go backwards",
                            "start_date",
                            rows_of(bad, raw),
                        )
                    )
    return issues


def geography_rules(frame: pd.DataFrame, raw: RawTable, geo: Geography) -> list[ValidationIssue]:
    """Rules for a geography table: known forces and CPS Areas."""
    issues = check_units(frame, "force", geo.forces, raw, "force")
    if "cps_area" in frame:
        exploded = frame["cps_area"].dropna().str.split("|")
        for idx, areas in exploded.items():
            for a in areas:
                if a.strip() not in geo.areas:
                    issues.append(
                        ValidationIssue(
                            raw.file,
                            "unknown-unit",
                            f"unknown CPS Area {a.strip()!r}{suggest(a.strip(), geo.areas)}",
                            "cps_area",
                            (int(idx) + raw.first_row,),  # type: ignore[call-overload]
                        )
                    )
    return issues


def outcomes_rules(frame: pd.DataFrame, raw: RawTable, geo: Geography) -> list[ValidationIssue]:
    """Rules for the published outcomes table: known forces and financial-year labels."""
    issues = check_units(frame, "force", geo.forces + NON_TERRITORIAL_FORCES, raw, "force")
    if "fy" in frame:
        bad = frame["fy"].notna() & frame["fy"].map(lambda s: infer_frequency(str(s)) != "fy")
        if bad.any():
            issues.append(
                ValidationIssue(
                    raw.file,
                    "period",
                    f"{frame.loc[bad, 'fy'].iloc[0]!r} is not a financial year like '2021/22'",
                    "fy",
                    rows_of(bad, raw),
                )
            )
    return issues
