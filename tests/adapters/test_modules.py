"""The adapter modules and the registry on a tiny random encoder (no reference library needed)."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from funfisher.adapters import (activate, active_adapters, add_adapter, delete_adapter, freeze_for_task_training,
                                get_adapter, list_adapters, merge_lora, set_trainable_units, swap_language_adapter,
                                task_units, unmerge_lora)
from funfisher.adapters.invertible import NICECoupling
from funfisher.adapters.lora import LoRALinear
from funfisher.model.config import EncoderConfig
from funfisher.model.encoder import Encoder
from funfisher.model.heads import TaskModel, build_head

H, L = 32, 3


def tiny(arch: str = "bert", seed: int = 0) -> Encoder:
    torch.manual_seed(seed)
    cfg = EncoderConfig(arch=arch, vocab_size=50, hidden_size=H, num_hidden_layers=L, num_attention_heads=4,
                        intermediate_size=48, max_position_embeddings=32, type_vocab_size=2 if arch == "bert" else 1,
                        layer_norm_eps=1e-12 if arch == "bert" else 1e-5, pad_token_id=0 if arch == "bert" else 1)
    return Encoder(cfg).eval()


def batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 50, (2, 7), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    return ids, mask


def randomize(module: torch.nn.Module, std: float = 0.2, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)


def test_pfeiffer_formula_single_and_stacked():
    """out = LN(A(LN(h + x)) + h + x); stacked: h1 = A1(LN(h + x)) + h ; h2 = A2(LN(h1 + x)) + h1 ; LN(h2 + x)."""
    model = tiny()
    lang, task = add_adapter(model, "lang", "seq_bn_inv", reduction_factor=2), add_adapter(model, "task", "seq_bn")
    randomize(lang), randomize(task, seed=1)
    ffn = model.layers[1].ffn
    x = torch.randn(2, 5, H)  # the attention block's output = the FFN's input and residual
    ln, A1, A2 = ffn.norm, lang.layers["1"], task.layers["1"]
    with torch.no_grad():
        h = ffn.down(ffn.act(ffn.up(x)))  # the FFN output before its residual (eval: no dropout)
        activate(model, "task")
        torch.testing.assert_close(ffn(x), ln(A2(ln(h + x)) + h + x))
        activate(model, "lang", "task")
        h1 = A1(ln(h + x)) + h
        h2 = A2(ln(h1 + x)) + h1
        torch.testing.assert_close(ffn(x), ln(h2 + x))
        activate(model)
        assert ffn.adapter is None
        torch.testing.assert_close(ffn(x), ln(h + x))


def test_sizes_and_bert_init():
    model = tiny()
    task = add_adapter(model, "task", "seq_bn")  # reduction 16
    lang = add_adapter(model, "lang", "seq_bn_inv", reduction_factor=2)
    assert task.layers["0"].down.weight.shape == (H // 16, H) and task.layers["0"].up.weight.shape == (H, H // 16)
    assert lang.layers["0"].down.weight.shape == (H // 2, H)
    inv = lang.invertible
    assert inv.F.down.weight.shape == (H // 4, H // 2) and inv.F.up.weight.shape == (H // 2, H // 4)
    # AdapterHub "bert" init: N(0, 0.02) weights (up included, not zero), zero biases
    weights = torch.cat([p.flatten() for n, p in lang.named_parameters() if n.endswith("weight")])
    assert abs(weights.std().item() - 0.02) < 0.004 and weights.abs().max() > 0
    assert all(torch.all(p == 0) for n, p in lang.named_parameters() if n.endswith("bias"))
    assert lang.layers["0"].up.weight.abs().sum() > 0


def test_reduction_factor_mapping_and_leave_out():
    model = tiny()
    a = add_adapter(model, "task", "seq_bn", reduction_factor={"1": 4, "default": 16}, leave_out=[2])
    assert sorted(a.layers) == ["0", "1"]
    assert a.layers["0"].down.out_features == 2 and a.layers["1"].down.out_features == 8
    assert sorted(task_units(model, "task")) == [0, 1]
    with pytest.raises(ValueError, match="leave_out"):
        add_adapter(model, "bad", "seq_bn", leave_out=[7])


def test_nice_inverse_is_exact():
    nice = NICECoupling(33, 2, "relu")  # odd size: halves of 16 and 17
    randomize(nice, std=0.5)
    e = torch.randn(4, 6, 33, dtype=torch.float64)
    nice.double()
    torch.testing.assert_close(nice.inverse(nice(e)), e)
    torch.testing.assert_close(nice(nice.inverse(e)), e)


def test_no_active_adapter_is_the_plain_model():
    model = tiny()
    ids, mask = batch()
    with torch.no_grad():
        plain = model(ids, mask)
        for name, kind in [("lang", "seq_bn_inv"), ("task", "seq_bn"), ("lo", "lora")]:
            randomize(add_adapter(model, name, kind))
        activate(model, "lang", "task")
        assert not torch.allclose(model(ids, mask), plain)
        activate(model, "lo")
        assert not torch.allclose(model(ids, mask), plain)
        activate(model)
        assert torch.equal(model(ids, mask), plain)
    assert model.embedding_adapter is None and all(layer.ffn.adapter is None for layer in model.layers)


def test_state_dict_lists_each_weight_once_and_keeps_base_names():
    model = tiny()
    base_keys = set(model.state_dict())
    for name, kind in [("lang", "seq_bn_inv"), ("task", "seq_bn"), ("lo", "lora")]:
        add_adapter(model, name, kind)
    activate(model, "lang", "lo")
    activate(model, "lang", "task")
    keys = set(model.state_dict())
    assert base_keys <= keys
    extra = keys - base_keys
    assert all(k.startswith("adapters.") for k in extra), sorted(k for k in extra if not k.startswith("adapters."))
    assert "adapters.lo.layers.0.query.lora_A.weight" in keys and "adapters.lang.invertible.F.down.weight" in keys
    assert isinstance(model.layers[0].attn.query, LoRALinear)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == sum(v.numel() for v in model.state_dict().values())


def test_lora_init_scaling_and_merge():
    model = tiny()
    ids, mask = batch()
    with torch.no_grad():
        plain = model(ids, mask)
    lo = add_adapter(model, "lo", "lora")
    q = lo.layers["0"]["query"]
    assert q.lora_A.weight.shape == (8, H) and q.lora_B.weight.shape == (H, 8)
    assert set(lo.layers["0"]) == {"query", "value"} and q.scaling == 1.0
    assert torch.all(q.lora_B.weight == 0)
    bound = 1 / math.sqrt(H)  # kaiming_uniform(a=sqrt(5)) on [r, in]
    assert q.lora_A.weight.abs().max() <= bound and q.lora_A.weight.abs().max() > bound / 2
    activate(model, "lo")
    with torch.no_grad():
        torch.testing.assert_close(model(ids, mask), plain)  # B = 0: a fresh LoRA changes nothing
        randomize(lo, std=0.3)
        on = model(ids, mask)
        w0 = model.layers[0].attn.query.weight.clone()
        assert merge_lora(model) == 2 * L
        torch.testing.assert_close(model(ids, mask), on, atol=1e-5, rtol=0)
        with pytest.raises(RuntimeError, match="unmerge"):
            activate(model)
        assert unmerge_lora(model) == 2 * L
        torch.testing.assert_close(model.layers[0].attn.query.weight, w0, atol=1e-6, rtol=0)
        torch.testing.assert_close(model(ids, mask), on)
    two = add_adapter(model, "lo2", "lora", r=4, alpha=16, attn_matrices=["q", "k", "v"])
    assert two.layers["0"]["key"].scaling == 4.0
    with pytest.raises(ValueError, match="at most one LoRA"):
        activate(model, "lo", "lo2")


def test_stack_rules_and_roles():
    model = tiny()
    add_adapter(model, "de", "seq_bn_inv", reduction_factor=2)
    add_adapter(model, "sw", "seq_bn_inv", reduction_factor=2)
    add_adapter(model, "nli", "seq_bn")
    add_adapter(model, "plain_lang", "seq_bn", role="language")  # a language adapter without invertible block
    assert list_adapters(model) == {"de": "language", "sw": "language", "nli": "task", "plain_lang": "language"}
    with pytest.raises(ValueError, match="must come first"):
        activate(model, "nli", "de")
    with pytest.raises(ValueError, match="at most one language"):
        activate(model, "de", "sw", "nli")
    with pytest.raises(KeyError, match="no adapter named"):
        activate(model, "fr", "nli")
    with pytest.raises(ValueError, match="task adapter cannot have an invertible"):
        add_adapter(model, "bad", "seq_bn_inv", role="task")
    with pytest.raises(ValueError, match="already attached"):
        add_adapter(model, "nli", "seq_bn")
    activate(model, "plain_lang", "nli")
    assert model.embedding_adapter is None  # no invertible block in the first adapter
    activate(model, "de", "nli")
    assert model.embedding_adapter.name == "de"


def test_swapping_the_language_adapter_keeps_the_task_adapter():
    model = tiny()
    ids, mask = batch()
    for name in ("de", "sw"):
        randomize(add_adapter(model, name, "seq_bn_inv", reduction_factor=2), seed=len(name) + ord(name[0]))
    task = add_adapter(model, "nli", "seq_bn")
    randomize(task, seed=9)
    before = {k: v.clone() for k, v in task.state_dict().items()}
    activate(model, "de", "nli")
    with torch.no_grad():
        out_de = model(ids, mask)
        swap_language_adapter(model, "sw")
        assert active_adapters(model) == ("sw", "nli")
        out_sw = model(ids, mask)
    assert not torch.allclose(out_de, out_sw)
    assert get_adapter(model, "nli") is task
    assert all(torch.equal(before[k], v) for k, v in task.state_dict().items())
    assert model.layers[0].ffn.adapter.stack[1] is task.layers["0"]


def test_units_freezing_and_trainable_units():
    model = tiny()
    add_adapter(model, "de", "seq_bn_inv", reduction_factor=2)
    add_adapter(model, "nli", "seq_bn", leave_out=[0])
    add_adapter(model, "lo", "lora")
    units = task_units(model, "nli")
    assert sorted(units) == [1, 2] and all(len(ps) == 4 for ps in units.values())  # down/up weight+bias
    lora_units = task_units(model, "lo")
    assert sorted(lora_units) == [0, 1, 2] and all(len(ps) == 4 for ps in lora_units.values())  # q,v x A,B
    assert all(p.dim() == 2 for ps in lora_units.values() for p in ps)

    assert freeze_for_task_training(model, "nli") == []
    assert not any(p.requires_grad for p in model.parameters())
    assert set_trainable_units(model, "nli", [2]) == [2]
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert trainable == {id(p) for p in units[2]}
    set_trainable_units(model, "nli", [1, 2])
    assert {id(p) for p in model.parameters() if p.requires_grad} == {id(p) for ps in units.values() for p in ps}
    with pytest.raises(ValueError, match=r"no unit\(s\) \[0\]"):
        set_trainable_units(model, "nli", [0])
    with pytest.raises(ValueError, match="role 'language'"):
        freeze_for_task_training(model, "de")
    assert freeze_for_task_training(model, "lo", "all") == [0, 1, 2]

    # only unfrozen units get gradients; the language adapter and the base stay frozen
    freeze_for_task_training(model, "nli", [2])
    activate(model, "de", "nli")
    ids, mask = batch()
    model(ids, mask).sum().backward()
    assert all(p.grad is not None for p in units[2])
    assert all(p.grad is None for p in units[1])
    assert all(p.grad is None for p in get_adapter(model, "de").parameters())


def test_mlm_head_inverts_the_invertible_adapter_before_the_decoder():
    model = tiny()
    lang = add_adapter(model, "de", "seq_bn_inv", reduction_factor=2)
    randomize(lang)
    tm = TaskModel(model, build_head(model.config, "mlm"), "mlm").eval()
    ids, mask = batch()
    activate(model, "de")
    with torch.no_grad():
        head = tm.head
        hidden = model(ids, mask)
        h = head.norm(head.act(head.transform(hidden)))
        expected = torch.nn.functional.linear(lang.invertible.inverse(h), model.embed.tokens.weight, head.bias)
        torch.testing.assert_close(tm(ids, mask), expected)


def test_delete_deepcopy_and_taskmodel_access():
    model = tiny()
    ids, mask = batch()
    randomize(add_adapter(model, "de", "seq_bn_inv", reduction_factor=2))
    randomize(add_adapter(model, "lo", "lora"), seed=3)
    activate(model, "de", "lo")
    clone = copy.deepcopy(model)
    with torch.no_grad():
        torch.testing.assert_close(clone(ids, mask), model(ids, mask))
    assert clone.layers[0].ffn.adapter.stack[0] is clone.adapters["de"].layers["0"]  # references follow the copy
    tm = TaskModel(model, build_head(model.config, "qa"), "qa")
    assert active_adapters(tm) == ("de", "lo")
    delete_adapter(tm, "de")
    assert active_adapters(model) == ("lo",) and "de" not in list_adapters(model)
    with pytest.raises(TypeError, match="Encoder"):
        activate(torch.nn.Linear(2, 2))
