"""MAD-X step 1: train a missing language adapter with masked LM (funfisher/train/language_adapter.py).

    python train_language_adapter.py --config configs/language_adapter/mbert_sw_cpu.toml
    python train_language_adapter.py --config configs/language_adapter/mbert_wiki.toml \
        --set data.text=sw-wiki.txt --set adapter.name=sw --output adapters/sw

Writes the adapter in AdapterHub format (adapter_config.json, pytorch_adapter.bin) and
language_adapter.json (the configuration, every step's loss, the held-out masked-LM loss before
and after) to --output (default: the config's `output`, else runs/language_adapters/<name>).
Use it in a run with `adapters.language_adapters = {sw = "adapters/sw"}`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from funfisher.io.cli import command_parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = command_parser("train_language_adapter.py", __doc__)
    parser.add_argument("--config", type=Path, help="TOML configuration (configs/language_adapter/*.toml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.steps=100 (repeatable)")
    parser.add_argument("--output", type=Path, help="the adapter folder (new or empty)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from funfisher.io.cli import run_command

    return run_command("train_language_adapter.py", lambda: train(args))


def train(args: argparse.Namespace) -> str:
    from funfisher.train.language_adapter import load_language_adapter_config, result_text, run

    config = load_language_adapter_config(args.config, args.overrides)
    record = run(config, args.output)
    return f"language adapter {config.adapter.name!r}: {result_text(record)}"


if __name__ == "__main__":
    sys.exit(main())
