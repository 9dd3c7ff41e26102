"""TensorBoard event files of a run (optional extra: `pip install tensorboard`), off by default.

    train.tensorboard = true      # in a config, or --set train.tensorboard=true
    tensorboard --logdir runs/    # every run folder's tensorboard/ subfolder

The scalars are the run's own records, as train_log.jsonl and fisher.jsonl hold them (those stay
the run's record; this is a view of them):

| tag                         | from                                  |
|-----------------------------|---------------------------------------|
| train/loss, train/lr, train/grad_norm, train/trainable_units | each step's train_log.jsonl record (grad_norm: not for an fp16 step the scaler skipped) |
| validation/<metric>         | the English validation (train_log's "val") |
| fisher/unit_<u>, fisher/sum | each tr(F) tracking record (fisher.jsonl, purpose "track") |
| fisher_select/unit_<u>      | the tr(F) of each frozen unit at a FUN decision |
| unfreeze (text), schedule/units_released | each selection: the step and the units released |

A resumed run appends to the same folder; `purge_step` makes TensorBoard drop what the killed
process had logged after its last checkpoint, so no step appears twice.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UserError

FOLDER = "tensorboard"


class TensorBoardMissingError(UserError, ImportError):
    """train.tensorboard = true without the tensorboard package."""


def require_tensorboard() -> None:
    """A clear error (before any work) when the optional extra is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError as e:
        raise TensorBoardMissingError(f"train.tensorboard = true needs the tensorboard package (pip install "
                                      f"tensorboard): {e}") from None


class TensorBoardLog:
    """Writes a run's records as scalars into `run_dir/tensorboard/` (module docstring)."""

    def __init__(self, run_dir: Path, metric: str, start_step: int = 0):
        require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        self.metric = metric
        # resumed at start_step (its checkpoint's step, already logged): later steps are the new process's
        self.writer = SummaryWriter(str(Path(run_dir) / FOLDER), purge_step=start_step + 1 if start_step else None)

    def step(self, record: dict[str, Any]) -> None:
        """One train_log.jsonl record."""
        step = record["step"]
        self.writer.add_scalar("train/loss", record["loss"], step)
        self.writer.add_scalar("train/lr", record["lr"], step)
        if record.get("grad_norm") is not None:
            self.writer.add_scalar("train/grad_norm", record["grad_norm"], step)
        self.writer.add_scalar("train/trainable_units", len(record["trainable"]), step)
        if "val" in record:
            self.writer.add_scalar(f"validation/{self.metric}", record["val"], step)

    def fisher(self, record: dict[str, Any]) -> None:
        """One fisher.jsonl record: tracking (every unit, and their sum) or a FUN decision."""
        values = record.get("values") or {}
        if record["purpose"] == "track":
            for unit, value in values.items():
                self.writer.add_scalar(f"fisher/unit_{unit}", value, record["step"])
            self.writer.add_scalar("fisher/sum", sum(values.values()), record["step"])
        else:
            for unit, value in values.items():
                self.writer.add_scalar(f"fisher_select/unit_{unit}", value, record["step"])

    def selection(self, record: dict[str, Any]) -> None:
        """One schedule record: the units a SELECT released at its step."""
        units = record["units"]
        self.writer.add_text("unfreeze", f"step {record['step']}: units {', '.join(map(str, units)) or 'none'}",
                             record["step"])
        self.writer.add_scalar("schedule/units_released", len(units), record["step"])

    def close(self) -> None:
        self.writer.close()
