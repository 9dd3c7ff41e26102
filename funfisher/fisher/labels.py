"""Which label y enters log p(y|x) in tr(F) (paper Eq. 1), and log p(y|x) at that label.

Eq. 1 defines tr(F) = E_x E_{y ~ p(y|x)} ||grad log p(y|x)||^2: the label is *drawn from the
model's own predictive distribution* (the "true" Fisher). Two common substitutes are offered:

| mode       | y                                   | what it estimates                                |
|------------|-------------------------------------|--------------------------------------------------|
| `"sample"` | y ~ p(y|x) (default)                | tr(F), Eq. 1 (unbiased)                          |
| `"argmax"` | argmax_y p(y|x)                     | what the paper's reference code computes         |
| `"gold"`   | the dataset label                   | the "empirical Fisher" (not Eq. 1)               |

Sampling uses inverse-CDF draws, y = min{k : cdf_k(x) > u} with u ~ U[0, 1) taken from a
caller-owned `torch.Generator`: one uniform per example (two for QA) drawn *before* the forward
pass. The label is then a deterministic function of (logits, u), so the per-example loop, the
vmapped and the batched estimators all see the same labels, and the global RNG is never touched.

Distributions per head kind (`TaskModel.kind`), with logits from `TaskModel.forward`; the task
objects of `funfisher.tasks` implement them (`log_likelihood`, `as_draws`, `gold`):

- `classification`: softmax over the C classes of logits [B, C]; gold: `batch["labels"]` [B].
- `multiple_choice`: softmax over the n choices of scores [B, n]; gold: `batch["labels"]` [B].
- `qa`: log p(y|x) = log p_start(s|x) + log p_end(e|x), with the start and end positions drawn
  *independently* from softmax(start logits) and softmax(end logits) over **the real tokens of
  the window** (`TaskModel` gives padded positions the lowest logit, so they get probability 0
  and an example's distribution does not depend on its batch's padding), exactly the
  distribution the QA loss (cross entropy over the positions) trains. Drawing s > e is possible
  and is what the model's factorized distribution says; we do not renormalize it.
  Gold: `batch["start_positions"]`, `batch["end_positions"]` [B], in [0, T).
"""
from __future__ import annotations

from typing import Literal

import torch

from ..tasks import Outputs, Task

LabelMode = Literal["sample", "argmax", "gold"]
LABEL_MODES: tuple[LabelMode, ...] = ("sample", "argmax", "gold")

#: The seed used when `labels="sample"` is asked for without a generator (deterministic).
DEFAULT_SEED = 0


def check_label_mode(labels: str) -> LabelMode:
    if labels not in LABEL_MODES:
        raise ValueError(f"labels must be one of {LABEL_MODES}, got {labels!r}")
    return labels  # type: ignore[return-value]


def draw_uniforms(batch_size: int, task: Task, generator: torch.Generator) -> torch.Tensor:
    """u ~ U[0, 1), float64 [B, task.n_draws], from `generator` only (never the global RNG)."""
    return torch.rand((batch_size, task.n_draws), generator=generator, dtype=torch.float64,
                      device=generator.device)


def sample_from_logits(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF sampling: y = #{k : cdf_k <= u}, i.e. y ~ softmax(logits) when u ~ U[0, 1).

    logits [..., K], u [...] -> labels [...] (long). The cdf is computed in float64 and the
    result clamped to K - 1 (guards against a last cdf entry that rounds below 1).
    """
    cdf = torch.softmax(logits.detach().double(), dim=-1).cumsum(dim=-1)
    index = (cdf <= u.to(cdf.device).unsqueeze(-1)).sum(dim=-1)
    return index.clamp(max=logits.shape[-1] - 1)


def choose_labels(outputs: Outputs, task: Task, mode: LabelMode, u: torch.Tensor | None,
                  gold: torch.Tensor | None) -> torch.Tensor:
    """The labels y for log p(y|x): [B] (classification, multiple choice) or [B, 2] (QA).

    Works on one example too (logits without the batch dimension, u [n_draws], gold []/[2]),
    which is how the vmapped estimator calls it. Labels are never differentiated through.
    """
    if mode == "gold":
        if gold is None:
            raise ValueError("labels='gold' needs the gold labels")
        return gold
    logits = task.as_draws(outputs)  # [..., n_draws, K]
    if mode == "argmax":
        labels = logits.detach().argmax(dim=-1)
    else:
        if u is None:
            raise ValueError("labels='sample' needs uniforms u")
        labels = sample_from_logits(logits, u)
    return task.from_draws(labels)


def chosen_log_likelihood(outputs: Outputs, task: Task, mode: LabelMode, u: torch.Tensor | None,
                          gold: torch.Tensor | None) -> torch.Tensor:
    """log p(y|x) per example at the labels `choose_labels` picks: what the estimators differentiate."""
    return task.log_likelihood(outputs, choose_labels(outputs, task, mode, u, gold))


def default_generator() -> torch.Generator:
    """The generator used when none is passed: a fresh one seeded with `DEFAULT_SEED`."""
    return torch.Generator().manual_seed(DEFAULT_SEED)
