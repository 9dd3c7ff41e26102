"""Our encoder and heads against Hugging Face transformers, on golden fixtures (always run).

The fixtures (tests/fixtures/make_model_fixtures.py) are tiny random BERT and XLM-R models
saved by transformers 4.57.6 with their outputs on padded sentence pairs. atol 1e-5: both sides
run float32 with the same operations in a possibly different order (fused SDPA vs eager
softmax), which moves values by ~1e-7 at these sizes; 1e-5 leaves room without hiding a real bug
(a wrong eps, position offset or activation changes outputs by > 1e-3).
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from funfisher import load_pretrained
from funfisher.model import encode

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ATOL = 1e-5
ARCHS = ["bert", "xlm-roberta"]


def reference(arch: str) -> dict[str, torch.Tensor]:
    return load_file(str(FIXTURES / f"tiny-{arch}" / "reference.safetensors"))


def inputs(ref: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k: ref[f"{prefix}.{k}"] for k in ("input_ids", "attention_mask", "token_type_ids")}


@pytest.mark.parametrize("arch", ARCHS)
def test_tokenizer_reproduces_fixture_inputs(arch):
    """Our batch encoding (pairs, padding, token types) gives the ids transformers was fed."""
    import runpy

    SENTENCE_PAIRS = runpy.run_path(str(FIXTURES / "make_model_fixtures.py"))["SENTENCE_PAIRS"]
    pm = load_pretrained(FIXTURES / f"tiny-{arch}" / "classification")
    ref = reference(arch)
    ours = encode(pm.tokenizer, [a for a, _ in SENTENCE_PAIRS], [b for _, b in SENTENCE_PAIRS])
    for key, value in inputs(ref, "pairs").items():
        assert torch.equal(ours[key], value), key
    assert ref["pairs.attention_mask"].min() == 0, "the fixture must contain padding"


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("kind", ["classification", "multiple_choice", "qa", "mlm"])
def test_hidden_states_match(arch, kind):
    """Every head's checkpoint carries the same base weights: the same hidden states."""
    pm = load_pretrained(FIXTURES / f"tiny-{arch}" / kind)
    assert pm.config.arch == arch
    ref = reference(arch)
    with torch.no_grad():
        hidden = pm.model(**inputs(ref, "pairs"))
    real = ref["pairs.attention_mask"].bool()  # padded positions are not defined outputs
    torch.testing.assert_close(hidden[real], ref["pairs.last_hidden_state"][real], atol=ATOL, rtol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_pooled_output_and_classification_logits(arch):
    pm = load_pretrained(FIXTURES / f"tiny-{arch}" / "classification")
    ref = reference(arch)
    model = pm.task_model("classification", num_labels=3).eval()
    with torch.no_grad():
        logits = model(**inputs(ref, "pairs"))
        if arch == "bert":  # XLM-R's classifier has its own dense layer instead of the pooler
            pooled = model.head.pool(model.encoder(**inputs(ref, "pairs")))
            torch.testing.assert_close(pooled, ref["pairs.pooler_output"], atol=ATOL, rtol=0)
    torch.testing.assert_close(logits, ref["classification.logits"], atol=ATOL, rtol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_pooler_matches_hf_base_model(arch):
    """The base model's pooler (used by the multiple-choice head) is HF's pooler_output."""
    pm = load_pretrained(FIXTURES / f"tiny-{arch}" / "multiple_choice")
    ref = reference(arch)
    model = pm.task_model("multiple_choice").eval()
    with torch.no_grad():
        pooled = model.head.pool(model.encoder(**inputs(ref, "pairs")))
    torch.testing.assert_close(pooled, ref["pairs.pooler_output"], atol=ATOL, rtol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_multiple_choice_scores(arch):
    pm = load_pretrained(FIXTURES / f"tiny-{arch}" / "multiple_choice")
    ref = reference(arch)
    model = pm.task_model("multiple_choice").eval()
    with torch.no_grad():
        scores = model(**inputs(ref, "mc"))
    assert scores.shape == ref["mc.input_ids"].shape[:2]
    torch.testing.assert_close(scores, ref["multiple_choice.logits"], atol=ATOL, rtol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_qa_logits(arch):
    pm = load_pretrained(FIXTURES / f"tiny-{arch}" / "qa")
    ref = reference(arch)
    model = pm.task_model("qa").eval()
    with torch.no_grad():
        start, end = model(**inputs(ref, "pairs"))
    real = ref["pairs.attention_mask"].bool()
    torch.testing.assert_close(start[real], ref["qa.start_logits"][real], atol=ATOL, rtol=0)
    torch.testing.assert_close(end[real], ref["qa.end_logits"][real], atol=ATOL, rtol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_mlm_logits_with_tied_decoder(arch):
    pm = load_pretrained(FIXTURES / f"tiny-{arch}" / "mlm")
    ref = reference(arch)
    model = pm.task_model("mlm").eval()
    with torch.no_grad():
        logits = model(**inputs(ref, "pairs"))
    real = ref["pairs.attention_mask"].bool()
    torch.testing.assert_close(logits[real], ref["mlm.logits"][real], atol=ATOL, rtol=0)
    # The decoder is the word-embedding matrix itself, not a copy.
    assert not any(p is model.encoder.embed.tokens.weight for p in model.head.parameters())


@pytest.mark.parametrize("arch", ARCHS)
def test_fresh_head_on_a_base_checkpoint(arch):
    """A base checkpoint without a classifier: the pooler loads, the classifier starts fresh."""
    pm = load_pretrained(FIXTURES / f"tiny-{arch}" / "mlm")  # MLM checkpoints have no pooler at all
    model = pm.task_model("classification", num_labels=5)
    assert model.head.out.weight.shape == (5, pm.config.hidden_size)
    assert float(model.head.out.bias.detach().abs().sum()) == 0.0
    assert 0.01 < float(model.head.out.weight.detach().std()) < 0.04  # N(0, 0.02) init


def test_xlmr_positions_start_after_padding_idx():
    from funfisher.model.encoder import position_ids

    pm = load_pretrained(FIXTURES / "tiny-xlm-roberta" / "classification")
    ids = torch.tensor([[0, 7, 8, 2, 1, 1]])  # <s> w w </s> <pad> <pad>
    assert position_ids(ids, pm.config).tolist() == [[2, 3, 4, 5, 1, 1]]
