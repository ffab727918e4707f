"""The book's number formats (soteria_eval.report.styled)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from soteria_eval.report import format_p, styled


def test_styled_formats_each_column_by_what_it_holds() -> None:
    t = pd.DataFrame(
        {
            "Forces": [43.0, 12.0, np.nan],
            "Estimate": [0.123456, -1.5, 2.0],
            "p_value": [0.0000123, 0.04567, np.nan],
            "Adjusted p": [0.5, 0.0004, 1.0],
            "label": ["a", "b", "c"],
        }
    )
    html = styled(t).to_html()
    assert ">43<" in html and ">12<" in html and "43.000" not in html
    assert ">0.123<" in html and ">-1.500<" in html
    assert "&lt; 0.001" in html and ">0.046<" in html and "0.000" not in html
    assert ">—<" in html
    assert format_p(0.0005) == "< 0.001" and format_p(0.25) == "0.250" and format_p(np.nan) == "—"


def test_effects_are_written_in_the_readers_unit() -> None:
    from soteria_eval.report import format_effect

    # Log scale: percentage change of the estimate and of each end of the interval.
    eff, ci = format_effect(0.1935, 0.1175, 0.2697, "ATT (log points)")
    assert eff == f"+{100 * np.expm1(0.1935):.1f}%" == "+21.3%"
    assert ci == "+12.5% to +31.0%"
    assert format_effect(-0.0916, -0.245, 0.061, "ATT (log rate ratio)")[0] == "\u22128.8%"
    # Points and days: one decimal, whole days; typographic minus; no "-0".
    assert format_effect(0.882, -0.293, 2.058, "ATT (percentage points)") == (
        "+0.9 percentage points",
        "\u22120.3 to +2.1 percentage points",
    )
    assert format_effect(-18.898, -31.9, -5.54, "ATT (days)") == (
        "\u221219 days",
        "\u221232 to \u22126 days",
    )
    assert format_effect(-0.04, -1.0, 1.0, "ATT (percentage points)")[0] == "0.0 percentage points"
    assert format_effect(1.0, np.nan, np.nan, "ATT (days)")[1] == "—"
    assert format_effect(np.nan, np.nan, np.nan, "ATT (log points)") == ("—", "—")


def test_scenario_ids_have_readers_labels() -> None:
    from soteria_eval.report import SCENARIO_LABELS, scenario_label
    from soteria_eval.rollout import SCENARIOS

    assert set(SCENARIOS) <= set(SCENARIO_LABELS)
    assert scenario_label("exposed_dropped, COVID-19 quarters excluded").startswith(
        "Exposed forces"
    )
    assert scenario_label("leave out Durham") == "leave out Durham"


def test_event_study_caution_when_its_inference_is_refused() -> None:
    from pathlib import Path

    from soteria_eval.report import RunOutputs, event_study_caution, refusal_reasons

    note = (
        "refused by the recovery study (200 simulated seeds): coverage 86.5% outside "
        "90%–98%; bias -29% of the planted effect (borderline); not-yet-treated "
        "comparisons; multiplier bootstrap"
    )
    assert refusal_reasons(note) == (
        "coverage 86.5% outside 90%–98%; bias −29% of the planted effect (borderline)"
    )
    assert refusal_reasons("not-yet-treated comparisons") == ""
    rows = pd.DataFrame(
        {
            "analysis": ["volume"] * 3 + ["quality"],
            "measure": ["charges"] * 3 + ["police_charge_rate"],
            "design": ["event_study_cs"] * 4,
            "term": ["pre-trend Wald", "event +0", "event +1", "event +0"],
            "status": ["refused", "refused", "refused", "ok"],
            "note": [note, note, note, "multiplier bootstrap"],
        }
    )
    run = RunOutputs(folder=Path("."), results=rows, figures={}, manifest={})
    text = event_study_caution(run, "volume", "charges")
    assert text.startswith("```{caution}") and text.endswith("```")
    assert "coverage 86.5%" in text and "not as evidence" in text
    assert "multiplier bootstrap" not in text  # the design's own notes stay out
    assert event_study_caution(run, "quality", "police_charge_rate") == ""
    assert event_study_caution(run, "timeliness", "days_referral_to_decision") == ""
    from soteria_eval.report import pretrend_test

    wald = rows.iloc[:1].assign(
        design="callaway_santanna", estimand="chi2 (8 df)", estimate=11.57, p_value=np.nan
    )
    sentence = pretrend_test(RunOutputs(Path("."), wald, {}, {}), "volume", "charges")
    assert "p-value is not reported (the recovery study refused" in sentence
    assert "coverage 86.5%" in sentence and "multiplier bootstrap" not in sentence


def test_p_text_never_writes_an_equals_sign_before_a_less_than() -> None:
    from soteria_eval.report import p_text

    assert p_text(0.0004) == "p < 0.001"
    assert p_text(0.0123) == "p = 0.012"
    assert p_text(float("nan")) == "p not available"


def test_pretrend_sentence_reads_the_randomization_test_first() -> None:
    from pathlib import Path

    from soteria_eval.report import RunOutputs, pretrend_test

    rows = pd.DataFrame(
        {
            "analysis": ["volume"] * 2, "measure": ["charges"] * 2,
            "term": ["pre-trend Wald", "pre-trend (randomization)"],
            "estimand": ["chi2 (7 df)", "Wald (7 leads)"], "estimate": [19.2, 19.2],
            "p_value": [0.008, 0.31], "status": ["ok", "ok"], "note": ["", ""],
        }
    )  # fmt: skip
    text = pretrend_test(RunOutputs(Path("."), rows, {}, {}), "volume", "charges")
    assert text.startswith("Joint test that every pre-start effect is zero, by randomization")
    assert "p = 0.310 (no evidence against parallel pre-trends)" in text
    assert "The chi-squared Wald test of the same leads" in text and "for reference" in text


def test_units_follow_the_measure_and_zero_has_no_sign() -> None:
    """Issue 33: a 1-5 score read "+0.2 percentage points"; "+1 days"; "-29 to +0 days"."""
    from soteria_eval.report import format_effect

    assert format_effect(0.2, 0.05, 0.35, "ATT (points)") == ("+0.2 points", "+0.1 to +0.3 points")
    assert format_effect(1.2, -29.4, 0.3, "ATT (days)") == ("+1 day", "\u221229 to 0 days")
    assert format_effect(0.01, 0.0, 0.8, "ATT (percentage points)")[1] == (
        "0.0 to +0.8 percentage points"
    )


def test_titles_inside_sentences_keep_their_acronyms() -> None:
    from soteria_eval.dictionary import in_text, load_catalogue

    assert in_text("Referrals to the CPS (receipts)") == "referrals to the CPS (receipts)"
    assert in_text("ISVA support") == "ISVA support"
    titles = [m.title_in_text for m in load_catalogue().values()]
    assert not any("cps" in t or "isva" in t for t in titles)


def test_a_refused_synthetic_control_with_a_poor_fit_does_not_read_good() -> None:
    """Issue 33: the Metropolitan Police (3.8x) read "good" once its row was refused."""
    from soteria_eval.report import fit_label

    note = "refused by the recovery study (200 seeds): bias +92%; pre-period RMSPE 0.41, 3.8 times the median donor's"
    assert fit_label("refused", note) == "poor: not credible (3.8× the median donor's error)"
    assert fit_label("ok", "pre-period RMSPE 0.1, 1.2 times the median donor's").startswith("good")
    assert fit_label("not credible", "") == "poor: not credible"


def test_the_landing_page_names_the_plan_version_and_synthetic_data() -> None:
    from pathlib import Path

    from soteria_eval.report import RunOutputs, report_line

    m = {"title": "Evaluation of Operation Soteria", "soteria_eval_version": "0.1.0",
         "git_commit": "1d2b5a8abcdef", "data_label": "synthetic", "seed": 20210901}  # fmt: skip
    line = report_line(RunOutputs(Path("."), pd.DataFrame(), {}, m))
    assert line.startswith("**Evaluation of Operation Soteria** · soteria-eval 0.1.0 (1d2b5a8)")
    assert "SYNTHETIC" in line and "seed 20210901" in line


def test_refusal_reasons_keep_a_tests_false_rejections_and_its_hyphens() -> None:
    from soteria_eval.report import refusal_reasons

    note = ("refused by the recovery study (200 simulated seeds): bias -54% of the planted "
            "effect; rejects a true null in 41% of no-effect worlds; not-yet-treated comparisons")  # fmt: skip
    assert refusal_reasons(note) == (
        "bias \u221254% of the planted effect; rejects a true null in 41% of no-effect worlds"
    )
