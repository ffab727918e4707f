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

from soteria_eval.disclosure import SUPPRESSED, secondary_rows
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
        medians; a suppressed stage suppresses the later stages of its row too.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FUNNEL_COLUMNS`; disclosure-controlled (publishable).
    """
    if subgroup is not None and subgroup not in SUBGROUPS:
        raise ValueError(f"subgroup must be one of {SUBGROUPS}, got {subgroup!r}")
    extract = pd.Timestamp(cases.attrs.get("extract_date") or cases["report_date"].max())
    c = cases.assign(
        group=cases["force"].map(force_groups(rollout)),
        year=cases["report_date"].dt.year,
        sub=cases[subgroup].astype(str) if subgroup else "all",
    )
    last_ok = (extract - pd.Timedelta(days=min_follow_up)).year - 1
    window = cases.attrs.get("window")
    first = int(str(window[0])[:4]) if window else int(c["year"].min())
    c = c[(c["year"] >= first) & (c["year"] <= last_ok)]
    if years is not None:
        c = c[c["year"].isin(list(years))]
    reached = {
        "reported": np.ones(len(c), dtype=bool),
        "referred to the CPS": c["referral_date"].notna().to_numpy(),
        "charged": c["charge_decision"].eq("charge").to_numpy(),
        "first hearing": c["first_hearing_date"].notna().to_numpy(),
        "convicted": c["verdict"].eq("convicted").to_numpy(),
    }
    dates = {name: c[col] for name, col in STAGES}
    keys = ["group", "year", "sub"]
    frames = []
    prev = None
    for name, _ in STAGES:
        mask = reached[name]
        g = c[mask].groupby(keys)
        counts = g.size().rename("cases")
        med: pd.Series
        if prev is None:
            med = pd.Series(np.nan, index=counts.index, dtype=float)
        else:
            days = (dates[name] - dates[prev]).dt.days.astype(float)
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
    # Disclosure: a small cell hides its share and median, and every later stage of its row.
    small = out["cases"].lt(threshold) & out["cases"].gt(0)
    # Groups of a year and stage add up to a total: protect a lone suppressed group.
    small = secondary_rows(out["cases"].astype(float), small, out[["year", "sub", "stage"]])
    small = small.groupby([out[k] for k in keys]).cummax()
    out["cases"] = out["cases"].astype(object)
    for col in ("cases", "share_of_reports", "median_days_from_previous"):
        out[col] = out[col].astype(object)
        out.loc[small, col] = SUPPRESSED
    out = out.rename(columns={"sub": "value"}).assign(subgroup=subgroup or "all")
    out.attrs["count_columns"] = ["cases"]
    return out[list(FUNNEL_COLUMNS)]
