"""`eval.py run`: rebuild a trained model from a run folder or an adapter folder and evaluate it zero-shot.

    config, weights = config_from_args(args)    # the RunConfig to evaluate under, and the weights folder
    evaluate_saved(config, weights, ...)        # eval-<dataset>-<split>.json / .md, predictions/eval/*.jsonl

A run folder's config.toml is the configuration (the command line overrides single values); a
bare adapter folder starts from the defaults with seed 0, and from its dataset's own defaults
(`DatasetSpec.eval_split`, `languages`, the task kind's `default_max_length`).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from . import data as D
from .data.errors import UnknownDatasetError
from .errors import ModelNotFoundError, UserError
from .evaluation import average_coverage, cross_lingual_average, evaluate_zero_shot, results_table
from .model import load_pretrained
from .runconfig import ModelConfig, RunConfig, load_config
from .io.runs import CONFIG, EVAL_PREDICTIONS, WEIGHTS, atomic_write_json, atomic_write_text
from .tasks import get_task
from .train.trainable import kind_of, restore


class UsageError(UserError, ValueError):
    """Command-line arguments of `eval.py run` that do not fit together or do not parse."""


def config_from_args(args: argparse.Namespace) -> tuple[RunConfig, Path]:
    """The configuration to evaluate `args.path` under, and the folder of its learned weights.

    A run folder: its config.toml; an adapter folder (adapter_config.json): --model and --dataset
    with seed 0. Command-line values win; what is still open comes from the dataset's spec.
    Arguments that cannot be used are `UserError`s naming the argument (or the folder)."""
    path = Path(args.path)
    run_folder = (path / CONFIG).is_file()
    if run_folder:
        config, weights = load_config(path / CONFIG), path / WEIGHTS
    elif (path / "adapter_config.json").is_file():
        if not args.model or not args.dataset:
            raise UsageError(f"{path}: an adapter folder needs --model and --dataset (no config.toml here)")
        config, weights = RunConfig(seed=0), path
    elif not path.is_dir():
        raise ModelNotFoundError(f"{path}: no such folder; expected a run folder (config.toml) or an adapter folder "
                                 f"(adapter_config.json)")
    else:
        raise ModelNotFoundError(f"{path}: neither a run folder (config.toml) nor an adapter folder "
                                 f"(adapter_config.json)")
    language_adapters = dict(config.adapters.language_adapters)
    for item in args.language_adapter:
        lang, sep, source = item.partition("=")
        if not sep or not lang.strip() or not source.strip():
            raise UsageError(f"--language-adapter {item!r}: expected LANG=PATH_OR_HUB_ID (e.g. de=path/to/de-adapter)")
        language_adapters[lang.strip()] = source.strip()
    dataset = args.dataset if args.dataset is not None else config.task.evaluate.dataset
    if dataset not in D.DATASETS:
        where = "--dataset" if args.dataset is not None else f"{path / CONFIG}: task.evaluate.dataset"
        raise UnknownDatasetError(f"{where} {dataset!r}: unknown dataset; expected one of {sorted(D.DATASETS)}")
    spec = D.DATASETS[dataset]
    # a run folder keeps its own split, languages and length; an adapter folder takes the dataset's
    split, languages, max_length = ((config.task.evaluate.split, config.task.evaluate.languages, config.task.max_length)
                                    if run_folder else (None, None, None))
    split = args.split or split or spec.eval_split or spec.splits[0]
    languages = args.languages or languages or list(spec.languages)
    max_length = args.max_length or max_length or get_task(spec.task).default_max_length
    task = dataclasses.replace(
        config.task, kind=spec.task, num_labels=spec.num_labels or config.task.num_labels, max_length=max_length,
        data_dir=args.data_dir if args.data_dir is not None else config.task.data_dir,
        evaluate=dataclasses.replace(config.task.evaluate, dataset=dataset, split=split, languages=list(languages)))
    model = ModelConfig(name=args.model if args.model is not None else config.model.name,
                        arch=args.arch if args.arch is not None else config.model.arch)
    adapters = dataclasses.replace(config.adapters, language_adapters=language_adapters)
    return dataclasses.replace(config, model=model, adapters=adapters, task=task), weights


def evaluate_saved(config: RunConfig, weights: Path, *, evaluated: Path, output: Path, n: int | None = None,
                   batch_size: int = 64) -> dict[str, Any]:
    """Build `config`'s model, put the learned weights from `weights` on it, evaluate zero-shot on
    `config.task.evaluate`, and write eval-<dataset>-<split>.json/.md to `output`, with the
    per-example predictions in output/predictions/eval/<dataset>-<split>-<lang>.jsonl (not in
    output/predictions/ itself: those are a run's own, the records of its results.json)."""
    pm = load_pretrained(config.model.name, arch=config.model.arch)
    task = get_task(config.task.kind)
    model = pm.task_model(task.kind, num_labels=task.num_labels(config.task.num_labels))
    restore(model, weights, config)
    language_adapters, task_adapter = kind_of(config).evaluation_stack(config)
    metrics = evaluate_zero_shot(model, pm.tokenizer, config, language_adapters, task_adapter,
                                 batch_size=batch_size, n=n, predictions_dir=output / EVAL_PREDICTIONS)
    source, dataset, split = config.adapters.source_language, config.task.evaluate.dataset, config.task.evaluate.split
    result = {"evaluated": str(evaluated), "model": pm.source, "dataset": dataset, "split": split,
              "n_per_language": n, "metrics": metrics,
              "xling_avg": cross_lingual_average(metrics, source, task),
              "xling_avg_over": average_coverage(metrics, source), "source_language": source}
    stem = f"eval-{dataset}-{split}"
    table = results_table(metrics, source, task)
    atomic_write_json(output / f"{stem}.json", result)
    atomic_write_text(output / f"{stem}.md", f"# {evaluated}: {dataset} {split}\n\n{table}\n")
    print(table)
    print(f"\nwritten: {output / (stem + '.json')}, {output / (stem + '.md')}, predictions in {output / EVAL_PREDICTIONS}",
          file=sys.stderr)
    return result
