"""Train task adapters with scheduled unfreezing (FUN with Fisher, Algorithm 1) and evaluate zero-shot.

    python train.py --config configs/demo.toml --schedule fun
    python train.py --config configs/demo.toml --compare standard gu fun     # side by side
    python train.py --config configs/cpu/xnli_e5.toml --set train.lr=1e-4 --max-steps 200 --output runs/x
    python train.py --config configs/paper/mbert_xnli.toml --schedule fun --print-config   # resolved config
    python train.py --config C --compare standard gu fun random --seeds 1 2 3 4 --output runs/S   # a sweep
    python train.py --config C --compare gu fun --train-sizes 1000 5000 --seeds 1 2 --jobs 2 --output runs/S
    python train.py --config C --compare random --orders 5 --output runs/S     # 5 seeded permutations

A config's `[schedules.<name>]` sections (the paper's per-schedule settings, Tables 3, 4, 15) apply
to the run of that schedule, in single runs and in --compare alike; --set overrides them.

Writes runs/<name>/ (or --output): config.toml, train_log.jsonl, checkpoint.pt, results.json
(schedule, tr(F) estimates, per-language metrics, cross-lingual average), summary.md, fisher.png,
schedule.png and the trained adapter in AdapterHub format. A killed run continues with --resume.

Sweeps (--seeds, --train-sizes, --orders; funfisher/train/sweep.py): one run folder per cell,
runs/S/<schedule>/[n<size>/][order<i>/][seed<k>/], and runs/S/sweep.json (the grid, each cell's
folder, status and cost). --resume continues a stopped sweep cell by cell (finished cells are not
touched); --jobs N runs N cells at a time, each with train.threads // N threads (recorded in its
config: resume with the same --jobs). A size's settings come from [train_sizes.<n>] sections.

One run on several devices (funfisher/parallel.py): every rank computes its share of each batch,
with the result of one process; a checkpoint resumes on any number of ranks; rank 0 writes:

    torchrun --nproc_per_node 8 train.py --config configs/paper/mbert_xnli.toml --schedule fun
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from funfisher import parallel
from funfisher.errors import UserError
from funfisher.io.cli import command_parser
from funfisher.runconfig import load_config
from funfisher.schedules import SCHEDULES


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = command_parser("train.py", __doc__)
    p.add_argument("--config", type=Path, help="TOML run configuration (configs/*.toml); default: built-in defaults")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.lr=1e-4 (repeatable)")
    p.add_argument("--schedule", choices=sorted(SCHEDULES), help="unfreezing schedule (= --set schedule.name=NAME)")
    p.add_argument("--compare", nargs="+", choices=sorted(SCHEDULES), metavar="NAME",
                   help="run several schedules one after the other and print them side by side")
    p.add_argument("--seeds", nargs="+", type=int, metavar="K",
                   help="a sweep: one run per seed (config.seed = K) and schedule, in runs/S/<schedule>/seed<K>/")
    p.add_argument("--train-sizes", nargs="+", type=int, metavar="N",
                   help="a sweep over training-set sizes (task.train.n = N, with the config's [train_sizes.<N>] "
                        "sections), in runs/S/<schedule>/n<N>/...")
    p.add_argument("--orders", type=int, metavar="N",
                   help="a sweep: N seeded permutations of the random schedule (schedule.seed = 1..N), "
                        "in runs/S/random/order<i>/...")
    p.add_argument("--jobs", type=int, metavar="N",
                   help="a sweep: run N cells at a time in worker processes, each with train.threads // N threads")
    p.add_argument("--launcher", choices=["local", "slurm"], default="local",
                   help="a sweep: run the cells here (default) or as a Slurm job array (submitit; "
                        "funfisher/train/slurm.py)")
    p.add_argument("--slurm-partition", help="--launcher slurm: the partition (default: the cluster's)")
    p.add_argument("--slurm-time", type=int, default=60, metavar="MIN", help="--launcher slurm: minutes per cell")
    p.add_argument("--slurm-gpus", type=int, default=0, metavar="G", help="--launcher slurm: GPUs per cell")
    p.add_argument("--slurm-ranks", type=int, metavar="R",
                   help="--launcher slurm: ranks per cell (one run on R processes; default one per GPU, else 1)")
    p.add_argument("--max-steps", type=int, help="= --set train.max_steps=N")
    p.add_argument("--seed", type=int, help="= --set seed=S")
    p.add_argument("--output", type=Path, help="run folder (default runs/<name>[/<schedule>])")
    p.add_argument("--resume", action="store_true", help="continue the run in the output folder from its checkpoint")
    p.add_argument("--overwrite", action="store_true", help="move an existing output folder aside and start again")
    p.add_argument("--print-config", action="store_true",
                   help="print the fully resolved configuration (TOML, every key) and exit; loads no model or data")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = list(args.overrides)
    if args.schedule:
        overrides.append(f"schedule.name={args.schedule}")
    if args.max_steps is not None:
        overrides.append(f"train.max_steps={args.max_steps}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if args.seeds is not None or args.train_sizes is not None or args.orders is not None:
        return sweep(args, overrides)
    if args.jobs is not None or args.launcher != "local":
        what = "--jobs runs the cells of a sweep in parallel" if args.jobs is not None else \
            "--launcher is for the cells of a sweep"
        print(f"error: {what}: give --seeds, --train-sizes or --orders (see python train.py --help)", file=sys.stderr)
        return 2
    # One resolved configuration per schedule: each gets its own [schedules.<name>] section.
    names = args.compare or [None]
    try:
        configs = {name: load_config(args.config, overrides + ([f"schedule.name={name}"] if name else []))
                   for name in names}
        if args.print_config:
            print_configs(configs, compare=bool(args.compare))
            return 0
        run(configs, args)
    except UserError as e:  # a bad config, file or folder, or a diverged run: one line, exit code 2
        if parallel.prints_errors():  # (torchrun: rank 0 speaks for the ranks)
            print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


class SweepOptionError(UserError, ValueError):
    """Sweep options that do not go together."""


def sweep(args: argparse.Namespace, overrides: list[str]) -> int:
    """A grid of runs, one folder per cell (funfisher/train/sweep.py)."""
    from funfisher.train.slurm import SlurmOptions
    from funfisher.train.sweep import plan_grid, run_sweep

    try:
        if parallel.launched_by_torchrun():
            raise SweepOptionError("a sweep runs each cell in its own processes: under torchrun give one "
                                   "configuration (no --seeds, --train-sizes, --orders)")
        slurm = None
        if args.launcher == "slurm":  # --jobs: how many array tasks at once; each keeps train.threads
            slurm = SlurmOptions(partition=args.slurm_partition, time_min=args.slurm_time,
                                 gpus_per_cell=args.slurm_gpus, max_parallel=args.jobs,
                                 ranks_per_cell=args.slurm_ranks)
        elif args.slurm_partition or args.slurm_time != 60 or args.slurm_gpus or args.slurm_ranks:
            raise SweepOptionError("--slurm-partition, --slurm-time, --slurm-gpus and --slurm-ranks are for "
                                   "--launcher slurm")
        jobs = 1 if args.jobs is None or slurm is not None else args.jobs
        grid = plan_grid(args.config, overrides, schedules=args.compare, seeds=args.seeds,
                         train_sizes=args.train_sizes, orders=args.orders, jobs=jobs, slurm=slurm)
        if args.print_config:
            for note in grid.notes:
                print(note, file=sys.stderr)
            print_configs({cell.folder: cell.config for cell in grid.cells}, compare=True, what="cell")
            return 0
        run_sweep(grid, args.output or Path("runs") / grid.name, resume=args.resume, overwrite=args.overwrite)
    except UserError as e:  # a bad option, config or folder, or failed cells: one line, exit code 2
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def print_configs(configs: dict, compare: bool, what: str = "schedule") -> None:
    from funfisher.runconfig import to_dict, to_toml

    for name, config in configs.items():
        if compare:
            print(f"# --- {what} {name} ---")
        print(to_toml(to_dict(config)), end="")


def run(configs: dict, args: argparse.Namespace) -> None:
    from funfisher.train import compare, run_one
    from funfisher.train.recipe import resolve_device

    first = next(iter(configs.values()))
    output = args.output or Path("runs") / first.name
    if args.compare:
        if parallel.launched_by_torchrun():
            raise SweepOptionError("--compare runs its schedules one after the other in one process: under "
                                   "torchrun give one schedule (--schedule NAME)")
        compare(configs, output, resume=args.resume, overwrite=args.overwrite)
        return
    parallel.start(resolve_device(first.train.device).type)  # torchrun: join the ranks (else nothing)
    try:
        run_one(first, output, resume=args.resume, overwrite=args.overwrite)
        parallel.barrier()  # every rank is done before the group goes (one leaving early can abort another)
    finally:
        parallel.stop()


if __name__ == "__main__":
    sys.exit(main())
