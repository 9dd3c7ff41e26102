"""`Run`: everything a training run holds, built by `recipe.prepare`, advanced by `recipe.train`,
saved and restored by `checkpoint` (the fields under "progress")."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from ..model.heads import TaskModel
from ..runconfig import RunConfig
from ..schedules import Schedule
from .optim import AdamW, LRSchedule
from .trainable import TrainableSet


@dataclass
class Run:
    """Everything a training run holds. Built by `prepare`, advanced by `train`."""

    config: RunConfig
    pm: Any  # PretrainedModel
    model: TaskModel
    device: torch.device  # where the model and the training batches live (train.device)
    trainable_set: TrainableSet  # the units (Algorithm 1's) and how they train, per adapters.kind
    schedule: Schedule
    optimizer: AdamW
    lr_schedule: LRSchedule
    train_features: list
    val_examples: list
    val_features: list
    total_steps: int
    batches_per_epoch: int
    fisher_data_rng: torch.Generator  # which training examples FUN's estimates look at
    fisher_label_rng: torch.Generator  # y ~ p(y|x) in FUN's selection estimates
    fisher_track_rng: torch.Generator  # y ~ p(y|x) in tr(F) tracking (own stream: never shifts FUN's choices)
    notes: list[str] = field(default_factory=list)
    scaler: torch.amp.GradScaler | None = None  # train.precision = "fp16" only (model/precision.py)
    # progress (saved in checkpoints)
    step: int = 0
    trainable: set[int] = field(default_factory=set)  # the units released so far
    best_metric: float = -math.inf
    best_step: int | None = None
    best_state: dict[str, torch.Tensor] | None = None
    schedule_log: list[dict] = field(default_factory=list)  # Algorithm 1's selections, as results.json holds them
    fisher_log: list[dict] = field(default_factory=list)  # every tr(F) estimate, as fisher.jsonl and results.json hold them
    seconds: dict[str, float] = field(default_factory=lambda: {"train": 0.0, "fisher_select": 0.0,
                                                                "fisher_track": 0.0, "validation": 0.0})

    @property
    def units(self) -> dict[int, list[nn.Parameter]]:
        """layer -> the parameters the schedule unfreezes (the trainable set's units)."""
        return self.trainable_set.units
