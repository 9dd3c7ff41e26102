"""Packing (`pack=True`: layers on the real tokens only) equals the padded computation.

The padded path (the default, pack=False) is the one checked against Hugging Face
(test_hf_parity.py); here the packed path must reproduce it on every real token, for both
position schemes, with every adapter kind plugged in, and for first-token-only heads, and give
the same gradients. float64 so that the only differences left are summation order (atol 1e-10).
"""
from __future__ import annotations

import pytest
import torch

from funfisher.adapters import activate, add_adapter
from funfisher.model.config import EncoderConfig
from funfisher.model.encoder import Encoder, Packing, worth_packing

H, L = 32, 3


def tiny(arch: str) -> Encoder:
    torch.manual_seed(0)
    cfg = EncoderConfig(arch=arch, vocab_size=50, hidden_size=H, num_hidden_layers=L, num_attention_heads=4,
                        intermediate_size=48, max_position_embeddings=40, type_vocab_size=2 if arch == "bert" else 1,
                        layer_norm_eps=1e-12 if arch == "bert" else 1e-5, pad_token_id=0 if arch == "bert" else 1)
    return Encoder(cfg).double().eval()


def ragged_batch(pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded sequences of lengths 9, 3, 6, 1: half of the 36 positions are padding."""
    g = torch.Generator().manual_seed(1)
    lengths = [9, 3, 6, 1]
    ids = torch.full((4, 9), pad_id)
    mask = torch.zeros(4, 9, dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, :n] = torch.randint(5, 50, (n,), generator=g)
        mask[row, :n] = 1
    types = (torch.arange(9) >= 4).long().expand(4, 9) * mask
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def with_adapters(model: Encoder, kind: str) -> Encoder:
    """Attach and activate adapters of one kind, with random (not identity-initialized) weights."""
    base = {name for name, _ in model.named_parameters()}
    if kind == "bottleneck":
        add_adapter(model, "lang", "seq_bn_inv", reduction_factor=2)
        add_adapter(model, "task", "seq_bn")
        activate(model, "lang", "task")
    elif kind == "lora":
        add_adapter(model, "task", "lora", r=4)
        activate(model, "task")
    added = [p for name, p in model.named_parameters() if name not in base]
    assert (len(added) > 0) == (kind != "none")
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for p in added:
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.1)
    return model


@pytest.mark.parametrize("arch", ["bert", "xlm-roberta"])
@pytest.mark.parametrize("kind", ["none", "bottleneck", "lora"])
def test_packed_equals_padded_on_real_tokens(arch, kind):
    model = with_adapters(tiny(arch), kind)
    batch = ragged_batch(model.config.pad_token_id)
    real = batch["attention_mask"].bool()
    assert worth_packing(batch["attention_mask"])
    with torch.inference_mode():
        padded = model(**batch)
        padded_first = model(**batch, first_token_only=True)
        packed = model(**batch, pack=True)
        packed_first = model(**batch, first_token_only=True, pack=True)
    assert padded[~real].any(), "without pack=True the encoder runs padded, autograd off or not"
    torch.testing.assert_close(packed[real], padded[real], atol=1e-10, rtol=0)
    assert packed_first.shape == padded_first.shape == (4, 1, H)
    torch.testing.assert_close(packed_first, padded_first, atol=1e-10, rtol=0)
    assert not packed[~real].any(), "padded positions come out as zeros in the packed path"


@pytest.mark.parametrize("kind", ["none", "bottleneck", "lora"])
def test_packed_gradients_equal_padded_gradients(kind):
    """pack=True is safe under autograd: a loss on the real tokens gets the padded run's gradients."""
    model = with_adapters(tiny("bert"), kind)
    batch = ragged_batch(model.config.pad_token_id)
    real = batch["attention_mask"].bool()
    weights = torch.linspace(-1, 1, H, dtype=torch.float64)

    def gradients(pack: bool) -> dict[str, torch.Tensor]:
        model.zero_grad(set_to_none=True)
        (model(**batch, pack=pack)[real] * weights).sin().sum().backward()
        return {name: p.grad for name, p in model.named_parameters() if p.grad is not None}

    padded, packed = gradients(pack=False), gradients(pack=True)
    assert packed.keys() == padded.keys()
    for name, grad in packed.items():
        torch.testing.assert_close(grad, padded[name], atol=1e-10, rtol=0, msg=name)


def test_packing_round_trip_and_threshold():
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    x = torch.arange(2 * 4 * 3, dtype=torch.float).view(2, 4, 3)
    packing = Packing.from_mask(mask)
    rows = packing.pack(x)
    assert rows.shape == (4, 3)
    torch.testing.assert_close(rows, x[mask.bool()])
    back = packing.pad(rows)
    torch.testing.assert_close(back[mask.bool()], x[mask.bool()])
    assert not back[~mask.bool()].any()
    # 1 padded position in 12 (8%) is below the 10% threshold; 4 in 8 is above it
    assert not worth_packing(torch.tensor([[1] * 12, [1] * 11 + [0]]))
    assert worth_packing(mask)
