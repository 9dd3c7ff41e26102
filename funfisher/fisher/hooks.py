"""Exact per-example squared gradient norms from ONE ordinary backward pass ("hooks" method).

For a linear layer y_t = W a_t + b applied at positions t = 1..T of example i (a_t: the layer's
input row, g_t = d log p(y_i|x_i) / d y_t: the gradient at its output row), the chain rule gives
the per-example gradients

    grad_W log p(y_i|x_i) = G_i = sum_t g_t a_t^T   [out, in]
    grad_b log p(y_i|x_i) =       sum_t g_t         [out]

so their squared norms need only a [B, T, in] and g [B, T, out]. Two ways to get ||G_i||^2:

- materialize G_i with one einsum ([B, out, in]) and square it: ~ T * in * out flops per example;
- the "ghost norm" ||G_i||_F^2 = sum_{t, t'} (g_t . g_t') (a_t . a_t') = <g g^T, a a^T>: two
  [T, T] Gram matrices, ~ T^2 * (in + out) flops; cheaper when T * (in + out) < in * out.
  `use_ghost_norm` picks per layer.

The same idea covers the other parameter types of a Transformer layer, so that whole-layer units
(the full fine-tuning baseline) work too:

- nn.LayerNorm, y_t = gamma * xhat_t + beta:  grad_gamma = sum_t g_t * xhat_t,  grad_beta = sum_t g_t;
- nn.Embedding, y_t = E[id_t]: grad_E has row v = sum_{t: id_t = v} g_t, so
  ||grad_E||^2 = sum_{t, t'} [id_t = id_t'] (g_t . g_t') (positions holding `padding_idx` get no
  gradient, as in PyTorch's embedding backward).

Why ONE backward of the *summed* log-likelihood gives each example's own g. In eval mode (no
dropout; LayerNorm normalizes each token on its own; attention mixes tokens of one sequence only;
the choices of a multiple-choice example belong to that example) the forward computation of
example i reads only x_i. So for the rows y_{i,t} of example i,

    d/dy_{i,t} sum_j log p(y_j|x_j) = d log p(y_i|x_i) / dy_{i,t},

because log p(y_j|x_j) for j != i does not depend on y_{i,t}. The backward pass of the sum
therefore delivers, at every row of every layer, exactly the per-example g above, and the
formulas turn them into per-example gradient norms. (Padded positions are rows too: their g is
whatever the true gradient is - zero where they cannot reach the loss, e.g. for classification,
since padded keys get exactly zero attention weight - so nothing is masked here.) The model runs
padded, never packed (`pack=False`, the default of `TaskModel.forward`): the formulas need the rows
of example i at [i, t], and packed rows [N, ...] mix the examples of the batch in one dimension.

We ask autograd only for the gradients w.r.t. the layers' *outputs*
(`torch.autograd.grad(total, outputs)`): parameter gradients are never computed or written to
`.grad`, so the pass costs about as much as an ordinary forward + backward, even though the units
may be frozen (the caller enables `requires_grad` on them so that their outputs join the graph).
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..tasks import Task
from .labels import chosen_log_likelihood
from .per_example import Inputs

#: The module types whose parameters the hooks method understands.
SUPPORTED = (nn.Linear, nn.LayerNorm, nn.Embedding)


@dataclass
class _Role:
    """Where a parameter lives: `module.<attr>` of a supported module named `name` in the model."""

    module: nn.Module
    attr: str  # "weight" or "bias"
    name: str


@dataclass
class _Recorder:
    """A forward hook that keeps (input, output) of every call of one module."""

    calls: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)

    def __call__(self, module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        self.calls.append((args[0].detach(), output))


def parameter_roles(model: nn.Module, params: Sequence[nn.Parameter]) -> list[list[_Role]]:
    """For each parameter, the supported module(s) it is the weight or bias of (usually one).

    Raises ValueError naming the parameter when it belongs to no nn.Linear / nn.LayerNorm /
    nn.Embedding of the model (use method="vmap" or "loop" for anything else).
    """
    found: dict[int, list[_Role]] = defaultdict(list)
    for name, module in model.named_modules():
        if isinstance(module, SUPPORTED):
            for attr in ("weight", "bias"):
                p = getattr(module, attr, None)
                if isinstance(p, nn.Parameter):
                    found[id(p)].append(_Role(module, attr, name))
    param_names = {id(p): n for n, p in model.named_parameters()}
    roles = []
    for p in params:
        if id(p) not in found:
            where = param_names.get(id(p), f"<a parameter of shape {tuple(p.shape)} not in the model>")
            raise ValueError(
                "method='hooks' needs every unit parameter to be the weight or bias of an nn.Linear, nn.LayerNorm "
                f"or nn.Embedding; {where} is not (use method='vmap' or 'loop' for other parameters)"
            )
        for r in found[id(p)]:
            if isinstance(r.module, nn.Embedding) and r.module.scale_grad_by_freq:
                raise ValueError(f"{r.name}: method='hooks' does not support nn.Embedding(scale_grad_by_freq=True)")
        roles.append(found[id(p)])
    return roles


# --------------------------------------------------------------------------- the formulas
def use_ghost_norm(t: int, d_in: int, d_out: int) -> bool:
    """True when the Gram-matrix route (T^2 (in + out)) is cheaper than materializing G (T in out)."""
    return t * (d_in + d_out) < d_in * d_out


def weight_sq_norms(a: torch.Tensor, g: torch.Tensor, ghost: bool | None = None) -> torch.Tensor:
    """||sum_t g_t a_t^T||_F^2 per example: a [B, T, in], g [B, T, out] -> [B].

    `ghost=None` chooses by cost (`use_ghost_norm`); True / False force a route (for tests).
    """
    if ghost is None:
        ghost = use_ghost_norm(a.shape[1], a.shape[2], g.shape[2])
    if ghost:
        return (torch.bmm(a, a.transpose(1, 2)) * torch.bmm(g, g.transpose(1, 2))).sum(dim=(1, 2))
    return torch.einsum("bto,bti->boi", g, a).pow(2).sum(dim=(1, 2))


def bias_sq_norms(g: torch.Tensor) -> torch.Tensor:
    """||sum_t g_t||^2 per example: g [B, T, out] -> [B]."""
    return g.sum(dim=1).pow(2).sum(dim=1)


def layer_norm_weight_sq_norms(xhat: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """||sum_t g_t * xhat_t||^2 per example (LayerNorm gain): xhat, g [B, T, d] -> [B]."""
    return (g * xhat).sum(dim=1).pow(2).sum(dim=1)


def embedding_sq_norms(ids: torch.Tensor, g: torch.Tensor, padding_idx: int | None) -> torch.Tensor:
    """||grad_E||^2 per example = sum_{t,t'} [id_t = id_t' != padding_idx] g_t . g_t': ids [B, T], g [B, T, d] -> [B]."""
    same = ids[:, :, None] == ids[:, None, :]
    if padding_idx is not None:
        real = ids != padding_idx
        same = same & real[:, :, None] & real[:, None, :]
    return (torch.bmm(g, g.transpose(1, 2)) * same).sum(dim=(1, 2))


def _per_example(x: torch.Tensor, batch_size: int, width: int | None, where: str) -> torch.Tensor:
    """[N, ..., d] with N = batch_size * k (batch-major, e.g. B * n_choices) -> [B, k * ..., d]
    (or [B, -1] for embedding ids, width None)."""
    if x.dim() < 1 or x.shape[0] % batch_size:
        raise ValueError(f"{where}: expected a leading batch dimension that is a multiple of the batch size "
                         f"{batch_size}, got a tensor of shape {tuple(x.shape)}")
    return x.reshape(batch_size, -1) if width is None else x.reshape(batch_size, -1, width)


def _sq_norms(role: _Role, inputs: list[torch.Tensor], grads: list[torch.Tensor], batch_size: int,
              ghost: bool | None) -> torch.Tensor:
    """Per-example ||grad||^2 [B] of `role` from all calls of its module.

    A module called several times (or a parameter shared by several modules) sums its
    contributions over all calls: the same as more positions t, so calls are concatenated along t.
    """
    m = role.module
    if isinstance(m, nn.Linear):
        d_out = m.out_features
    elif isinstance(m, nn.LayerNorm):
        d_out = math.prod(m.normalized_shape)
    else:
        d_out = m.embedding_dim
    g = torch.cat([_per_example(x, batch_size, d_out, role.name) for x in grads], dim=1)
    if role.attr == "bias":
        return bias_sq_norms(g)
    if isinstance(m, nn.Linear):
        a = torch.cat([_per_example(x, batch_size, m.in_features, role.name) for x in inputs], dim=1)
        return weight_sq_norms(a, g, ghost)
    if isinstance(m, nn.LayerNorm):
        xhat = [F.layer_norm(x, m.normalized_shape, eps=m.eps) for x in inputs]
        return layer_norm_weight_sq_norms(torch.cat([_per_example(x, batch_size, d_out, role.name) for x in xhat], 1), g)
    ids = torch.cat([_per_example(x, batch_size, None, role.name) for x in inputs], dim=1)
    return embedding_sq_norms(ids, g, m.padding_idx)


# --------------------------------------------------------------------------- the estimator
def sq_norms_hooks(model: nn.Module, inputs: Inputs, task: Task, mode: str, u: torch.Tensor | None,
                   gold: torch.Tensor | None, params: Sequence[nn.Parameter],
                   ghost: bool | None = None) -> torch.Tensor:
    """Same result as `per_example.sq_norms_loop`, [B, P], from one forward and one backward pass.

    Every parameter must be the weight or bias of an nn.Linear, nn.LayerNorm or nn.Embedding
    that the forward pass calls as a module (so that its forward hook sees input and output).
    `ghost` forces the route for linear weights (None: cheapest, see `use_ghost_norm`).
    """
    roles = parameter_roles(model, params)
    modules = {id(r.module): r for rs in roles for r in rs}
    recorders = {key: _Recorder() for key in modules}
    handles = [modules[key].module.register_forward_hook(rec) for key, rec in recorders.items()]
    try:
        outputs = model(**inputs)
    finally:
        for h in handles:
            h.remove()
    total = chosen_log_likelihood(outputs, task, mode, u, gold).sum()

    for key, rec in recorders.items():
        if not rec.calls:
            raise ValueError(f"{modules[key].name}: this module was not called during the forward pass, so "
                             "method='hooks' cannot see it (use method='vmap' or 'loop')")
        if not all(y.requires_grad for _, y in rec.calls):
            raise RuntimeError(f"{modules[key].name}: its output does not require grad; tr(F) needs gradients "
                               "(is a caller running it under torch.no_grad / inference_mode?)")
    taps = [(key, call) for key, rec in recorders.items() for call in rec.calls]
    # Gradients w.r.t. the layers' outputs only: no parameter gradient is computed.
    out_grads = torch.autograd.grad(total, [y for _, (_, y) in taps], allow_unused=True)

    inputs_of: dict[int, list[torch.Tensor]] = defaultdict(list)
    grads_of: dict[int, list[torch.Tensor]] = defaultdict(list)
    for (key, (a, y)), g in zip(taps, out_grads):
        inputs_of[key].append(a)
        grads_of[key].append(torch.zeros_like(y) if g is None else g)

    batch_size = next(iter(inputs.values())).shape[0]
    columns = []
    for rs in roles:
        if len({(type(r.module), r.attr) for r in rs}) > 1:
            raise ValueError(f"method='hooks': a parameter is shared by {[r.name for r in rs]} in different roles")
        # A parameter used by several modules (tied weights) gets the sum of their gradients: their
        # calls pool like more positions t.
        role = rs[0] if len(rs) == 1 else _Role(rs[0].module, rs[0].attr, "+".join(r.name for r in rs))
        columns.append(_sq_norms(role, [x for r in rs for x in inputs_of[id(r.module)]],
                                 [x for r in rs for x in grads_of[id(r.module)]], batch_size, ghost))
    return torch.stack(columns, dim=1).double()
