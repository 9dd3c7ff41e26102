"""Train task adapters with scheduled unfreezing (FUN with Fisher, Algorithm 1) and evaluate zero-shot.

    python train.py --config configs/demo.toml --schedule fun
    python train.py --config configs/demo.toml --compare standard gu fun     # side by side
    python train.py --config configs/cpu/xnli_e5.toml --set train.lr=1e-4 --max-steps 200 --output runs/x
    python train.py --config configs/paper/mbert_xnli.toml --schedule fun --print-config   # resolved config

A config's `[schedules.<name>]` sections (the paper's per-schedule settings, Tables 3, 4, 15) apply
to the run of that schedule, in single runs and in --compare alike; --set overrides them.

Writes runs/<name>/ (or --output): config.toml, train_log.jsonl, checkpoint.pt, results.json
(schedule, tr(F) estimates, per-language metrics, cross-lingual average), summary.md, fisher.png,
schedule.png and the trained adapter in AdapterHub format. A killed run continues with --resume.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from funfisher.errors import UserError
from funfisher.runconfig import load_config
from funfisher.schedules import SCHEDULES


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--config", type=Path, help="TOML run configuration (configs/*.toml); default: built-in defaults")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.lr=1e-4 (repeatable)")
    p.add_argument("--schedule", choices=sorted(SCHEDULES), help="unfreezing schedule (= --set schedule.name=NAME)")
    p.add_argument("--compare", nargs="+", choices=sorted(SCHEDULES), metavar="NAME",
                   help="run several schedules one after the other and print them side by side")
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
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def print_configs(configs: dict, compare: bool) -> None:
    from funfisher.runconfig import to_dict, to_toml

    for name, config in configs.items():
        if compare:
            print(f"# --- schedule {name} ---")
        print(to_toml(to_dict(config)), end="")


def run(configs: dict, args: argparse.Namespace) -> None:
    from funfisher.train import compare, run_one

    first = next(iter(configs.values()))
    output = args.output or Path("runs") / first.name
    if args.compare:
        compare(configs, output, resume=args.resume, overwrite=args.overwrite)
    else:
        run_one(first, output, resume=args.resume, overwrite=args.overwrite)


if __name__ == "__main__":
    sys.exit(main())
