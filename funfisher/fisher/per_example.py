"""Squared gradient norms ||grad_theta log p(y|x)||^2: the readable estimators.

Every function here takes one batch and a list of parameters theta_1..theta_P and returns a
float tensor; none of them writes `.grad` (they use `torch.autograd.grad` / `torch.func`), and
all expect the caller (`funfisher.fisher.trace`) to have put the model in eval mode with
gradients enabled for the parameters. Labels come from `labels.choose_labels` with the
uniforms `u` drawn beforehand, so every estimator sees the same y for the same example.

- `sq_norms_loop`: the definition of Eq. 1's summand, one example at a time: forward the
  example alone, differentiate its own log p(y|x). Slow, obviously correct.
- `sq_norms_vmap`: the same, vectorized with `torch.func` (vmap over grad of a functional call).
- `sq_norm_of_batch_sum`: the paper's Algorithm 2 batch approximation (see its docstring).

The fast exact estimator (one ordinary backward pass) lives in `funfisher.fisher.hooks`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn as nn
from torch.func import functional_call, grad, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel

from .labels import Outputs, choose_labels, log_likelihood

Inputs = Mapping[str, torch.Tensor]  # input_ids / attention_mask / token_type_ids, batch first


def sq_norm(g: torch.Tensor | None, param: torch.Tensor) -> torch.Tensor:
    """||g||^2 as a float64 scalar; an unused parameter (g is None) has gradient 0."""
    if g is None:
        return torch.zeros((), dtype=torch.float64, device=param.device)
    return g.pow(2).sum().double()


def forward_log_likelihood(model: nn.Module, inputs: Inputs, kind: str, mode: str,
                           u: torch.Tensor | None, gold: torch.Tensor | None) -> torch.Tensor:
    """One forward pass of the batch -> log p(y_i|x_i) per example [B] (labels chosen in between)."""
    outputs: Outputs = model(**inputs)
    return log_likelihood(outputs, choose_labels(outputs, kind, mode, u, gold), kind)


def _rows(x: torch.Tensor | None, i: int) -> torch.Tensor | None:
    return None if x is None else x[i:i + 1]


def sq_norms_loop(model: nn.Module, inputs: Inputs, kind: str, mode: str, u: torch.Tensor | None,
                  gold: torch.Tensor | None, params: Sequence[nn.Parameter]) -> torch.Tensor:
    """||grad_{theta_p} log p(y_i|x_i)||^2 for every example i and parameter p: [B, P].

    The naive definition: example i is forwarded *alone* (a batch of one, same padding), so no
    other example can possibly contribute to its gradient.
    """
    batch_size = next(iter(inputs.values())).shape[0]
    rows = []
    for i in range(batch_size):
        one = {k: v[i:i + 1] for k, v in inputs.items()}
        logp = forward_log_likelihood(model, one, kind, mode, _rows(u, i), _rows(gold, i)).sum()
        grads = torch.autograd.grad(logp, list(params), allow_unused=True)
        rows.append(torch.stack([sq_norm(g, p) for g, p in zip(grads, params)]))
    return torch.stack(rows)


def sq_norms_vmap(model: nn.Module, inputs: Inputs, kind: str, mode: str, u: torch.Tensor | None,
                  gold: torch.Tensor | None, params: Sequence[nn.Parameter]) -> torch.Tensor:
    """Same result as `sq_norms_loop`, [B, P], via torch.func: vmap_i grad_theta log p(y_i|x_i).

    The model is called functionally on one example at a time (vmap adds the batch back), with
    theta replaced by explicit tensors so that `grad` differentiates only them. Attention runs
    with SDPA's math backend: its fused CPU kernels have no vmap batching rule and would make
    vmap fall back to a slow per-example loop.
    """
    name_of = {id(p): name for name, p in model.named_parameters()}
    names = [name_of[id(p)] for p in params]
    theta = {name: p.detach() for name, p in zip(names, params)}

    def logp_one(theta: dict[str, torch.Tensor], x: dict[str, torch.Tensor],
                 u_i: torch.Tensor | None, gold_i: torch.Tensor | None) -> torch.Tensor:
        out = functional_call(model, theta, (), {k: v.unsqueeze(0) for k, v in x.items()})
        out = tuple(o[0] for o in out) if kind == "qa" else out[0]
        return log_likelihood(out, choose_labels(out, kind, mode, u_i, gold_i), kind)

    in_dims = (None, 0, None if u is None else 0, None if gold is None else 0)
    with sdpa_kernel(SDPBackend.MATH):
        grads = vmap(grad(logp_one), in_dims=in_dims)(theta, dict(inputs), u, gold)
    batch_size = next(iter(inputs.values())).shape[0]
    return torch.stack([grads[name].reshape(batch_size, -1).pow(2).sum(1).double() for name in names], dim=1)


def sq_norm_of_batch_sum(model: nn.Module, inputs: Inputs, kind: str, mode: str,
                         u: torch.Tensor | None, gold: torch.Tensor | None,
                         params: Sequence[nn.Parameter]) -> torch.Tensor:
    """The batch approximation (Algorithm 2): ||grad_{theta_p} sum_i log p(y_i|x_i)||^2 / |b|, [P].

    With g_i the per-example gradient, this is ||sum_i g_i||^2 / |b| = |b| * ||mean_i g_i||^2
    (the two forms are the same number). Compared with the exact per-example mean
    (1/|b|) sum_i ||g_i||^2 it adds the cross terms (1/|b|) sum_{i != j} <g_i, g_j>. With sampled
    labels E_{y~p(y|x)}[grad log p(y|x)] = 0, so the cross terms vanish in expectation and the
    batch value is still an unbiased (noisier) estimate of tr(F); with argmax or gold labels it is
    biased by (|b| - 1) ||E g||^2. One ordinary backward pass, no per-example work.
    """
    batch_size = next(iter(inputs.values())).shape[0]
    total = forward_log_likelihood(model, inputs, kind, mode, u, gold).sum()
    grads = torch.autograd.grad(total, list(params), allow_unused=True)
    return torch.stack([sq_norm(g, p) for g, p in zip(grads, params)]) / batch_size
