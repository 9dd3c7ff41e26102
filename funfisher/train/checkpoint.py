"""Checkpoints and the run folder: save, load, resume, and the checks before a run starts.

A checkpoint (`checkpoint.pt`, written atomically every `train.checkpoint_every` steps and at the
last step) holds everything needed to continue exactly: the learned weights, the optimizer, the
LR schedule, every RNG stream, the schedule's state, the logs and the step (the data position
follows from it: see `recipe.epoch_batches`), and the resolved configuration it was made with.

What `--resume` does with a folder is decided up front, reading only (`plan_run`):

    nothing there, or no --resume   a new run (a folder holding a run needs --resume or --overwrite)
    a checkpoint                    continue from it; its configuration must equal the current one
    results.json                    finished: check the configuration, write what is missing
                                    (summary.md, plots; a missing adapter/ is rebuilt from the checkpoint;
                                    with no checkpoint either, as in a repository that keeps results
                                    but not weights, the results stand and the weights are noted lost)

Every disagreement is an error naming the keys that differ, before any work starts: a resumed
run must never mix two configurations in one folder or one comparison table.
"""
from __future__ import annotations

import pickle
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import parallel
from ..io.runs import (CHECKPOINT, CONFIG, FISHER_LOG, RESULTS, TRAIN_LOG, WEIGHTS, RunFileError, RunLock,
                       atomic_torch_save, atomic_write_jsonl, atomic_write_text, check_run_dir, create_run_dir,
                       has_run, read_jsonl, remove_leftovers)
from ..runconfig import RunConfig, diff_configs, from_dict, to_dict, to_toml
from .run import Run

#: What every checkpoint holds (a file without one of these is not a funfisher checkpoint).
KEYS = ("step", "config", "trained", "optimizer", "lr_schedule", "schedule", "trainable", "best", "rng",
        "schedule_log", "fisher_log", "seconds")


class CheckpointError(RunFileError):
    """checkpoint.pt is damaged, not a funfisher checkpoint, or from another configuration."""


def save_checkpoint(run: Run, run_dir: Path) -> None:
    state = {
        "step": run.step,
        "config": to_dict(run.config),
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
        "scaler": run.scaler.state_dict() if run.scaler is not None else None,  # fp16's loss scale
    }
    atomic_torch_save(run_dir / CHECKPOINT, state)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint (tensors and plain data only: `weights_only`, so no pickled code runs)."""
    advice = "start the run again with --overwrite (the folder is moved aside), or restore the file"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no checkpoint to resume from") from None
    except pickle.UnpicklingError as e:  # a pickle that asks for code: never run it
        first = str(e).strip().splitlines()[0][:200]
        raise CheckpointError(f"{path}: holds objects other than tensors and plain data, which are not "
                              f"loaded ({first}); not a funfisher checkpoint: {advice}") from None
    except (EOFError, RuntimeError, OSError, zipfile.BadZipFile, ValueError) as e:
        raise CheckpointError(f"{path}: damaged or not a checkpoint ({type(e).__name__}: {str(e)[:200]}); "
                              f"{advice}") from None
    missing = [k for k in KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise CheckpointError(f"{path}: not a funfisher checkpoint of this version (missing {', '.join(missing)}); "
                              f"{advice}")
    return state


def check_same_config(config: RunConfig, saved: dict[str, Any], where: Path) -> None:
    """The current configuration must be the one the run was made with; the error lists the differences.
    A key added to funfisher after the run was made is read as its default (what the run used then)."""
    differences = diff_configs(to_dict(from_dict(saved, f"{where}: config")), to_dict(config))
    if differences:
        raise CheckpointError(
            f"{where}: the run was made with a different configuration: " + "; ".join(differences) +
            ". Resume with the same config and --set options, or start a new run (--overwrite or another --output)")


def restore(run: Run, state: dict[str, Any], run_dir: Path) -> None:
    """Put a freshly prepared run back where its checkpoint left it; drop log lines written after it."""
    try:
        run.trainable_set.load_state(state["trained"])
        run.schedule.load_state_dict(state["schedule"])
        run.optimizer.load_state_dict(state["optimizer"])
        run.lr_schedule.load_state_dict(state["lr_schedule"])
    except (KeyError, RuntimeError, ValueError, TypeError) as e:
        raise CheckpointError(f"{run_dir / CHECKPOINT}: does not fit this run's model and adapters "
                              f"({type(e).__name__}: {str(e)[:200]})") from None
    run.step = state["step"]
    run.trainable = set(state["trainable"])
    run.trainable_set.apply(run.trainable)
    run.best_metric, run.best_step, run.best_state = state["best"]["metric"], state["best"]["step"], state["best"]["state"]
    torch.set_rng_state(state["rng"]["torch"])
    if state["rng"].get("cuda") is not None and run.device.type == "cuda":
        torch.cuda.set_rng_state(state["rng"]["cuda"], run.device)
    run.fisher_data_rng.set_state(state["rng"]["fisher_data"])
    run.fisher_label_rng.set_state(state["rng"]["fisher_label"])
    run.fisher_track_rng.set_state(state["rng"]["fisher_track"])
    run.schedule_log, run.fisher_log, run.seconds = state["schedule_log"], state["fisher_log"], state["seconds"]
    if run.scaler is not None and state.get("scaler") is not None:
        run.scaler.load_state_dict(state["scaler"])
    # Logs written after this checkpoint belong to steps that will run again: drop them (torchrun:
    # rank 0, the one that writes).
    if parallel.world().is_main:
        atomic_write_jsonl(run_dir / TRAIN_LOG, [r for r in read_jsonl(run_dir / TRAIN_LOG) if r["step"] <= run.step])
        atomic_write_jsonl(run_dir / FISHER_LOG, run.fisher_log)


def load_checkpoint(run: Run, run_dir: Path) -> None:
    """`read_checkpoint` + `check_same_config` + `restore`: continue `run` from run_dir/checkpoint.pt."""
    state = read_checkpoint(run_dir / CHECKPOINT)
    check_same_config(run.config, state["config"], run_dir / CHECKPOINT)
    restore(run, state, run_dir)


# --------------------------------------------------------------------------------------------------
# before a run starts: what is in the folder (read only), then open it
# --------------------------------------------------------------------------------------------------
@dataclass
class Plan:
    """What to do with a run folder (`plan_run`)."""

    state: dict[str, Any] | None = None  # the checkpoint to continue from (None: start at step 0)
    finished: bool = False  # results.json is there: nothing to train
    missing: list[str] = field(default_factory=list)  # finished, but these outputs are not there
    lost: list[str] = field(default_factory=list)  # finished, and these weights cannot be rebuilt (no checkpoint)

    def lost_note(self, output: Path) -> str | None:
        """The line telling the user a finished run's weights are gone (None: nothing lost)."""
        if not self.lost:
            return None
        return (f"{output}: finished; its trained weights ({WEIGHTS}/) are not there and there is no "
                f"{CHECKPOINT} to rebuild them from: the results stand, the weights are not available")


def plan_run(config: RunConfig, output: Path, resume: bool, overwrite: bool, outputs: list[str]) -> Plan:
    """Decide, reading only, how a run in `output` starts (module docstring); every refusal is a
    `UserError` raised here, before any model or data is loaded. `outputs` are the files a finished
    run has (recipe.finished_outputs)."""
    output = Path(output)
    check_run_dir(output, resume=resume, overwrite=overwrite)
    if not resume or not has_run(output):
        return Plan()
    checkpoint = output / CHECKPOINT
    if (output / RESULTS).is_file():
        from .results import RunResult  # results -> evaluation: only needed here

        result = RunResult.read(output)
        check_same_config(config, to_dict(result.config), output / RESULTS)
        missing = [name for name in outputs if not (output / name).exists()]
        weights = [name for name in missing if name.startswith(f"{WEIGHTS}/")]
        if weights and not checkpoint.is_file():  # results kept without weights: nothing to rebuild them from
            return Plan(finished=True, missing=[name for name in missing if name not in weights], lost=weights)
        state = None
        if weights:  # the weights are only in the checkpoint now
            state = read_checkpoint(checkpoint)
            check_same_config(config, state["config"], checkpoint)
        return Plan(state=state, finished=True, missing=missing)
    if not checkpoint.is_file():
        return Plan()  # an attempt that never reached its first checkpoint: start again
    state = read_checkpoint(checkpoint)
    check_same_config(config, state["config"], checkpoint)
    return Plan(state=state)


def open_run_dir(config: RunConfig, output: Path, lock: RunLock, plan: Plan, resume: bool = False,
                 overwrite: bool = False) -> Path:
    """Create (or reopen) the run folder, lock it, remove what interrupted writes left, write config.toml
    (kept as it is in a finished run: it was checked equal to `config`, and a newer version's defaults
    would only add keys)."""
    run_dir = create_run_dir(output, resume=resume, overwrite=overwrite, lock=lock)
    leftovers = remove_leftovers(run_dir)
    if leftovers:
        print(f"{run_dir}: removed {len(leftovers)} temporary file(s) of an interrupted write", file=sys.stderr)
    if not (plan.finished and (run_dir / CONFIG).is_file()):  # a finished run's config.toml stays as it ran
        atomic_write_text(run_dir / CONFIG, to_toml(to_dict(config)))
    if plan.state is None and not plan.finished:  # logs from an attempt that never reached a checkpoint are stale
        for log in (TRAIN_LOG, FISHER_LOG):
            (run_dir / log).unlink(missing_ok=True)
    return run_dir


__all__ = ["CheckpointError", "Plan", "check_same_config", "load_checkpoint", "open_run_dir", "plan_run",
           "read_checkpoint", "restore", "save_checkpoint"]
