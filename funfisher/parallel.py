"""Data parallelism over torchrun's processes: every rank computes a share of one global batch.

    torchrun --nproc_per_node N train.py --config C        # NCCL on GPUs, gloo on CPUs

The contract: N ranks compute what one process computes on the same global batches (the
length-bucketed batches of `train/recipe.epoch_batches`, and FUN's Fisher batches), so a run's
numbers do not depend on how many devices it had, and a checkpoint resumes on any number of ranks:

- **Shares.** Rank r takes the contiguous rows `rows(n)` of every global batch of n examples (sizes
  as `numpy.array_split`: the first n % N ranks one more; rank 0 is never empty). The rows keep the
  global batch's padded length, so every example sees the shapes it would see in one process.
- **Gradients.** Each rank's mean loss is weighted by n_r / n, and the gradients are summed over
  the ranks (`sum_gradients`): the sum is the gradient of the global batch's mean loss.
- **Dropout.** One process draws each dropout mask as one Bernoulli tensor of the full batch from
  the global torch RNG (`F.dropout` and the attention dropout of `F.scaled_dot_product_attention`
  both do, on CPU: tests/test_parallel.py checks it). Every rank keeps its global RNG in step with
  the others, draws the mask of the whole global batch, and keeps its rows (`Dropout`,
  `attention_dropout`, inside `on_share`): the masks one process draws. This costs every rank the whole batch's
  masks, a small part of a step, for a result that does not depend on the number of ranks.
  (On CUDA a one-process run keeps torch's fused dropout kernels, which draw differently: runs on
  2 or more GPUs agree with each other, a 1-GPU run agrees with them in distribution only.)
- **tr(F).** The per-example values are computed on the shares and gathered in rank order, which
  is the global batch's order (`gather_rows`); labels y ~ p(y|x) come from uniforms drawn for the
  whole batch, so every rank sees all values and all ranks make the same FUN decision.

Why not `torch.nn.parallel.DistributedDataParallel`: it registers, when it wraps the model, the
parameters that require gradients, and scheduled unfreezing changes that set every k steps
(Algorithm 1). Summing the gradients of the current trainable set explicitly, in one flat buffer
after each backward, is what DDP does without that limit, and keeps the step readable.

Evaluation (validation, zero-shot) is shared as well: each rank predicts a contiguous share of
the examples and the records are gathered in example order (`gather_objects`).

Only rank 0 writes (the run folder, checkpoints, logs); every rank reads the checkpoint to resume.
With one process (no torchrun) everything here is the identity: no collective runs, no code path
changes.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterator, Mapping, Sequence

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from .errors import UserError


class DistributedError(UserError):
    """A torchrun launch this machine cannot serve (e.g. more ranks per node than GPUs)."""


# --------------------------------------------------------------------------------------------------
# the world: which rank this process is, out of how many
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class World:
    rank: int = 0  # this process, 0..size-1 (rank 0 writes)
    size: int = 1  # processes in the run
    local_rank: int = 0  # this process on its node (its GPU: cuda:<local_rank>)
    local_size: int = 1  # processes on this node (they share its CPU cores)

    @property
    def is_main(self) -> bool:
        return self.rank == 0


_WORLD = World()


def world() -> World:
    return _WORLD


def launched_by_torchrun() -> bool:
    """torchrun (and any launcher that sets torch's env:// variables) started this process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def prints_errors() -> bool:
    """Whether this process reports user errors: rank 0 only under torchrun (before or after it
    joins the group). Every rank runs the same checks on the same files, so rank 0's error is the
    one every rank found; the others exit with the same code, silently."""
    return int(os.environ.get("RANK", "0")) == 0


def refuse_torchrun(script: str) -> int | None:
    """For the commands that run in one process (eval.py, export.py, train_language_adapter.py):
    under torchrun, rank 0's one error line and exit code 2 (every rank would do, and write, the
    same work); None otherwise."""
    if not launched_by_torchrun():
        return None
    if prints_errors():
        print(f"error: {script} runs in one process; start it without torchrun (train.py runs on several)",
              file=sys.stderr)
    return 2


def start(device_type: str) -> World:
    """Join the process group torchrun set up (gloo on CPU, NCCL on CUDA); a no-op without torchrun.
    Every rank checks the same things, so a user error is raised alike on all of them."""
    global _WORLD
    if not launched_by_torchrun():
        return _WORLD
    env = {key: int(os.environ[key]) for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")
           if key in os.environ}
    if "RANK" not in env or "LOCAL_RANK" not in env:
        raise DistributedError("WORLD_SIZE > 1 but RANK / LOCAL_RANK are not set: start funfisher with "
                               "torchrun --nproc_per_node N train.py ...")
    local_size = env.get("LOCAL_WORLD_SIZE", env["WORLD_SIZE"])
    if device_type == "cuda":
        if local_size > torch.cuda.device_count():
            raise DistributedError(f"torchrun started {local_size} processes on this node but it has "
                                   f"{torch.cuda.device_count()} CUDA devices: one process per GPU")
        torch.cuda.set_device(env["LOCAL_RANK"])
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo", timeout=timedelta(hours=2))
    _WORLD = World(dist.get_rank(), dist.get_world_size(), env["LOCAL_RANK"], local_size)
    return _WORLD


def stop() -> None:
    """Leave the process group (end of train.py)."""
    global _WORLD
    if dist.is_initialized():
        dist.destroy_process_group()
    _WORLD = World()


def barrier() -> None:
    if _WORLD.size > 1:
        dist.barrier()


# --------------------------------------------------------------------------------------------------
# shares of a global batch
# --------------------------------------------------------------------------------------------------
def rows(n: int, w: World | None = None) -> slice:
    """This rank's contiguous rows of a global batch of `n` examples (sizes as numpy.array_split)."""
    w = w or _WORLD
    base, extra = divmod(n, w.size)
    start = w.rank * base + min(w.rank, extra)
    return slice(start, start + base + (w.rank < extra))


@dataclass(frozen=True)
class Share:
    """This rank's part of a global batch: `batch` holds rows `rows` of the `n` global examples."""

    batch: dict[str, torch.Tensor]
    rows: slice
    n: int

    @property
    def size(self) -> int:
        return self.rows.stop - self.rows.start

    @property
    def weight(self) -> float:
        """n_r / n: a mean over the share times this, summed over the ranks, is the global mean."""
        return self.size / self.n


def share(batch: Mapping[str, torch.Tensor]) -> Share:
    """Rows `rows(n)` of every tensor of a global batch (dim 0 is the example)."""
    n = int(batch["input_ids"].shape[0])
    r = rows(n)
    return Share({key: value[r] for key, value in batch.items()}, r, n)


_SHARE: Share | None = None  # the share the model is running on (None: a whole batch)


@contextmanager
def on_share(s: Share) -> Iterator[None]:
    """Within: dropout draws the masks of the global batch and keeps this share's rows."""
    global _SHARE
    previous, _SHARE = _SHARE, (s if _WORLD.size > 1 else None)
    try:
        yield
    finally:
        _SHARE = previous


def _share_mask(x: torch.Tensor, p: float) -> torch.Tensor:
    """The dropout mask (kept / (1 - p)) one process draws for the global batch, at this share's rows.
    A row of x is an example, or one of its choices (multiple choice: rows = examples x choices)."""
    per_example = x.shape[0] // _SHARE.size
    full = torch.empty((_SHARE.n * per_example, *x.shape[1:]), dtype=x.dtype, device=x.device)
    mask = full.bernoulli_(1 - p).div_(1 - p)  # what F.dropout draws and scales, for the whole batch
    return mask[_SHARE.rows.start * per_example:_SHARE.rows.stop * per_example]


class Dropout(nn.Dropout):
    """nn.Dropout that, on a share of a global batch, applies the global batch's mask (module docstring)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _SHARE is None or not self.training or self.p == 0:
            return super().forward(x)
        return x * _share_mask(x, self.p)


def attention_dropout(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None,
                      p: float) -> torch.Tensor | None:
    """Attention with dropout on the attention weights, on a share: softmax(q k^T / sqrt(d) + bias),
    the global batch's mask at this share's rows, times v. None when not on a share (then SDPA)."""
    if _SHARE is None or p == 0:
        return None
    scores = q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5  # [B, heads, T_q, T]
    if bias is not None:
        scores = scores + bias
    weights = F.softmax(scores, dim=-1)
    return (weights * _share_mask(weights, p)) @ v


# --------------------------------------------------------------------------------------------------
# collectives (identities with one process)
# --------------------------------------------------------------------------------------------------
def sum_gradients(params: Sequence[nn.Parameter], extra: torch.Tensor) -> torch.Tensor:
    """Sum `params`' gradients over the ranks, in place, with `extra` (a [k] float tensor, e.g. the
    weighted loss) in the same collective; returns `extra` summed. A parameter without a gradient on
    this rank (an empty share) adds zeros; one without a gradient on every rank keeps none, as in one
    process (AdamW skips it)."""
    if _WORLD.size == 1:
        return extra
    device = params[0].device if params else extra.device
    has_grad = torch.tensor([float(p.grad is not None) for p in params], device=device)
    ours = extra.to(device, torch.float32)
    *grads, counts, total = sum_tensors([p.grad for p in params] + [has_grad, ours], like=[*params, has_grad, ours])
    for p, grad, count in zip(params, grads, counts.tolist()):
        p.grad = grad if count else None
    return total.to(extra.device)


def sum_tensors(tensors: Sequence[torch.Tensor | None], like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Element-wise sums over the ranks (None: zeros shaped like the matching `like`)."""
    filled = [t if t is not None else torch.zeros_like(ref) for t, ref in zip(tensors, like)]
    if _WORLD.size == 1:
        return filled
    flat = torch.cat([t.reshape(-1).float() for t in filled])
    dist.all_reduce(flat)
    out, offset = [], 0
    for t in filled:
        out.append(flat[offset:offset + t.numel()].view_as(t).to(t.dtype))
        offset += t.numel()
    return out


def gather_rows(local: torch.Tensor, n: int) -> torch.Tensor:
    """Every rank's rows of a global batch of `n`, in rank order: [n, ...] on every rank."""
    if _WORLD.size == 1:
        return local
    sizes = [r.stop - r.start for r in (rows(n, World(k, _WORLD.size)) for k in range(_WORLD.size))]
    padded = local.new_zeros((sizes[0], *local.shape[1:]))  # rank 0's share is the largest
    padded[:local.shape[0]] = local
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([part[:size] for part, size in zip(parts, sizes)])


def gather_objects(local: list) -> list:
    """Every rank's list, concatenated in rank order, on every rank (e.g. the prediction records of
    each rank's share of the examples)."""
    if _WORLD.size == 1:
        return local
    parts: list = [None] * _WORLD.size
    dist.all_gather_object(parts, local)
    return [item for part in parts for item in part]


def sync_rng(device: torch.device) -> None:
    """Every rank takes rank 0's global RNG state (after a step where some share was empty, and so
    drew no dropout masks)."""
    if _WORLD.size == 1:
        return
    if device.type == "cuda":
        state = torch.cuda.get_rng_state(device).to(device)
        dist.broadcast(state, 0)
        torch.cuda.set_rng_state(state.cpu(), device)
    else:
        state = torch.get_rng_state()
        dist.broadcast(state, 0)
        torch.set_rng_state(state)


def broadcast_parameters(params: Sequence[torch.Tensor]) -> None:
    """Rank 0's values on every rank (the start of training: the same seed gives the same values,
    this makes it so whatever happened before)."""
    if _WORLD.size == 1:
        return
    with torch.no_grad():
        for p in params:
            dist.broadcast(p.data, 0)

