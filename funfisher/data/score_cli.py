"""`eval.py score`: score predictions like the official scripts, or a run's saved predictions.

    eval.py score --predictions run/predictions/xquad-test-de.jsonl [--normalization squad|mlqa|mixed-zh] [--lang de]
    eval.py score --dataset-file xquad.de.json --predictions preds.json [--normalization squad|mlqa|mixed-zh] [--lang de]
    eval.py score --dataset-file test-de.tsv --labels test-labels.derived.tsv --predictions preds.json
    eval.py score --dataset-file val.et.jsonl --predictions preds.json

Saved predictions (no --dataset-file): every evaluation of a run writes one JSON line per example,
in example order, `{"id": example id, "prediction": ..., "gold": ...}` (the validation kept as best
adds `"step"`): classification / multiple choice the label index predicted and the gold one (null
if unlabelled), QA the answer text predicted and the list of gold answer texts. The gold is in the
file, so it is scored without the dataset or the model: accuracy for labels, EM/F1 for answer texts.
(funfisher/data/predictions.py: `read_predictions`, `score_predictions`, the scoring every
evaluation uses, so results.json holds exactly what re-scoring the file gives).

QA (SQuAD-format .json): predictions are {question id: answer text}; prints exact_match and f1
(0–100) with the normalisation used ("squad" by default, as the SQuAD v1.1 / XQuAD scripts;
"mlqa" + --lang as the MLQA script; "mixed-zh" for Chinese answers as the FUN authors' released
code scored XQuAD zh: mixed segmentation, non-ASCII punctuation kept as tokens).
Classification / multiple choice (XNLI .tsv, MNLI or COPA/XCOPA .jsonl, COPA .xml): predictions map the example's position in the file ("0", "1", ...)
to a label (an int, or an NLI label name); prints accuracy (0–100).

Unanswered items count as wrong and are reported as `missing` (the official scripts do the same).
Exactly one JSON object goes to stdout; errors go to stderr with exit status 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from ..errors import UserError
from .errors import DataFormatError
from .examples import NLI_LABEL_IDS, ExampleList
from .metrics import NORMALIZATIONS, ScoringError, accuracy, gold_answers, qa_scores
from .predictions import holds_texts, read_predictions, score_predictions
from .readers import (
    load_json,
    read_copa_jsonl,
    read_copa_xml,
    read_mnli_jsonl,
    read_squad_json,
    read_xnli_original_tsv,
    read_xnli_test_labels,
    read_xnli_tsv,
)

# --------------------------------------------------------------------------------------------------
# eval.py score
# --------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eval.py score", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset-file", type=Path, help="SQuAD-format .json, XNLI .tsv, COPA/XCOPA/MNLI .jsonl, COPA .xml "
                                                          "(none: --predictions is a saved predictions .jsonl holding its gold)")
    parser.add_argument("--predictions", required=True, type=Path,
                        help="a run's predictions/*.jsonl; with --dataset-file, JSON: {id: answer text} (QA) or {index: label}")
    parser.add_argument("--normalization", choices=NORMALIZATIONS,
                        help="QA answer normalisation (default: squad; mixed-zh: Chinese, as the paper's released code)")
    parser.add_argument("--lang", help="answer language for --normalization mlqa; language to select in an original xnli.*.tsv")
    parser.add_argument("--labels", type=Path, help="label file for XTREME XNLI test files (xnli/test-labels.derived.tsv)")
    return parser


def _first_line(path: Path) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.readline()


def read_labelled_examples(path: Path, lang: str | None = None, labels_path: Path | None = None) -> ExampleList:
    """Read a classification / multiple-choice file, choosing the reader by extension and header."""
    suffix = path.suffix.lower()
    if suffix == ".xml":
        return read_copa_xml(path)
    if suffix == ".jsonl":
        first = _first_line(path)
        return read_mnli_jsonl(path) if '"gold_label"' in first else read_copa_jsonl(path)
    if suffix == ".tsv":
        header = _first_line(path).rstrip("\r\n").split("\t")
        if "gold_label" in header:  # the original all-language XNLI file
            if not lang:
                raise ScoringError(f"{path} holds all XNLI languages; choose one with --lang")
            return read_xnli_original_tsv(path, lang)
        labels = read_xnli_test_labels(labels_path) if labels_path else None
        examples = read_xnli_tsv(path, labels=labels)
        if any(example.label is None for example in examples):
            raise ScoringError(f"{path} has no label column (an XTREME XNLI test file?); pass --labels FILE")
        return examples
    raise ScoringError(f"cannot tell the format of {path}: expected .json, .jsonl, .tsv or .xml")


def _label(value: Any, path: Path, key: str) -> int:
    """A predicted label: an int (or int-like string) or an NLI label name."""
    if isinstance(value, bool):
        raise DataFormatError(path, f"key {key!r}", f"expected an integer label or label name, found {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if value.strip().lstrip("-").isdigit():
            return int(value)
        if value.strip() in NLI_LABEL_IDS:
            return NLI_LABEL_IDS[value.strip()]
    raise DataFormatError(path, f"key {key!r}", f"expected an integer label or label name, found {value!r}")


def score_classification(examples: Sequence, predictions: Any, predictions_path: Path) -> dict:
    """Accuracy over all examples; predictions keyed by position ("0", "1", ...) or a JSON list."""
    if isinstance(predictions, list):
        predictions = {str(i): value for i, value in enumerate(predictions)}
    if not isinstance(predictions, dict):
        raise DataFormatError(predictions_path, "top level", "expected a JSON object {example index: label}")
    predicted = [
        _label(predictions[str(i)], predictions_path, str(i)) if str(i) in predictions else None
        for i in range(len(examples))
    ]
    labels = [example.label for example in examples]
    return {
        "accuracy": accuracy(predicted, labels),
        "correct": sum(int(p == y) for p, y in zip(predicted, labels)),
        "total": len(examples),
        "missing": sum(p is None for p in predicted),
    }


def score_qa(dataset_path: Path, predictions: Any, predictions_path: Path, normalization: str, lang: str | None) -> dict:
    if not isinstance(predictions, dict) or not all(isinstance(v, str) for v in predictions.values()):
        raise DataFormatError(predictions_path, "top level", "expected a JSON object {question id: answer text}")
    return qa_scores(gold_answers(read_squad_json(dataset_path)), predictions, normalization, lang)


def score_saved(args: argparse.Namespace) -> dict:
    """A saved predictions file: accuracy for label indices, EM/F1 under --normalization (default
    squad) for answer texts."""
    if args.labels is not None:
        raise ScoringError("--labels goes with --dataset-file; a saved predictions file holds its gold labels")
    records = read_predictions(args.predictions)
    if holds_texts(records):
        metric = args.normalization or "squad"
    elif args.normalization is not None:
        raise ScoringError(f"{args.predictions} holds label predictions; --normalization is for answer texts")
    else:
        metric = "accuracy"
    return {**score_predictions(records, metric, args.lang), "predictions": str(args.predictions)}


def score(args: argparse.Namespace) -> dict:
    if args.dataset_file is None:
        return score_saved(args)
    if args.predictions.suffix.lower() == ".jsonl":
        raise ScoringError(f"{args.predictions}: a saved predictions file (.jsonl) holds its gold; "
                           f"score it without --dataset-file")
    predictions = load_json(args.predictions)
    if args.dataset_file.suffix.lower() == ".json":
        result = score_qa(args.dataset_file, predictions, args.predictions, args.normalization or "squad", args.lang)
    else:
        examples = read_labelled_examples(args.dataset_file, args.lang, args.labels)
        result = score_classification(examples, predictions, args.predictions)
    result["dataset_file"] = str(args.dataset_file)
    return result


def main(argv: list[str]) -> int:
    """Entry point; `argv` starts with the word "score" (e.g. sys.argv[1:] of eval.py)."""
    if not argv or argv[0] != "score":
        print("usage: eval.py score [--dataset-file FILE] --predictions FILE [--normalization squad|mlqa|mixed-zh] [--lang L]",
              file=sys.stderr)
        return 2
    try:
        args = build_parser().parse_args(argv[1:])
    except SystemExit as exit_:  # argparse already printed usage (or --help)
        return int(exit_.code or 0)
    try:
        result = score(args)
    except UserError as err:  # a missing or malformed file, a bad option: one line (anything else is a bug)
        print(f"error: {err}", file=sys.stderr)
        return 2
    if result.get("missing"):
        print(f"warning: {result['missing']} of {result['total']} items have no prediction and count as wrong", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
