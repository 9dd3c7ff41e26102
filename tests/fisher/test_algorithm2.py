"""method="batch" is the paper's Algorithm 2 (Appendix D), checked against a hand computation.

Algorithm 2 per batch b: loss = NLL(LogSoftmax(outputs), labels) (mean over the batch),
loss.backward(), tr(F)_j = p_j.grad^2 / |b|, summed over a unit's parameters; the estimate is the
plain mean over batches. On a linear softmax classifier over mean-pooled embeddings,

    z_i = h_i W + c,   d/dW mean_i log softmax(z_i)[y_i] = (1/|b|) sum_i h_i (onehot(y_i) - softmax(z_i))^T

(and d/dc = (1/|b|) sum_i (onehot(y_i) - softmax(z_i))), which the tests below write out with
plain tensor ops, no autograd.

Tolerance: everything is float64 and the closed form and autograd do the same few dozen
multiply-adds in a different order; their rounding differences are ~1e-16 relative per
operation, so a relative tolerance of 1e-10 leaves a wide margin and would still catch any
factor of |b| (>= 3 here) or a batch-size-weighted mean (the two batches have sizes 3 and 5).
"""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn as nn

from funfisher.fisher import batch_trace, trace_fisher
from funfisher.fisher.labels import draw_uniforms, sample_from_logits
from funfisher.tasks import get_task

VOCAB, DIM, N_CLASSES = 11, 4, 3
RTOL = 1e-10  # see the module docstring


class PooledLinear(nn.Module):
    """logits = mean over the real tokens of the embeddings, times W, plus c."""

    kind = "classification"

    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.embed = nn.Parameter(torch.randn(VOCAB, DIM, generator=g, dtype=torch.float64))
        self.W = nn.Parameter(torch.randn(DIM, N_CLASSES, generator=g, dtype=torch.float64))
        self.c = nn.Parameter(0.5 * torch.randn(N_CLASSES, generator=g, dtype=torch.float64))
        self.requires_grad_(False)  # frozen, as units usually are: the estimator turns them on

    def pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        m = mask.to(torch.float64).unsqueeze(-1)
        return (self.embed[input_ids] * m).sum(-2) / m.sum(-2)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        return self.pooled(input_ids, attention_mask) @ self.W + self.c


def make_batch(size: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, 6, (size,), generator=g)
    mask = (torch.arange(5)[None] < lengths[:, None]).long()
    return {"input_ids": torch.randint(0, VOCAB, (size, 5), generator=g) * mask, "attention_mask": mask,
            "token_type_ids": torch.zeros_like(mask), "labels": torch.randint(0, N_CLASSES, (size,), generator=g)}


def softmax(z: torch.Tensor) -> torch.Tensor:
    e = (z - z.max(-1, keepdim=True).values).exp()
    return e / e.sum(-1, keepdim=True)


def closed_form(model: PooledLinear, batch: dict, y: torch.Tensor) -> dict[str, float]:
    """Algorithm 2's value of one batch for W and c, by hand: ||grad of the batch-mean log p||^2 / |b|."""
    with torch.no_grad():
        h = model.pooled(batch["input_ids"], batch["attention_mask"])  # [b, DIM]
        z = h @ model.W + model.c  # [b, C]
        r = torch.eye(N_CLASSES, dtype=torch.float64)[y] - softmax(z)  # onehot(y_i) - softmax(z_i)
        b = len(y)
        grad_w = h.T @ r / b  # (1/|b|) sum_i h_i r_i^T, [DIM, C]
        grad_c = r.sum(0) / b
        return {"W": float(grad_w.pow(2).sum()) / b, "c": float(grad_c.pow(2).sum()) / b}


def exact_closed_form(model: PooledLinear, batch: dict, y: torch.Tensor) -> dict[str, float]:
    """Eq. 1's per-example mean (1/|b|) sum_i ||g_i||^2 by hand, g_i = h_i r_i^T (W), r_i (c)."""
    with torch.no_grad():
        h = model.pooled(batch["input_ids"], batch["attention_mask"])
        r = torch.eye(N_CLASSES, dtype=torch.float64)[y] - softmax(h @ model.W + model.c)
        # ||h_i r_i^T||_F^2 = ||h_i||^2 ||r_i||^2
        return {"W": float((h.pow(2).sum(1) * r.pow(2).sum(1)).mean()), "c": float(r.pow(2).sum(1).mean())}


def logits_of(model: PooledLinear, batch: dict) -> torch.Tensor:
    with torch.no_grad():
        return model(batch["input_ids"], batch["attention_mask"])


BATCHES = (make_batch(3, seed=1), make_batch(5, seed=2))


def units_of(model: PooledLinear) -> dict[int, list[nn.Parameter]]:
    return {0: [model.W], 1: [model.c], 2: [model.W, model.c]}


@pytest.mark.parametrize("labels", ["gold", "argmax"])
def test_batch_method_is_algorithm_2_by_hand(labels):
    model = PooledLinear()
    per_batch = []
    for batch in BATCHES:
        y = batch["labels"] if labels == "gold" else logits_of(model, batch).argmax(-1)
        per_batch.append(closed_form(model, batch, y))
    if labels == "argmax":  # the argmax labels are not the gold ones here, so the two cases differ
        assert any(not torch.equal(logits_of(model, b).argmax(-1), b["labels"]) for b in BATCHES)
    expected = {0: [v["W"] for v in per_batch], 1: [v["c"] for v in per_batch]}
    expected[2] = [w + c for w, c in zip(expected[0], expected[1])]  # a unit sums its parameters

    est = trace_fisher(model, BATCHES, units_of(model), labels=labels, method="batch")
    assert est.batch_sizes == [3, 5]
    for u, vs in expected.items():
        assert est.batch_values[u] == pytest.approx(vs, rel=RTOL)
        # the plain mean over batches: AGGAVG, not weighted by batch size (that would be (3 v1 + 5 v2) / 8)
        assert est.values[u] == pytest.approx((vs[0] + vs[1]) / 2, rel=RTOL)
        assert est.values[u] != pytest.approx((3 * vs[0] + 5 * vs[1]) / 8, rel=1e-6)


def test_batch_method_with_sampled_labels_by_hand():
    """labels="sample": the same formula with the labels the generator draws (one uniform per example,
    drawn batch after batch from the one stream)."""
    model = PooledLinear()
    g = torch.Generator().manual_seed(4)
    expected = []
    for batch in BATCHES:
        u = draw_uniforms(len(batch["labels"]), get_task("classification"), g)[:, 0]
        expected.append(closed_form(model, batch, sample_from_logits(logits_of(model, batch), u)))
    est = trace_fisher(model, BATCHES, units_of(model), labels="sample", method="batch",
                       generator=torch.Generator().manual_seed(4))
    assert est.batch_values[0] == pytest.approx([v["W"] for v in expected], rel=RTOL)
    assert est.batch_values[1] == pytest.approx([v["c"] for v in expected], rel=RTOL)


def test_relation_to_the_exact_method():
    model = PooledLinear()
    units = units_of(model)
    # |b| = 1: no cross terms and 1 / |b|^2 = 1, so Algorithm 2 equals Eq. 1's per-example value
    one = make_batch(1, seed=3)
    for method in ("loop", "vmap"):
        assert batch_trace(model, one, units, labels="gold", method="batch") == pytest.approx(
            batch_trace(model, one, units, labels="gold", method=method), rel=RTOL)
    # |b| > 1 with gold labels: different numbers (and the exact ones match their own closed form)
    for batch in BATCHES:
        algo2 = batch_trace(model, batch, units, labels="gold", method="batch")
        exact = batch_trace(model, batch, units, labels="gold", method="loop")
        by_hand = exact_closed_form(model, batch, batch["labels"])
        assert exact[0] == pytest.approx(by_hand["W"], rel=RTOL) and exact[1] == pytest.approx(by_hand["c"], rel=RTOL)
        for u in units:
            assert algo2[u] != pytest.approx(exact[u], rel=1e-3)
            assert algo2[u] <= exact[u] / len(batch["labels"]) * (1 + RTOL)  # Cauchy-Schwarz


def test_expected_value_with_sampled_labels_is_the_exact_one_over_b_squared():
    """E_{y ~ p(y|x)}[Algorithm 2] = E_y[(1/|b|) sum_i ||g_i||^2] / |b|^2: computed exactly by
    enumerating all N_CLASSES^|b| label vectors of one batch of 3, weighted by their probability."""
    model = PooledLinear()
    batch = BATCHES[0]
    probs = softmax(logits_of(model, batch))  # [3, C]
    b = probs.shape[0]
    algo2 = {0: 0.0, 1: 0.0}
    exact = {0: 0.0, 1: 0.0}
    for ys in itertools.product(range(N_CLASSES), repeat=b):
        y = torch.tensor(ys)
        weight = float(probs[torch.arange(b), y].prod())
        gold = {**batch, "labels": y}
        a = batch_trace(model, gold, {0: [model.W], 1: [model.c]}, labels="gold", method="batch")
        e = batch_trace(model, gold, {0: [model.W], 1: [model.c]}, labels="gold", method="vmap")
        for u in algo2:
            algo2[u] += weight * a[u]
            exact[u] += weight * e[u]
    for u in algo2:  # the enumeration is exact, so only rounding separates the two sides
        assert algo2[u] == pytest.approx(exact[u] / b ** 2, rel=1e-9)
