"""The evaluation plan: a YAML file in ``analyses/`` that says what to run.

A plan is validated before anything runs; a mistake is reported with the key path
(e.g. ``analyses[2].scenarios[0]``) and the rule broken.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from soteria_eval.dictionary import DOMAINS
from soteria_eval.rollout import SCENARIOS

PLAN_VERSION = 1
_TOP_KEYS = {
    "version",
    "title",
    "data_label",
    "disclosure_threshold",
    "seed",
    "multiplicity",
    "analyses",
}
_ANALYSIS_KEYS = {
    "id",
    "script",
    "question",
    "domain",
    "measures",
    "scenarios",
    "windows",
    "designs",
    "inference",
    "levels",
    "options",
}

#: What an analysis entry may ask for (the domain analyses honour all of them).
DESIGNS: tuple[str, ...] = (
    "twfe", "callaway_santanna", "event_study", "ppml", "imputation_trends",
)  # fmt: skip
INFERENCE: tuple[str, ...] = ("CR1", "CR2", "wild_bootstrap", "randomization")
LEVELS: tuple[str, ...] = ("force",)
MULTIPLICITY: tuple[str, ...] = ("holm", "bh")
#: Data windows: the full window, or with the COVID-19 quarters (2020-Q2 to 2021-Q1) left out.
WINDOWS: tuple[str, ...] = ("full", "covid_excluded")


#: The smallest disclosure threshold a plan may set (GSS/ONS output-checking rule of 10).
DISCLOSURE_FLOOR = 10
#: A plan is a short text file; anything larger is refused unread.
MAX_PLAN_BYTES = 256_000
#: Analysis ids name output files and logs: letters, digits and underscores only.
_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


def _measure_ids() -> tuple[str, ...]:
    """Return the measure ids a plan may name: the catalogue's and the published-data ones."""
    from soteria_eval.datasets import PUBLISHED_MEASURES
    from soteria_eval.dictionary import load_catalogue

    return (*load_catalogue(), *PUBLISHED_MEASURES)


class PlanError(ValueError):
    """The plan file breaks a rule; the message names the key and the rule."""


def _check_subgroup(p: Path, where: str, sub: object) -> None:
    """``options.subgroup`` maps case attributes the package knows to one value each."""
    if sub is None:
        return
    from soteria_eval.geography import suggest
    from soteria_eval.panels.attrition import SUBGROUPS

    if not isinstance(sub, dict) or not sub:
        raise _err(p, f"{where}.options.subgroup",
                   f"must map case attributes ({', '.join(SUBGROUPS)}) to a value, got {sub!r}")  # fmt: skip
    for col, val in sub.items():
        if col not in SUBGROUPS:
            raise _err(p, f"{where}.options.subgroup.{col}",
                       f"unknown case attribute {col!r}{suggest(str(col), SUBGROUPS)}; "
                       f"allowed: {', '.join(SUBGROUPS)}")  # fmt: skip
        if not isinstance(val, str | int | bool):
            raise _err(p, f"{where}.options.subgroup.{col}", f"must be one value, got {val!r}")


#: Deepest nesting of lists and mappings a plan or a metadata file may have.
MAX_NESTING = 32


def nesting_depth(value: object) -> int:
    """Return how deeply lists and mappings nest in ``value`` (a scalar: 0), without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            deepest = max(deepest, depth + 1)
            stack.extend((x, depth + 1) for x in v.values())
        elif isinstance(v, list):
            deepest = max(deepest, depth + 1)
            stack.extend((x, depth + 1) for x in v)
    return deepest


class _PlanLoader(yaml.SafeLoader):
    """YAML loader for plans: no aliases (no "billion laughs"), no duplicate keys."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.constructor.ConstructorError(
                None,
                None,
                "aliases (*name) are not allowed in a plan; write the value out",
                event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Hashable, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"duplicate key {key!r} (first at line {seen[key].line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


@dataclass(frozen=True)
class AnalysisSpec:
    """One planned analysis: a script in ``analyses/`` and its settings."""

    id: str
    script: str
    question: str = ""
    domain: str | None = None
    measures: tuple[str, ...] = ()
    scenarios: tuple[str, ...] = ("default",)
    windows: tuple[str, ...] = ("full",)
    designs: tuple[str, ...] = DESIGNS
    inference: tuple[str, ...] = INFERENCE
    levels: tuple[str, ...] = LEVELS
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """A validated evaluation plan."""

    path: Path
    title: str
    data_label: str | None
    disclosure_threshold: int
    analyses: tuple[AnalysisSpec, ...]
    multiplicity: str = "holm"

    @property
    def analyses_dir(self) -> Path:
        """Folder holding the analysis scripts (the plan's own folder)."""
        return self.path.parent


def _err(path: Path, where: str, msg: str) -> PlanError:
    return PlanError(f"{path}: {where}: {msg}")


def _strings(value: Any, path: Path, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise _err(path, where, "must be a string or a list of strings")
    return tuple(value)


def _check_script(plan: Path, where: str, script: str) -> None:
    """Refuse a script that is not a ``.py`` file inside the plan's folder."""
    folder = plan.resolve().parent
    rel = Path(script)
    if rel.is_absolute() or ".." in rel.parts or rel.suffix != ".py":
        raise _err(
            plan, where, f"{script!r} must be a .py file named relative to the plan's folder"
        )
    target = (folder / rel).resolve()
    if not target.is_relative_to(folder):
        raise _err(plan, where, f"{script!r} resolves outside the plan's folder")
    if not target.is_file():
        raise _err(plan, where, f"no such script {script!r} beside the plan")


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file."""
    p = Path(path)
    if not p.is_file():
        raise PlanError(f"{p}: plan file not found")
    if p.stat().st_size > MAX_PLAN_BYTES:
        raise PlanError(f"{p}: larger than {MAX_PLAN_BYTES} bytes; a plan is a short text file")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlanError(f"{p}: not UTF-8 text (byte {exc.start}): save the plan as UTF-8") from exc
    try:
        raw = yaml.load(text, Loader=_PlanLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise PlanError(f"{p}: not valid YAML: {exc}") from exc
    except RecursionError:
        raise PlanError(
            f"{p}: nested too deeply to read (more than {MAX_NESTING} levels); a plan is "
            "a mapping of lists of short mappings"
        ) from None
    if nesting_depth(raw) > MAX_NESTING:
        raise PlanError(
            f"{p}: nested more than {MAX_NESTING} levels deep; a plan is a mapping of lists "
            "of short mappings"
        )
    if not isinstance(raw, dict):
        raise _err(p, "top level", "must be a mapping with an 'analyses' list")
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise _err(p, sorted(unknown)[0], f"unknown key; allowed: {sorted(_TOP_KEYS)}")
    if raw.get("version") != PLAN_VERSION:
        raise _err(p, "version", f"must be {PLAN_VERSION}, got {raw.get('version')!r}")
    threshold = raw.get("disclosure_threshold", DISCLOSURE_FLOOR)
    if (
        not isinstance(threshold, int)
        or isinstance(threshold, bool)
        or threshold < DISCLOSURE_FLOOR
    ):
        raise _err(
            p,
            "disclosure_threshold",
            f"must be an integer of at least {DISCLOSURE_FLOOR} (the output-checking floor "
            f"for counts about victims), got {threshold!r}",
        )
    multiplicity = raw.get("multiplicity", "holm")
    if multiplicity not in MULTIPLICITY:
        raise _err(p, "multiplicity", f"must be one of {list(MULTIPLICITY)}, got {multiplicity!r}")
    items = raw.get("analyses")
    if not isinstance(items, list) or not items:
        raise _err(p, "analyses", "must be a non-empty list")
    specs: list[AnalysisSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        where = f"analyses[{i}]"
        if not isinstance(item, dict):
            raise _err(p, where, "must be a mapping")
        bad = set(item) - _ANALYSIS_KEYS
        if bad:
            raise _err(
                p, f"{where}.{sorted(bad)[0]}", f"unknown key; allowed: {sorted(_ANALYSIS_KEYS)}"
            )
        for key in ("id", "script"):
            if not isinstance(item.get(key), str) or not item[key]:
                raise _err(p, f"{where}.{key}", "is required (a string)")
        if not _ID.fullmatch(item["id"]):
            raise _err(
                p,
                f"{where}.id",
                f"{item['id']!r} is not a safe id: a letter, then up to 63 letters, digits "
                "or underscores",
            )
        if item["id"] in seen:
            raise _err(p, f"{where}.id", f"duplicate id {item['id']!r}")
        seen.add(item["id"])
        _check_script(p, f"{where}.script", item["script"])
        domain = item.get("domain")
        if domain is not None and domain not in DOMAINS:
            raise _err(p, f"{where}.domain", f"must be one of {DOMAINS}, got {domain!r}")
        scenarios = _strings(item.get("scenarios", ["default"]), p, f"{where}.scenarios")
        for j, s in enumerate(scenarios):
            if s not in SCENARIOS:
                raise _err(
                    p,
                    f"{where}.scenarios[{j}]",
                    f"unknown scenario {s!r}; known: {sorted(SCENARIOS)}",
                )
        chosen: dict[str, tuple[str, ...]] = {}
        for key, allowed, default in (
            ("designs", DESIGNS, DESIGNS),
            ("inference", INFERENCE, INFERENCE),
            ("levels", LEVELS, LEVELS),
            ("windows", WINDOWS, ("full",)),
        ):
            values = _strings(item.get(key, list(default)), p, f"{where}.{key}")
            for j, v in enumerate(values):
                if v not in allowed:
                    raise _err(
                        p, f"{where}.{key}[{j}]", f"unknown value {v!r}; allowed: {list(allowed)}"
                    )
            chosen[key] = values
        options = item.get("options", {})
        if not isinstance(options, dict):
            raise _err(p, f"{where}.options", "must be a mapping")
        _check_subgroup(p, where, options.get("subgroup"))
        measures = _strings(item.get("measures", []), p, f"{where}.measures")
        known = _measure_ids()
        for j, m in enumerate(measures):
            if m not in known:
                from soteria_eval.geography import suggest

                raise _err(
                    p, f"{where}.measures[{j}]",
                    f"unknown measure {m!r}{suggest(m, known)}; the catalogue's ids are listed "
                    "by `soteria-eval dictionary`",
                )  # fmt: skip
        specs.append(
            AnalysisSpec(
                id=item["id"],
                script=item["script"],
                question=str(item.get("question", "")),
                domain=domain,
                measures=measures,
                scenarios=scenarios,
                windows=chosen["windows"],
                designs=chosen["designs"],
                inference=chosen["inference"],
                levels=chosen["levels"],
                options=options,
            )
        )
    return Plan(
        path=p.resolve(),
        title=str(raw.get("title", "Evaluation of Operation Soteria")),
        data_label=str(raw["data_label"]) if raw.get("data_label") else None,
        disclosure_threshold=threshold,
        analyses=tuple(specs),
        multiplicity=multiplicity,
    )
