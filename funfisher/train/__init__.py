"""Training: scheduled unfreezing of task adapters (paper Algorithm 1), and what a run leaves behind.

    from funfisher.train import prepare, train, finish, run_one
    run = prepare(config)                  # model + trainable set + data + schedule + optimizer
    train(run, run_dir)                    # the loop (resumable)
    result = finish(run, run_dir)          # a RunResult, written to run_dir/results.json

The rooms:
- recipe.py      prepare / train / finish of Algorithm 1, read top to bottom; `run_one` in a folder
- trainable.py   what trains, one class per adapters.kind (bottleneck, LoRA, full fine-tuning)
- run.py         `Run`, everything a training run holds
- checkpoint.py  save, load, resume; the run folder's config.toml
- results.py     `RunResult`: results.json in and out, summary.md
- compare.py     several schedules side by side (train.py --compare)
- sweep.py       a grid of runs: schedules x seeds x train sizes x orders, resumable, in parallel
                 (train.py --seeds / --train-sizes / --orders / --jobs)
"""
from .checkpoint import load_checkpoint, save_checkpoint
from .compare import compare, comparison_table
from .recipe import collate, finish, prepare, resolve_device, run_one, selection_estimate, train
from .results import RunResult
from .run import Run
from .sweep import Cell, Grid, SweepError, plan_grid, run_sweep
from .trainable import TASK, TrainableSet, attach, restore

__all__ = ["prepare", "train", "finish", "run_one", "compare", "comparison_table", "Run", "RunResult",
           "TrainableSet", "attach", "restore", "TASK", "collate", "selection_estimate", "resolve_device",
           "save_checkpoint", "load_checkpoint", "plan_grid", "run_sweep", "Cell", "Grid", "SweepError"]
