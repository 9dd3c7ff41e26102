"""`eval.py run`: rebuild a trained model from a run folder or an adapter folder and evaluate it zero-shot.

    config, weights = config_from_args(args)    # the RunConfig to evaluate under, and the weights folder
    evaluate_saved(config, weights, ...)        # eval-<dataset>-<split>.json / .md, predictions/eval/*.jsonl

A run folder's config.toml is the configuration (the command line overrides single values), so
`eval.py run <run>` evaluates as the run's training did (the same task.eval_n subsample with its
seed, split, data folder, precision, batch size) and gives its results.json's numbers; a bare
adapter folder starts from the defaults with seed 0, and from its dataset's own defaults
(`DatasetSpec.eval_split`, `languages`, the task kind's `default_max_length`). --device,
--threads and --precision are checked as config values (fp16 needs CUDA, ...), before any work.

An evaluation never replaces an earlier one's files silently: they are refused, or with
`overwrite` moved aside into `eval-<dataset>-<split>.old-N/` (nothing is deleted).
"""
from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

from . import data as D
from .data.errors import UnknownDatasetError
from .data.hub_datasets import HUB, LOCAL, SOURCE_RULE, is_source
from .errors import ModelNotFoundError, UserError
from .evaluation import average_coverage, cross_lingual_average, evaluate_zero_shot, results_table
from .model import load_pretrained
from .runconfig import ModelConfig, RunConfig, load_config
from .io.runs import CONFIG, EVAL_PREDICTIONS, WEIGHTS, aside_path, atomic_write_json, atomic_write_text
from .tasks import get_task
from .train.recipe import run_device
from .train.trainable import kind_of, restore


class UsageError(UserError, ValueError):
    """Command-line arguments of `eval.py run` that do not fit together or do not parse."""


class EvaluationExistsError(UserError, FileExistsError):
    """`eval.py run` would replace an earlier evaluation's files (without --overwrite)."""


def config_from_args(args: argparse.Namespace) -> tuple[RunConfig, Path]:
    """The configuration to evaluate `args.path` under, and the folder of its learned weights.

    A run folder: its config.toml; an adapter folder (adapter_config.json): --model and --dataset
    with seed 0. Command-line values win; what is still open comes from the dataset's spec.
    Arguments that cannot be used are `UserError`s naming the argument (or the folder)."""
    path = Path(args.path)
    run_folder = (path / CONFIG).is_file()
    # --device/--threads/--precision/--batch-size as config values: checked like any --set
    overrides = [f"train.{key}={value}" for key, value in (("device", args.device), ("threads", args.threads),
                                                          ("precision", args.precision),
                                                          ("eval_batch_size", args.batch_size)) if value is not None]
    if run_folder:
        config, weights = load_config(path / CONFIG, overrides), path / WEIGHTS
    elif (path / "adapter_config.json").is_file():
        if not args.model or not args.dataset:
            raise UsageError(f"{path}: an adapter folder needs --model and --dataset (no config.toml here)")
        config, weights = load_config(None, ["seed=0", *overrides]), path  # task.eval_n: none (every example)
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
    eval_n = config.task.eval_n if args.n is None else (None if args.n == "all" else args.n)
    own = config.task.evaluate
    # another dataset than the run's cannot come from the run's own repo id: the canonical hub repo
    source = args.source if args.source is not None else (
        own.source if dataset == own.dataset or own.source == LOCAL else HUB)
    if not is_source(source):
        raise UsageError(f"--source {source!r}: expected {SOURCE_RULE}")
    task = dataclasses.replace(
        config.task, kind=spec.task, num_labels=spec.num_labels or config.task.num_labels, max_length=max_length,
        eval_n=eval_n,
        data_dir=args.data_dir if args.data_dir is not None else config.task.data_dir,
        evaluate=dataclasses.replace(own, dataset=dataset, split=split, languages=list(languages), source=source))
    model = ModelConfig(name=args.model if args.model is not None else config.model.name,
                        arch=args.arch if args.arch is not None else config.model.arch)
    adapters = dataclasses.replace(config.adapters, language_adapters=language_adapters)
    return dataclasses.replace(config, model=model, adapters=adapters, task=task), weights


def evaluate_saved(config: RunConfig, weights: Path, *, evaluated: Path, output: Path,
                   overwrite: bool = False) -> dict[str, Any]:
    """Build `config`'s model, put the learned weights from `weights` on it, evaluate zero-shot on
    `config.task.evaluate` (`task.eval_n` examples per language, `train.eval_batch_size`, the
    `train` device, threads and precision), and write eval-<dataset>-<split>.json/.md to `output`,
    with the per-example predictions in output/predictions/eval/<dataset>-<split>-<lang>.jsonl (not
    in output/predictions/ itself: those are a run's own, the records of its results.json). An
    earlier evaluation's files there are refused, or moved aside with `overwrite` (module docstring)."""
    source, dataset, split = config.adapters.source_language, config.task.evaluate.dataset, config.task.evaluate.split
    stem = f"eval-{dataset}-{split}"
    device = run_device(config)
    _move_earlier_evaluation(output, stem, overwrite)  # the last check before any work
    torch.set_num_threads(config.train.threads)
    pm = load_pretrained(config.model.name, arch=config.model.arch)
    task = get_task(config.task.kind)
    model = pm.task_model(task.kind, num_labels=task.num_labels(config.task.num_labels))
    restore(model, weights, config)
    model.to(device)
    language_adapters, task_adapter = kind_of(config).evaluation_stack(config)
    n = config.task.eval_n
    metrics = evaluate_zero_shot(model, pm.tokenizer, config, language_adapters, task_adapter,
                                 batch_size=config.train.eval_batch_size, n=n,
                                 predictions_dir=output / EVAL_PREDICTIONS)
    result = {"evaluated": str(evaluated), "model": pm.source, "dataset": dataset, "split": split,
              "n_per_language": n, "seed": config.seed, "precision": config.train.precision,
              "device": str(device), "metrics": metrics,
              "xling_avg": cross_lingual_average(metrics, source, task),
              "xling_avg_over": average_coverage(metrics, source), "source_language": source}
    table = results_table(metrics, source, task)
    atomic_write_json(output / f"{stem}.json", result)
    atomic_write_text(output / f"{stem}.md", f"# {evaluated}: {dataset} {split}\n\n{table}\n")
    print(table)
    print(f"\nwritten: {output / (stem + '.json')}, {output / (stem + '.md')}, predictions in {output / EVAL_PREDICTIONS}",
          file=sys.stderr)
    return result


def _move_earlier_evaluation(output: Path, stem: str, overwrite: bool) -> None:
    """An earlier evaluation of the same dataset and split in `output` (its JSON, Markdown and
    predictions): refused, or with `overwrite` moved into `<stem>.old-N/`, keeping relative paths."""
    dataset_split = stem[len("eval-"):]
    earlier = [p for p in (output / f"{stem}.json", output / f"{stem}.md") if p.exists()]
    earlier += sorted((output / EVAL_PREDICTIONS).glob(f"{dataset_split}-*.jsonl"))
    if not earlier:
        return
    if not overwrite:
        raise EvaluationExistsError(
            f"{earlier[0]}: an earlier evaluation of {dataset_split} is there; --overwrite moves it aside "
            f"(to {output / (stem + '.old-N')}/) and evaluates again, or --output picks another folder")
    aside = aside_path(output / stem)
    for path in earlier:
        target = aside / path.relative_to(output)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), str(target))
    print(f"an earlier evaluation moved aside to {aside}", file=sys.stderr)
