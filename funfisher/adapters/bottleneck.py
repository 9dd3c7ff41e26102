"""Bottleneck adapters in the Pfeiffer architecture (AdapterHub `seq_bn`), and how a stack of them runs.

One adapter at one layer is a small MLP with a bottleneck (Houlsby et al. 2019; Pfeiffer et al. 2020,
"AdapterFusion" and "MAD-X"):

    A(z) = up(act(down(z)))            down: H -> H / reduction_factor,  up: back to H

The Pfeiffer architecture places one adapter per layer, after the feed-forward block only. In
funfisher it plugs into `FeedForward.adapter(h, x, LN)` (funfisher/model/encoder.py), where
h = dropout(ffn.down(...)) is the FFN output before its residual, x = the attention block's output
and LN = the layer's own (frozen) output LayerNorm. AdapterHub 1.3.0 implements `seq_bn` with the
flags original_ln_before=True, residual_before_ln=True, original_ln_after=True (and no new
LayerNorms), which spells out as

    pre_forward:   residual = h ;  z = LN(h + x)
    forward:       h' = A(z) + residual
    post_forward:  out = LN(h' + x)                       (once, after the last adapter)

A stack of adapters (MAD-X: language adapter, then task adapter) runs pre_forward + forward for
each adapter present in the layer, in stack order, and post_forward once:

    h_0 = h ;   h_k = A_k(LN(h_{k-1} + x)) + h_{k-1} ;   out = LN(h_n + x)

so the frozen LayerNorm is applied once per adapter plus once at the end. `AdapterStack.__call__`
is exactly these three lines; tests/adapters check them against the `adapters` library.

Initialization ("bert", the default of every `seq_bn` config in AdapterHub 1.3.0,
`Adapter.init_bert_weights`): all weights N(0, 0.02), all biases 0. The up projection is *not*
zero-initialized, so a fresh adapter slightly perturbs the layer from the first step.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping

import torch
import torch.nn as nn

from ..model.encoder import activation, init_weights
from ..parallel import Dropout

# Activations (`non_linearity`) and the "bert" init are the encoder's own: funfisher/model/encoder.py.
ADAPTER_INIT_STD = 0.02  # AdapterHub's `Adapter.init_bert_weights`


def adapter_activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    return activation(name, what="adapter non_linearity")


# --- configuration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BottleneckConfig:
    """The Pfeiffer (`seq_bn`) family: what funfisher supports of AdapterHub's `BnConfig`.

    reduction_factor: bottleneck = hidden_size // reduction_factor (at least 1); a mapping gives
        per-layer values, e.g. {"0": 8, "default": 16}, as in AdapterHub.
    inv_adapter: "nice" adds an invertible adapter on the embeddings (MAD-X language adapters,
        AdapterHub `seq_bn_inv`); its subnetworks use `non_linearity` too, as in AdapterHub 1.3.0.
    leave_out: layer indices (0-based) without an adapter.
    """

    reduction_factor: float | Mapping[str, float] = 16
    non_linearity: str = "relu"
    inv_adapter: str | None = None
    inv_adapter_reduction_factor: float | None = None
    leave_out: tuple[int, ...] = ()
    dropout: float = 0.0
    scaling: float = 1.0
    init_weights: str = "bert"
    kind: ClassVar[str] = "bottleneck"

    def __post_init__(self) -> None:
        adapter_activation(self.non_linearity)  # fail early on an unknown name
        if self.inv_adapter not in (None, "nice"):
            raise ValueError(f"inv_adapter {self.inv_adapter!r} is not supported; expected None or 'nice'")
        if self.inv_adapter is not None and not self.inv_adapter_reduction_factor:
            raise ValueError("inv_adapter 'nice' needs inv_adapter_reduction_factor (MAD-X uses 2)")
        if self.init_weights != "bert":
            raise ValueError(f"init_weights {self.init_weights!r} is not supported for bottleneck adapters; "
                             f"expected 'bert'")
        object.__setattr__(self, "leave_out", tuple(sorted(int(i) for i in self.leave_out)))

    def bottleneck_size(self, hidden_size: int, layer: int) -> int:
        """int(hidden // reduction_factor), at least 1 (AdapterHub's `down_sample`)."""
        rf: Any = self.reduction_factor
        if isinstance(rf, Mapping):
            if str(layer) in rf:
                rf = rf[str(layer)]
            elif "default" in rf:
                rf = rf["default"]
            else:
                raise ValueError(f"reduction_factor mapping {dict(rf)} has no entry for layer {layer} and no 'default'")
        return max(1, int(hidden_size // rf))

    def layers(self, num_layers: int) -> list[int]:
        return [i for i in range(num_layers) if i not in self.leave_out]


# --- modules ---------------------------------------------------------------------------------------


class Bottleneck(nn.Module):
    """down -> activation -> up, then scaling and dropout: one Pfeiffer adapter at one layer.

    The same module (scaling 1, no dropout) is each half of the NICE invertible adapter.
    `down` and `up` are plain `nn.Linear`s so per-example gradient hooks can treat them as such.
    """

    def __init__(self, d_in: int, d_hidden: int, d_out: int, non_linearity: str, dropout: float = 0.0,
                 scaling: float = 1.0):
        super().__init__()
        self.down = nn.Linear(d_in, d_hidden)
        self.up = nn.Linear(d_hidden, d_out)
        self.non_linearity = non_linearity
        self.act = adapter_activation(non_linearity)
        self.scaling = scaling
        self.dropout = Dropout(dropout)
        self.apply(functools.partial(init_weights, std=ADAPTER_INIT_STD))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.up(self.act(self.down(z))) * self.scaling)

    def extra_repr(self) -> str:
        return f"non_linearity={self.non_linearity!r}, scaling={self.scaling}"


def build_layer_adapters(config: BottleneckConfig, hidden_size: int, num_layers: int) -> dict[int, Bottleneck]:
    """One `Bottleneck` per layer that is not left out."""
    return {
        i: Bottleneck(hidden_size, config.bottleneck_size(hidden_size, i), hidden_size, config.non_linearity,
                      config.dropout, config.scaling)
        for i in config.layers(num_layers)
    }


class AdapterStack(nn.Module):
    """What sits in `FeedForward.adapter`: the active bottleneck adapters of one layer, in stack order.

    It owns no parameters: the adapters live in the registry (`encoder.adapters`) and are only
    referenced here (a tuple is not registered by nn.Module), so state_dict has each weight once.
    """

    def __init__(self, adapters: tuple[Bottleneck, ...], names: tuple[str, ...]):
        super().__init__()
        self.stack = tuple(adapters)
        self.names = tuple(names)

    def forward(self, h: torch.Tensor, x: torch.Tensor, layer_norm: nn.LayerNorm) -> torch.Tensor:
        for adapter in self.stack:
            h = adapter(layer_norm(h + x)) + h
        return layer_norm(h + x)

    def extra_repr(self) -> str:
        return f"stack={list(self.names)}"


__all__ = ["BottleneckConfig", "Bottleneck", "AdapterStack", "build_layer_adapters", "adapter_activation",
           "ADAPTER_INIT_STD"]
