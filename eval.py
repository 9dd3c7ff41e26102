r"""Zero-shot cross-lingual evaluation of a trained run or adapter, and scoring of prediction files.

    # a finished run folder (its config.toml says model, dataset and language adapters)
    python eval.py run runs/demo/fun [--languages de sw zh] [--n 200 | --n all] [--threads 2] [--precision bf16]

    # a task-adapter folder in AdapterHub format (with its head), on any model / dataset
    python eval.py run path/to/adapter --model multilingual-e5-small --dataset xnli --split dev \
        --languages en de sw [--language-adapter de=AdapterHub/... ...] [--data-dir ../shared/data]

    # a run's saved predictions (the gold is in the file): re-scored without the model
    python eval.py score --predictions runs/demo/fun/predictions/xnli-dev-de.jsonl

    # like the official evaluation scripts: SQuAD-format dataset file + {question id: answer text}
    python eval.py score --dataset-file xquad.de.json --predictions preds.json [--normalization mlqa --lang de]

    # a folder of finished runs (a sweep, a --compare folder): tables, paired statistics, figures
    python eval.py report runs/S [--bootstrap 2000] [--bootstrap-seed 0] [--no-plots]

`run` prints the per-language table with the cross-lingual average (without the source language)
and writes it as JSON and Markdown next to the run (eval-<dataset>-<split>.json/.md). A run folder
is evaluated as its training evaluated it (its config.toml: eval_n, seed, split, data_dir,
precision, batch size, device, threads), so the numbers are its results.json's; options change
single values. An earlier evaluation file is never replaced silently: --overwrite moves it aside. `report`
writes report.md, report.json and PNG figures into the folder (funfisher/report/ says how).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def run_parser(sub) -> None:
    from funfisher.model.precision import PRECISIONS

    p = sub.add_parser("run", help="zero-shot evaluation of a run folder or an adapter folder")
    p.add_argument("path", type=Path, help="run folder (with config.toml) or adapter folder (adapter_config.json)")
    p.add_argument("--languages", nargs="+", help="target languages (default: the config's / all of the dataset)")
    p.add_argument("--n", type=_n_examples, help="a seeded subsample of N examples per language, or 'all' "
                   "(default: a run folder's task.eval_n, an adapter folder's all)")
    p.add_argument("--model", help="adapter folders: the pretrained model (name, folder or hub id)")
    p.add_argument("--arch", choices=["bert", "xlm-roberta"])
    p.add_argument("--dataset", help="adapter folders: dataset name (xnli, xquad, mlqa, xcopa, ...)")
    p.add_argument("--split", help="dataset split (default: the config's, else dev/test by dataset)")
    p.add_argument("--data-dir", help="data folder (default: the config's, else $FUNFISHER_DATA)")
    p.add_argument("--source", help="where the evaluation data comes from: local (--data-dir), hub, or a hub "
                   "dataset repo owner/name (default: the config's task.evaluate.source; with another "
                   "--dataset, hub if the config read the hub, else local)")
    p.add_argument("--language-adapter", action="append", default=[], metavar="LANG=PATH_OR_HUB_ID",
                   help="MAD-X language adapter per language (repeatable); none: the task adapter runs alone")
    p.add_argument("--max-length", type=int)
    p.add_argument("--batch-size", type=int, help="examples per batch (default: the config's train.eval_batch_size)")
    p.add_argument("--device", help="cpu, cuda, cuda:N, mps or auto (default: the config's train.device)")
    p.add_argument("--threads", type=int, help="CPU threads (default: the config's train.threads)")
    p.add_argument("--precision", choices=PRECISIONS, help="forward passes in fp32, bf16 or fp16 (CUDA) "
                   "autocast (default: the config's train.precision)")
    p.add_argument("--output", type=Path, help="where to write eval-*.json/.md (default: the evaluated folder)")
    p.add_argument("--overwrite", action="store_true", help="move an earlier evaluation of the same dataset and "
                   "split in --output aside (to eval-<dataset>-<split>.old-N/) instead of refusing")


def _n_examples(text: str) -> int | str:
    if text == "all":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number >= 1 or 'all'")
    return int(text)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The arguments of any subcommand (a bad one: the usage error, exit code 2)."""
    if argv[:1] == ["score"]:
        from funfisher.data.score_cli import build_parser as score_parser

        return score_parser().parse_args(argv[1:])
    if argv[:1] == ["report"]:
        from funfisher.report import build_parser as report_parser

        return report_parser().parse_args(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser(sub)
    sub.add_parser("score", help="score a predictions file (see: eval.py score --help)")
    sub.add_parser("report", help="tables, paired statistics and figures of a folder of runs (see: eval.py report --help)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from funfisher.parallel import refuse_torchrun

    if (code := refuse_torchrun("eval.py")) is not None:
        return code
    if argv[:1] == ["score"]:
        from funfisher.data.score_cli import main as score_main

        return score_main(argv)
    if argv[:1] == ["report"]:
        from funfisher.report import main as report_main

        return report_main(argv[1:])
    args = parse_args(argv)
    from funfisher.errors import UserError
    from funfisher.evaluate_saved import config_from_args, evaluate_saved

    try:
        config, weights = config_from_args(args)
        evaluate_saved(config, weights, evaluated=args.path, output=args.output or args.path,
                       overwrite=args.overwrite)
    except UserError as e:  # a bad path, option or file: one line, exit code 2 (anything else is a bug)
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
