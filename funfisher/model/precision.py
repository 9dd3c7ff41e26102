"""Mixed precision: the forward pass in bf16 (or fp16 on CUDA), the weights and optimizer in fp32.

    with autocast("bf16", device):        # train.precision
        out = model(**inputs)             # matmuls in bf16; LayerNorm, softmax stay fp32 (autocast's lists)
    loss = task.loss(to_float(out), batch)  # the loss, and everything after the model, in fp32

What changes and what does not:
- Parameters, gradients, AdamW's moments and checkpoints stay fp32: autocast casts each weight to
  bf16 as an op reads it, and backward sends fp32 gradients to the fp32 parameters.
- bf16 has fp32's exponent range, so gradients neither overflow nor underflow: no loss scaling.
  fp16 has a 5-bit exponent and needs a `GradScaler` (`grad_scaler`); it is offered on CUDA only,
  where fp16 matmuls are fast (on CPUs bf16 is the fast half type: AVX512-BF16 / AMX).
- tr(F) is always estimated in fp32 (`funfisher.fisher` runs outside this context): FUN's choices
  compare sums of squared per-example gradients, and the units' values converge to near-ties
  late in training, where bf16's 8-bit mantissa (about 3 significant digits) could swap them.
- Model outputs come back as fp32 (`to_float`), so the loss, argmax and QA span search never
  see bf16 values (ties that fp32 would separate).
"""
from __future__ import annotations

import contextlib
from typing import Any

import torch

PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def unsupported(precision: str, device: torch.device) -> str | None:
    """Why `precision` cannot run on `device` (None: it can)."""
    if precision == "fp16" and device.type != "cuda":
        return (f"train.precision = \"fp16\" runs on CUDA only (it needs a gradient scaler and fast fp16 "
                f"matmuls); on {device.type} use \"bf16\" (same speed-up on CPUs with bf16 support) or \"fp32\"")
    if precision == "bf16" and device.type == "mps":
        return "train.precision = \"bf16\" is not supported on MPS here; use \"fp32\""
    return None


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The context a forward pass runs in: nothing for fp32, else torch.autocast to bf16 / fp16."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_DTYPES[precision])


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """fp16's loss scaler (None for fp32 and bf16, which need none)."""
    return torch.amp.GradScaler(device.type) if precision == "fp16" else None


def to_float(out: Any) -> Any:
    """A model's output (a tensor, or a tuple of them: QA's start and end scores) as fp32."""
    if isinstance(out, torch.Tensor):
        return out.float()
    if isinstance(out, tuple):
        return tuple(to_float(o) for o in out)
    return out


__all__ = ["PRECISIONS", "autocast", "grad_scaler", "to_float", "unsupported"]
