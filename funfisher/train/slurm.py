"""`train.py ... --launcher slurm`: a sweep's cells as one Slurm job array, through submitit.

    python train.py --config C --compare standard gu fun --seeds 1 2 3 4 --output runs/S \\
        --launcher slurm --slurm-partition gpu --slurm-time 240 --slurm-gpus 1
    ... --slurm-gpus 8      # each cell one run on 8 GPUs: 8 ranks (funfisher/parallel.py)

Each cell is one array task (`CellJob`), running exactly what the local launcher runs
(`recipe.run_one` on the cell's configuration, in its run folder). Every cell is resumable, so a
preempted or timed-out task needs no state of its own: submitit calls `CellJob.checkpoint`, which
requeues the same cell with resume=True, and the run continues from its checkpoint.pt (exactly:
resume is bit-identical, train/checkpoint.py). The sweep process waits for the array, records each
cell's status and cost in sweep.json as the local launcher does, and can itself be stopped and
started again with --resume (finished cells are kept). submitit is an optional extra
(`pip install submitit`); its logs and pickles go to <output>/slurm/.

Options: the partition (`--slurm-partition`, default: the cluster's default), the time limit per
cell in minutes (`--slurm-time`, default 60; submitit counts a USR2 as a timeout when the limit is
under about 50 minutes, so preemption is only told apart above that), GPUs per cell
(`--slurm-gpus`, default 0), the ranks per cell (`--slurm-ranks`, default one per GPU, else 1), and
how many cells run at once (--jobs, default all). A cell of R ranks is one Slurm job of R tasks on
one node, which join one process group (submitit's TorchDistributedEnvironment sets what torchrun
would) and run the cell as `torchrun --nproc_per_node R` would: the result of one process
(funfisher/parallel.py). The cell's train.threads CPUs are split over its ranks.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import UserError
from ..runconfig import ConfigError, from_dict

SLURM_FOLDER = "slurm"  # in the sweep's output: submitit's pickles and the tasks' logs


class SlurmUnavailableError(UserError, RuntimeError):
    """--launcher slurm without submitit, or without a Slurm cluster to submit to."""


@dataclass(frozen=True)
class SlurmOptions:
    partition: str | None = None
    time_min: int = 60
    gpus_per_cell: int = 0
    max_parallel: int | None = None  # None: every cell may run at once
    ranks_per_cell: int | None = None  # None: one per GPU (at least 1)

    def __post_init__(self) -> None:
        if self.time_min < 1:
            raise ConfigError(f"--slurm-time {self.time_min}: must be >= 1 (minutes per cell)")
        if self.gpus_per_cell < 0:
            raise ConfigError(f"--slurm-gpus {self.gpus_per_cell}: must be >= 0")
        if self.ranks_per_cell is not None and self.ranks_per_cell < 1:
            raise ConfigError(f"--slurm-ranks {self.ranks_per_cell}: must be >= 1")
        if self.gpus_per_cell and self.ranks_per_cell not in (None, self.gpus_per_cell):
            raise ConfigError(f"--slurm-ranks {self.ranks_per_cell} with --slurm-gpus {self.gpus_per_cell}: "
                              f"a cell runs one rank per GPU")

    @property
    def ranks(self) -> int:
        return self.ranks_per_cell or max(1, self.gpus_per_cell)


def _submitit():
    try:
        import submitit
    except ImportError as e:
        raise SlurmUnavailableError(f"--launcher slurm needs submitit (pip install submitit): {e}") from None
    return submitit


def cell_job_class():
    """`CellJob`, made on first use: its base class comes from the optional submitit."""
    submitit = _submitit()

    class CellJob(submitit.helpers.Checkpointable):
        """One sweep cell on a Slurm node: run_one on its configuration; a user error is returned
        (one line, as the local launcher records it), never raised as a traceback."""

        def __call__(self, config: dict[str, Any], folder: str, resume: bool) -> dict[str, Any]:
            import os

            from .. import parallel
            from .recipe import resolve_device, run_one

            restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0"))  # requeues so far (sacct shows them too)
            try:
                cfg = from_dict(config, where="the sweep's cell configuration")
                if submitit.JobEnvironment().num_tasks > 1:  # this task is one rank of the cell
                    submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
                    parallel.start(resolve_device(cfg.train.device).type)
                try:
                    run_one(cfg, Path(folder), resume=resume)
                    parallel.barrier()  # every rank is done before the group goes
                finally:
                    parallel.stop()
            except UserError as e:
                return {"error": str(e), "restarts": restarts}
            return {"error": None, "restarts": restarts}

        def checkpoint(self, config: dict[str, Any], folder: str, resume: bool):
            """Preempted or timed out: requeue this cell; it continues from its checkpoint.pt."""
            return submitit.helpers.DelayedSubmission(self, config, folder, True)

    return CellJob


def executor(output: Path, options: SlurmOptions, threads: int, name: str):
    submitit = _submitit()
    ex = submitit.AutoExecutor(folder=output / SLURM_FOLDER / "%j", cluster="slurm")
    parameters: dict[str, Any] = {"timeout_min": options.time_min, "cpus_per_task": max(1, threads // options.ranks),
                                  "name": name, "gpus_per_node": options.gpus_per_cell,
                                  "tasks_per_node": options.ranks, "nodes": 1}
    if options.partition:
        parameters["slurm_partition"] = options.partition
    if options.max_parallel:
        parameters["slurm_array_parallelism"] = options.max_parallel
    ex.update_parameters(**parameters)
    return ex


def check_cluster() -> None:
    """A clear error before any work when there is no Slurm to submit to."""
    import shutil

    _submitit()
    missing = [tool for tool in ("sbatch", "sacct") if shutil.which(tool) is None]
    if missing:
        raise SlurmUnavailableError(f"--launcher slurm: {', '.join(missing)} not found (is this a Slurm login "
                                    f"node? submitit also needs sacct, i.e. Slurm accounting)")


def run_cells(cells: list, output: Path, resume: bool, options: SlurmOptions, name: str,
              started: Callable[[Any], None], ended: Callable[[Any, str | None, float], None]) -> None:
    """Submit `cells` (sweep.Cell) as one job array and wait for every task; `started(cell)` and
    `ended(cell, error, wall seconds)` keep sweep.json up to date, as the local launchers do."""
    import time

    from ..runconfig import to_dict

    if not cells:
        return
    threads = max(c.config.train.threads for c in cells)
    ex = executor(output, options, threads, name)
    job_class = cell_job_class()
    jobs = ex.map_array(job_class(), [to_dict(c.config) for c in cells], [str(output / c.folder) for c in cells],
                        [resume] * len(cells))
    t0 = time.perf_counter()
    for cell, job in zip(cells, jobs):
        started(cell)
        print(f"cell {cell.label}: Slurm job {job.job_id}", flush=True)
    waiting = list(zip(cells, jobs))
    while waiting:
        for cell, job in list(waiting):
            if job.done():
                error = _outcome(job, output)
            elif reason := never_runs(job.job_id):  # Slurm keeps such a job pending for ever: say so, cancel it
                job.cancel(check=False)
                error = (f"Slurm job {job.job_id} cannot run as asked ({reason}: the partition's nodes do not have "
                         f"the CPUs, GPUs, tasks or time a cell asks for; see --slurm-gpus, --slurm-ranks, "
                         f"--slurm-time and train.threads); cancelled")
            else:
                continue
            ended(cell, error, time.perf_counter() - t0)
            waiting.remove((cell, job))
        if waiting:
            time.sleep(POLL_SECONDS)


POLL_SECONDS = 2.0
# squeue reasons of a pending job that waiting does not change (the request exceeds what the partition has)
NEVER = ("PartitionConfig", "PartitionNodeLimit", "PartitionTimeLimit", "BadConstraints")


def never_runs(job_id: str) -> str | None:
    """The squeue reason when job `job_id` is pending for a reason that waiting never fixes."""
    import subprocess

    done = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T %r"], capture_output=True, text=True)
    state, _, reason = done.stdout.strip().partition(" ")
    return reason if state == "PENDING" and reason in NEVER else None


def _outcome(job, output: Path) -> str | None:
    """A finished job's error (None: the cell is done): rank 0's, as every rank of a cell checks the same things."""
    try:
        return job.results()[0]["error"]
    except Exception as e:  # the task failed outside run_one (a bug, or the node): keep submitit's words
        first = str(e).strip().splitlines()
        return f"Slurm job {job.job_id} failed: {first[-1] if first else type(e).__name__} (log in {output / SLURM_FOLDER})"
