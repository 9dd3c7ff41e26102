"""Write a funfisher model as a Hugging Face folder that transformers loads as it is.

    python export.py model multilingual-e5-small --output exported/e5        # a base model (BertModel)
    python export.py model path/or/hub-id --arch xlm-roberta --output exported/x
    python export.py run runs/full-ft --output exported/ft                     # a full fine-tuning run

A base model becomes config.json, model.safetensors (HF key names), tokenizer.json,
tokenizer_config.json and special_tokens_map.json (the special tokens and their ids as the
vocabulary has them). A full fine-tuning run (adapters.kind = "full") becomes the same with its
head, as the HF class of its task (BertForSequenceClassification, XLMRobertaForQuestionAnswering,
...). An adapter run needs no export: its adapter/ folder is in AdapterHub format already.
The output folder must be new or empty (funfisher/io/export.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from funfisher.io.cli import Parser, command_parser


def export_run(folder: Path, output: Path) -> Path:
    """A full fine-tuning run's model (its saved encoder + head), rebuilt as eval.py run does."""
    from funfisher import load_pretrained
    from funfisher.io.export import ExportError, check_output, export_task_model
    from funfisher.io.runs import CONFIG, WEIGHTS
    from funfisher.runconfig import load_config
    from funfisher.tasks import get_task
    from funfisher.train.trainable import restore

    if not (folder / CONFIG).is_file():
        raise ExportError(f"{folder}: not a run folder (no {CONFIG})")
    config = load_config(folder / CONFIG)
    if config.adapters.kind != "full":
        raise ExportError(f"{folder}: adapters.kind = {config.adapters.kind!r}; only full fine-tuning runs export as "
                          f"a whole model (an adapter run's {folder / WEIGHTS} is in AdapterHub format already)")
    check_output(output)  # before the model loads
    pm = load_pretrained(config.model.name, arch=config.model.arch)
    task = get_task(config.task.kind)
    model = pm.task_model(task.kind, num_labels=task.num_labels(config.task.num_labels))
    restore(model, folder / WEIGHTS, config)
    return export_task_model(model, pm, output)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = command_parser("export.py", __doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    m = sub.add_parser("model", help="a pretrained encoder (offline name, local folder or hub id)")
    m.add_argument("name")
    m.add_argument("--arch", choices=["bert", "xlm-roberta"])
    r = sub.add_parser("run", help="a finished full fine-tuning run folder (encoder + head)")
    r.add_argument("folder", type=Path)
    for p in (m, r):
        p.add_argument("--output", type=Path, required=True, help="a new (or empty) folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from funfisher.io.cli import run_command

    return run_command("export.py", lambda: export(args))


def export(args: argparse.Namespace) -> str:
    from funfisher.io.export import export_base

    if args.command == "model":
        from funfisher import load_pretrained

        out = export_base(load_pretrained(args.name, arch=args.arch), args.output)
    else:
        out = export_run(args.folder, args.output)
    return f"written: {out} (load it with transformers' AutoModel / AutoTokenizer .from_pretrained)"


if __name__ == "__main__":
    sys.exit(main())
