"""What a run trains, one small class per `adapters.kind`, so the recipe never asks which kind it runs.

A trainable set is what Algorithm 1 unfreezes, in units (one per encoder layer), plus the head:

    tset = attach(model, config)         # freeze the base model, add what trains: tset.units, tset.notes
    tset.apply({10, 11})                 # requires_grad=True exactly for these units (the head always)
    state = tset.state()                 # the learned weights: best checkpoint, resume
    tset.save(folder, model_name)        # ... on disk, in the kind's format
    restore(model, folder, config)       # ... and back onto a fresh model (`eval.py run`)

- `BottleneckAdapter`, `LoRAAdapter` (adapters.kind "bottleneck", "lora"): a task adapter in
  every layer, a unit per layer, under the run's MAD-X language adapters; saved in AdapterHub
  format with the head.
- `FullFineTuning` (adapters.kind "full", the baseline): the whole encoder, a unit per layer
  (the embeddings join unit 0), and the pretrained pooler trains with the head as in Hugging
  Face; saved as the whole model's safetensors. It uses no language adapter, so zero-shot
  evaluation runs every language (docs/fidelity.md, section 5).

What trains: the head's `trainable_parameters()` (the pretrained pooler is frozen base model for
adapters, see model/heads.py) and the units the schedule has released; `results.json` records the
counts (`trainable_parameters`).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .. import adapters as A
from ..errors import ModelNotFoundError, UserError
from ..model.convert import load_strict, read_safetensors, uses_pretrained_pooler
from ..model.heads import TaskModel
from ..io.adapterhub import CONFIG_NAME, HEAD_CONFIG_NAME, HEAD_WEIGHTS_NAME, WEIGHTS_NAME
from ..io.runs import atomic_save_safetensors
from ..runconfig import AdapterConfig, ConfigError, RunConfig

TASK = "task"  # the name of the task adapter inside the model (a role decides what it is, not this name)
FULL_MODEL_FILE = "model.safetensors"  # full fine-tuning: the whole model, in the weights folder

Units = dict[int, list[nn.Parameter]]  # layer -> the parameters the schedule unfreezes (Algorithm 1's units)


def attach(model: TaskModel, config: RunConfig) -> TrainableSet:
    """Freeze the encoder and set up what trains for `config.adapters.kind` (module docstring)."""
    kind = kind_of(config)
    for p in model.encoder.parameters():
        p.requires_grad_(False)
    return kind.attach(model, config)


def restore(model: TaskModel, folder: Path, config: RunConfig) -> None:
    """Put the learned weights `save` wrote to `folder` onto a freshly built `model`, for evaluation."""
    kind_of(config).restore(model, folder, config)


def kind_of(config: RunConfig) -> type[TrainableSet]:
    """The trainable set of `adapters.kind` (runconfig.ADAPTER_KINDS, checked when the config loads)."""
    kinds = {"bottleneck": BottleneckAdapter, "lora": LoRAAdapter, "full": FullFineTuning}
    return kinds[config.adapters.kind]


class TrainableSet(ABC):
    """The units of one run's model, how they are released, saved and restored."""

    files: tuple[str, ...] = ()  # what `save` writes into its folder (a finished run's --resume checks them)

    def __init__(self, model: TaskModel, units: Units, notes: list[str]):
        self.model = model
        self.units = units
        self.notes = notes  # what the run's results should say about this set-up

    # ---------------------------------------------------------------------------- per kind
    @classmethod
    @abstractmethod
    def attach(cls, model: TaskModel, config: RunConfig) -> TrainableSet:
        """Set up what trains on `model`, whose encoder is frozen; every unit starts frozen."""

    @abstractmethod
    def apply(self, trainable: set[int]) -> None:
        """requires_grad=True exactly for the parameters of the `trainable` units."""

    @abstractmethod
    def save(self, folder: Path, model_name: str) -> None:
        """The learned weights (units and head) in this kind's format."""

    @staticmethod
    @abstractmethod
    def restore(model: TaskModel, folder: Path, config: RunConfig) -> None:
        """The inverse of `save`, onto a freshly built model (with its language adapters, if any)."""

    @staticmethod
    @abstractmethod
    def evaluation_stack(config: RunConfig) -> tuple[list[str], str | None]:
        """(language adapters, task adapter) for `evaluation.zero_shot`."""

    # ------------------------------------------------------------------- the same for all
    def state(self) -> dict[str, torch.Tensor]:
        """The weights a run learns: every unit's parameters (trainable or not) and the head."""
        names = {id(p): n for n, p in self.model.named_parameters()}
        state = {names[id(p)]: p.detach().clone() for ps in self.units.values() for p in ps}
        state.update({f"head.{n}": p.detach().clone() for n, p in self.model.head.named_parameters()})
        return state

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for name, value in state.items():
                params[name].copy_(value)

    def trainable_parameters(self) -> dict[str, Any]:
        """What the optimizer updates, counted: the head's trainable parameters and each unit's
        (a unit trains from its release on; the schedule decides when)."""
        count = lambda params: sum(p.numel() for p in params)  # noqa: E731
        return {"head": count(self.model.head.trainable_parameters()),
                "units": {str(u): count(ps) for u, ps in sorted(self.units.items())}}


class TaskAdapter(TrainableSet):
    """A task adapter in every layer (MAD-X), under the source language's adapter in training."""

    @staticmethod
    @abstractmethod
    def adapter_config(ad: AdapterConfig) -> tuple[str, dict[str, Any]]:
        """The `adapters.add_adapter` config name and options of this kind's task adapter."""

    @classmethod
    def attach(cls, model: TaskModel, config: RunConfig) -> TaskAdapter:
        """Add the task adapter, load the language adapters, activate Stack(source, task)."""
        enc, ad = model.encoder, config.adapters
        notes: list[str] = []
        if getattr(model.head, "pooler_frozen", False):
            notes.append("head: the pretrained pooler is frozen base model (as AdapterHub's train_adapter and the "
                         "released code); the head trains its output layer only")
        elif uses_pretrained_pooler(enc.config.arch, model.kind):
            notes.append("head: the checkpoint has no pooler weights, so the head is a trainable two-layer head on the "
                         "first token (dense + tanh, then linear), not a frozen random layer")
        name, options = cls.adapter_config(ad)
        A.add_adapter(enc, TASK, name, role="task", **options)
        load_language_adapters(enc, ad)
        if ad.language_adapters:
            if ad.source_language not in ad.language_adapters:
                raise ConfigError(f"adapters.language_adapters has no adapter for the source language "
                                 f"{ad.source_language!r} (has: {sorted(ad.language_adapters)})")
            A.activate(enc, ad.source_language, TASK)
        else:
            A.activate(enc, TASK)
            notes.append("no MAD-X language adapters: the task adapter runs alone (training and every target language)")
        A.freeze_for_task_training(enc, TASK)  # base + language adapters frozen; units wait for the schedule
        return cls(model, A.task_units(enc, TASK), notes)

    def apply(self, trainable: set[int]) -> None:
        A.set_trainable_units(self.model.encoder, TASK, trainable)

    files = (CONFIG_NAME, WEIGHTS_NAME, HEAD_CONFIG_NAME, HEAD_WEIGHTS_NAME)

    def save(self, folder: Path, model_name: str) -> None:
        """AdapterHub format: the task adapter and the head."""
        A.save_adapter(self.model, TASK, folder, with_head=True, model_name=model_name)

    @staticmethod
    def restore(model: TaskModel, folder: Path, config: RunConfig) -> None:
        A.load_adapter(model, folder, name=TASK)
        A.load_head(model, folder)
        load_language_adapters(model.encoder, config.adapters)

    @staticmethod
    def evaluation_stack(config: RunConfig) -> tuple[list[str], str | None]:
        """Stack(target language, task) per language, or the task adapter alone without language adapters."""
        return list(config.adapters.language_adapters), TASK


class BottleneckAdapter(TaskAdapter):
    """The MAD-X task adapter (Pfeiffer `seq_bn`, reduction factor `adapters.reduction_factor`)."""

    @staticmethod
    def adapter_config(ad: AdapterConfig) -> tuple[str, dict[str, Any]]:
        return "seq_bn", {"reduction_factor": ad.reduction_factor}


class LoRAAdapter(TaskAdapter):
    """LoRA on the attention query and value projections (rank `adapters.lora_r`, `adapters.lora_alpha`)."""

    @staticmethod
    def adapter_config(ad: AdapterConfig) -> tuple[str, dict[str, Any]]:
        return "lora", {"r": ad.lora_r, "alpha": ad.lora_alpha}


class FullFineTuning(TrainableSet):
    """Baseline: fine-tune the whole encoder; a unit is a whole layer (embeddings join unit 0)."""

    @classmethod
    def attach(cls, model: TaskModel, config: RunConfig) -> FullFineTuning:
        enc = model.encoder
        units = {j: list(layer.parameters()) for j, layer in enumerate(enc.layers)}
        units[0] = list(enc.embed.parameters()) + units[0]
        notes = ["full fine-tuning baseline: units are whole encoder layers (embeddings belong to unit 0)"]
        if getattr(model.head, "pooler_frozen", False):  # full fine-tuning trains the pretrained pooler too, as HF does
            model.head.freeze_pooler(False)
            notes.append("full fine-tuning: the pretrained pooler trains with the head")
        return cls(model, units, notes)

    def apply(self, trainable: set[int]) -> None:
        for unit, params in self.units.items():
            for p in params:
                p.requires_grad_(unit in trainable)

    files = (FULL_MODEL_FILE,)

    def save(self, folder: Path, model_name: str) -> None:
        """The whole model (encoder and head) as one safetensors file, written atomically."""
        atomic_save_safetensors(folder / FULL_MODEL_FILE, self.model.state_dict())

    @staticmethod
    def restore(model: TaskModel, folder: Path, config: RunConfig) -> None:
        """A truncated or corrupt file, or one from another model or head size, is an error naming it."""
        path = folder / FULL_MODEL_FILE
        if not path.is_file():
            raise ModelNotFoundError(f"{path}: no such file (the weights of a full fine-tuning run)")
        load_strict(model, read_safetensors(path), source=str(path))

    @staticmethod
    def evaluation_stack(config: RunConfig) -> tuple[list[str], str | None]:
        """No adapters at all: every language runs through the fine-tuned encoder."""
        return [], None


def load_language_adapters(encoder: nn.Module, ad: AdapterConfig) -> None:
    """The run's MAD-X language adapters (`adapters.language_adapters`: language -> folder or hub id).
    An adapter that cannot be loaded is an error that also names the language it was given for."""
    for lang, source in ad.language_adapters.items():
        try:
            A.load_adapter(encoder, source, name=lang)
        except UserError as e:  # same type, the key in front: "adapters.language_adapters.de: <why>"
            if len(e.args) == 1 and isinstance(e.args[0], str):
                e.args = (f"adapters.language_adapters.{lang}: {e.args[0]}",)
            raise
