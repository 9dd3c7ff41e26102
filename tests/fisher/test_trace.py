"""tr(F) estimators (paper Eq. 1, Algorithm 2): exactness, labels, padding, purity.

The reference is the naive per-example loop written out in this file (`reference_sq_norms`):
forward one example alone, differentiate its own log-likelihood, square. Everything runs in
float64 on a tiny random encoder with a small test adapter (bottleneck or LoRA-like), so the
fast estimators must match it to ~1e-10; we assert 1e-5 relative as required.
"""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from funfisher.fisher import (FisherEstimate, batch_trace, example_traces, fisher_mode, trace_fisher)
from funfisher.fisher.hooks import sq_norms_hooks, use_ghost_norm, weight_sq_norms
from funfisher.fisher.labels import choose_labels, draw_uniforms, sample_from_logits
from funfisher.model.config import EncoderConfig
from funfisher.model.encoder import Encoder
from funfisher.model.heads import TaskModel, build_head
from funfisher.tasks import get_task

CFG = EncoderConfig(arch="bert", vocab_size=50, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                    intermediate_size=32, max_position_embeddings=40, type_vocab_size=2, layer_norm_eps=1e-12,
                    pad_token_id=0, initializer_range=0.2)
XLMR_CFG = EncoderConfig(arch="xlm-roberta", vocab_size=50, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=40, type_vocab_size=1, layer_norm_eps=1e-5,
                         pad_token_id=1, initializer_range=0.2)
KINDS = ("classification", "multiple_choice", "qa")
N_CLASSES, N_CHOICES = 3, 3


# --------------------------------------------------------------------------- a tiny model
class TestAdapter(nn.Module):
    """A Pfeiffer-style bottleneck adapter at the FFN output: LN(up(relu(down(h + x))) + h + x)."""

    __test__ = False  # not a pytest class

    def __init__(self, hidden: int, bottleneck: int):
        super().__init__()
        self.down = nn.Linear(hidden, bottleneck)
        self.up = nn.Linear(bottleneck, hidden)

    def forward(self, h: torch.Tensor, residual: torch.Tensor, layer_norm: nn.LayerNorm) -> torch.Tensor:
        z = h + residual
        return layer_norm(self.up(torch.relu(self.down(z))) + z)


class TestLoRA(nn.Module):
    """A LoRA-like wrapper of a frozen nn.Linear: base(x) + lora_B(lora_A(x)), bias-free A and B."""

    __test__ = False

    def __init__(self, base: nn.Linear, rank: int):
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(base.in_features, rank, bias=False)
        self.lora_B = nn.Linear(rank, base.out_features, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.lora_B(self.lora_A(x))


def tiny_model(kind: str, adapter: str = "bottleneck", seed: int = 0,
               arch: str = "bert") -> tuple[TaskModel, dict[int, list[nn.Parameter]]]:
    """A float64 TaskModel, everything frozen, with units = {layer: parameters}:

    adapter "bottleneck" / "lora": a random test adapter per layer, units = its parameters;
    "full": no adapter, units = whole layers (embeddings in unit 0), as the full fine-tuning baseline.
    """
    torch.manual_seed(seed)
    encoder = Encoder(CFG if arch == "bert" else XLMR_CFG)
    units: dict[int, list[nn.Parameter]] = {}
    for j, layer in enumerate(encoder.layers):
        if adapter == "full":
            units[j] = list(layer.parameters())
            continue
        if adapter == "bottleneck":
            module = TestAdapter(CFG.hidden_size, 4)
            layer.ffn.adapter = module
        else:
            module = TestLoRA(layer.attn.query, 2)
            layer.attn.query = module
        units[j] = [p for n, p in module.named_parameters() if not n.startswith("base.")]
        for p in units[j]:
            nn.init.normal_(p, std=0.3)  # non-zero everywhere, so every parameter has a gradient
    if adapter == "full":
        units[0] = list(encoder.embed.parameters()) + units[0]
        for m in encoder.modules():  # non-trivial LayerNorm gains and biases
            if isinstance(m, nn.LayerNorm):
                nn.init.normal_(m.weight, 1.0, 0.2)
                nn.init.normal_(m.bias, 0.0, 0.2)
    head = build_head(CFG, kind, N_CLASSES if kind == "classification" else None)
    model = TaskModel(encoder, head, kind).double()
    for p in model.parameters():  # the MAD-X setting: everything frozen
        p.requires_grad_(False)
    return model, units


def tiny_batch(kind: str, lengths: list[int], seed: int = 1) -> dict[str, torch.Tensor]:
    """Variable-length examples padded to max(lengths), with gold labels."""
    g = torch.Generator().manual_seed(seed)
    b, t = len(lengths), max(lengths)
    shape = (b, N_CHOICES, t) if kind == "multiple_choice" else (b, t)
    lens = torch.tensor(lengths)
    if kind == "multiple_choice":  # the choices of one example have different lengths too
        lens = (lens[:, None] - torch.arange(N_CHOICES)[None, :]).clamp(min=2)
    positions = torch.arange(t)
    mask = (positions < lens[..., None]).long()
    ids = torch.randint(1, CFG.vocab_size, shape, generator=g) * mask
    types = ((positions >= (lens[..., None] // 2)) & mask.bool()).long()
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    if kind == "qa":
        starts = torch.stack([torch.randint(0, n, (), generator=g) for n in lengths])
        batch["start_positions"] = starts
        batch["end_positions"] = torch.minimum(starts + 1, torch.tensor(lengths) - 1)
    else:
        batch["labels"] = torch.randint(0, N_CLASSES if kind == "classification" else N_CHOICES, (b,), generator=g)
    return batch


def pad_more(batch: dict[str, torch.Tensor], n: int) -> dict[str, torch.Tensor]:
    """The same batch with n more padding positions at the end of every sequence."""
    return {k: F.pad(v, (0, n)) if k in ("input_ids", "attention_mask", "token_type_ids") else v
            for k, v in batch.items()}


LENGTHS = [7, 3, 5, 2, 6]


# --------------------------------------------------------------------------- the reference
def gold_log_likelihood(outputs, labels: torch.Tensor, kind: str) -> torch.Tensor:
    """log p(y|x) written independently of the package, via cross entropy (= -log softmax)."""
    if kind == "qa":
        start, end = outputs
        return -(F.cross_entropy(start, labels[:, 0], reduction="none") + F.cross_entropy(end, labels[:, 1], reduction="none"))
    return -F.cross_entropy(outputs, labels, reduction="none")


def reference_grads(model: TaskModel, batch: dict, units: dict, labels: torch.Tensor) -> list[dict[int, torch.Tensor]]:
    """Per example i, per unit: the flattened gradient of log p(labels_i | x_i), example forwarded alone."""
    model.eval()
    params = {u: ps for u, ps in units.items()}
    for ps in params.values():
        for p in ps:
            p.requires_grad_(True)
    out = []
    for i in range(batch["input_ids"].shape[0]):
        one = {k: batch[k][i:i + 1] for k in ("input_ids", "attention_mask", "token_type_ids")}
        logp = gold_log_likelihood(model(**one), labels[i:i + 1], model.kind).sum()
        row = {}
        for u, ps in params.items():
            grads = torch.autograd.grad(logp, ps, retain_graph=True, allow_unused=True)
            row[u] = torch.cat([(torch.zeros_like(p) if g is None else g).flatten() for p, g in zip(ps, grads)])
        out.append(row)
    for ps in params.values():
        for p in ps:
            p.requires_grad_(False)
    return out


def reference_sq_norms(model, batch, units, labels) -> dict[int, torch.Tensor]:
    rows = reference_grads(model, batch, units, labels)
    return {u: torch.stack([r[u].pow(2).sum() for r in rows]) for u in units}


def gold(batch: dict, kind: str) -> torch.Tensor:
    return torch.stack([batch["start_positions"], batch["end_positions"]], -1) if kind == "qa" else batch["labels"]


def sampled_labels(model: TaskModel, batch: dict, seed: int) -> torch.Tensor:
    """The labels labels='sample' draws with generator seed `seed` (same uniforms, same rule)."""
    task = get_task(model.kind)
    u = draw_uniforms(batch["input_ids"].shape[0], task, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        out = model.eval()(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    return choose_labels(out, task, "sample", u, None)


def assert_close(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for u in expected:
        torch.testing.assert_close(actual[u].double(), expected[u].double(), rtol=1e-5, atol=1e-12)


# --------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("adapter", ["bottleneck", "lora"])
@pytest.mark.parametrize("method", ["hooks", "vmap", "loop"])
def test_exact_methods_equal_the_per_example_definition(kind, adapter, method):
    model, units = tiny_model(kind, adapter)
    batch = tiny_batch(kind, LENGTHS)
    # gold labels: the reference uses them directly, independently of the package's label code
    expected = reference_sq_norms(model, batch, units, gold(batch, kind))
    actual = example_traces(model, batch, units, labels="gold", method=method)
    assert all(v.min() > 0 for v in expected.values())
    assert_close(actual, expected)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method", ["hooks", "vmap", "loop"])
def test_sampled_labels_are_the_same_for_every_method(kind, method):
    model, units = tiny_model(kind)
    batch = tiny_batch(kind, LENGTHS)
    expected = reference_sq_norms(model, batch, units, sampled_labels(model, batch, seed=7))
    actual = example_traces(model, batch, units, labels="sample", method=method, generator=torch.Generator().manual_seed(7))
    assert_close(actual, expected)


@pytest.mark.parametrize("kind", KINDS)
def test_argmax_labels_are_the_model_predictions(kind):
    model, units = tiny_model(kind)
    batch = tiny_batch(kind, LENGTHS)
    with torch.no_grad():
        out = model.eval()(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    pred = torch.stack([o.argmax(-1) for o in out], -1) if kind == "qa" else out.argmax(-1)
    expected = reference_sq_norms(model, batch, units, pred)
    for method in ("hooks", "vmap"):
        assert_close(example_traces(model, batch, units, labels="argmax", method=method), expected)


@pytest.mark.parametrize("ghost", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_hooks_ghost_norm_and_materialized_routes_agree(kind, ghost):
    model, units = tiny_model(kind)
    batch = tiny_batch(kind, LENGTHS)
    labels = gold(batch, kind)
    params = [p for ps in units.values() for p in ps] + list(model.head.parameters())
    units_plus_head = {**units, 99: list(model.head.parameters())}
    expected = reference_sq_norms(model, batch, units_plus_head, labels)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    with fisher_mode(model, params):
        per_param = sq_norms_hooks(model, inputs, get_task(kind), "gold", None, labels, params, ghost=ghost)
    actual, k = {}, 0
    for u, ps in units_plus_head.items():
        actual[u] = per_param[:, k:k + len(ps)].sum(1)
        k += len(ps)
    assert_close(actual, expected)


def test_ghost_norm_identity_and_cost_rule():
    g = torch.Generator().manual_seed(0)
    a, gr = torch.randn(4, 5, 6, generator=g, dtype=torch.float64), torch.randn(4, 5, 3, generator=g, dtype=torch.float64)
    full = torch.stack([(gr[i].T @ a[i]).pow(2).sum() for i in range(4)])
    torch.testing.assert_close(weight_sq_norms(a, gr, ghost=True), full)
    torch.testing.assert_close(weight_sq_norms(a, gr, ghost=False), full)
    assert use_ghost_norm(1, 16, 3) and not use_ghost_norm(128, 384, 24)


def test_weights_and_biases_of_a_unit_are_both_counted():
    model, units = tiny_model("classification")
    batch = tiny_batch("classification", LENGTHS)
    split = {0: [units[1][0]], 1: [units[1][1]], 2: units[1]}  # down.weight, down.bias, all of layer 1
    values = example_traces(model, batch, split, labels="gold")
    expected = reference_sq_norms(model, batch, split, gold(batch, "classification"))
    assert_close(values, expected)
    torch.testing.assert_close(values[2] >= values[0] + values[1], torch.ones(5, dtype=torch.bool))


# --------------------------------------------------------------------------- padding
@pytest.mark.parametrize("kind", KINDS)
def test_padding_does_not_change_per_example_values(kind):
    """Padded keys get zero attention, classification/MC read token 0 only, and QA's position
    distributions give padded positions probability 0: trimming every example to its own length,
    or padding the batch further, must not change its tr(F)."""
    model, units = tiny_model(kind)
    batch = tiny_batch(kind, LENGTHS)
    values = example_traces(model, batch, units, labels="gold", method="hooks")
    longer = pad_more(batch, 4)
    assert_close(example_traces(model, longer, units, labels="gold", method="hooks"), values)
    for i in range(len(LENGTHS)):
        n = int(batch["attention_mask"][i].sum(-1).max())
        trimmed = {k: v[i:i + 1, ..., :n] if v.dim() > 1 else v[i:i + 1] for k, v in batch.items()}
        one = example_traces(model, trimmed, units, labels="gold", method="loop")
        assert_close({u: one[u] for u in units}, {u: values[u][i:i + 1] for u in units})


def test_qa_padded_positions_get_probability_zero():
    model, _ = tiny_model("qa")
    batch = pad_more(tiny_batch("qa", LENGTHS), 4)
    with torch.no_grad():
        start, end = model.eval()(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    padding = batch["attention_mask"] == 0
    assert padding.any()
    for logits in (start, end):
        probs = logits.softmax(-1)
        assert torch.all(probs[padding] == 0) and torch.allclose(probs.sum(-1), torch.ones(len(LENGTHS), dtype=probs.dtype))


# --------------------------------------------------------------------------- batch mode
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("labels", ["gold", "sample"])
def test_batch_mode_equals_its_definition(kind, labels):
    """Algorithm 2 (Appendix D): grad of the batch-mean log-likelihood, squared, divided by |b|:
    (1/|b|) ||mean_i g_i||^2 = ||sum_i g_i||^2 / |b|^3, with g_i the per-example gradient of
    log p(y_i|x_i) (for QA log p_start + log p_end, one term per example, as in the reference)."""
    model, units = tiny_model(kind)
    batch = tiny_batch(kind, LENGTHS)
    y = gold(batch, kind) if labels == "gold" else sampled_labels(model, batch, seed=3)
    rows = reference_grads(model, batch, units, y)
    b = len(rows)
    value = batch_trace(model, batch, units, labels=labels, method="batch", generator=torch.Generator().manual_seed(3))
    exact = {u: float(reference_sq_norms(model, batch, units, y)[u].mean()) for u in units}
    for u in units:
        total = torch.stack([r[u] for r in rows]).sum(0)
        mean = torch.stack([r[u] for r in rows]).mean(0)
        assert value[u] == pytest.approx(float(total.pow(2).sum()) / b ** 3, rel=1e-9)
        assert value[u] == pytest.approx(float(mean.pow(2).sum()) / b, rel=1e-9)
        # not Eq. 1's scale: ||sum_i g_i||^2 <= |b| sum_i ||g_i||^2 (Cauchy-Schwarz), so Algorithm 2's
        # value is at most the exact one / |b| (its expectation with sampled labels is exact / |b|^2)
        assert value[u] <= exact[u] / b * (1 + 1e-9)


def test_batch_mode_of_one_example_is_exact():
    """|b| = 1: no cross terms and 1/|b|^2 = 1, Algorithm 2 and Eq. 1 give the same number."""
    model, units = tiny_model("classification")
    batch = tiny_batch("classification", [5])
    exact = batch_trace(model, batch, units, labels="gold", method="hooks")
    approx = batch_trace(model, batch, units, labels="gold", method="batch")
    assert approx == pytest.approx(exact, rel=1e-9)


def test_batch_mode_averages_batches_with_equal_weights():
    """Algorithm 2's AGGAVG: the plain mean of the batch values; exact methods: the example mean."""
    model, units = tiny_model("classification")
    batches = [tiny_batch("classification", LENGTHS, seed=1), tiny_batch("classification", [4, 6], seed=2)]
    est = trace_fisher(model, batches, units, labels="gold", method="batch")
    singles = [batch_trace(model, b, units, labels="gold", method="batch") for b in batches]
    assert est.batch_sizes == [5, 2] and est.example_values == {}
    for u in units:
        assert est.batch_values[u] == pytest.approx([s[u] for s in singles], rel=1e-12)
        assert est.values[u] == pytest.approx((singles[0][u] + singles[1][u]) / 2, rel=1e-12)
    made = FisherEstimate.from_batches([{0: 1.0}, {0: 4.0}], [3, 1], "gold", "batch")
    assert made.values[0] == 2.5  # (1 + 4) / 2, not (3 * 1 + 1 * 4) / 4 = 1.75
    assert FisherEstimate.from_batches([{0: 1.0}, {0: 4.0}], [3, 1], "gold", "hooks").values[0] == 1.75


# --------------------------------------------------------------------------- labels and estimates
def test_sample_is_reproducible_and_uses_only_its_generator():
    model, units = tiny_model("classification")
    batch = tiny_batch("classification", LENGTHS * 4)
    rng = torch.get_rng_state()
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a = batch_trace(model, batch, units, generator=g1)
    b = batch_trace(model, batch, units, generator=g2)
    assert a == b
    assert torch.equal(g1.get_state(), g2.get_state())
    assert not torch.equal(g1.get_state(), torch.Generator().manual_seed(5).get_state())  # it was used
    assert torch.equal(torch.get_rng_state(), rng)
    c = batch_trace(model, batch, units, generator=torch.Generator().manual_seed(6))
    assert c != a
    assert batch_trace(model, batch, units) == batch_trace(model, batch, units)  # default seed: deterministic


def test_gold_uses_the_gold_labels():
    model, units = tiny_model("classification")
    batch = tiny_batch("classification", LENGTHS)
    flipped = {**batch, "labels": (batch["labels"] + 1) % N_CLASSES}
    a = example_traces(model, batch, units, labels="gold")
    b = example_traces(model, flipped, units, labels="gold")
    assert_close(b, reference_sq_norms(model, flipped, units, flipped["labels"]))
    assert not torch.allclose(a[0], b[0])
    assert example_traces(model, batch, units, labels="sample").keys() == a.keys()  # gold labels not needed
    no_gold = {k: v for k, v in batch.items() if k != "labels"}
    with pytest.raises(KeyError, match="labels"):
        example_traces(model, no_gold, units, labels="gold")
    with pytest.raises(ValueError, match="class indices"):
        example_traces(model, {**batch, "labels": batch["labels"] + N_CLASSES}, units, labels="gold")


def test_inverse_cdf_sampling_follows_the_softmax():
    logits = torch.tensor([[2.0, 0.0, -1.0, 0.5]]).expand(200_000, 4)
    u = torch.rand(200_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    counts = torch.bincount(sample_from_logits(logits, u), minlength=4).double() / 200_000
    torch.testing.assert_close(counts, torch.softmax(logits[0].double(), -1), atol=4e-3, rtol=0)
    assert sample_from_logits(logits[:1], torch.tensor([1.0 - 1e-17])).item() == 3  # clamped to K-1


def test_estimate_over_batches_is_the_example_mean():
    model, units = tiny_model("multiple_choice")
    batches = [tiny_batch("multiple_choice", LENGTHS, seed=1), tiny_batch("multiple_choice", [4, 6], seed=2)]
    est = trace_fisher(model, batches, units, labels="gold")
    per_example = [example_traces(model, b, units, labels="gold") for b in batches]
    assert (est.n_batches, est.n_examples, est.batch_sizes) == (2, 7, [5, 2])
    for u in units:
        allv = torch.cat([pe[u] for pe in per_example])
        assert est.values[u] == pytest.approx(float(allv.mean()), rel=1e-12)
        assert est.batch_values[u] == pytest.approx([float(pe[u].mean()) for pe in per_example], rel=1e-12)
    assert isinstance(est.values[0], float)
    assert est.ranking()[0][1] == max(est.values.values())
    assert trace_fisher(model, iter(batches * 3), units, labels="gold", max_batches=2).values == est.values
    assert set(est.to_record()) >= {"values", "n_batches", "n_examples"}


def test_ranking_breaks_ties_towards_the_higher_unit():
    est = FisherEstimate.from_batches([{0: 1.0, 1: 2.0, 2: 2.0}], [4], "sample", "hooks")
    assert [u for u, _ in est.ranking()] == [2, 1, 0]


# --------------------------------------------------------------------------- purity
def snapshot(model: nn.Module) -> dict:
    return {
        "params": {n: p.detach().clone() for n, p in model.named_parameters()},
        "flags": {n: p.requires_grad for n, p in model.named_parameters()},
        "grads": {n: (None if p.grad is None else (p.grad, p.grad.clone())) for n, p in model.named_parameters()},
        "modes": {n: m.training for n, m in model.named_modules()},
        "rng": torch.get_rng_state(),
    }


def assert_unchanged(model: nn.Module, before: dict) -> None:
    after = snapshot(model)
    for n, p in before["params"].items():
        assert torch.equal(after["params"][n], p), n
    assert after["flags"] == before["flags"]
    assert after["modes"] == before["modes"]
    assert torch.equal(after["rng"], before["rng"])
    for n, g in before["grads"].items():
        now = dict(model.named_parameters())[n].grad
        if g is None:
            assert now is None, n
        else:
            assert now is g[0] and torch.equal(now, g[1]), n


@pytest.mark.parametrize("method", ["hooks", "vmap", "loop", "batch"])
@pytest.mark.parametrize("kind", KINDS)
def test_estimation_changes_nothing(kind, method):
    model, units = tiny_model(kind)
    batch = tiny_batch(kind, LENGTHS)
    # a mid-training state: units 0 and 1 trainable with grads and AdamW state, unit 2 frozen,
    # the head trainable, the model in train mode with one submodule in eval mode
    trainable = units[0] + units[1] + list(model.head.parameters())
    for p in trainable:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(trainable, lr=1e-3)
    model.train()
    out = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    (out[0] if kind == "qa" else out).sum().backward()
    opt.step()
    model.encoder.layers[1].eval()
    units[0][0].grad = None  # a trainable parameter without .grad
    opt_state = copy.deepcopy(opt.state_dict())
    before = snapshot(model)

    est = trace_fisher(model, [batch, batch], units, method=method, generator=torch.Generator().manual_seed(0))
    assert all(v > 0 for v in est.values.values())  # frozen unit 2 too
    assert_unchanged(model, before)
    assert str(opt.state_dict()) == str(opt_state)
    with torch.no_grad():  # also works when the caller has autograd off
        assert trace_fisher(model, [batch], units, method=method).values
    assert_unchanged(model, before)


def test_state_is_restored_after_an_error():
    model, units = tiny_model("classification")
    model.train()
    before = snapshot(model)
    bad = {**tiny_batch("classification", LENGTHS), "labels": torch.full((5,), -1)}
    with pytest.raises(ValueError):
        trace_fisher(model, [bad], units, labels="gold")
    assert_unchanged(model, before)


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("arch", ["bert", "xlm-roberta"])
@pytest.mark.parametrize("kind", KINDS)
def test_hooks_handle_whole_layer_units_of_full_fine_tuning(kind, arch):
    """Units = whole layers (Linear, LayerNorm) with the embeddings (Embedding, padding_idx) in unit 0."""
    model, units = tiny_model(kind, "full", arch=arch)
    units[len(units)] = list(model.head.parameters())
    batch = tiny_batch(kind, LENGTHS)
    if arch == "xlm-roberta":  # XLM-R pads with id 1 and has a single token type
        batch["input_ids"] = torch.where(batch["attention_mask"].bool(), batch["input_ids"], 1)
        batch["token_type_ids"] = torch.zeros_like(batch["input_ids"])
    expected = reference_sq_norms(model, batch, units, gold(batch, kind))
    assert_close(example_traces(model, batch, units, labels="gold", method="hooks"), expected)


class GatedAdapter(TestAdapter):
    """An adapter with a raw scalar parameter (not a Linear / LayerNorm / Embedding)."""

    __test__ = False

    def __init__(self, hidden: int, bottleneck: int):
        super().__init__(hidden, bottleneck)
        self.gate = nn.Parameter(torch.tensor(0.7))

    def forward(self, h, residual, layer_norm):
        z = h + residual
        return layer_norm(self.gate * self.up(torch.relu(self.down(z))) + z)


def test_hooks_refuse_other_parameters_and_vmap_loop_handle_them():
    model, units = tiny_model("classification")
    model.encoder.layers[0].ffn.adapter = GatedAdapter(CFG.hidden_size, 4).double().requires_grad_(False)
    batch = tiny_batch("classification", LENGTHS)
    gated = {0: [model.encoder.layers[0].ffn.adapter.gate], 1: units[1]}
    with pytest.raises(ValueError, match=r"nn\.Embedding; encoder\.layers\.0\.ffn\.adapter\.gate is not"):
        batch_trace(model, batch, gated, method="hooks")
    expected = reference_sq_norms(model, batch, gated, batch["labels"])
    for method in ("vmap", "loop"):
        assert_close(example_traces(model, batch, gated, labels="gold", method=method), expected)


def test_argument_errors():
    model, units = tiny_model("classification")
    batch = tiny_batch("classification", LENGTHS)
    with pytest.raises(ValueError, match="method"):
        batch_trace(model, batch, units, method="fast")
    with pytest.raises(ValueError, match="labels"):
        batch_trace(model, batch, units, labels="empirical")
    with pytest.raises(ValueError, match="unit 0 has no parameters"):
        batch_trace(model, batch, {0: []})
    with pytest.raises(ValueError, match="nn.Parameter of the model"):
        batch_trace(model, batch, {0: [nn.Parameter(torch.zeros(3))]})
    with pytest.raises(ValueError, match="at least one batch"):
        trace_fisher(model, [], units)
    with pytest.raises(ValueError, match=r"\[B, n_choices, T\]"):
        mc, mc_units = tiny_model("multiple_choice")
        batch_trace(mc, batch, mc_units)
    with pytest.raises(ValueError, match="positions"):
        qa, qa_units = tiny_model("qa")
        qa_batch = tiny_batch("qa", LENGTHS)
        batch_trace(qa, {**qa_batch, "end_positions": qa_batch["end_positions"] + 100}, qa_units, labels="gold")
    with pytest.raises(RuntimeError, match="inference_mode"):
        with torch.inference_mode():
            batch_trace(model, batch, units)
