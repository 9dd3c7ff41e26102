"""LoRA on the attention projections (Hu et al. 2021), as AdapterHub 1.3.0's `LoRAConfig` defaults.

A frozen projection W x + b gets a trainable low-rank update:

    y = W x + b + scaling * B(A(dropout(x)))        scaling = alpha / r

with A: in -> r and B: r -> out. AdapterHub details we match (adapters/methods/lora.py):
- default config: r = 8, alpha = 8, dropout 0, attn_matrices ["q", "v"] (query and value),
  composition_mode "add", init_weights "lora";
- init "lora": A ~ kaiming_uniform(a=sqrt(5)) on its [r, in] weight (the same as nn.Linear's default
  init), B = 0, so a fresh LoRA does not change the model;
- the scaling multiplies the low-rank output (not the weights) and is applied inside the module;
- merging adds scaling * B @ A to W (and unmerging subtracts it) for adapter-free inference.
- adapters < 1.1.0 scaled LoRA wrongly when r != alpha; AdapterHub loads such files with
  alpha := r, and so do we (funfisher/io/adapterhub_config.py).

A and B are bias-free `nn.Linear`s whose weights have exactly AdapterHub's shapes, [r, in] and
[out, r] (saved there as bare tensors `lora_A`, `lora_B`), so per-example gradient hooks
(funfisher/fisher) can treat every trainable adapter weight as an `nn.Linear` weight.

LoRA under a language adapter: a MAD-X stack [language, task] where the task adapter is LoRA is
clean in both libraries: the language adapter's bottleneck sits at the FFN output and its
invertible adapter on the embeddings, while the task LoRA changes query/value inside attention.
AdapterHub's `Stack("lang", "lora")` computes exactly this (tested). Two LoRAs in one stack would
chain their low-rank maps in AdapterHub; we do not support that (an error says so).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..parallel import Dropout

# AdapterHub's attn_matrices letters -> our SelfAttention attribute names.
ATTN_MATRICES: dict[str, str] = {"q": "query", "k": "key", "v": "value"}


@dataclass(frozen=True)
class LoRAConfig:
    """What funfisher supports of AdapterHub's `LoRAConfig` (self-attention LoRA, composition "add")."""

    r: int = 8
    alpha: float = 8
    dropout: float = 0.0
    attn_matrices: tuple[str, ...] = ("q", "v")
    leave_out: tuple[int, ...] = ()
    init_weights: str = "lora"
    kind: ClassVar[str] = "lora"

    def __post_init__(self) -> None:
        if self.r < 1:
            raise ValueError(f"LoRA rank r must be >= 1, got {self.r}")
        bad = [m for m in self.attn_matrices if m not in ATTN_MATRICES]
        if bad or not self.attn_matrices:
            raise ValueError(f"LoRA attn_matrices {list(self.attn_matrices)} must be a non-empty subset of "
                             f"{list(ATTN_MATRICES)}")
        if self.init_weights not in ("lora", "bert"):
            raise ValueError(f"LoRA init_weights {self.init_weights!r} is not supported; expected 'lora' or 'bert'")
        object.__setattr__(self, "attn_matrices", tuple(self.attn_matrices))
        object.__setattr__(self, "leave_out", tuple(sorted(int(i) for i in self.leave_out)))

    @property
    def scaling(self) -> float:
        return self.alpha / self.r

    @property
    def projections(self) -> tuple[str, ...]:
        """Our attribute names, in q, k, v order."""
        return tuple(ATTN_MATRICES[m] for m in ATTN_MATRICES if m in self.attn_matrices)

    def layers(self, num_layers: int) -> list[int]:
        return [i for i in range(num_layers) if i not in self.leave_out]


class LoRA(nn.Module):
    """The low-rank update of one projection: x -> scaling * lora_B(lora_A(dropout(x)))."""

    def __init__(self, in_features: int, out_features: int, config: LoRAConfig):
        super().__init__()
        self.lora_A = nn.Linear(in_features, config.r, bias=False)  # weight [r, in]
        self.lora_B = nn.Linear(config.r, out_features, bias=False)  # weight [out, r]
        self.scaling = config.scaling
        self.dropout = Dropout(config.dropout)
        with torch.no_grad():
            if config.init_weights == "lora":
                nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
                nn.init.zeros_(self.lora_B.weight)
            else:  # "bert"
                nn.init.normal_(self.lora_A.weight, std=0.02)
                nn.init.normal_(self.lora_B.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lora_B(self.lora_A(self.dropout(x))) * self.scaling

    def delta_weight(self) -> torch.Tensor:
        """scaling * B @ A: what merging adds to the frozen weight, [out, in]."""
        return (self.lora_B.weight @ self.lora_A.weight) * self.scaling

    def extra_repr(self) -> str:
        return f"scaling={self.scaling}"


def build_layer_loras(config: LoRAConfig, hidden_size: int, num_layers: int) -> dict[int, nn.ModuleDict]:
    """Per layer, a ModuleDict {"query": LoRA, "value": LoRA} (or whichever projections the config names)."""
    return {
        i: nn.ModuleDict({proj: LoRA(hidden_size, hidden_size, config) for proj in config.projections})
        for i in config.layers(num_layers)
    }


class LoRALinear(nn.Linear):
    """An attention projection that can carry an active LoRA.

    It *is* the original `nn.Linear`: it takes over the same weight and bias Parameters, so the
    encoder's state_dict keys (`layers.{i}.attn.query.weight`) do not change. The active LoRA is
    held by reference in a tuple (not registered: the registry owns its parameters).
    """

    def __init__(self, base: nn.Linear):
        nn.Module.__init__(self)  # not nn.Linear.__init__: that would allocate a fresh weight
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight = base.weight
        self.bias = base.bias
        self.lora: tuple[LoRA, ...] = ()
        self.lora_name: str | None = None
        self.merged = False

    def set_lora(self, lora: LoRA | None, name: str | None) -> None:
        if self.merged:
            raise RuntimeError(f"LoRA {self.lora_name!r} is merged into this projection; "
                               f"call unmerge_lora(model) first")
        self.lora = () if lora is None else (lora,)
        self.lora_name = name if lora is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight, self.bias)
        if self.lora and not self.merged:
            y = y + self.lora[0](x)
        return y

    @torch.no_grad()
    def merge(self) -> None:
        if self.lora and not self.merged:
            self.weight += self.lora[0].delta_weight().to(self.weight.dtype)
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        if self.merged:
            self.weight -= self.lora[0].delta_weight().to(self.weight.dtype)
            self.merged = False

    def extra_repr(self) -> str:
        extra = f", lora={self.lora_name!r}" + (" (merged)" if self.merged else "") if self.lora else ""
        return super().extra_repr() + extra


def wrap_projection(attn: nn.Module, proj: str) -> LoRALinear:
    """Make `attn.<proj>` a LoRALinear (once); returns it."""
    current = getattr(attn, proj)
    if not isinstance(current, LoRALinear):
        current = LoRALinear(current)
        setattr(attn, proj, current)
    return current


def merge_lora(model: nn.Module) -> int:
    """Fold every active LoRA into its frozen weight (W += scaling * B @ A). Returns how many
    projections were merged. Outputs stay the same up to float rounding; the LoRA no longer runs
    as a separate branch. Do not train while merged."""
    n = 0
    for m in model.modules():
        if isinstance(m, LoRALinear) and m.lora and not m.merged:
            m.merge()
            n += 1
    return n


def unmerge_lora(model: nn.Module) -> int:
    """Undo `merge_lora` (W -= scaling * B @ A). Returns how many projections were unmerged."""
    n = 0
    for m in model.modules():
        if isinstance(m, LoRALinear) and m.merged:
            m.unmerge()
            n += 1
    return n


__all__ = ["LoRAConfig", "LoRA", "LoRALinear", "build_layer_loras", "wrap_projection", "merge_lora", "unmerge_lora",
           "ATTN_MATRICES"]
