"""Which label y enters log p(y|x) in tr(F) (paper Eq. 1), and log p(y|x) itself.

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

Distributions per head kind (`TaskModel.kind`), with logits from `TaskModel.forward`:

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

from typing import Literal, Mapping, Union

import torch
import torch.nn.functional as F

LabelMode = Literal["sample", "argmax", "gold"]
LABEL_MODES: tuple[LabelMode, ...] = ("sample", "argmax", "gold")
SUPPORTED_KINDS: tuple[str, ...] = ("classification", "multiple_choice", "qa")

#: What a `TaskModel` returns: logits [B, C] (or [B, n_choices]), or (start, end) [B, T] each.
Outputs = Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]

#: The seed used when `labels="sample"` is asked for without a generator (deterministic).
DEFAULT_SEED = 0


def check_label_mode(labels: str) -> LabelMode:
    if labels not in LABEL_MODES:
        raise ValueError(f"labels must be one of {LABEL_MODES}, got {labels!r}")
    return labels  # type: ignore[return-value]


def check_kind(kind: str) -> str:
    if kind not in SUPPORTED_KINDS:
        raise ValueError(
            f"tr(F) is defined here for TaskModel kinds {SUPPORTED_KINDS}; got kind {kind!r} "
            "(the MLM head of language adapters has no task label distribution to sample from)"
        )
    return kind


def n_draws(kind: str) -> int:
    """How many uniforms one example needs: 2 for QA (start and end), else 1."""
    return 2 if kind == "qa" else 1


def draw_uniforms(batch_size: int, kind: str, generator: torch.Generator) -> torch.Tensor:
    """u ~ U[0, 1), float64 [B, n_draws(kind)], from `generator` only (never the global RNG)."""
    return torch.rand((batch_size, n_draws(kind)), generator=generator, dtype=torch.float64,
                      device=generator.device)


def gold_labels(batch: Mapping[str, torch.Tensor], kind: str) -> torch.Tensor:
    """The dataset labels: [B] for classification / multiple choice, [B, 2] (start, end) for QA."""
    keys = ("start_positions", "end_positions") if kind == "qa" else ("labels",)
    missing = [k for k in keys if k not in batch]
    if missing:
        raise KeyError(f"labels='gold' needs batch key(s) {missing} for a {kind} model; the batch has {sorted(batch)}")
    if kind == "qa":
        return torch.stack([batch["start_positions"], batch["end_positions"]], dim=-1).long()
    return batch["labels"].long()


def sample_from_logits(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF sampling: y = #{k : cdf_k <= u}, i.e. y ~ softmax(logits) when u ~ U[0, 1).

    logits [..., K], u [...] -> labels [...] (long). The cdf is computed in float64 and the
    result clamped to K - 1 (guards against a last cdf entry that rounds below 1).
    """
    cdf = torch.softmax(logits.detach().double(), dim=-1).cumsum(dim=-1)
    index = (cdf <= u.to(cdf.device).unsqueeze(-1)).sum(dim=-1)
    return index.clamp(max=logits.shape[-1] - 1)


def choose_labels(outputs: Outputs, kind: str, mode: LabelMode, u: torch.Tensor | None,
                  gold: torch.Tensor | None) -> torch.Tensor:
    """The labels y for log p(y|x): [B] (classification, multiple choice) or [B, 2] (QA).

    Works on one example too (logits without the batch dimension, u [n_draws], gold []/[2]),
    which is how the vmapped estimator calls it. Labels are never differentiated through.
    """
    if mode == "gold":
        if gold is None:
            raise ValueError("labels='gold' needs the gold labels")
        return gold
    logits = torch.stack(outputs, dim=-2) if kind == "qa" else outputs.unsqueeze(-2)  # [..., n_draws, K]
    if mode == "argmax":
        labels = logits.detach().argmax(dim=-1)
    else:
        if u is None:
            raise ValueError("labels='sample' needs uniforms u")
        labels = sample_from_logits(logits, u)
    return labels if kind == "qa" else labels.squeeze(-1)


def log_likelihood(outputs: Outputs, labels: torch.Tensor, kind: str) -> torch.Tensor:
    """log p(y|x) per example: [B] (or a scalar for one example without batch dimension).

    QA: log p_start(s) + log p_end(e), softmax over all T positions (see the module docstring).
    """
    if kind == "qa":
        start, end = outputs
        return (F.log_softmax(start, dim=-1).gather(-1, labels[..., 0:1]).squeeze(-1)
                + F.log_softmax(end, dim=-1).gather(-1, labels[..., 1:2]).squeeze(-1))
    return F.log_softmax(outputs, dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)


def default_generator() -> torch.Generator:
    """The generator used when none is passed: a fresh one seeded with `DEFAULT_SEED`."""
    return torch.Generator().manual_seed(DEFAULT_SEED)
