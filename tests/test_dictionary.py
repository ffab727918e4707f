from __future__ import annotations

from soteria_eval.dictionary import (
    DOMAINS,
    SCHEMA_NAMES,
    load_catalogue,
    load_schema,
    render_markdown,
    render_schema_markdown,
    validate_data_package,
)


def test_data_package_validates_with_frictionless() -> None:
    assert validate_data_package() == []


def test_catalogue_covers_four_domains_with_one_primary_each() -> None:
    cat = load_catalogue()
    assert len(cat) >= 20
    for d in DOMAINS:
        ms = cat.by_domain(d)
        assert len(ms) >= 4
        assert sum(m.primary for m in ms) == 1
        assert cat.primary(d).primary


def test_every_measure_is_complete() -> None:
    for m in load_catalogue().values():
        assert m.definition and m.numerator and m.unit and m.source and m.disclosure_rule
        assert m.direction in {"higher", "lower", "neutral"}
        if m.type == "proportion" or m.statistic in {"ratio", "mean"}:
            assert m.denominator, m.id
        assert set(m.level) <= {"force", "area"}


def test_markdown_rendering() -> None:
    md = render_markdown()
    for title in ("### Volume", "### Quality", "### Timeliness", "### Victim experience"):
        assert title in md
    assert "**Suspects charged** (primary)" in md
    assert md.count("\n| ") >= len(load_catalogue())
    for name in SCHEMA_NAMES:
        assert f"`{load_schema(name).fields[0].name}`" in render_schema_markdown(name)
