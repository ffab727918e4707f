"""Police forces, CPS Areas and the force-to-Area mapping.

The 43 territorial police forces of England and Wales and the 14 Crown Prosecution
Service (CPS) Areas are read from the bundled table ``cps_area_force.csv`` (compiled from
public CPS and police pages; see ``soteria_eval.datasets.provenance``). The Metropolitan
Police is served by two CPS Areas (London North and London South); its caseload is split
between them by :data:`MET_AREA_SPLIT` when a force-level quantity is carried to Areas.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

import pandas as pd

from soteria_eval._paths import bundled_data_dir

#: Forces recorded in some published tables that are not territorial forces; they are
#: accepted by the bundled-data schemas but excluded from area analyses.
NON_TERRITORIAL_FORCES: tuple[str, ...] = ("British Transport Police",)

#: Share of the Metropolitan Police caseload attributed to each London CPS Area.
MET_AREA_SPLIT: Mapping[str, float] = MappingProxyType({"London North": 0.5, "London South": 0.5})


@dataclass(frozen=True)
class Geography:
    """Forces, CPS Areas and the mapping between them.

    Attributes
    ----------
    forces : tuple of str
        The 43 territorial forces, in the order of the source table.
    areas : tuple of str
        The 14 CPS Areas, sorted.
    force_areas : mapping of str to tuple of str
        The CPS Area(s) that serve each force.
    area_share : mapping of (force, area) to float
        The share of a force's caseload that belongs to an Area (1 except for forces
        served by more than one Area).
    """

    forces: tuple[str, ...]
    areas: tuple[str, ...]
    force_areas: Mapping[str, tuple[str, ...]]
    area_share: Mapping[tuple[str, str], float] = field(repr=False)

    def area_forces(self, area: str) -> tuple[str, ...]:
        """Return the forces an Area serves (each force once)."""
        self.check_units([area], "area")
        return tuple(f for f in self.forces if area in self.force_areas[f])

    def units(self, level: str) -> tuple[str, ...]:
        """Return the units at a level (``"force"`` or ``"area"``)."""
        if level == "force":
            return self.forces
        if level == "area":
            return self.areas
        raise ValueError(f"level must be 'force' or 'area', got {level!r}")

    def check_units(self, names: Iterable[str], level: str) -> None:
        """Raise ``ValueError`` naming the closest valid unit for any unknown name."""
        valid = self.units(level)
        bad = sorted({n for n in names if n not in valid})
        if bad:
            hints = "; ".join(f"{n!r}{suggest(n, valid)}" for n in bad)
            raise ValueError(f"unknown {level} name(s): {hints}")

    def table(self) -> pd.DataFrame:
        """Return the mapping as a long table: ``force, cps_area, share``."""
        rows = [(f, a, self.area_share[(f, a)]) for f in self.forces for a in self.force_areas[f]]
        return pd.DataFrame(rows, columns=["force", "cps_area", "share"])


def suggest(name: str, valid: Iterable[str]) -> str:
    """Return ``" (did you mean 'X'?)"`` for the closest valid name, or ``""``.

    Matching ignores case and treats ``&`` as ``and``.
    """

    def norm(s: str) -> str:
        return " ".join(s.lower().replace("&", "and").split())

    by_norm = {norm(v): v for v in valid}
    if norm(name) in by_norm:
        return f" (did you mean {by_norm[norm(name)]!r}?)"
    close = difflib.get_close_matches(norm(name), list(by_norm), n=1, cutoff=0.6)
    return f" (did you mean {by_norm[close[0]]!r}?)" if close else ""


def geography_from_table(table: pd.DataFrame) -> Geography:
    """Build a :class:`Geography` from a ``force, cps_area`` table.

    ``cps_area`` may list several Areas separated by ``|``; the force's caseload is then
    split by :data:`MET_AREA_SPLIT` where it names them, otherwise equally.
    """
    forces = tuple(str(f) for f in table["force"])
    force_areas: dict[str, tuple[str, ...]] = {}
    share: dict[tuple[str, str], float] = {}
    for force, areas_field in zip(table["force"], table["cps_area"], strict=True):
        areas = tuple(a.strip() for a in str(areas_field).split("|"))
        force_areas[str(force)] = areas
        for a in areas:
            if len(areas) == 1:
                share[(str(force), a)] = 1.0
            else:
                share[(str(force), a)] = MET_AREA_SPLIT.get(a, 1.0 / len(areas))
    all_areas = tuple(sorted({a for areas in force_areas.values() for a in areas}))
    return Geography(
        forces=forces,
        areas=all_areas,
        force_areas=MappingProxyType(force_areas),
        area_share=MappingProxyType(share),
    )


@lru_cache(maxsize=1)
def load_geography() -> Geography:
    """Return the bundled geography: 43 territorial forces and 14 CPS Areas."""
    table = pd.read_csv(bundled_data_dir() / "cps_area_force.csv", dtype=str)
    return geography_from_table(table)
