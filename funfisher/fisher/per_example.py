"""Squared gradient norms ||grad_theta log p(y|x)||^2: the readable estimators.

Every function here takes one batch and a list of parameters theta_1..theta_P and returns a
float tensor; none of them writes `.grad` (they use `torch.autograd.grad` / `torch.func`), and
all expect the caller (`funfisher.fisher.trace`) to have put the model in eval mode with
gradients enabled for the parameters. Labels come from `labels.choose_labels` with the
uniforms `u` drawn beforehand, so every estimator sees the same y for the same example.

With g_i = grad_theta log p(y_i|x_i) the per-example gradient (for QA, log p(y_i|x_i) =
log p_start(s_i|x_i) + log p_end(e_i|x_i), one example = one term; see `tasks.QuestionAnswering`):

- `sq_norms_loop`: the definition of Eq. 1's summand, ||g_i||^2 for every example i, one
  example at a time: forward the example alone, differentiate its own log p(y|x). Slow,
  obviously correct. [B, P]
- `sq_norms_vmap`: the same [B, P], vectorized with `torch.func` (vmap over grad of a functional call).
- `algorithm2_sq_norms`: the paper's Algorithm 2 (Appendix D) per batch, exactly:
  (1/|b|) ||grad_theta (1/|b|) sum_i log p(y_i|x_i)||^2 = ||sum_i g_i||^2 / |b|^3. [P]

Relation: with sampled labels (Eq. 1) E_y[g_i] = 0 and the examples' labels are independent, so
the cross terms <g_i, g_j> (i != j) vanish in expectation and E[Algorithm 2] = E[(1/|b|) sum_i
||g_i||^2] / |b|^2 = tr(F) / |b|^2. The exact estimators estimate tr(F) itself; Algorithm 2's
numbers are on a 1/|b|^2 scale (plus cross-term noise, and a bias with argmax / gold labels).

The fast exact estimator (one ordinary backward pass) lives in `funfisher.fisher.hooks`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn as nn
from torch.func import functional_call, grad, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel

from .. import parallel
from ..tasks import Outputs, Task
from .labels import chosen_log_likelihood

Inputs = Mapping[str, torch.Tensor]  # input_ids / attention_mask / token_type_ids, batch first


def sq_norm(g: torch.Tensor | None, param: torch.Tensor) -> torch.Tensor:
    """||g||^2 as a float64 scalar; an unused parameter (g is None) has gradient 0."""
    if g is None:
        return torch.zeros((), dtype=torch.float64, device=param.device)
    return g.pow(2).sum().double()


def forward_log_likelihood(model: nn.Module, inputs: Inputs, task: Task, mode: str,
                           u: torch.Tensor | None, gold: torch.Tensor | None) -> torch.Tensor:
    """One forward pass of the batch -> log p(y_i|x_i) per example [B] (labels chosen in between)."""
    outputs: Outputs = model(**inputs)
    return chosen_log_likelihood(outputs, task, mode, u, gold)


def _rows(x: torch.Tensor | None, i: int) -> torch.Tensor | None:
    return None if x is None else x[i:i + 1]


def sq_norms_loop(model: nn.Module, inputs: Inputs, task: Task, mode: str, u: torch.Tensor | None,
                  gold: torch.Tensor | None, params: Sequence[nn.Parameter]) -> torch.Tensor:
    """||grad_{theta_p} log p(y_i|x_i)||^2 for every example i and parameter p: [B, P].

    The naive definition: example i is forwarded *alone* (a batch of one, same padding), so no
    other example can possibly contribute to its gradient.
    """
    batch_size = next(iter(inputs.values())).shape[0]
    rows = []
    for i in range(batch_size):
        one = {k: v[i:i + 1] for k, v in inputs.items()}
        logp = forward_log_likelihood(model, one, task, mode, _rows(u, i), _rows(gold, i)).sum()
        grads = torch.autograd.grad(logp, list(params), allow_unused=True)
        rows.append(torch.stack([sq_norm(g, p) for g, p in zip(grads, params)]))
    return torch.stack(rows)


def sq_norms_vmap(model: nn.Module, inputs: Inputs, task: Task, mode: str, u: torch.Tensor | None,
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
        return chosen_log_likelihood(task.one_example(out), task, mode, u_i, gold_i)

    in_dims = (None, 0, None if u is None else 0, None if gold is None else 0)
    with sdpa_kernel(SDPBackend.MATH):
        grads = vmap(grad(logp_one), in_dims=in_dims)(theta, dict(inputs), u, gold)
    batch_size = next(iter(inputs.values())).shape[0]
    return torch.stack([grads[name].reshape(batch_size, -1).pow(2).sum(1).double() for name in names], dim=1)


def algorithm2_sq_norms(model: nn.Module, inputs: Inputs, task: Task, mode: str,
                       u: torch.Tensor | None, gold: torch.Tensor | None,
                       params: Sequence[nn.Parameter], batch_size: int | None = None) -> torch.Tensor:
    """The paper's Algorithm 2 (Appendix D) on one batch b: per parameter, [P],

        p.grad^2 / |b|  with  loss = NLL(LogSoftmax(outputs), labels)  (mean over the batch)
        = (1/|b|) ||grad_p (1/|b|) sum_{i in b} log p(y_i|x_i)||^2 = ||sum_i g_i||^2 / |b|^3

    (g_i the per-example gradient; the sign of the loss does not matter once squared). Summed over
    a unit's parameters by the caller (AGGAVG's aggregation by task-adapter block), and averaged
    over batches with equal weights (`FisherEstimate.from_batches`). One ordinary backward pass.

    Scale: compared with the exact per-example mean (1/|b|) sum_i ||g_i||^2 (Eq. 1, the other
    methods) this is 1/|b|^2 times that plus the cross terms (1/|b|^3) sum_{i != j} <g_i, g_j>.
    With sampled labels E_{y~p(y|x)}[g_i] = 0, so the cross terms vanish in expectation and
    E[value] = tr(F) / |b|^2; with argmax or gold labels E[g_i] != 0 in general and the cross
    terms add a bias. For |b| = 1 it equals the exact value. FUN's choice within one decision
    (all batches of one size) is unaffected by the 1/|b|^2, but these numbers are not comparable
    with the exact methods' numbers, nor across batch sizes.

    The authors' released code does the same per batch (as we read it): `F.nll_loss(F.log_softmax(
    output), label)` (mean reduction) then `fims[n] += p.grad ** 2 / train_batch_size`, summed over
    the block's entries. Differences: it sums over 41 batches where we average over batches
    (a constant factor, and what "AGGAVG" says), and it uses argmax labels where we default to
    sampled ones (Eq. 1; `labels="argmax"` reproduces it).

    QA: one example's log p(y|x) is log p_start(s|x) + log p_end(e|x) (`tasks.QuestionAnswering`),
    and the batch loss is the mean of -log p(y_i|x_i) over the |b| examples, so
    loss = (1/|b|) sum_i (-log p_start - log p_end). The released code concatenates the start
    and end rows into one NLL over 2|b| rows (mean over 2|b|) and still divides by the batch
    size: its loss is half of ours, so its QA values are 1/4 of ours (the ranking is the same).

    Under torchrun `inputs` are this rank's share of a batch of `batch_size` examples
    (funfisher/parallel.py): each rank differentiates its share's sum / |b| and the gradients are
    summed over the ranks before squaring, which is the batch's gradient.
    """
    rows = next(iter(inputs.values())).shape[0]
    batch_size = rows if batch_size is None else batch_size
    grads: Sequence[torch.Tensor | None] = [None] * len(params)
    if rows:  # (an empty share adds nothing)
        log_p = forward_log_likelihood(model, inputs, task, mode, u, gold)
        loss = log_p.mean() if rows == batch_size else log_p.sum() / batch_size  # = -NLL, mean reduction
        grads = torch.autograd.grad(loss, list(params), allow_unused=True)
    grads = parallel.sum_tensors(grads, params)
    return torch.stack([sq_norm(g, p) for g, p in zip(grads, params)]) / batch_size
