"""The activation functions checkpoints and adapter configs name (`hidden_act`, `non_linearity`).

Its own small module so that the config (which checks a `hidden_act` when config.json is read) and
the encoder (which calls it) share one table without importing each other.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F


def _gelu_new(x: torch.Tensor) -> torch.Tensor:
    """The tanh approximation of GELU, written as transformers' NewGELUActivation computes it."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


# Activations by the names of transformers' ACT2FN, with its formulas: checkpoints name them in
# `hidden_act`, AdapterHub configs in `non_linearity` (which AdapterHub lower-cases, as we do).
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,  # the exact erf GELU, as HF's "gelu"
    "gelu_new": _gelu_new,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "swish": F.silu,
    "silu": F.silu,
    "tanh": torch.tanh,
    "leakyrelu": F.leaky_relu,
}


def activation(name: str, what: str = "hidden_act") -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation called `name`; `what` names the config field in the error for an unknown one."""
    key = name.lower()
    if key not in ACTIVATIONS:
        raise ValueError(f"{what} {name!r} is not supported; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[key]
