"""Checkpoints and the run folder: save, load, resume.

A checkpoint (`checkpoint.pt`, written atomically every `train.checkpoint_every` steps and at the
last step) holds everything needed to continue exactly: the learned weights, the optimizer, the
LR schedule, every RNG stream, the schedule's state, the logs and the step (the data position
follows from it: see `recipe.epoch_batches`). `--resume` continues an interrupted run from it; a
finished run (results.json present) is not run again (`recipe.run_one`).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..runconfig import RunConfig, to_dict, to_toml
from ..io.runs import (CHECKPOINT, CONFIG, FISHER_LOG, TRAIN_LOG, atomic_torch_save, atomic_write_text, create_run_dir,
                    read_jsonl)
from .run import Run


def save_checkpoint(run: Run, run_dir: Path) -> None:
    state = {
        "step": run.step,
        "trained": run.trainable_set.state(),
        "optimizer": run.optimizer.state_dict(),
        "lr_schedule": run.lr_schedule.state_dict(),
        "schedule": run.schedule.state_dict(),
        "trainable": sorted(run.trainable),
        "best": {"metric": run.best_metric, "step": run.best_step, "state": run.best_state},
        "rng": {"torch": torch.get_rng_state(), "fisher_data": run.fisher_data_rng.get_state(),
                # dropout on a GPU draws from that device's generator, not the CPU one
                "cuda": torch.cuda.get_rng_state(run.device) if run.device.type == "cuda" else None,
                "fisher_label": run.fisher_label_rng.get_state(),
                "fisher_track": run.fisher_track_rng.get_state()},
        "schedule_log": run.schedule_log,
        "fisher_log": run.fisher_log,
        "seconds": run.seconds,
    }
    atomic_torch_save(run_dir / CHECKPOINT, state)


def load_checkpoint(run: Run, run_dir: Path) -> None:
    """Put a freshly prepared run back where its checkpoint left it; drop log lines written after it."""
    path = run_dir / CHECKPOINT
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{path}: no checkpoint to resume from") from e
    run.step = state["step"]
    run.trainable_set.load_state(state["trained"])
    run.schedule.load_state_dict(state["schedule"])
    run.trainable = set(state["trainable"])
    run.trainable_set.apply(run.trainable)
    run.optimizer.load_state_dict(state["optimizer"])
    run.lr_schedule.load_state_dict(state["lr_schedule"])
    run.best_metric, run.best_step, run.best_state = state["best"]["metric"], state["best"]["step"], state["best"]["state"]
    torch.set_rng_state(state["rng"]["torch"])
    if state["rng"].get("cuda") is not None and run.device.type == "cuda":
        torch.cuda.set_rng_state(state["rng"]["cuda"], run.device)
    run.fisher_data_rng.set_state(state["rng"]["fisher_data"])
    run.fisher_label_rng.set_state(state["rng"]["fisher_label"])
    run.fisher_track_rng.set_state(state["rng"]["fisher_track"])
    run.schedule_log, run.fisher_log, run.seconds = state["schedule_log"], state["fisher_log"], state["seconds"]
    # Logs written after this checkpoint belong to steps that will run again: drop them.
    kept = [r for r in read_jsonl(run_dir / TRAIN_LOG) if r["step"] <= run.step]
    atomic_write_text(run_dir / TRAIN_LOG, "".join(json.dumps(r) + "\n" for r in kept))
    atomic_write_text(run_dir / FISHER_LOG, "".join(json.dumps(r) + "\n" for r in run.fisher_log))


def open_run_dir(config: RunConfig, output: Path, resume: bool = False, overwrite: bool = False) -> tuple[Path, bool]:
    """Make (or reopen) the run folder and write config.toml. Returns the folder and whether
    training continues from its checkpoint (`resume` and a checkpoint is there)."""
    from_checkpoint = resume and (output / CHECKPOINT).is_file()
    run_dir = create_run_dir(output, resume=resume, overwrite=overwrite)
    config_text = to_toml(to_dict(config))
    saved = run_dir / CONFIG
    if from_checkpoint and saved.is_file() and saved.read_text(encoding="utf-8") != config_text:
        raise ValueError(f"{saved}: the run was started with a different configuration; resume with the same "
                         f"config and --set options, or start a new run with --output")
    atomic_write_text(saved, config_text)
    if not from_checkpoint:  # logs from an attempt that never reached a checkpoint are stale
        for log in (TRAIN_LOG, FISHER_LOG):
            (run_dir / log).unlink(missing_ok=True)
    return run_dir, from_checkpoint
