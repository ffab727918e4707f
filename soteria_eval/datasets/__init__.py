"""Bundled datasets: real published aggregates and reference tables, with provenance.

Each loader validates the bundled file against its schema in the data dictionary and
returns a typed DataFrame whose ``attrs["provenance"]`` says where the data came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import pandas as pd

from soteria_eval._paths import bundled_data_dir
from soteria_eval.data.loaders import _load
from soteria_eval.datasets.quality import (
    FLAG_COLUMNS,
    QUARTER_FLAG_COLUMNS,
    outcomes_quality_flags,
    quarterly_quality_flags,
)

__all__ = [
    "BUNDLED_PART_YEARS",
    "DATASETS",
    "FLAG_COLUMNS",
    "PUBLISHED_MEASURES",
    "QUARTER_FLAG_COLUMNS",
    "Provenance",
    "force_size_proxy",
    "load_all_offences_outcomes",
    "load_cps_area_force",
    "load_moj_rape_timeliness",
    "load_sexual_offences_outcomes",
    "outcomes_quality_flags",
    "quarterly_quality_flags",
]


@dataclass(frozen=True)
class Provenance:
    """Where a bundled dataset comes from and under which licence."""

    name: str
    file: str
    title: str
    source: str
    licence: str
    notes: str


DATASETS: Mapping[str, Provenance] = MappingProxyType(
    {
        "sexual_offences_outcomes": Provenance(
            name="sexual_offences_outcomes",
            file="sexual_offences_outcomes_by_force_fy.csv",
            title="Sexual offences outcomes by police force and financial year, 2014/15 to 2025/26",
            source=(
                "Home Office, police recorded crime and outcomes open data tables (one outcomes "
                "file per financial year), offence group Sexual offences. Taken from the processed "
                "file data/processed/force_offence_year.csv of the GitHub repository "
                "SGilr/oocd-dashboard at commit 7d0066eed8e4021d9d3c58d113fe29b54967d1ef, keeping "
                "the sexual-offences rows; verified by two independent transcriptions."
            ),
            licence="Crown copyright, Open Government Licence v3.0",
            notes=(
                "Sexual offences as a whole, not rape alone (rape is roughly 40% of the group). "
                "2025/26 covers April to December 2025 only. closed_* count outcomes of "
                "investigations closed in the year; recorded_* attribute outcomes to offences "
                "recorded in the year, so recent years undercount (right-censoring). Known "
                "quirks are flagged by outcomes_quality_flags()."
            ),
        ),
        "all_offences_outcomes": Provenance(
            name="all_offences_outcomes",
            file="all_offences_outcomes_by_force_quarter.csv",
            title="All offences outcomes by police force and financial quarter, 2014/15 to 2025/26",
            source=(
                "Home Office, police recorded crime and outcomes open data tables (twelve yearly "
                "outcomes workbooks, 2014/15 to 2025/26), every offence group. Taken from the "
                "processed file data/processed/force_quarter.csv of the GitHub repository "
                "SGilr/oocd-dashboard at commit 7d0066eed8e4021d9d3c58d113fe29b54967d1ef; its 44 "
                "forces add up to the dashboard's national quarterly file in all 1,920 cells."
            ),
            licence="Crown copyright, Open Government Licence v3.0",
            notes=(
                "All offences, not sexual offences or rape: real force-level quarterly dynamics "
                "(trends, serial correlation, shocks such as COVID-19) for placebo studies and a "
                "within-force comparison series. Counts named {basis}_{variant}_{measure}: basis "
                "closed or recorded (recent quarters undercount), variant all or ex_fraud, "
                "measure an outcome type (t1 charge/summons ... t22), oocd, positive or "
                "assigned. Known quirks (recorded basis not supplied in 2014/15 for several "
                "forces, Greater Manchester 2019/20 Q2-Q4, low assigned outcomes in early "
                "2014/15, a negative correction) are flagged by quarterly_quality_flags(). "
                "Attribution: Contains public sector information licensed under the Open "
                "Government Licence v3.0. Source: Home Office, police recorded crime and "
                "outcomes open data tables."
            ),
        ),
        "moj_rape_timeliness": Provenance(
            name="moj_rape_timeliness",
            file="moj_rape_timeliness_national_2011_2018.csv",
            title="Rape defendants: days from offence to completion, England and Wales, 2011 to 2018",
            source=(
                "Ministry of Justice, criminal court statistics (time from offence to completion), "
                "via the GitHub repository mpjashby/lesscrime.info, file "
                "content/post/rape-prosecution-times-data.csv.gz at commit "
                "45e92ee4dcef39a68bea920c38700a875cf22b98, gunzipped."
            ),
            licence="Crown copyright, Open Government Licence v3.0",
            notes="National only and before the programme: a baseline for timeliness.",
        ),
        "cps_area_force": Provenance(
            name="cps_area_force",
            file="cps_area_force.csv",
            title="Police forces, CPS Areas and Operation Soteria phases",
            source="Compiled by the project from public CPS, police and news pages.",
            licence="Facts compiled from public sources; table under the MIT licence",
            notes=(
                "area_link_verified is 'yes' where a CPS page confirming the link was seen. "
                "Phase '2 or 3' marks forces that are one of seven unnamed phase-2 forces or "
                "joined with the national model on 10 July 2023."
            ),
        ),
    }
)


def _bundled(name: str, kind: str) -> pd.DataFrame:
    prov = DATASETS[name]
    frame = _load(bundled_data_dir() / prov.file, kind)  # type: ignore[arg-type]
    frame.attrs["provenance"] = prov
    return frame


#: Measures computed from the bundled published aggregates (not in the case-data catalogue):
#: a plan may name them beside the catalogue's ids.
PUBLISHED_MEASURES: tuple[str, ...] = ("published_sexual_offence_charges",)

#: Incomplete financial years of the bundled outcomes file (2025/26: April to December).
BUNDLED_PART_YEARS: tuple[str, ...] = ("2025/26",)


def load_sexual_offences_outcomes(
    path: str | Path | None = None,
    *,
    with_flags: bool = True,
    part_years: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Load the Home Office sexual-offences outcomes by force and financial year.

    Parameters
    ----------
    path : str or Path, optional
        A refreshed copy of the file (same columns as the bundled one, any span of years),
        validated against the same schema. Default: the bundled file.
    with_flags : bool
        Add a ``quality_flags`` column naming the warning checks of
        :func:`outcomes_quality_flags` that the row fails (empty string if none). Rows are
        never dropped here: excluding them is an explicit, counted choice of an analysis.
    part_years : str or sequence of str, optional
        Incomplete financial years, left out of the flags' reference medians. Default:
        :data:`BUNDLED_PART_YEARS` for the bundled file, none for a refreshed one (say
        which years are incomplete).

    Returns
    -------
    pandas.DataFrame
        The bundled file has 528 rows: 43 territorial forces and British Transport Police
        by 12 financial years. ``attrs["source"]`` is the file read and
        ``attrs["part_years"]`` the incomplete years used for the flags.
    """
    if path is None:
        frame = _bundled("sexual_offences_outcomes", "sexual_offences_outcomes")
        source = bundled_data_dir() / DATASETS["sexual_offences_outcomes"].file
        default_parts: tuple[str, ...] = BUNDLED_PART_YEARS
    else:
        frame = _load(Path(path), "sexual_offences_outcomes")
        source, default_parts = Path(path), ()
    parts = default_parts if part_years is None else _years(part_years)
    frame = frame.sort_values(["force", "fy"], kind="stable").reset_index(drop=True)
    if with_flags:
        flags = outcomes_quality_flags(frame, part_years=parts)
        warn = flags[flags["severity"] == "warning"]
        joined = warn.groupby(["force", "fy"])["check"].agg(lambda s: ";".join(sorted(set(s))))
        key = pd.MultiIndex.from_frame(frame[["force", "fy"]])
        frame["quality_flags"] = joined.reindex(key).fillna("").to_numpy()
    frame.attrs["provenance"] = DATASETS["sexual_offences_outcomes"]
    frame.attrs["source"] = str(source)
    frame.attrs["part_years"] = parts
    return frame


def _years(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def load_all_offences_outcomes(
    path: str | Path | None = None, *, with_flags: bool = True
) -> pd.DataFrame:
    """Load the Home Office all-offences outcomes by force and financial quarter.

    Parameters
    ----------
    path : str or Path, optional
        A refreshed copy of the file (same columns, any span of quarters), validated
        against the same schema. Default: the bundled file.
    with_flags : bool
        Add a ``quality_flags`` column naming each warning of
        :func:`quarterly_quality_flags` on the row as ``check:column`` (``;``-separated,
        empty if none). Rows are never dropped here.

    Returns
    -------
    pandas.DataFrame
        The bundled file has 2,112 rows: 43 territorial forces and British Transport
        Police by 48 financial quarters (2014/15 Q1 to 2025/26 Q4), sorted by force,
        year and quarter, with ``period``, the calendar-quarter label of each financial
        quarter (2014/15 Q1 is ``2014-Q2``), after ``q``. ``attrs["flags"]`` holds the
        flags table.
    """
    from soteria_eval.datasets.home_office import calendar_quarter

    name: Literal["all_offences_outcomes"] = "all_offences_outcomes"
    source = bundled_data_dir() / DATASETS[name].file if path is None else Path(path)
    frame = _load(source, name)
    frame = frame.sort_values(["force", "fy", "q"], kind="stable").reset_index(drop=True)
    periods = [
        calendar_quarter(str(f), int(q)) for f, q in zip(frame["fy"], frame["q"], strict=True)
    ]
    frame.insert(int(frame.columns.get_loc("q")) + 1, "period", periods)  # type: ignore[arg-type]
    flags = quarterly_quality_flags(frame)
    if with_flags:
        warn = flags[flags["severity"] == "warning"]
        label = warn["check"] + ":" + warn["column"]
        joined = label.groupby([warn["force"], warn["fy"], warn["q"]]).agg(
            lambda s: ";".join(sorted(set(s)))
        )
        key = pd.MultiIndex.from_frame(frame[["force", "fy", "q"]])
        frame["quality_flags"] = joined.reindex(key).fillna("").to_numpy()
    frame.attrs["provenance"] = DATASETS[name]
    frame.attrs["source"] = str(source)
    frame.attrs["flags"] = flags
    return frame


def load_moj_rape_timeliness() -> pd.DataFrame:
    """Load MoJ national timeliness for rape defendants, 2011 to 2018."""
    return _bundled("moj_rape_timeliness", "moj_rape_timeliness")


def load_cps_area_force() -> pd.DataFrame:
    """Load the force-to-CPS-Area reference table with Soteria phases."""
    return _bundled("cps_area_force", "geography")


def force_size_proxy() -> dict[str, float]:
    """Return each territorial force's share of national sexual-offence caseload.

    The proxy is the mean yearly count of charged plus out-of-court outcomes (closed basis)
    over 2015/16 to 2018/19 in the bundled Home Office outcomes data: before the programme,
    after the 2014/15 recording gaps, and before the Greater Manchester gap of 2019/20.
    Shares sum to 1 over the 43 territorial forces.
    """
    from soteria_eval.geography import load_geography

    d = load_sexual_offences_outcomes(with_flags=False)
    years = ["2015/16", "2016/17", "2017/18", "2018/19"]
    d = d[d["fy"].isin(years) & d["force"].isin(load_geography().forces)]
    size = (d["closed_charge"] + d["closed_oocd"]).groupby(d["force"]).mean()
    share = size / size.sum()
    return {str(k): float(v) for k, v in share.items()}
