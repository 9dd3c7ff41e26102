"""From examples to metrics: features, the training loss, prediction, scoring, zero-shot evaluation.

The three task kinds of the paper:

| kind              | datasets           | loss                              | metric                     |
|-------------------|--------------------|-----------------------------------|----------------------------|
| `classification`  | XNLI / MNLI        | cross-entropy over labels         | accuracy                   |
| `multiple_choice` | XCOPA / COPA       | cross-entropy over the choices    | accuracy                   |
| `qa`              | XQuAD, MLQA / SQuAD| (CE(start) + CE(end)) / 2         | EM / F1 (SQuAD or MLQA normalization) |

Zero-shot cross-lingual evaluation (paper section 4): for each target language the trained task
adapter and head run under that language's MAD-X adapter, Stack(lang_tgt, task). A language without
an adapter is reported as skipped, never silently run under the source language's adapter; a model
without language adapters (the offline e5) runs the task adapter alone, and the result says so.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from . import data as D
from .model.heads import TaskModel
from .progress import Progress


def encode_features(kind: str, tokenizer: Tokenizer, examples: Sequence, max_length: int = 128,
                    doc_stride: int = 128) -> list:
    if kind == "classification":
        return D.encode_pairs(tokenizer, examples, max_length=max_length)
    if kind == "multiple_choice":
        return D.encode_choices(tokenizer, examples, max_length=max_length)
    if kind == "qa":
        return D.encode_qa(tokenizer, examples, max_length=max_length, doc_stride=doc_stride)
    raise ValueError(f"unknown task kind {kind!r}; expected classification, multiple_choice or qa")


def task_loss(kind: str, outputs: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean training loss of a batch (the negative log-likelihood of the gold labels)."""
    if kind == "qa":
        start, end = outputs
        return (F.cross_entropy(start, batch["start_positions"]) + F.cross_entropy(end, batch["end_positions"])) / 2
    return F.cross_entropy(outputs, batch["labels"])


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}


@dataclass
class Predictions:
    labels: list[int] | None = None  # classification / multiple choice, one per feature
    start_logits: list[torch.Tensor] | None = None  # QA: one 1-D row per feature (window)
    end_logits: list[torch.Tensor] | None = None


@torch.inference_mode()
def predict(model: TaskModel, features: Sequence, pad_id: int, batch_size: int = 64, desc: str | None = None) -> Predictions:
    """Run the model over features in length-sorted batches (little padding), in feature order out.

    Batches go to the model's device; what comes back is on the CPU."""
    was_training = model.training
    device = next(model.parameters()).device
    model.eval()
    order = D.length_bucketed_batches([D.feature_length(f) for f in features], batch_size, shuffle=False)
    progress = Progress(len(order), desc) if desc else None
    labels: list[int | None] = [None] * len(features)
    starts: list[torch.Tensor | None] = [None] * len(features)
    ends: list[torch.Tensor | None] = [None] * len(features)
    try:
        for idx in order:
            batch = D.collate([features[i] for i in idx], pad_id)
            out = model(**{k: v.to(device) for k, v in model_inputs(batch).items()})
            if model.kind == "qa":
                for row, i in enumerate(idx):
                    n = len(features[i].input_ids)
                    # a copy, so the rows do not keep the whole batch's logits alive
                    starts[i], ends[i] = out[0][row, :n].to("cpu", copy=True), out[1][row, :n].to("cpu", copy=True)
            else:
                for row, i in enumerate(idx):
                    labels[i] = int(out[row].argmax())
            if progress:
                progress.update()
    finally:
        model.train(was_training)
        if progress:
            progress.close()
    if model.kind == "qa":
        return Predictions(start_logits=starts, end_logits=ends)
    return Predictions(labels=labels)


ZH_MIXED = "zh_mixed_segmentation"  # the extra, labelled entry of SQuAD-scored Chinese results
ZH_MIXED_LABEL = "zh (mixed segmentation, as the released code; not in the average)"


def score_qa_answers(metric: str, gold: dict[str, list[str]], answers: dict[str, str], lang: str) -> dict[str, Any]:
    """EM/F1 of predicted answer texts for one language, labelled with the normalization used.

    MLQA: the official MLQA script's normalization for `lang`. SQuAD-scored datasets (XQuAD,
    SQuAD): SQuAD v1.1, the official XTREME choice, as the primary numbers; for zh also
    `"zh_mixed_segmentation"`: {exact_match, f1, normalization: "mixed-zh"}, the scoring of the
    authors' released code (what the paper's zh columns report). It never enters averages."""
    if metric == "mlqa":
        return D.qa_scores(gold, answers, normalization="mlqa", lang=lang)
    result = D.qa_scores(gold, answers, normalization="squad")
    if lang == "zh":
        mixed = D.qa_scores(gold, answers, normalization="mixed-zh")
        result[ZH_MIXED] = {k: mixed[k] for k in ("exact_match", "f1", "normalization")}
    return result


def score(kind: str, metric: str, examples: Sequence, features: Sequence, preds: Predictions,
          lang: str) -> dict[str, Any]:
    """Metrics for one language. QA results record which normalization produced them
    (see `score_qa_answers`: XQuAD zh carries a second, labelled mixed-segmentation entry)."""
    if kind == "qa":
        answers = D.postprocess_qa(examples, features, preds.start_logits, preds.end_logits)
        return score_qa_answers(metric, D.gold_answers(examples), answers, lang)
    return {"accuracy": D.accuracy(preds.labels, [e.label for e in examples]), "total": len(examples)}


def primary_metric(metrics: dict[str, Any]) -> float:
    """The number model selection and tables use: accuracy, or F1 for QA."""
    return float(metrics["f1"] if "f1" in metrics else metrics["accuracy"])


def evaluate_examples(model: TaskModel, tokenizer: Tokenizer, examples: Sequence, dataset: str, lang: str,
                      max_length: int, doc_stride: int = 128, batch_size: int = 64, desc: str | None = None,
                      features: Sequence | None = None) -> dict[str, Any]:
    kind = model.kind
    if features is None:
        features = encode_features(kind, tokenizer, examples, max_length, doc_stride)
    preds = predict(model, features, D.pad_id_of(tokenizer), batch_size, desc)
    return score(kind, D.DATASETS[dataset].metric, examples, features, preds, lang)


def zero_shot(model: TaskModel, tokenizer: Tokenizer, dataset: str, split: str, languages: Sequence[str],
              language_adapters: Sequence[str] = (), task_adapter: str | None = "task", data_dir: str | None = None,
              max_length: int = 128, doc_stride: int = 128, batch_size: int = 64, n: int | None = None,
              seed: int = 0) -> dict[str, dict[str, Any]]:
    """Zero-shot cross-lingual evaluation (paper section 4), one entry per target language.

    With language adapters (MAD-X): each language runs under Stack(lang, task); a language with no
    adapter gets {"skipped": reason}. Without any (`language_adapters` empty): the task adapter
    runs alone for every language, and each entry says so under "setup". `n` limits the examples
    per language (a seeded subsample, the same rows in every language for parallel datasets).
    """
    from .adapters import activate, active_adapters

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
            examples = D.load_dataset(dataset, split, lang=lang, data_dir=data_dir)
            if n is not None and n < len(examples):
                examples = D.subsample(examples, n, seed)
            metrics = evaluate_examples(model, tokenizer, examples, dataset, lang, max_length, doc_stride,
                                        batch_size, desc=f"eval {dataset}/{split}/{lang}")
            results[lang] = {**metrics, "setup": setup}
    finally:
        if task_adapter is not None:
            activate(model.encoder, *before)
    return results


def cross_lingual_average(results: dict[str, dict[str, Any]], source_language: str = "en") -> float | None:
    """Mean primary metric over target languages, excluding the source language and skipped ones.
    `average_coverage` says which languages that is."""
    values = [primary_metric(m) for lang, m in results.items() if lang != source_language and "skipped" not in m]
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


def results_table(results: dict[str, dict[str, Any]], source_language: str = "en") -> str:
    """A Markdown table: one row per language, like the paper's Tables 8-10.

    A zh result with a mixed-segmentation entry gets an extra row right below it, labelled as not
    averaged; the average row names the languages it covers."""
    first = next((m for m in results.values() if "skipped" not in m), {})
    cols = ["exact_match", "f1"] if "f1" in first else ["accuracy"]
    lines = ["| language | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for lang, m in results.items():
        cells = [m["skipped"]] + [""] * (len(cols) - 1) if "skipped" in m else [f"{m[c]:.2f}" for c in cols]
        lines.append(f"| {lang} | " + " | ".join(cells) + " |")
        if ZH_MIXED in m:
            lines.append(f"| {ZH_MIXED_LABEL} | " + " | ".join(f"{m[ZH_MIXED][c]:.2f}" for c in cols) + " |")
    avg = cross_lingual_average(results, source_language)
    if avg is not None:
        lines.append(f"| **{average_label(results, source_language)}** | "
                     + " | ".join([""] * (len(cols) - 1) + [f"**{avg:.2f}**"]) + " |")
    return "\n".join(lines)
