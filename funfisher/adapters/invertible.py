"""The invertible adapter of MAD-X language adapters: one NICE coupling block (AdapterHub `seq_bn_inv`).

MAD-X (Pfeiffer et al. 2020, Sec. 2.3) adds an invertible adapter on top of the embedding layer
and its inverse right before the output embeddings, so a language adapter can also reshape the
shared (tied) input/output embedding space. It is a NICE coupling block (Dinh et al. 2015):
split the hidden vector e into halves e1 = e[:H//2], e2 = e[H//2:], then

    forward:  o1 = e1 + F(e2) ;  o2 = e2 + G(o1) ;  o = [o1, o2]
    inverse:  e2 = o2 - G(o1) ;  e1 = o1 - F(e2)

F and G are small MLPs, Linear -> activation -> Linear, whose bottleneck is the *input* half
divided by `inv_adapter_reduction_factor` (MAD-X: 2): F maps H - H//2 -> (H - H//2)//rf -> H//2,
G maps H//2 -> (H//2)//rf -> H - H//2. The activation is the adapter config's `non_linearity`
(AdapterHub 1.3.0 ignores the `non_linearity` inside a legacy nested `invertible_adapter` dict).
Init: AdapterHub's "bert" init, N(0, 0.02) weights and zero biases.

Where it runs: `Encoder.embedding_adapter` (after the embeddings' LayerNorm and dropout) and, for
masked-LM, its `.inverse` after the MLM head's transform + LayerNorm, right before the tied decoder
(AdapterHub registers the inverse as a pre-hook of the output embedding layer).
Only the first adapter of the active stack (the language adapter) supplies it.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .bottleneck import Bottleneck


class NICECoupling(nn.Module):
    """An additive coupling block; `forward` and `inverse` are exact inverses of each other."""

    def __init__(self, hidden_size: int, reduction_factor: float, non_linearity: str):
        super().__init__()
        self.split = hidden_size // 2
        len1, len2 = self.split, hidden_size - self.split
        self.F = Bottleneck(len2, int(len2 // reduction_factor), len1, non_linearity)
        self.G = Bottleneck(len1, int(len1 // reduction_factor), len2, non_linearity)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        e1, e2 = e[..., : self.split], e[..., self.split :]
        o1 = e1 + self.F(e2)
        o2 = e2 + self.G(o1)
        return torch.cat((o1, o2), dim=-1)

    def inverse(self, o: torch.Tensor) -> torch.Tensor:
        o1, o2 = o[..., : self.split], o[..., self.split :]
        e2 = o2 - self.G(o1)
        e1 = o1 - self.F(e2)
        return torch.cat((e1, e2), dim=-1)


class EmbeddingAdapter(nn.Module):
    """What sits in `Encoder.embedding_adapter`: the active language adapter's NICE block.

    Holds only a reference (a tuple, which nn.Module does not register): the parameters live in
    the registry `encoder.adapters`, so state_dict lists them once.
    """

    def __init__(self, coupling: NICECoupling, name: str):
        super().__init__()
        self.coupling = (coupling,)
        self.name = name

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return self.coupling[0](e)

    def inverse(self, o: torch.Tensor) -> torch.Tensor:
        return self.coupling[0].inverse(o)

    def extra_repr(self) -> str:
        return f"adapter={self.name!r}"


__all__ = ["NICECoupling", "EmbeddingAdapter"]
