"""`eval.py run`: rebuild a trained model from a run folder or an adapter folder and evaluate it zero-shot."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import adapters as A
from . import data as D
from .evaluation import average_coverage, cross_lingual_average, results_table, zero_shot
from .model import load_pretrained
from .runconfig import load_config
from .runs import atomic_write_json, atomic_write_text
from .tasks import get_task
from .trainer import TASK
DEFAULT_SPLIT = {"xnli": "dev", "xquad": "test", "mlqa": "dev", "xcopa": "test", "copa": "val", "squad": "dev", "mnli": "dev_matched"}


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """Merge a run folder's config.toml (if any) with the command line (the command line wins)."""
    path = args.path
    if (path / "config.toml").is_file():
        cfg = load_config(path / "config.toml")
        s = {"model": cfg.model.name, "arch": cfg.model.arch, "dataset": cfg.task.evaluate.dataset,
             "split": cfg.task.evaluate.split, "languages": cfg.task.evaluate.languages, "data_dir": cfg.task.data_dir,
             "language_adapters": dict(cfg.adapters.language_adapters), "max_length": cfg.task.max_length,
             "doc_stride": cfg.task.doc_stride, "source": cfg.adapters.source_language, "seed": cfg.seed,
             "adapter_dir": path / "adapter", "full": cfg.adapters.kind == "full", "num_labels": cfg.task.num_labels}
    elif (path / "adapter_config.json").is_file():
        if not args.model or not args.dataset:
            raise ValueError(f"{path}: an adapter folder needs --model and --dataset (no config.toml here)")
        s = {"model": args.model, "arch": args.arch, "dataset": args.dataset, "split": None, "languages": None,
             "data_dir": None, "language_adapters": {}, "max_length": None, "doc_stride": 128, "source": "en",
             "seed": 0, "adapter_dir": path, "full": False, "num_labels": None}
    else:
        raise FileNotFoundError(f"{path}: neither a run folder (config.toml) nor an adapter folder (adapter_config.json)")
    for key in ("model", "arch", "dataset", "split", "languages", "data_dir", "max_length"):
        value = getattr(args, key, None)
        if value is not None:
            s[key] = value
    for item in args.language_adapter:
        lang, sep, source = item.partition("=")
        if not sep:
            raise ValueError(f"--language-adapter {item!r}: expected LANG=PATH_OR_HUB_ID")
        s["language_adapters"][lang] = source
    if s["dataset"] not in D.DATASETS:
        raise ValueError(f"unknown dataset {s['dataset']!r}; expected one of {sorted(D.DATASETS)}")
    spec = D.DATASETS[s["dataset"]]
    s["split"] = s["split"] or DEFAULT_SPLIT.get(s["dataset"], spec.splits[0])
    s["languages"] = s["languages"] or list(spec.languages)
    s["task"] = get_task(spec.task)
    s["max_length"] = s["max_length"] or s["task"].default_max_length
    s["num_labels"] = spec.num_labels or s["num_labels"]
    return s


def evaluate_saved(args: argparse.Namespace) -> dict[str, Any]:
    s = _settings(args)
    pm = load_pretrained(s["model"], arch=s["arch"])
    task = s["task"]
    model = pm.task_model(task.kind, num_labels=task.num_labels(s["num_labels"]))
    if s["full"]:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(s["adapter_dir"] / "model.safetensors")))
        task_adapter = None
    else:
        task_adapter = A.load_adapter(model, s["adapter_dir"], name=TASK)
        A.load_head(model, s["adapter_dir"])
    for lang, source in s["language_adapters"].items():
        A.load_adapter(model.encoder, source, name=lang)
    metrics = zero_shot(model, pm.tokenizer, s["dataset"], s["split"], s["languages"],
                        language_adapters=list(s["language_adapters"]), task_adapter=task_adapter,
                        data_dir=s["data_dir"], max_length=s["max_length"], doc_stride=s["doc_stride"],
                        batch_size=args.batch_size, n=args.n, seed=s["seed"])
    result = {"evaluated": str(args.path), "model": pm.source, "dataset": s["dataset"], "split": s["split"],
              "n_per_language": args.n, "metrics": metrics,
              "xling_avg": cross_lingual_average(metrics, s["source"], task),
              "xling_avg_over": average_coverage(metrics, s["source"]), "source_language": s["source"]}
    out = args.output or args.path
    stem = f"eval-{s['dataset']}-{s['split']}"
    table = results_table(metrics, s["source"], task)
    atomic_write_json(out / f"{stem}.json", result)
    atomic_write_text(out / f"{stem}.md", f"# {args.path}: {s['dataset']} {s['split']}\n\n{table}\n")
    print(table)
    print(f"\nwritten: {out / (stem + '.json')}, {out / (stem + '.md')}", file=sys.stderr)
    return result
