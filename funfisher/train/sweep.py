"""`train.py --seeds / --train-sizes / --orders / --jobs`: a grid of runs (a sweep), one run folder per cell.

    python train.py --config C --compare standard lpft gu fun random --seeds 1 2 3 4 --output runs/S
    python train.py --config C --compare gu fun --train-sizes 1000 5000 10000 --seeds 1 2 3 4 --jobs 2
    python train.py --config C --compare random --orders 5 --seeds 1 2
    python train.py --config C --schedule fun --seeds 1 2 3 4

The grid is schedules x train sizes x seeds, and for the random schedule x orders. Each cell is an
ordinary run folder (`recipe.run_one`), with its own resolved configuration:

    output/<schedule>/[n<size>/][order<i>/][seed<k>/]      run name <name>-<schedule>[-n<size>][-order<i>][-seed<k>]

    --seeds K ...       config.seed = k (the data subsample, the init of the head, dropout, tr(F) draws)
    --train-sizes N ... task.train.n = N, with the file's [train_sizes.<N>] sections (runconfig: a size
                        without a section gets the file's values; a note says so)
    --orders N          random only: schedule.seed = i for i in 1..N, i.e. N seeded permutations (the
                        top unit first, the random schedule's default); sweep.json records each one
    --jobs N            N cells at a time, each in its own worker process (see "Threads" below)

Every schedule's cell is resolved with its own `[schedules.<name>]` section, as in --compare.
Cells run size by size, then seed by seed, each seed's schedules side by side: a sweep that stops
half way leaves complete comparisons for the seeds it finished.

Resuming. Before any cell runs, every cell's folder is checked (`checkpoint.plan_run`): with
--resume a cell's configuration must be the one it was made with (else the error names the keys
that differ) and nothing runs. Finished cells (results.json and every output there) are never
run again and their files are not touched; the others continue from their checkpoint. A sweep may
be resumed with a larger grid (more seeds, sizes, schedules): finished cells are reused.

sweep.json (strict JSON, written atomically when the sweep starts and whenever a cell ends; the sweep folder is
locked while the sweep runs):

    grid          {"config", "overrides", "schedules", "seeds", "train_sizes", "orders", "jobs"}
    counts        {"cells", "done", "pending", "failed"}
    cells         one per cell, in run order: {"index", "cell" (its label), "folder" (relative),
                  "name", "schedule", "train_size", "order", "seed", "k", "threads", "permutation"
                  (random: the unfreezing order, unit ids; else null), "status" (done | pending |
                  failed), "error" (failed: its one-line error), "seconds" ({train, fisher_select,
                  fisher_track, validation, zero_shot}, from its results.json timings_seconds),
                  "total_seconds", "wall_seconds" (this invocation's wall-clock time for the cell),
                  "xling_avg", "steps"}
    cost_seconds  the parts summed over the done cells, and "total"
    summary       per schedule (and size): the done cells' cross-lingual averages, mean and std

Threads. With --jobs N each cell runs with train.threads = max(1, T // N), T the configuration's
train.threads, and its config (config.toml, the checkpoint, results.json) records that number.
The thread count is part of the configuration on purpose: CPU kernels split their sums by thread,
so another count changes the numbers in the last digits and a resumed run would no longer be the
run it continues. Resuming a sweep with another --jobs (another thread count) is therefore refused
by the configuration check, naming train.threads; resume with the --jobs it was started with.

Failures. A cell that fails (a diverged run, a broken file, a worker killed) is reported on its
own line and marked failed in sweep.json; the other cells go on. At the end the failed cells are
listed in one `error:` line (exit code 2); finished cells stay finished and --resume reruns the
others. With --jobs > 1 each worker's output goes to output/logs/<cell>.log, and a worker stops
when the sweep process is gone (its cell continues from its checkpoint with --resume).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..io.runs import RunLock, atomic_write_json, check_run_dir, create_run_dir, json_text
from ..runconfig import ConfigError, RunConfig, from_dict, load_config, to_dict, train_sizes_of
from .checkpoint import CheckpointError, plan_run
from .recipe import build_schedule, check_before_training, finished_outputs
from .results import RunResult
from .slurm import SlurmOptions, check_cluster, run_cells

SWEEP = "sweep.json"
LOGS = "logs"
PARTS = ("train", "fisher_select", "fisher_track", "validation", "zero_shot")  # results.json timings_seconds


class SweepError(UserError):
    """Cells of a sweep failed (each listed with its error); the others finished."""


@dataclass
class Cell:
    """One run of a sweep: a schedule at one train size, order and seed, with its resolved config."""

    schedule: str
    train_size: int | None
    order: int | None
    seed: int | None
    config: RunConfig
    index: int = 0  # 1-based, in run order

    @property
    def parts(self) -> list[str]:
        parts = [self.schedule]
        for prefix, value in (("n", self.train_size), ("order", self.order), ("seed", self.seed)):
            if value is not None:
                parts.append(f"{prefix}{value}")
        return parts

    @property
    def folder(self) -> str:
        """The cell's run folder, relative to the sweep folder."""
        return "/".join(self.parts)

    @property
    def label(self) -> str:
        return " ".join(self.parts)


@dataclass
class Grid:
    """What to sweep: the cells, and how they were asked for (sweep.json's "grid")."""

    name: str  # the configuration's run name (default output: runs/<name>)
    cells: list[Cell]
    description: dict[str, Any]
    jobs: int = 1
    notes: list[str] = field(default_factory=list)
    slurm: SlurmOptions | None = None  # --launcher slurm (train/slurm.py); None: this machine


# --------------------------------------------------------------------------------------------------
# the grid
# --------------------------------------------------------------------------------------------------
def _distinct(what: str, values: list[int], low: int) -> list[int]:
    bad = [v for v in values if v < low]
    if bad:
        raise ConfigError(f"{what} {bad[0]}: must be >= {low}")
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise ConfigError(f"{what} {twice[0]} is given twice; each value once")
    return list(values)


def _key_set(overrides: list[str], key: str) -> bool:
    return any(item.split("=", 1)[0].strip() == key for item in overrides)


def plan_grid(path: str | Path | None, overrides: list[str], schedules: list[str] | None = None,
              seeds: list[int] | None = None, train_sizes: list[int] | None = None, orders: int | None = None,
              jobs: int = 1, slurm: SlurmOptions | None = None) -> Grid:
    """Resolve every cell's configuration (checking each, as `load_config` does); reads no model
    or data. `schedules` None: the configuration's own schedule."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"--jobs {jobs}: must be >= 1")
    seeds = None if seeds is None else _distinct("--seeds:", seeds, 0)
    train_sizes = None if train_sizes is None else _distinct("--train-sizes:", train_sizes, 1)
    if orders is not None and (isinstance(orders, bool) or orders < 1):
        raise ConfigError(f"--orders {orders}: must be >= 1")
    clashes = [("--seeds", seeds, "seed", "--seed / --set seed="),
               ("--train-sizes", train_sizes, "task.train.n", "--set task.train.n="),
               ("--orders", orders, "schedule.seed", "--set schedule.seed=")]
    for option, value, key, other in clashes:
        if value is not None and _key_set(overrides, key):
            raise ConfigError(f"{option} sets {key} for each cell; drop {other}")
    if schedules is None:  # the configuration's own schedule (random needs its seed, which --orders gives)
        try:
            schedules = [load_config(path, overrides).schedule.name]
        except ConfigError:
            if orders is None:
                raise
            schedules = [load_config(path, list(overrides) + ["schedule.seed=1"]).schedule.name]
    names = list(dict.fromkeys(schedules))
    if orders is not None and "random" not in names:
        raise ConfigError(f"--orders samples permutations of the random schedule, which the sweep does not run "
                          f"(schedules: {', '.join(names)}); add it: --compare ... random, or --schedule random")
    notes = []
    if train_sizes is not None and path is not None:
        configured = train_sizes_of(path)
        missing = [n for n in train_sizes if n not in configured]
        if configured and missing:
            notes.append(f"note: {path} has no [train_sizes.<n>] section for {', '.join(map(str, missing))}: "
                         f"those cells use the file's own values (with task.train.n = the size); it has sections "
                         f"for {', '.join(map(str, configured))}")
    cells = []
    for size in (train_sizes or [None]):
        for seed in (seeds or [None]):
            for name in names:
                for order in (range(1, orders + 1) if orders is not None and name == "random" else [None]):
                    extra = [f"schedule.name={name}", *([f"seed={seed}"] if seed is not None else []),
                             *([f"schedule.seed={order}"] if order is not None else [])]
                    config = load_config(path, list(overrides) + extra, train_size=size)
                    run_name = config.name  # the same in every cell (sections cannot change it)
                    cell = Cell(name, size, order, seed, config, index=len(cells) + 1)
                    threads = max(1, config.train.threads // jobs)
                    cell.config = dataclasses.replace(config, name="-".join([config.name, *cell.parts]),
                                                      train=dataclasses.replace(config.train, threads=threads))
                    cells.append(cell)
    models = {(c.config.model.name, c.config.model.arch) for c in cells}
    if len(models) > 1:
        raise ConfigError(f"a sweep needs one model for every cell, got {sorted(map(str, models))}")
    description = {"config": None if path is None else str(path), "overrides": list(overrides), "schedules": names,
                   "seeds": seeds, "train_sizes": train_sizes, "orders": orders, "jobs": jobs,
                   "launcher": "local" if slurm is None else {"slurm": dataclasses.asdict(slurm)}}
    return Grid(run_name, cells, description, jobs, notes, slurm)


def permutation(config: RunConfig, n_units: int) -> list[int] | None:
    """The random schedule's unfreezing order (unit ids, first released first); None for others."""
    if config.schedule.name != "random":
        return None
    return [unit for group in build_schedule(config, n_units).plan for unit in group]


# --------------------------------------------------------------------------------------------------
# running it
# --------------------------------------------------------------------------------------------------
def run_sweep(grid: Grid, output: Path, resume: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Run every cell of `grid` in output/<cell folder> (module docstring); returns sweep.json's
    content. Raises SweepError (after all cells ran) if any failed."""
    output = Path(output)
    cells = grid.cells
    if grid.slurm is not None:
        check_cluster()  # before any work
    for note in grid.notes:
        print(note, file=sys.stderr)
    with RunLock(output) as lock:
        check_run_dir(output, resume=resume, overwrite=overwrite)  # never mix into an existing sweep
        todo = []  # the cells to run: all but the finished ones
        for cell in cells:  # every cell checked before any runs: a changed config is refused here
            try:
                plan = plan_run(cell.config, output / cell.folder, resume, overwrite, finished_outputs(cell.config))
            except CheckpointError as e:
                hint = ("; a sweep's cells run with train.threads = max(1, train.threads // --jobs): resume with "
                        "the --jobs the sweep was started with") if "train.threads:" in str(e) else ""
                raise CheckpointError(f"cell {cell.label}: {e}{hint}") from None
            if not (plan.finished and not plan.missing):
                todo.append(cell)
            elif note := plan.lost_note(output / cell.folder):  # (a cell still to do notes it when it runs)
                print(note, file=sys.stderr)
        base_pm, n_units = None, None
        if todo:
            base_pm = check_before_training([cell.config for cell in todo])
            n_units = base_pm.config.num_hidden_layers
        else:
            n_units = len(RunResult.read(output / cells[0].folder).trainable_parameters["units"])
        create_run_dir(output, resume=resume, overwrite=overwrite, lock=lock)
        state = _State(grid, output, n_units)
        for note in _same_permutations(cells, state.permutations, n_units):
            print(note, file=sys.stderr)
        to_run = {cell.index for cell in todo}
        for cell in cells:
            state.status[cell.index] = "pending" if cell.index in to_run else "done"
            if cell.index not in to_run:
                state.read_result(cell)
        state.write()
        threads = sorted({c.config.train.threads for c in todo}) or ["-"]
        print(f"sweep {output}: {len(cells)} cells, {len(cells) - len(todo)} done, {len(todo)} to run "
              f"(jobs {grid.jobs}, train.threads {'/'.join(map(str, threads))} per cell)", file=sys.stderr)
        if grid.slurm is not None:
            del base_pm  # each task loads its own copy
            run_cells(todo, output, resume, grid.slurm, grid.name, lambda cell: _started(state, cell),
                      lambda cell, error, wall: _ended(state, cell, error, wall))
        elif grid.jobs == 1:
            _run_serial(state, todo, resume, base_pm)
        else:
            del base_pm  # each worker loads its own copy
            _run_parallel(state, todo, resume, grid.jobs)
        sweep = state.write()
        _print_summary(sweep, output)
    failed = [c for c in sweep["cells"] if c["status"] == "failed"]
    if failed:
        listed = "; ".join(f"{c['cell']}: {c['error']}" for c in failed)
        raise SweepError(f"{len(failed)} of {len(cells)} cells failed: {listed}. The other cells are finished; "
                         f"--resume reruns the failed ones")
    return sweep


def _same_permutations(cells: list[Cell], permutations: dict[int, list[int] | None], n_units: int) -> list[str]:
    """A note for every set of --orders cells that drew the same permutation (likely with few units)."""
    seen: dict[tuple, set[int]] = {}
    for cell in cells:
        if cell.order is not None:
            seen.setdefault(tuple(permutations[cell.index]), set()).add(cell.order)
    return [f"note: orders {', '.join(map(str, sorted(orders)))} draw the same permutation {list(order)} "
            f"(the model has {n_units} units)" for order, orders in seen.items() if len(orders) > 1]


class _State:
    """The cells' statuses and results; `write` puts them in sweep.json."""

    def __init__(self, grid: Grid, output: Path, n_units: int):
        self.grid, self.output = grid, output
        self.status: dict[int, str] = {}
        self.errors: dict[int, str] = {}
        self.results: dict[int, dict[str, Any]] = {}
        self.wall: dict[int, float] = {}
        self.permutations = {c.index: permutation(c.config, n_units) for c in grid.cells}

    def read_result(self, cell: Cell) -> None:
        result = RunResult.read(self.output / cell.folder)
        seconds = {part: result.timings_seconds.get(part, 0.0) for part in PARTS}
        self.results[cell.index] = {"seconds": seconds, "total_seconds": round(sum(seconds.values()), 2),
                                    "xling_avg": result.xling_avg, "steps": result.steps}

    def finished(self, cell: Cell, error: str | None, wall: float) -> None:
        self.wall[cell.index] = round(wall, 2)
        if error is None:
            try:
                self.read_result(cell)
                self.status[cell.index] = "done"
                return
            except UserError as e:
                error = f"its results.json cannot be read: {e}"
        self.status[cell.index] = "failed"
        self.errors[cell.index] = " ".join(error.split())  # one line

    def to_json(self) -> dict[str, Any]:
        cells = []
        for cell in self.grid.cells:
            result = self.results.get(cell.index, {})
            cells.append({
                "index": cell.index, "cell": cell.label, "folder": cell.folder, "name": cell.config.name,
                "schedule": cell.schedule, "train_size": cell.train_size, "order": cell.order, "seed": cell.seed,
                "k": cell.config.schedule.k, "threads": cell.config.train.threads,
                "permutation": self.permutations[cell.index], "status": self.status[cell.index],
                "error": self.errors.get(cell.index), "seconds": result.get("seconds"),
                "total_seconds": result.get("total_seconds"), "wall_seconds": self.wall.get(cell.index),
                "xling_avg": result.get("xling_avg"), "steps": result.get("steps")})
        done = [c for c in cells if c["status"] == "done"]
        cost = {part: round(sum(c["seconds"][part] for c in done), 2) for part in PARTS}
        cost["total"] = round(sum(cost.values()), 2)
        counts = {"cells": len(cells)}
        counts.update({status: sum(c["status"] == status for c in cells) for status in ("done", "pending", "failed")})
        return {"grid": self.grid.description, "counts": counts, "cells": cells, "cost_seconds": cost,
                "summary": _summary(cells)}

    def write(self) -> dict[str, Any]:
        data = self.to_json()
        atomic_write_json(self.output / SWEEP, data)
        return data

    def to_go(self) -> int:
        return sum(status == "pending" for status in self.status.values())


def _summary(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (schedule, train size): the done cells' cross-lingual averages (over seeds and orders)."""
    groups: dict[tuple, list[dict]] = {}
    for c in cells:
        groups.setdefault((c["schedule"], c["train_size"]), []).append(c)
    out = []
    for (schedule, size), members in groups.items():
        values = [c["xling_avg"] for c in members if c["status"] == "done" and c["xling_avg"] is not None]
        out.append({"schedule": schedule, "train_size": size, "cells": len(members),
                    "done": sum(c["status"] == "done" for c in members), "xling_avg": values,
                    "xling_avg_mean": round(statistics.fmean(values), 4) if values else None,
                    "xling_avg_std": round(statistics.stdev(values), 4) if len(values) > 1 else None})
    return out


def _print_summary(sweep: dict[str, Any], output: Path) -> None:
    lines = ["| schedule | train size | done | xling avg (mean ± std) |", "|---|---:|---:|---:|"]
    for g in sweep["summary"]:
        mean = "-" if g["xling_avg_mean"] is None else f"{g['xling_avg_mean']:.2f}"
        std = "" if g["xling_avg_std"] is None else f" ± {g['xling_avg_std']:.2f}"
        lines.append(f"| {g['schedule']} | {g['train_size'] or '-'} | {g['done']}/{g['cells']} | {mean}{std} |")
    print("\n".join(lines))
    cost = sweep["cost_seconds"]
    print(f"\ncost of the done cells: {cost['total']:.1f} s (" +
          ", ".join(f"{part} {cost[part]:.1f} s" for part in PARTS) + f"); written: {output / SWEEP}")


def _started(state: _State, cell: Cell, log: Path | None = None) -> None:
    where = state.output / cell.folder
    print(f"cell {cell.index}/{len(state.grid.cells)} {cell.label}: started in {where}"
          + (f" (log {log})" if log else ""), file=sys.stderr, flush=True)


def _ended(state: _State, cell: Cell, error: str | None, wall: float) -> None:
    state.finished(cell, error, wall)
    state.write()
    done = state.status[cell.index] == "done"
    print(f"cell {cell.index}/{len(state.grid.cells)} {cell.label}: {'done' if done else 'FAILED'} in {wall:.0f} s; "
          f"{state.to_go()} to go" + ("" if done else f": {state.errors[cell.index]}"), file=sys.stderr, flush=True)


def _run_serial(state: _State, todo: list[Cell], resume: bool, base_pm) -> None:
    """One cell after the other in this process, each on its own copy of the pretrained model."""
    from .recipe import run_one

    for cell in todo:
        _started(state, cell)
        t0 = time.perf_counter()
        error = None
        try:
            run_one(cell.config, state.output / cell.folder, resume=resume, pm=copy.deepcopy(base_pm))
        except UserError as e:
            error = str(e)
        except Exception as e:  # a bug: keep its traceback, and go on with the other cells
            traceback.print_exc()
            error = f"{type(e).__name__}: {e} (a bug: the traceback is above)"
        _ended(state, cell, error, time.perf_counter() - t0)


# The worker: one cell in a fresh interpreter, its configuration on stdin (as JSON).
WORKER = "import sys; from funfisher.train.sweep import worker_main; sys.exit(worker_main())"


def _run_parallel(state: _State, todo: list[Cell], resume: bool, jobs: int) -> None:
    """`jobs` cells at a time, each in a worker process (`worker_main`) with its own log file."""
    logs = state.output / LOGS
    logs.mkdir(exist_ok=True)
    package_root = str(Path(__file__).resolve().parents[2])
    queue, running = list(todo), {}
    try:
        while queue or running:
            while queue and len(running) < jobs:
                cell = queue.pop(0)
                log = logs / f"{cell.folder.replace('/', '_')}.log"
                threads = str(cell.config.train.threads)
                env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
                       "PYTHONPATH": os.pathsep.join([package_root, *filter(None, [os.environ.get("PYTHONPATH")])])}
                with open(log, "ab") as f:
                    start = f.tell()
                    process = subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=f,
                                               stderr=subprocess.STDOUT, env=env)
                _started(state, cell, log)
                job = {"config": to_dict(cell.config), "folder": str(state.output / cell.folder), "resume": resume,
                       "parent": os.getpid()}
                process.stdin.write(json_text(job).encode("utf-8"))
                process.stdin.close()
                running[process] = (cell, time.perf_counter(), log, start)
            time.sleep(0.1)
            for process in [p for p in running if p.poll() is not None]:
                cell, t0, log, start = running.pop(process)
                _ended(state, cell, _worker_error(process.returncode, log, start), time.perf_counter() - t0)
    finally:  # interrupted (Ctrl-C, an error here): stop this sweep's own workers
        for process in running:
            process.kill()
            process.wait()


def _worker_error(code: int, log: Path, start: int) -> str | None:
    """A worker's outcome from its exit code and log: None (done) or the one-line error."""
    if code == 0:
        return None
    with open(log, "rb") as f:
        f.seek(start)
        text = f.read().decode("utf-8", "replace")
    if code == 2:
        errors = [line[len("error: "):] for line in text.splitlines() if line.startswith("error: ")]
        if errors:
            return errors[-1]
    if code < 0:
        return f"its worker process was killed (signal {-code}; out of memory?); log {log}"
    return f"its worker process failed (exit code {code}; a bug? the traceback is in {log})"


def worker_main() -> int:
    """Run one cell (JSON on stdin: config, folder, resume, parent pid); exit 2 with one `error:`
    line on a user error. Stops when the sweep process that started it is gone."""
    from .recipe import run_one

    job = json.loads(sys.stdin.read())
    parent = job["parent"]

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(3)
            time.sleep(1.0)

    threading.Thread(target=watch, daemon=True).start()
    try:
        config = from_dict(job["config"], where="the sweep's cell configuration")
        run_one(config, Path(job["folder"]), resume=job["resume"])
    except UserError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2
    return 0


__all__ = ["Cell", "Grid", "SweepError", "plan_grid", "permutation", "run_sweep", "worker_main", "SWEEP"]
