"""tr(F) through training (the paper's Figures 3 and 4): cheap per-step values for a log.

`tracking_values` estimates tr(F) per unit on the training batch the trainer just used, with
labels sampled from the model (Eq. 1) and the exact one-backward "hooks" estimator.

Cost: one extra forward + backward of that batch in eval mode (about one more training step's
forward/backward, no optimizer work). The training step's own pass cannot be reused: it runs in
train mode (dropout) and differentiates the gold-label loss, while Eq. 1 needs the eval-mode
predictive distribution and sampled labels. Call it every N steps, not every step.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import torch
import torch.nn as nn

from .labels import LabelMode
from .trace import Method, Units, batch_trace


def tracking_values(model: nn.Module, batch: Mapping[str, Any], units: Units, generator: torch.Generator, *,
                    labels: LabelMode = "sample", method: Method = "hooks") -> dict[int, float]:
    """tr(F) per unit on one batch ({unit: float}); the model is left untouched (see `fisher_mode`).

    `generator` is the Fisher-sampling stream (keep it separate from the data-order stream).
    """
    return batch_trace(model, batch, units, labels=labels, method=method, generator=generator)


def mean_trace(values: Mapping[int, float], units: Iterable[int]) -> float:
    """The average tr(F) over `units` (e.g. the currently trainable ones); NaN when there are none."""
    chosen = [values[u] for u in units]
    return math.fsum(chosen) / len(chosen) if chosen else math.nan


def tracking_record(step: int, values: Mapping[int, float], trainable: Iterable[int]) -> dict[str, Any]:
    """A JSON-ready line for the tr(F) log: per-unit values and the mean over trainable units
    (null while no unit trains, e.g. LPFT's probing phase: JSON has no NaN)."""
    trainable = sorted(trainable)
    return {"step": int(step), "values": {str(u): float(v) for u, v in sorted(values.items())},
            "trainable": trainable, "mean_trainable": mean_trace(values, trainable) if trainable else None}
