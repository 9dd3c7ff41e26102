"""Zero-shot evaluation: language adapters are swapped per target language; no adapter -> skipped."""
from __future__ import annotations

from pathlib import Path

import torch

from funfisher import adapters as A
from funfisher import load_pretrained
from funfisher.evaluation import cross_lingual_average, results_table, zero_shot

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
