"""The adapters attached to one encoder: roles, the active stack, and the per-layer units.

Everything lives in one submodule of the encoder, `encoder.adapters` (an `AdapterRegistry`, a
ModuleDict name -> `AttachedAdapter`), so `state_dict()`, `parameters()`, `.to()` and `.train()`
see every adapter weight exactly once, under readable keys:

    adapters.<name>.layers.<i>.down.weight            bottleneck adapter of layer i
    adapters.<name>.layers.<i>.query.lora_A.weight    LoRA of layer i's query projection
    adapters.<name>.invertible.F.down.weight          NICE block of a language adapter

`activate(model, *names)` decides what runs, and wires it into the encoder's plug points
(funfisher/model/encoder.py): each `FeedForward.adapter` gets an `AdapterStack` of the active
bottleneck adapters present in that layer, `Encoder.embedding_adapter` gets the first adapter's
invertible block, and the attention projections named by an active LoRA become `LoRALinear`s that
carry it. The plug-point objects only reference the registry's modules. With nothing active the
encoder computes exactly the plain model.

Roles, not names: an adapter is a "language" adapter (MAD-X step 1: trained with MLM, swapped per
target language) or a "task" adapter (trained on the task, kept when languages are swapped).
A stack has at most one language adapter, and it comes first (AdapterHub `Stack(lang, task)`).

Units (FUN with Fisher, Algorithm 1): a task adapter's trainable parameters grouped by layer,
`task_units(model, name) -> {layer: [params]}`; the trainer unfreezes units with
`set_trainable_units`. The base model and language adapters stay frozen during task training
(`freeze_for_task_training`).
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Iterable, Literal, Mapping

import torch.nn as nn

from ..io.adapterhub_config import PRESETS, config_from_adapterhub
from ..model.encoder import Encoder
from .bottleneck import AdapterStack, BottleneckConfig, build_layer_adapters
from .invertible import EmbeddingAdapter, NICECoupling
from .lora import LoRAConfig, LoRALinear, build_layer_loras, wrap_projection

Role = Literal["language", "task"]
ROLES: tuple[Role, ...] = ("language", "task")
AdapterConfigType = BottleneckConfig | LoRAConfig

_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")


class AttachedAdapter(nn.Module):
    """One adapter attached to an encoder: its config, role, per-layer modules and optional NICE block.

    `layers[str(i)]` is a `Bottleneck` (bottleneck adapters) or a ModuleDict {"query": LoRA, ...}
    (LoRA); layers in `config.leave_out` have no entry. `source` records where it was loaded from.
    """

    def __init__(self, name: str, config: AdapterConfigType, role: Role, hidden_size: int, num_layers: int):
        super().__init__()
        self.name = name
        self.config = config
        self.role = role
        self.source: dict[str, Any] = {}
        if isinstance(config, BottleneckConfig):
            per_layer: Mapping[int, nn.Module] = build_layer_adapters(config, hidden_size, num_layers)
        else:
            per_layer = build_layer_loras(config, hidden_size, num_layers)
        self.layers = nn.ModuleDict({str(i): m for i, m in per_layer.items()})
        self.invertible: NICECoupling | None = None
        if isinstance(config, BottleneckConfig) and config.inv_adapter == "nice":
            self.invertible = NICECoupling(hidden_size, config.inv_adapter_reduction_factor, config.non_linearity)

    @property
    def kind(self) -> str:
        return self.config.kind  # "bottleneck" or "lora"

    def layer_ids(self) -> list[int]:
        return sorted(int(i) for i in self.layers)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, role={self.role!r}, kind={self.kind!r}"


class AdapterRegistry(nn.ModuleDict):
    """name -> AttachedAdapter, plus the active stack (names, first = language adapter)."""

    def __init__(self) -> None:
        super().__init__()
        self.active: tuple[str, ...] = ()

    def extra_repr(self) -> str:
        return f"active={list(self.active)}"


# --- access ------------------------------------------------------------------------------------------


def encoder_of(model: nn.Module) -> Encoder:
    """The Encoder of `model`: the model itself, or a TaskModel's `.encoder`."""
    if isinstance(model, Encoder):
        return model
    enc = getattr(model, "encoder", None)
    if isinstance(enc, Encoder):
        return enc
    raise TypeError(f"expected a funfisher Encoder (load_pretrained(...).model) or a TaskModel, "
                    f"got {type(model).__name__}")


def registry(model: nn.Module) -> AdapterRegistry:
    """The encoder's adapter registry, created (empty) on first use."""
    enc = encoder_of(model)
    reg = getattr(enc, "adapters", None)
    if reg is None:
        reg = AdapterRegistry()
        enc.add_module("adapters", reg)
    return reg


def get_adapter(model: nn.Module, name: str) -> AttachedAdapter:
    reg = registry(model)
    if name not in reg:
        raise KeyError(f"no adapter named {name!r} is attached; attached: {list(reg.keys())}")
    return reg[name]


def list_adapters(model: nn.Module) -> dict[str, Role]:
    """name -> role of every attached adapter."""
    return {name: a.role for name, a in registry(model).items()}


def active_adapters(model: nn.Module) -> tuple[str, ...]:
    return registry(model).active


# --- adding and removing ----------------------------------------------------------------------------


def make_config(config: str | Mapping[str, Any] | AdapterConfigType = "seq_bn", **overrides: Any) -> AdapterConfigType:
    """A config from a preset name ("seq_bn", "seq_bn_inv", "lora", ...: AdapterHub's config names,
    `PRESETS` in funfisher/io/adapterhub_config.py), an AdapterHub config dict, or a config."""
    if isinstance(config, (BottleneckConfig, LoRAConfig)):
        if not overrides:
            return config
        return dataclasses.replace(config, **overrides)
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(f"unknown adapter kind {config!r}; expected one of {sorted(PRESETS)} (or a config)")
        cls, defaults = PRESETS[config]
        return cls(**{**defaults, **overrides})
    if isinstance(config, Mapping):  # a full AdapterHub config dict
        return make_config(config_from_adapterhub(dict(config), source="config dict"), **overrides)
    raise TypeError(f"config must be a preset name, a dict or a BottleneckConfig/LoRAConfig, "
                    f"got {type(config).__name__}")


def default_role(config: AdapterConfigType) -> Role:
    """Adapters with an invertible block are MAD-X language adapters; everything else is a task adapter."""
    return "language" if isinstance(config, BottleneckConfig) and config.inv_adapter else "task"


def add_adapter(
    model: nn.Module,
    name: str,
    config: str | Mapping[str, Any] | AdapterConfigType = "seq_bn",
    role: Role | None = None,
    **overrides: Any,
) -> AttachedAdapter:
    """Attach a freshly initialized adapter (not activated). Returns it.

    config: "seq_bn" (Pfeiffer task adapter, reduction 16), "seq_bn_inv" (+ NICE invertible
    adapter; MAD-X language adapters use reduction_factor=2), "lora" (r=8, alpha=8 on query and
    value), a dict in AdapterHub's format, or a BottleneckConfig / LoRAConfig; keyword overrides
    change single fields. role: "language" or "task"; default: "language" iff it has an
    invertible adapter. A task adapter cannot have an invertible adapter (only the first adapter
    of a stack would use it).
    """
    enc = encoder_of(model)
    reg = registry(enc)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"adapter name {name!r} must be non-empty letters, digits, '_' or '-'")
    if name in reg:
        raise ValueError(f"an adapter named {name!r} is already attached; delete_adapter(model, {name!r}) first")
    if hasattr(reg, name):
        raise ValueError(f"adapter name {name!r} is reserved (it is a method of the registry); choose another")
    cfg = make_config(config, **overrides)
    role = role or default_role(cfg)
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    if role == "task" and isinstance(cfg, BottleneckConfig) and cfg.inv_adapter:
        raise ValueError(f"adapter {name!r}: a task adapter cannot have an invertible adapter "
                         f"(inv_adapter={cfg.inv_adapter!r}); use role='language' or a config without it")
    num_layers, hidden = enc.config.num_hidden_layers, enc.config.hidden_size
    bad = [i for i in cfg.leave_out if not 0 <= i < num_layers]
    if bad:
        raise ValueError(f"adapter {name!r}: leave_out {bad} is outside the model's layers 0..{num_layers - 1}")
    attached = AttachedAdapter(name, cfg, role, hidden, num_layers)
    like = enc.embed.tokens.weight
    attached.to(device=like.device, dtype=like.dtype)
    attached.train(enc.training)
    reg[name] = attached
    return attached


def delete_adapter(model: nn.Module, name: str) -> None:
    """Detach adapter `name` (taking it out of the active stack first)."""
    reg = registry(model)
    get_adapter(model, name)
    if name in reg.active:
        activate(model, *[n for n in reg.active if n != name])
    del reg[name]


# --- activation -------------------------------------------------------------------------------------


def activate(model: nn.Module, *names: str) -> None:
    """Make `names` the active stack, in order (first = the language adapter), and wire it in.

    activate(model, "de", "task") runs AdapterHub's Stack("de", "task"); activate(model) turns all
    adapters off. Swapping the language adapter, e.g. activate(model, "sw", "task"), leaves the task
    adapter's modules and parameters untouched. Each layer runs the active bottleneck adapters it
    has (leave_out layers skip theirs); the first adapter supplies the invertible adapter.
    """
    enc = encoder_of(model)
    reg = registry(enc)
    if len(names) == 1 and isinstance(names[0], (list, tuple)):
        names = tuple(names[0])
    for n in names:
        get_adapter(enc, n)
    if len(set(names)) != len(names):
        raise ValueError(f"an adapter appears twice in the stack {list(names)}")
    stack = [reg[n] for n in names]
    languages = [a.name for a in stack if a.role == "language"]
    if len(languages) > 1 or (languages and stack[0].role != "language"):
        raise ValueError(f"stack {list(names)}: at most one language adapter, and it must come first "
                         f"(language adapters here: {languages})")
    loras = [a.name for a in stack if a.kind == "lora"]
    if len(loras) > 1:
        raise ValueError(f"stack {list(names)}: at most one LoRA adapter can be active (got {loras})")
    merged = [m.lora_name for m in enc.modules() if isinstance(m, LoRALinear) and m.merged]
    if merged:
        raise RuntimeError(f"LoRA {merged[0]!r} is merged into the weights; call unmerge_lora(model) before activate()")
    reg.active = tuple(names)
    _wire(enc)


def swap_language_adapter(model: nn.Module, name: str) -> None:
    """Replace the active language adapter (or put one in front) and keep the rest of the stack."""
    reg = registry(model)
    if get_adapter(model, name).role != "language":
        raise ValueError(f"adapter {name!r} has role {reg[name].role!r}, not 'language'")
    rest = [n for n in reg.active if reg[n].role != "language"]
    activate(model, name, *rest)


def _wire(enc: Encoder) -> None:
    """Install the active stack into the encoder's plug points (see the module docstring)."""
    reg: AdapterRegistry = enc.adapters
    stack = [reg[n] for n in reg.active]

    first = stack[0] if stack else None
    if first is not None and first.invertible is not None:
        enc.embedding_adapter = EmbeddingAdapter(first.invertible, first.name)
    else:
        enc.embedding_adapter = None

    lora = next((a for a in stack if a.kind == "lora"), None)
    for i, layer in enumerate(enc.layers):
        key = str(i)
        present = [a for a in stack if a.kind == "bottleneck" and key in a.layers]
        blocks, names = tuple(a.layers[key] for a in present), tuple(a.name for a in present)
        layer.ffn.adapter = AdapterStack(blocks, names) if present else None
        lora_here = lora.layers[key] if lora is not None and key in lora.layers else {}
        for proj in ("query", "key", "value"):
            module = lora_here[proj] if proj in lora_here else None
            if module is not None:
                wrap_projection(layer.attn, proj).set_lora(module, lora.name)
            elif isinstance(getattr(layer.attn, proj), LoRALinear):
                getattr(layer.attn, proj).set_lora(None, None)


# --- units and freezing (FUN with Fisher, Algorithm 1) ------------------------------------------------


def task_units(model: nn.Module, name: str) -> dict[int, list[nn.Parameter]]:
    """Layer j -> the adapter's parameters in layer j (bottleneck: down/up weights and biases;
    LoRA: every lora_A / lora_B weight of that layer). Layers in leave_out have no unit. The
    invertible block of a language adapter is not a layer unit."""
    adapter = get_adapter(model, name)
    return {i: list(adapter.layers[str(i)].parameters()) for i in adapter.layer_ids()}


def set_trainable_units(model: nn.Module, name: str, units: Iterable[int]) -> list[int]:
    """requires_grad=True for the parameters of `units` (layer ids) of adapter `name`, False for
    its other layers. Returns the sorted trainable unit ids. The trainer calls this whenever its
    schedule unfreezes more layers."""
    all_units = task_units(model, name)
    wanted = sorted({int(u) for u in units})
    unknown = [u for u in wanted if u not in all_units]
    if unknown:
        raise ValueError(f"adapter {name!r} has no unit(s) {unknown}; its units are layers {sorted(all_units)}")
    if any(isinstance(m, LoRALinear) and m.merged for m in encoder_of(model).modules()):
        raise RuntimeError("a LoRA is merged into the weights; call unmerge_lora(model) before training")
    for layer, params in all_units.items():
        for p in params:
            p.requires_grad_(layer in wanted)
    return wanted


def freeze_for_task_training(model: nn.Module, task_name: str, units: Iterable[int] | Literal["all"] = ()) -> list[int]:
    """Freeze the whole encoder (base weights, language adapters, other adapters) and make only
    `units` of task adapter `task_name` trainable: "all" for ordinary adapter training, a list of
    layer ids, or () (default) to let the schedule decide later via set_trainable_units. A
    TaskModel's head is not touched (the trainer trains it). Returns the trainable unit ids."""
    adapter = get_adapter(model, task_name)
    if adapter.role != "task":
        raise ValueError(f"adapter {task_name!r} has role {adapter.role!r}; task training needs a 'task' adapter")
    for p in encoder_of(model).parameters():
        p.requires_grad_(False)
    return set_trainable_units(model, task_name, task_units(model, task_name) if units == "all" else units)


__all__ = ["AttachedAdapter", "AdapterRegistry", "Role", "ROLES", "PRESETS", "add_adapter", "delete_adapter",
           "activate", "swap_language_adapter", "active_adapters", "list_adapters", "get_adapter", "registry",
           "encoder_of", "make_config", "default_role", "task_units", "set_trainable_units", "freeze_for_task_training"]
