"""From examples to metrics: prediction, zero-shot evaluation, cross-lingual averages and tables.

What depends on the task kind (features, the training loss, what a prediction is, the metrics) is
the kind's object in `funfisher.tasks`; this module runs it over a model and a dataset.

Zero-shot cross-lingual evaluation (paper section 4): for each target language the trained task
adapter and head run under that language's MAD-X adapter, Stack(lang_tgt, task). A language without
an adapter is reported as skipped, never silently run under the source language's adapter; a model
without language adapters (the offline e5) runs the task adapter alone, and the result says so.

Every evaluation can keep its per-example predictions (`predictions_path`: one JSON line per
example, `{"id", "prediction", "gold"}`, see `funfisher.data.predictions`): the metrics are computed
from exactly these records, so `eval.py score --predictions FILE` re-scores a file to the same
numbers without the model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from tokenizers import Tokenizer

from . import data as D
from . import parallel
from .data.predictions import ZH_MIXED, score_predictions
from .model.heads import TaskModel
from .model.precision import autocast, to_float
from .io.progress import Progress
from .io.runs import atomic_write_jsonl
from .runconfig import RunConfig
from .tasks import ZH_MIXED_LABEL, Predictions, Task, get_task


@torch.inference_mode()
def predict(model: TaskModel, features: Sequence, pad_id: int, batch_size: int = 64, desc: str | None = None,
            precision: str = "fp32") -> Predictions:
    """Run the model over features in length-sorted batches (little padding), in feature order out.

    Batches go to the model's device; what comes back is on the CPU. `precision`: the forward
    pass's (train.precision, model/precision.py); outputs are fp32 before anything reads them."""
    task = get_task(model.kind)
    was_training = model.training
    device = next(model.parameters()).device
    model.eval()
    order = D.length_bucketed_batches([D.feature_length(f) for f in features], batch_size, shuffle=False)
    progress = Progress(len(order), desc) if desc else None
    rows: list[Any] = [None] * len(features)
    try:
        for idx in order:
            batch_features = [features[i] for i in idx]
            # pack=True: layers run on the real tokens only when a batch has enough padding (inference only)
            with autocast(precision, device):
                out = model(**task.inputs(D.collate(batch_features, pad_id), device), pack=True)
            out = to_float(out)
            for i, row in zip(idx, task.predict(out, batch_features)):
                rows[i] = row
            if progress:
                progress.update()
    finally:
        model.train(was_training)
        if progress:
            progress.close()
    return task.predictions(rows)


def predictions_path(folder: str | Path, dataset: str, split: str, lang: str) -> Path:
    """Where the per-example predictions of `dataset`/`split` in `lang` go in `folder`."""
    return Path(folder) / f"{dataset}-{split}-{lang}.jsonl"


def predict_records(model: TaskModel, tokenizer: Tokenizer, examples: Sequence, max_length: int,
                    doc_stride: int = 128, batch_size: int = 64, desc: str | None = None,
                    features: Sequence | None = None, precision: str = "fp32") -> list[dict]:
    """`model`'s prediction record of each example, in example order (`Task.prediction_records`;
    the examples are encoded unless their `features` are given).

    Under torchrun each rank predicts its contiguous share of the examples (encoded anew: a QA
    example may have several features) and every rank gets all records, in example order."""
    task = get_task(model.kind)
    mine = parallel.rows(len(examples))
    if mine.stop - mine.start < len(examples):
        examples, features = list(examples)[mine], None
        if not examples:  # fewer examples than ranks
            return parallel.gather_objects([])
    if features is None:
        features = task.encode(tokenizer, examples, max_length, doc_stride)
    preds = predict(model, features, D.pad_id_of(tokenizer), batch_size, desc, precision)
    return parallel.gather_objects(task.prediction_records(examples, features, preds))


def evaluate_examples(model: TaskModel, tokenizer: Tokenizer, examples: Sequence, dataset: str, lang: str,
                      max_length: int, doc_stride: int = 128, batch_size: int = 64, desc: str | None = None,
                      features: Sequence | None = None, predictions_file: Path | None = None,
                      precision: str = "fp32") -> dict[str, Any]:
    """Metrics of `model` on `examples` of `dataset` in language `lang` (encoded unless `features`
    are given): its prediction records, scored. `predictions_file`: the records are written there too."""
    records = predict_records(model, tokenizer, examples, max_length, doc_stride, batch_size, desc, features, precision)
    metrics = score_predictions(records, D.DATASETS[dataset].metric, lang)
    if predictions_file is not None and parallel.world().is_main:  # (torchrun: rank 0 writes)
        atomic_write_jsonl(predictions_file, records)
    return metrics


def zero_shot(model: TaskModel, tokenizer: Tokenizer, dataset: str, split: str, languages: Sequence[str],
              language_adapters: Sequence[str] = (), task_adapter: str | None = "task", data_dir: str | None = None,
              max_length: int = 128, doc_stride: int = 128, batch_size: int = 64, n: int | None = None,
              seed: int = 0, predictions_dir: str | Path | None = None,
              precision: str = "fp32", source: str = "local") -> dict[str, dict[str, Any]]:
    """Zero-shot cross-lingual evaluation (paper section 4), one entry per target language.

    With language adapters (MAD-X): each language runs under Stack(lang, task); a language with no
    adapter gets {"skipped": reason}. Without any (`language_adapters` empty): the task adapter
    runs alone for every language, and each entry says so under "setup". `n` limits the examples
    per language (a seeded subsample, the same rows in every language for parallel datasets).
    `predictions_dir`: each evaluated language's prediction records (of the evaluated, subsampled
    examples) go to `predictions_path(predictions_dir, dataset, split, lang)`; that folder's files
    of `dataset`/`split` are replaced, so a skipped language has none, not an earlier one.
    `source`: where the examples come from, "local" (`data_dir`), "hub" or an owner/name hub
    dataset repo (`data.load_dataset`).
    """
    from .adapters import activate, active_adapters

    if predictions_dir is not None and parallel.world().is_main:  # an earlier evaluation's files of this dataset and split
        pattern = predictions_path(predictions_dir, dataset, split, "*")
        for old in pattern.parent.glob(pattern.name):
            old.unlink()
    results: dict[str, dict[str, Any]] = {}
    before = active_adapters(model.encoder)
    try:
        for lang in languages:
            if language_adapters and lang not in language_adapters:
                results[lang] = {"skipped": f"no language adapter for {lang!r}; not run with another language's adapter"}
                continue
            if task_adapter is not None:
                stack = (lang, task_adapter) if language_adapters else (task_adapter,)
                activate(model.encoder, *stack)
                setup = f"Stack({lang}, {task_adapter})" if language_adapters else f"{task_adapter} adapter alone (no language adapters)"
            else:
                setup = "fully fine-tuned encoder"
            examples = D.load_dataset(dataset, split, lang=lang, data_dir=data_dir, source=source)
            if n is not None and n < len(examples):
                examples = D.subsample(examples, n, seed)
            metrics = evaluate_examples(
                model, tokenizer, examples, dataset, lang, max_length, doc_stride, batch_size,
                desc=f"eval {dataset}/{split}/{lang}",
                predictions_file=None if predictions_dir is None else predictions_path(predictions_dir, dataset, split, lang),
                precision=precision)
            results[lang] = {**metrics, "setup": setup}
    finally:
        if task_adapter is not None:
            activate(model.encoder, *before)
    return results


def evaluate_zero_shot(model: TaskModel, tokenizer: Tokenizer, config: RunConfig, language_adapters: Sequence[str],
                       task_adapter: str | None, *, batch_size: int = 64, n: int | None = None,
                       predictions_dir: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """`zero_shot` on a run configuration's evaluation data (`task.evaluate`: dataset, split,
    languages, source), with its data folder, lengths and seed. Which adapters run is the caller's (the
    trainable set's `evaluation_stack`); `n` limits the examples per language; `predictions_dir`
    keeps the per-example predictions. The forward passes run in the run's `train.precision`."""
    task, evaluate = config.task, config.task.evaluate
    return zero_shot(model, tokenizer, evaluate.dataset, evaluate.split, evaluate.languages,
                     language_adapters=language_adapters, task_adapter=task_adapter, data_dir=task.data_dir,
                     max_length=task.max_length, doc_stride=task.doc_stride, batch_size=batch_size, n=n,
                     seed=config.seed, predictions_dir=predictions_dir, precision=config.train.precision,
                     source=evaluate.source)


def cross_lingual_average(results: dict[str, dict[str, Any]], source_language: str = "en",
                          task: str | Task = "classification") -> float | None:
    """Mean of `task`'s primary metric over target languages, excluding the source language and
    skipped ones. `task` is a kind or a Task (`funfisher.tasks`): accuracy for classification (the
    default) and multiple choice, F1 for "qa". `average_coverage` says which languages it covers."""
    values = [get_task(task).primary_metric(m) for lang, m in results.items() if lang != source_language and "skipped" not in m]
    return sum(values) / len(values) if values else None


def average_coverage(results: dict[str, dict[str, Any]], source_language: str = "en") -> dict[str, Any]:
    """Over which target languages `cross_lingual_average` is taken.

    Returns {"languages": [averaged, in results order], "skipped": [skipped targets], "n": averaged,
    "of": target languages, "text": e.g. "9 of 11: it, ta skipped" or "all 11"}. The source language
    counts in neither n nor of."""
    targets = [lang for lang in results if lang != source_language]
    languages = [lang for lang in targets if "skipped" not in results[lang]]
    skipped = [lang for lang in targets if "skipped" in results[lang]]
    if not targets:
        text = "no target languages"
    elif not skipped:
        text = f"all {len(targets)}"
    else:
        text = f"{len(languages)} of {len(targets)}: {', '.join(skipped)} skipped"
    return {"languages": languages, "skipped": skipped, "n": len(languages), "of": len(targets), "text": text}


def average_label(results: dict[str, dict[str, Any]], source_language: str = "en") -> str:
    """The average row's label, e.g. "avg without en (9 of 11: it, ta skipped)"."""
    return f"avg without {source_language} ({average_coverage(results, source_language)['text']})"


def results_table(results: dict[str, dict[str, Any]], source_language: str = "en",
                  task: str | Task = "classification") -> str:
    """A Markdown table: one row per language, like the paper's Tables 8-10, with `task`'s metric
    columns (a kind or a Task, as in `cross_lingual_average`).

    A zh result with a mixed-segmentation entry gets an extra row right below it, labelled as not
    averaged; the average row names the languages it covers."""
    cols = get_task(task).columns
    lines = ["| language | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for lang, m in results.items():
        cells = [m["skipped"]] + [""] * (len(cols) - 1) if "skipped" in m else [f"{m[c]:.2f}" for c in cols]
        lines.append(f"| {lang} | " + " | ".join(cells) + " |")
        if ZH_MIXED in m:
            lines.append(f"| {ZH_MIXED_LABEL} | " + " | ".join(f"{m[ZH_MIXED][c]:.2f}" for c in cols) + " |")
    avg = cross_lingual_average(results, source_language, task)
    if avg is not None:
        lines.append(f"| **{average_label(results, source_language)}** | "
                     + " | ".join([""] * (len(cols) - 1) + [f"**{avg:.2f}**"]) + " |")
    return "\n".join(lines)
