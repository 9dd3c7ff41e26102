"""Zero-shot evaluation: language adapters are swapped per target language; no adapter -> skipped."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from funfisher import adapters as A
from funfisher import data as D
from funfisher import load_pretrained
from funfisher.data import QAExample
from funfisher.evaluation import cross_lingual_average, results_table, zero_shot
from funfisher.tasks import Predictions, get_task

REPO = Path(__file__).resolve().parents[1]


def test_stack_per_language_and_skip_without_adapter(monkeypatch):
    pm = load_pretrained(REPO / "tests/fixtures/tiny-bert/classification")
    model = pm.task_model("classification", num_labels=3).eval()
    for lang in ("en", "de"):
        A.add_adapter(model.encoder, lang, "seq_bn_inv", reduction_factor=2)
    A.add_adapter(model.encoder, "task", "seq_bn")
    A.activate(model.encoder, "en", "task")
    seen = []
    import funfisher.evaluation as E

    real = E.evaluate_examples

    def spy(model, *args, **kwargs):
        seen.append(A.active_adapters(model.encoder))
        return real(model, *args, **kwargs)

    monkeypatch.setattr(E, "evaluate_examples", spy)
    task_before = {n: p.clone() for n, p in model.encoder.named_parameters() if n.startswith("adapters.task.")}
    results = zero_shot(model, pm.tokenizer, "xnli", "dev", ["en", "de", "sw"], language_adapters=["en", "de"],
                        data_dir=str(REPO / "data/demo"), max_length=32, n=12)
    assert seen == [("en", "task"), ("de", "task")]  # each language under its own adapter
    assert "skipped" in results["sw"] and "no language adapter for 'sw'" in results["sw"]["skipped"]
    assert results["de"]["setup"] == "Stack(de, task)"
    assert A.active_adapters(model.encoder) == ("en", "task")  # restored afterwards
    for n, p in model.encoder.named_parameters():
        if n in task_before:
            assert torch.equal(p, task_before[n])
    assert cross_lingual_average(results) == results["de"]["accuracy"]  # sw skipped, en excluded
    table = results_table(results)
    assert "| sw | no language adapter" in table and f"**{results['de']['accuracy']:.2f}**" in table
    assert f"| **avg without en (1 of 2: sw skipped)** | **{results['de']['accuracy']:.2f}** |" in table


# --------------------------------------------------------------------------------------------------
# QA scoring per dataset and language: XQuAD zh carries the released code's mixed segmentation too
# --------------------------------------------------------------------------------------------------
ZH_GOLD = [("北京大学", "北京"), ("北京", "北京。")]  # (gold, prediction)


def _score_with_answers(monkeypatch, dataset: str, lang: str, pairs) -> dict:
    """The QA task's `score` with the span decoding replaced by fixed answer texts."""
    examples = [QAExample(id=f"q{i}", question="?", context=gold, answers=((gold, 0),)) for i, (gold, _) in enumerate(pairs)]
    answers = {f"q{i}": prediction for i, (_, prediction) in enumerate(pairs)}
    monkeypatch.setattr(D, "postprocess_qa", lambda examples, features, starts, ends: answers)
    return get_task("qa").score(D.DATASETS[dataset].metric, examples, [], Predictions(start_logits=[], end_logits=[]), lang)


def test_xquad_zh_is_scored_both_ways_labelled(monkeypatch):
    result = _score_with_answers(monkeypatch, "xquad", "zh", ZH_GOLD)
    # primary, SQuAD v1.1: "北京" vs "北京大学" and "北京。" vs "北京" are one token each, unequal -> 0, 0
    assert (result["exact_match"], result["f1"], result["normalization"]) == (0.0, 0.0, "squad")
    # mixed segmentation: [北,京] vs [北,京,大,学]: P 1, R 1/2, F1 2/3; [北,京,。] vs [北,京]: P 2/3, R 1, F1 0.8
    # -> EM 0, F1 = 100 * (2/3 + 0.8) / 2 = 73.33
    mixed = result["zh_mixed_segmentation"]
    assert set(mixed) == {"exact_match", "f1", "normalization"}
    assert (mixed["exact_match"], mixed["f1"], mixed["normalization"]) == (0.0, pytest.approx(220 / 3), "mixed-zh")
    assert cross_lingual_average({"en": {"f1": 90.0}, "zh": result}, task="qa") == 0.0  # the average uses the primary F1
    table = results_table({"en": {"exact_match": 80.0, "f1": 90.0}, "zh": result}, task="qa")
    assert table.splitlines()[3:] == [
        "| zh | 0.00 | 0.00 |",
        "| zh (mixed segmentation, as the released code; not in the average) | 0.00 | 73.33 |",
        "| **avg without en (all 1)** |  | **0.00** |",
    ]


def test_xquad_de_and_mlqa_zh_have_no_extra_entry(monkeypatch):
    de = _score_with_answers(monkeypatch, "xquad", "de", [("der Hund", "Hund"), ("Katze", "die Katze")])
    # SQuAD v1.1 keeps German articles: [hund] vs [der, hund]: P 1, R 1/2, F1 2/3; the reverse likewise -> F1 66.67, EM 0
    assert (de["exact_match"], de["f1"], de["normalization"]) == (0.0, pytest.approx(200 / 3), "squad")
    assert "zh_mixed_segmentation" not in de
    zh = _score_with_answers(monkeypatch, "mlqa", "zh", ZH_GOLD)
    # official MLQA zh: pair 1 F1 2/3 as above; pair 2 "。" deleted -> exact. EM 50, F1 = 100 * (2/3 + 1) / 2 = 83.33
    assert (zh["exact_match"], zh["f1"], zh["normalization"]) == (50.0, pytest.approx(250 / 3), "mlqa-zh")
    assert "zh_mixed_segmentation" not in zh
