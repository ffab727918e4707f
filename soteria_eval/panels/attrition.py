"""The journey of a case: attrition and time between stages, by group and subgroup.

Like the joint police–CPS "rape data analytics tool" described in the CPS Rape Strategy
Update (2022), this follows report cohorts through the stages of a case — report,
referral to the CPS, charge, first hearing, conviction — and gives the share of reports
that reached each stage and the median days between stages, by group of forces
(pathfinder, exposed control, other) and year, optionally split by a case attribute
(domestic abuse, non-recent offence, victim age band). Recent cohorts have had less time
to progress (right-censoring): cohorts are only shown once followed up for
``min_follow_up`` days.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from soteria_eval.disclosure import SUPPRESSED, protect_linked
from soteria_eval.geography import load_geography
from soteria_eval.rollout import Rollout, treatment_panel

STAGES: tuple[tuple[str, str], ...] = (
    ("reported", "report_date"),
    ("referred to the CPS", "referral_date"),
    ("charged", "charge_decision_date"),
    ("first hearing", "first_hearing_date"),
    ("convicted", "completion_date"),
)
SUBGROUPS: tuple[str, ...] = (
    "domestic_abuse",
    "non_recent",
    "victim_age_band",
    "victim_sex",
    "suspect_age_band",
)
FUNNEL_COLUMNS = (
    "group",
    "year",
    "subgroup",
    "value",
    "stage",
    "cases",
    "share_of_reports",
    "median_days_from_previous",
)


def force_groups(rollout: Rollout) -> pd.Series:
    """Each force's comparison group: pathfinder, exposed control or comparison."""
    tp = treatment_panel(
        rollout,
        level="force",
        freq="fy",
        start="2019/20",
        end="2023/24",
        geography=load_geography(),
    )
    return tp.groupby("unit")["group"].first()


def attrition_funnel(
    cases: pd.DataFrame,
    rollout: Rollout,
    *,
    subgroup: str | None = None,
    min_follow_up: int = 730,
    threshold: int = 10,
    years: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Share of reports reaching each stage, and days between stages, by group and year.

    Parameters
    ----------
    cases : pandas.DataFrame
        Validated case records.
    rollout : Rollout
        Assigns forces to groups.
    subgroup : str, optional
        A case attribute to split by (one of :data:`SUBGROUPS`).
    min_follow_up : int
        Report cohorts (calendar years) are kept only if every report had at least this
        many days before the extract date.
    threshold : int
        Cells with fewer cases are suppressed (``[c]``), and so are their shares and
        medians; a suppressed stage suppresses the later stages of its row too. Secondary
        suppression treats each year and stage's national total as known. Tables that
        are published together must be suppressed together: use :func:`attrition_tables`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FUNNEL_COLUMNS`; disclosure-controlled (publishable).
    """
    raw = raw_funnel(cases, rollout, subgroup=subgroup, min_follow_up=min_follow_up, years=years)
    return suppress_funnels({"table": raw}, threshold)["table"]


def attrition_tables(
    cases: pd.DataFrame,
    rollout: Rollout,
    subgroups: Sequence[str] = (),
    *,
    min_follow_up: int = 730,
    threshold: int = 10,
    years: Sequence[int] | None = None,
) -> dict[str, pd.DataFrame]:
    """Return the funnel for all cases and by each subgroup, suppressed as one linked set.

    A subgroup table's values add up to the all-cases table, so suppressing each table
    alone lets a reader undo a suppressed cell by subtraction across tables (all cases
    minus the published subgroup values). Here the cells of every table are protected
    together (:func:`soteria_eval.disclosure.protect_linked`).

    Returns
    -------
    dict of str to pandas.DataFrame
        ``"all"`` and one table per subgroup, each as :func:`attrition_funnel` returns.
    """
    raws = {"all": raw_funnel(cases, rollout, min_follow_up=min_follow_up, years=years)}
    for sub in subgroups:
        raws[sub] = raw_funnel(
            cases, rollout, subgroup=sub, min_follow_up=min_follow_up, years=years
        )
    return suppress_funnels(raws, threshold)


def raw_funnel(
    cases: pd.DataFrame,
    rollout: Rollout,
    *,
    subgroup: str | None = None,
    min_follow_up: int = 730,
    years: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Return the funnel before disclosure control (numbers, not for publication)."""
    if subgroup is not None and subgroup not in SUBGROUPS:
        raise ValueError(f"subgroup must be one of {SUBGROUPS}, got {subgroup!r}")
    extract = pd.Timestamp(cases.attrs.get("extract_date") or cases["report_date"].max())
    # Memory on a national extract: the rows are chosen first, and only the keys and one
    # stage's dates at a time are copied (a filter of the frame copies every column).
    year_all = cases["report_date"].dt.year
    last_ok = (extract - pd.Timedelta(days=min_follow_up)).year - 1
    window = cases.attrs.get("window")
    first = int(str(window[0])[:4]) if window else int(year_all.min())
    keep = ((year_all >= first) & (year_all <= last_ok)).to_numpy()
    if years is not None:
        keep &= year_all.isin(list(years)).to_numpy()
    idx = np.flatnonzero(keep)
    del keep

    def rows(col: str) -> pd.Series:
        return cases[col].iloc[idx].reset_index(drop=True)

    # The subgroup as codes, not millions of strings; its labels (as text) come back after
    # grouping. A missing value has no group (code -1): those cases are counted in no cell.
    sub_codes, sub_values = (
        pd.factorize(rows(subgroup), sort=True)
        if subgroup
        else (np.zeros(len(idx), dtype=np.int64), pd.Index(["all"]))
    )
    sub_labels = pd.Index(sub_values.astype(str), dtype=str)
    has_sub = sub_codes >= 0
    c = pd.DataFrame(
        {
            "group": rows("force").map(force_groups(rollout)),
            "year": year_all.iloc[idx].reset_index(drop=True),
            "sub": sub_codes,
        }
    )
    del sub_codes
    del year_all
    reached = {
        "reported": has_sub,
        "referred to the CPS": rows("referral_date").notna().to_numpy() & has_sub,
        "charged": rows("charge_decision").eq("charge").to_numpy() & has_sub,
        "first hearing": rows("first_hearing_date").notna().to_numpy() & has_sub,
        "convicted": rows("verdict").eq("convicted").to_numpy() & has_sub,
    }
    column = dict(STAGES)
    keys = ["group", "year", "sub"]
    frames = []
    prev = None
    for name, _ in STAGES:
        mask = reached[name]
        counts = c.loc[mask, keys].groupby(keys).size().rename("cases")
        med: pd.Series
        if prev is None:
            med = pd.Series(np.nan, index=counts.index, dtype=float)
        else:
            days = (rows(column[name]) - rows(column[prev])).dt.days.astype(float)
            med = days[mask].groupby([c.loc[mask, k] for k in keys]).median()
        frames.append(
            pd.DataFrame(
                {"stage": name, "cases": counts, "median_days_from_previous": med}
            ).reset_index()
        )
        prev = name
    out = pd.concat(frames, ignore_index=True)
    base = out[out["stage"] == "reported"].set_index(keys)["cases"]
    denominators = base.reindex(pd.MultiIndex.from_frame(out[keys])).to_numpy(dtype=float)
    out["share_of_reports"] = (out["cases"].to_numpy(dtype=float) / denominators).round(4)
    order = {name: i for i, (name, _) in enumerate(STAGES)}
    out["stage_order"] = out["stage"].map(order)
    out = out.sort_values([*keys, "stage_order"]).reset_index(drop=True)
    out["sub"] = sub_labels.take(out["sub"].to_numpy())
    out = out.rename(columns={"sub": "value"}).assign(subgroup=subgroup or "all")
    return out[list(FUNNEL_COLUMNS)]


def _stage_rule(frame: pd.DataFrame, small: np.ndarray) -> np.ndarray:
    """Hide the later stages of a suppressed stage's row (their shares would reveal it)."""
    keys = ["table", "group", "year", "value"]
    return pd.Series(small, index=frame.index).groupby([frame[k] for k in keys]).cummax().to_numpy()


def suppress_funnels(raws: dict[str, pd.DataFrame], threshold: int) -> dict[str, pd.DataFrame]:
    """Suppress raw funnel tables published together, as one linked set of cells.

    Relations a reader can use: the cells of a year and stage (every group, every subgroup
    value) add up to the national total of all cases, treated as known (it is published
    elsewhere); a subgroup table's values add up to the all-cases table's cell (when the
    ``"all"`` table is in the set). National totals by subgroup value are not published,
    so they are free unknowns. Small cells (``0 < cases <
    threshold``) are suppressed, later stages of a suppressed row too, then
    :func:`~soteria_eval.disclosure.protect_linked` adds complementary cells until no
    suppressed cell can be recovered; shares and medians go with their cell.
    """
    frame = pd.concat(
        [t.assign(table=name) for name, t in raws.items()], ignore_index=True
    ).reset_index(drop=True)
    n = len(frame)
    values = frame["cases"].to_numpy(dtype=float)
    blocks: list[np.ndarray] = []  # each: member cells; the block's total is a known cell
    # National totals of all cases by year and stage are published elsewhere (Home Office,
    # CPS): known. A table's cells of one year and stage add up to them (over groups, and
    # over subgroup values); national totals by subgroup value are not known.
    national = frame[frame["table"] == "all"] if "all" in raws else frame
    for _, idx in national.groupby(["table", "year", "stage"], sort=True).indices.items():
        blocks.append(national.index.to_numpy()[idx])
    totals = np.array([values[b].sum() for b in blocks])
    links: list[tuple[np.ndarray, int]] = []  # (parts, total cell) within the tables
    if "all" in raws:
        all_rows = frame[frame["table"] == "all"]
        where = {k: int(i) for k, i in zip(
            zip(all_rows["group"], all_rows["year"], all_rows["stage"], strict=True),
            all_rows.index, strict=True,
        )}  # fmt: skip
        subs = frame[frame["table"] != "all"]
        grouped = subs.groupby(["table", "group", "year", "stage"]).indices
        for key, idx in grouped.items():
            cell = where.get(tuple(key)[1:])  # type: ignore[arg-type]
            if cell is not None:
                links.append((subs.index.to_numpy()[idx], cell))
    n_rel = len(blocks) + len(links)
    rel = np.zeros((n_rel, n + len(blocks)))
    for r, b in enumerate(blocks):
        rel[r, b] = 1.0
        rel[r, n + r] = -1.0
    for r, (parts, total) in enumerate(links, start=len(blocks)):
        rel[r, parts] = 1.0
        rel[r, total] = -1.0
    all_values = np.concatenate([values, totals])
    small = (values > 0) & (values < threshold)
    small = _stage_rule(frame, small)
    keep = np.r_[np.zeros(n, dtype=bool), np.ones(len(blocks), dtype=bool)]
    s = protect_linked(all_values, np.r_[small, np.zeros(len(blocks), dtype=bool)], rel, keep=keep)
    small = _stage_rule(frame, s[:n])
    out = frame.copy()
    for col in ("cases", "share_of_reports", "median_days_from_previous"):
        out[col] = out[col].astype(object)
        out.loc[small, col] = SUPPRESSED
    result = {}
    for name in raws:
        t = out[out["table"] == name][list(FUNNEL_COLUMNS)].reset_index(drop=True)
        t.attrs["count_columns"] = ["cases"]
        t.attrs["threshold"] = threshold
        t.attrs["suppressed_rows"] = int(small[(frame["table"] == name).to_numpy()].sum())
        result[name] = t
    return result
