"""Cross-lingual averages say over which target languages they are taken."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from funfisher.evaluation import average_coverage, average_label, cross_lingual_average, results_table

# XNLI's 15 languages minus 2: en (the source) and 12 targets, of which ar, sw and ur have no adapter
TARGETS = ["ar", "bg", "de", "el", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur"]
SKIPPED = ("ar", "sw", "ur")


def _results(skipped=SKIPPED) -> dict:
    # en 90, then the nine run targets get 60, 61, ..., 68 in order (skipped ones get no number)
    results = {"en": {"accuracy": 90.0, "total": 10}}
    value = 60.0
    for lang in TARGETS:
        if lang in skipped:
            results[lang] = {"skipped": f"no language adapter for {lang!r}"}
        else:
            results[lang] = {"accuracy": value, "total": 10}
            value += 1
    return results


def test_average_coverage_with_skipped_languages():
    results = _results()
    coverage = average_coverage(results, "en")
    assert coverage == {
        "languages": ["bg", "de", "el", "es", "fr", "hi", "ru", "th", "tr"],
        "skipped": ["ar", "sw", "ur"],
        "n": 9,
        "of": 12,
        "text": "9 of 12: ar, sw, ur skipped",
    }
    # the float API is unchanged: mean of 60..68 = 64 (en's 90 excluded)
    assert cross_lingual_average(results, "en") == pytest.approx(64.0)
    assert average_label(results, "en") == "avg without en (9 of 12: ar, sw, ur skipped)"


def test_average_coverage_all_and_edge_cases():
    assert average_coverage(_results(skipped=()), "en")["text"] == "all 12"
    assert average_coverage(_results(skipped=()), "en")["n"] == 12
    # a skipped source language counts in neither n nor of
    results = {"en": {"skipped": "not run"}, "de": {"accuracy": 50.0}, "sw": {"skipped": "no adapter"}}
    assert average_coverage(results, "en") == {"languages": ["de"], "skipped": ["sw"], "n": 1, "of": 2,
                                                "text": "1 of 2: sw skipped"}
    # another source language: en is a target then
    assert average_coverage({"en": {"accuracy": 1.0}, "de": {"accuracy": 2.0}}, "de")["text"] == "all 1"
    everything_skipped = {"en": {"accuracy": 1.0}, "de": {"skipped": "x"}, "sw": {"skipped": "y"}}
    assert average_coverage(everything_skipped, "en")["text"] == "0 of 2: de, sw skipped"
    assert cross_lingual_average(everything_skipped, "en") is None
    assert average_coverage({"en": {"accuracy": 1.0}}, "en") == {"languages": [], "skipped": [], "n": 0, "of": 0,
                                                                 "text": "no target languages"}


def test_results_table_average_row_names_its_languages():
    table = results_table(_results(), "en")
    assert table.splitlines()[-1] == "| **avg without en (9 of 12: ar, sw, ur skipped)** | **64.00** |"
    assert "| ar | no language adapter for 'ar' |" in table
    assert results_table(_results(skipped=()), "en").splitlines()[-1] == "| **avg without en (all 12)** | **65.50** |"
    # (60 + ... + 71) / 12 = 65.5


def _run(results: dict) -> SimpleNamespace:  # what comparison_table reads of a RunResult
    return SimpleNamespace(metrics=results, xling_avg=cross_lingual_average(results, "en"), steps=4)


def test_comparison_table_same_coverage_one_label():
    from funfisher.train import comparison_table

    table = comparison_table({"fun": _run(_results()), "gu": _run(_results())}, "en")
    assert "| **avg without en (9 of 12: ar, sw, ur skipped)** | **64.00** | **64.00** |" in table["markdown"]
    assert table["xling_avg_over"]["fun"]["text"] == table["xling_avg_over"]["gu"]["text"] == "9 of 12: ar, sw, ur skipped"
    assert table["xling_avg_over"]["gu"]["n"] == 9


def test_comparison_table_different_coverage_per_column():
    from funfisher.train import comparison_table

    # "gu" also skips ar only: 11 of 12 run, values 60..70, mean 65
    table = comparison_table({"fun": _run(_results()), "gu": _run(_results(skipped=("ar",)))}, "en")
    assert ("| **avg without en** | **64.00** (9 of 12: ar, sw, ur skipped) | **65.00** (11 of 12: ar skipped) |"
            in table["markdown"])
    assert table["xling_avg_over"]["gu"] == {
        "languages": [lang for lang in TARGETS if lang != "ar"], "skipped": ["ar"], "n": 11, "of": 12,
        "text": "11 of 12: ar skipped",
    }
    assert "| sw | skipped | 67.00 |" in table["markdown"]
