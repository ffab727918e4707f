"""Measures linked by construction: declared in the catalogue, counted once in multiplicity."""

from __future__ import annotations

import numpy as np
import pandas as pd

from soteria_eval.dictionary import load_catalogue, render_markdown
from soteria_eval.inference.multiplicity import adjust_pvalues
from soteria_eval.pipeline.run import add_adjusted_pvalues
from soteria_eval.report import linked_text

QUALITY = {  # secondary quality measures and their p-values
    "cps_charge_rate": 0.004,
    "cps_nfa_rate": 0.005,  # the complement: the same finding, mechanically
    "conviction_rate": 0.03,
    "police_nfa_evidential": 0.2,
    "guilty_plea_first_hearing": np.nan,  # not estimated: stays missing, does not count
}


def _rows(pvals: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "analysis": "quality", "domain": "quality", "design": "twfe", "level": "force",
            "scenario": "default", "estimand": "ATT", "term": "programme", "inference": "CR2",
            "measure": list(pvals), "p_value": list(pvals.values()), "status": "ok",
            "p_adjusted": np.nan,
        }
    )  # fmt: skip


def test_catalogue_declares_the_complement_and_share_families() -> None:
    cat = load_catalogue()
    assert {m.id for m in cat.family_of("cps_charge_rate")} == {"cps_charge_rate", "cps_nfa_rate"}
    assert cat["cps_nfa_rate"].family_kind == "complement"
    assert {m.id for m in cat.family_of("victim_does_not_support")} == {
        "victim_does_not_support", "police_nfa_evidential"
    }  # fmt: skip
    assert cat["police_nfa_evidential"].family_kind == "shares"
    # members of a family share a denominator (the definition of a family)
    for m in cat.values():
        for other in cat.family_of(m.id):
            assert other.denominator == m.denominator, (m.id, other.id)
    assert cat.family_of("charges") == [cat["charges"]]


def test_a_family_counts_once_in_holm() -> None:
    out = add_adjusted_pvalues(_rows(QUALITY), "holm").set_index("measure")["p_adjusted"]
    # three hypotheses (the CPS decision family, conviction rate, police NFA), not four
    fam = adjust_pvalues([0.004, 0.03, 0.2], "holm")  # R: p.adjust(c(.004,.03,.2), "holm")
    np.testing.assert_allclose(fam, [0.012, 0.06, 0.2])
    assert out["cps_charge_rate"] == 0.012
    assert out["cps_nfa_rate"] == 0.012  # the family's adjusted p (larger than its own 0.005)
    assert out["conviction_rate"] == 0.06 and out["police_nfa_evidential"] == 0.2
    assert np.isnan(out["guilty_plea_first_hearing"])


def test_without_families_it_is_plain_holm() -> None:
    pvals = {
        "conviction_rate": 0.01,
        "police_nfa_evidential": 0.04,
        "admin_finalisation_rate": 0.03,
    }
    out = add_adjusted_pvalues(_rows(pvals), "holm")
    np.testing.assert_allclose(out["p_adjusted"], adjust_pvalues(list(pvals.values()), "holm"))


def test_a_member_p_value_never_falls_below_its_own() -> None:
    out = add_adjusted_pvalues(_rows({"cps_charge_rate": 0.001, "cps_nfa_rate": 0.6}), "bh")
    assert out.set_index("measure").loc["cps_nfa_rate", "p_adjusted"] == 0.6


def test_pages_say_when_a_change_is_mechanical() -> None:
    text = linked_text("cps_nfa_rate")
    assert text == "complement of CPS charge rate (one test)"
    assert linked_text("charges") == "—"
    assert "*Linked by construction:* complement of CPS charge rate" in render_markdown()
