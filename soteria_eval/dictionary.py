"""The data dictionary: table schemas and the measure catalogue.

Everything the evaluation reads is described once, in ``data_dictionary/`` — a Frictionless
Data Package holding the Table Schemas (``schemas/*.schema.json``), the measure catalogue
(``measures.csv``), the bundled reference data and small examples. This module reads it;
:mod:`soteria_eval.data` validates tables against it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

import pandas as pd

from soteria_eval._paths import data_dictionary_dir

Domain = Literal["volume", "quality", "timeliness", "victim_experience"]
DOMAINS: tuple[Domain, ...] = ("volume", "quality", "timeliness", "victim_experience")
DOMAIN_TITLES: Mapping[str, str] = {
    "volume": "Volume",
    "quality": "Quality",
    "timeliness": "Timeliness",
    "victim_experience": "Victim experience",
}


@dataclass(frozen=True)
class FieldSpec:
    """One field of a Table Schema, with the constraints this package enforces."""

    name: str
    type: str
    description: str = ""
    required: bool = False
    unique: bool = False
    minimum: float | None = None
    maximum: float | None = None
    enum: tuple[str, ...] | None = None
    pattern: str | None = None
    true_values: tuple[str, ...] = ("true", "True", "TRUE", "1")
    false_values: tuple[str, ...] = ("false", "False", "FALSE", "0")
    optional_column: bool = False


@dataclass(frozen=True)
class TableSchema:
    """A Frictionless Table Schema read from the data dictionary."""

    name: str
    title: str
    fields: tuple[FieldSpec, ...]
    primary_key: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Field names in schema order."""
        return tuple(f.name for f in self.fields)

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns a file must have (every field not marked optional)."""
        return tuple(f.name for f in self.fields if not f.optional_column)

    def field(self, name: str) -> FieldSpec:
        """Return a field by name."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


def _field(d: Mapping[str, Any]) -> FieldSpec:
    c = d.get("constraints", {})
    kw: dict[str, Any] = {}
    if "trueValues" in d:
        kw["true_values"] = tuple(d["trueValues"])
    if "falseValues" in d:
        kw["false_values"] = tuple(d["falseValues"])
    return FieldSpec(
        name=d["name"],
        type=d.get("type", "string"),
        description=d.get("description", ""),
        required=bool(c.get("required", False)),
        unique=bool(c.get("unique", False)),
        minimum=c.get("minimum"),
        maximum=c.get("maximum"),
        enum=tuple(str(v) for v in c["enum"]) if "enum" in c else None,
        pattern=c.get("pattern"),
        optional_column=bool(d.get("optional", False)),
        **kw,
    )


SchemaName = Literal[
    "panel",
    "case_records",
    "rollout",
    "geography",
    "sexual_offences_outcomes",
    "all_offences_outcomes",
    "moj_rape_timeliness",
    "measures",
    "truth",
    "recovery",
]
#: Names of the schemas in ``data_dictionary/schemas``.
SCHEMA_NAMES: tuple[str, ...] = get_args(SchemaName)


@cache
def load_schema(name: str) -> TableSchema:
    """Return a table schema by name (one of :data:`SCHEMA_NAMES`)."""
    if name not in SCHEMA_NAMES:
        raise ValueError(f"unknown schema {name!r}; known: {SCHEMA_NAMES}")
    path = data_dictionary_dir() / "schemas" / f"{name}.schema.json"
    d = json.loads(path.read_text(encoding="utf-8"))
    return TableSchema(
        name=name,
        title=d.get("title", name),
        fields=tuple(_field(f) for f in d["fields"]),
        primary_key=tuple(d.get("primaryKey", ())),
    )


@dataclass(frozen=True)
class Measure:
    """One measure of the evaluation, as defined in the catalogue."""

    id: str
    title: str
    definition: str
    domain: str
    type: str
    statistic: str
    numerator: str
    denominator: str
    unit: str
    source: str
    level: tuple[str, ...]
    frequency: tuple[str, ...]
    direction: str
    primary: bool
    series_breaks: str
    disclosure_rule: str
    #: Measures linked by construction share a family id (empty: linked to none).
    family: str = ""
    #: ``"complement"`` (they sum to the denominator) or ``"shares"`` (same denominator).
    family_kind: str = ""

    @property
    def title_in_text(self) -> str:
        """The title inside a sentence: first letter lower case, acronyms (CPS, ISVA) kept."""
        return in_text(self.title)


def in_text(title: str) -> str:
    """Lower-case a title's first word for use inside a sentence, unless it is an acronym.

    ``"Referrals to the CPS (receipts)"`` gives ``"referrals to the CPS (receipts)"``;
    ``"ISVA support"`` stays as it is (``str.lower`` gave "cps" and "isva").
    """
    first = title.split(" ", 1)[0]
    if len(first) > 1 and first.isupper():
        return title
    return title[:1].lower() + title[1:]


class MeasureCatalogue(Mapping[str, Measure]):
    """The measure catalogue: a read-only mapping from measure id to :class:`Measure`."""

    def __init__(self, table: pd.DataFrame) -> None:
        self._table = table.reset_index(drop=True)
        self._measures = {
            str(r["id"]): Measure(
                id=str(r["id"]),
                title=str(r["title"]),
                definition=str(r["definition"]),
                domain=str(r["domain"]),
                type=str(r["type"]),
                statistic=str(r["statistic"]),
                numerator=str(r["numerator"]),
                denominator=str(r["denominator"] or ""),
                unit=str(r["unit"]),
                source=str(r["source"]),
                level=tuple(str(r["level"]).split("|")),
                frequency=tuple(str(r["frequency"]).split("|")),
                direction=str(r["direction"]),
                primary=str(r["primary"]).lower() == "true",
                series_breaks=str(r["series_breaks"] or ""),
                disclosure_rule=str(r["disclosure_rule"]),
                family=str(r.get("family", "") or ""),
                family_kind=str(r.get("family_kind", "") or ""),
            )
            for _, r in self._table.iterrows()
        }

    def __getitem__(self, key: str) -> Measure:
        return self._measures[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._measures)

    def __len__(self) -> int:
        return len(self._measures)

    def table(self) -> pd.DataFrame:
        """Return the catalogue as a DataFrame (one row per measure)."""
        return self._table.copy()

    def by_domain(self, domain: str) -> list[Measure]:
        """Return the measures of a domain, primary first."""
        ms = [m for m in self._measures.values() if m.domain == domain]
        return sorted(ms, key=lambda m: (not m.primary, m.id))

    def family_of(self, measure: str) -> list[Measure]:
        """Return the measures linked to ``measure`` by construction (itself included)."""
        m = self._measures[measure]
        if not m.family:
            return [m]
        return [x for x in self._measures.values() if x.family == m.family]

    def primary(self, domain: str) -> Measure:
        """Return the domain's pre-specified primary measure."""
        return self.by_domain(domain)[0]


def catalogue_from_file(path: str | Path) -> MeasureCatalogue:
    """Read a measure catalogue CSV (validate it with :func:`soteria_eval.data.validate_file`)."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    return MeasureCatalogue(table)


@lru_cache(maxsize=1)
def load_catalogue() -> MeasureCatalogue:
    """Return the bundled measure catalogue (``data_dictionary/measures.csv``)."""
    return catalogue_from_file(data_dictionary_dir() / "measures.csv")


def validate_data_package() -> list[str]:
    """Validate the whole data dictionary with ``frictionless``.

    Returns
    -------
    list of str
        One message per problem (empty when the package is valid). Row numbers follow
        frictionless, which counts the header as row 1.
    """
    from frictionless import Package

    base = data_dictionary_dir()
    package = Package("datapackage.json", basepath=str(base))
    report = package.validate()
    out: list[str] = []
    for task in report.tasks:
        out.extend(f"{task.name}: {e.message}" for e in task.errors)
    out.extend(e.message for e in report.errors)
    return out


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(catalogue: MeasureCatalogue | None = None) -> str:
    """Render the measure catalogue as Markdown: one table per domain.

    Each table lists the measure, its definition, type, numerator and denominator, unit,
    direction of improvement, source and known series breaks; the primary measure of the
    domain is marked.
    """
    cat = catalogue or load_catalogue()
    arrows = {"higher": "↑ higher is better", "lower": "↓ lower is better", "neutral": "– context"}
    parts: list[str] = []
    for domain in DOMAINS:
        parts.append(f"### {DOMAIN_TITLES[domain]}\n")
        parts.append(
            "| Measure | Definition | Type | Numerator | Denominator | Unit | Direction "
            "| Source | Series breaks |"
        )
        parts.append("|---|---|---|---|---|---|---|---|---|")
        for m in cat.by_domain(domain):
            name = f"**{m.title}** (primary)" if m.primary else m.title
            name += f"<br>`{m.id}`"
            definition = m.definition
            if m.family:
                others = [x.title for x in cat.family_of(m.id) if x.id != m.id]
                link = "complement of" if m.family_kind == "complement" else "same denominator as"
                definition += f" *Linked by construction:* {link} {', '.join(others)}."
            cells = [
                name,
                definition,
                f"{m.type} ({m.statistic})",
                m.numerator,
                m.denominator or "—",
                m.unit,
                arrows[m.direction],
                m.source,
                m.series_breaks or "—",
            ]
            parts.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
        parts.append("")
    return "\n".join(parts)


def render_schema_markdown(name: str) -> str:
    """Render one table schema as a Markdown table of its fields."""
    s = load_schema(name)
    lines = [f"**{s.title}** (`{name}`)\n", "| Column | Type | Required | Description |"]
    lines.append("|---|---|---|---|")
    for f in s.fields:
        req = "optional column" if f.optional_column else ("yes" if f.required else "no")
        lines.append(f"| `{f.name}` | {f.type} | {req} | {_md_escape(f.description)} |")
    return "\n".join(lines) + "\n"
