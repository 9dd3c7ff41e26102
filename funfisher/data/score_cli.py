"""`eval.py score`: score predictions like the official scripts, and the one scoring of saved predictions.

    eval.py score --predictions run/predictions/xquad-test-de.jsonl [--normalization squad|mlqa|mixed-zh] [--lang de]
    eval.py score --dataset-file xquad.de.json --predictions preds.json [--normalization squad|mlqa|mixed-zh] [--lang de]
    eval.py score --dataset-file test-de.tsv --labels test-labels.derived.tsv --predictions preds.json
    eval.py score --dataset-file val.et.jsonl --predictions preds.json

Saved predictions (no --dataset-file): every evaluation of a run writes one JSON line per example,
in example order, `{"id": example id, "prediction": ..., "gold": ...}` (the validation kept as best
adds `"step"`): classification / multiple choice the label index predicted and the gold one (null
if unlabelled), QA the answer text predicted and the list of gold answer texts. The gold is in the
file, so it is scored without the dataset or the model: accuracy for labels, EM/F1 for answer texts.
`read_predictions` reads such a file, `score_predictions` scores records (the task objects score
every evaluation with it: results.json holds exactly what re-scoring the file gives), and
`per_example_scores` gives each example's number (their mean is the primary metric).

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
from .metrics import NORMALIZATIONS, ScoringError, accuracy, exact_match, f1, get_normalizer, gold_answers, qa_scores
from .readers import (
    _jsonl_records,
    _show,
    load_json,
    read_copa_jsonl,
    read_copa_xml,
    read_mnli_jsonl,
    read_squad_json,
    read_xnli_original_tsv,
    read_xnli_test_labels,
    read_xnli_tsv,
)

#: What `score_predictions` scores with: accuracy (label predictions) or a QA normalization
#: (answer texts). A dataset's `DatasetSpec.metric` is one of them ("accuracy", "squad", "mlqa").
METRICS = ("accuracy",) + NORMALIZATIONS
ZH_MIXED = "zh_mixed_segmentation"  # the extra, labelled entry of SQuAD-scored Chinese results


# --------------------------------------------------------------------------------------------------
# saved predictions: one record per example, {"id", "prediction", "gold"} (+ "step")
# --------------------------------------------------------------------------------------------------
def _holds_texts(records: Sequence[dict]) -> bool:
    """Answer texts (QA) rather than label indices (classification, multiple choice)?"""
    return bool(records) and isinstance(records[0]["prediction"], str)


def read_predictions(path: str | Path) -> list[dict]:
    """The records of a saved predictions file (JSON lines), checked: a string `id`, a `prediction`
    that is a label index (int) on every line or an answer text on every line, a `gold` to match
    (an int or null; a non-empty list of answer texts, ids unique), an optional int `step`. Other
    fields are kept as they are. Anything else is a `DataFormatError` naming the file and line."""
    path = Path(path)
    records: list[dict] = []
    first: tuple[int, bool] | None = None  # the first record's line, and whether it holds an answer text
    seen: dict[str, int] = {}  # answer-text files: question id -> line
    for line_no, record in _jsonl_records(path):
        where = f"line {line_no}"
        for key in ("id", "prediction", "gold"):
            if key not in record:
                raise DataFormatError(path, where, f"missing field {key!r} (fields present: {_show(sorted(record))})")
        qid, prediction, gold = record["id"], record["prediction"], record["gold"]
        if not isinstance(qid, str):
            raise DataFormatError(path, where, f"field 'id' should be a string, found {_show(qid)}")
        if isinstance(prediction, bool) or not isinstance(prediction, (int, str)):
            raise DataFormatError(path, where, f"field 'prediction' should be a label index (int) or an answer "
                                               f"text (string), found {_show(prediction)}")
        texts = isinstance(prediction, str)
        first = first or (line_no, texts)
        if texts != first[1]:
            held = "answer texts" if first[1] else "label indices"
            raise DataFormatError(path, where, f"prediction {_show(prediction)}: the file holds {held} "
                                               f"(line {first[0]} on), not both")
        if texts:
            if not isinstance(gold, list) or not gold or not all(isinstance(g, str) for g in gold):
                raise DataFormatError(path, where, f"field 'gold' should be a non-empty list of answer texts, "
                                                   f"found {_show(gold)}")
            if qid in seen:
                raise DataFormatError(path, where, f"question id {_show(qid)} again (first on line {seen[qid]})")
            seen[qid] = line_no
        elif gold is not None and (isinstance(gold, bool) or not isinstance(gold, int)):
            raise DataFormatError(path, where, f"field 'gold' should be a label index (int) or null, found {_show(gold)}")
        step = record.get("step")
        if "step" in record and (isinstance(step, bool) or not isinstance(step, int)):
            raise DataFormatError(path, where, f"field 'step' should be an integer, found {_show(step)}")
        records.append(record)
    return records


def _check(records: Sequence[dict], metric: str) -> None:
    """Can `records` be scored with `metric`? (the kind of prediction, gold labels, unique question ids)"""
    if metric not in METRICS:
        raise ScoringError(f"unknown metric {metric!r}; expected one of {list(METRICS)}")
    if not records:
        raise ScoringError("no predictions to score")
    texts = _holds_texts(records)
    if (metric == "accuracy") == texts:
        held, wanted = ("answer texts", "label indices") if texts else ("label indices", "answer texts")
        raise ScoringError(f"the predictions are {held}, but {metric!r} scores {wanted}")
    if not texts:
        unlabelled = [r["id"] for r in records if r["gold"] is None]
        if unlabelled:
            raise ScoringError(f"{len(unlabelled)} of {len(records)} examples have no gold label "
                               f"(first: id {unlabelled[0]!r}); accuracy needs labelled data")
    elif len({r["id"] for r in records}) != len(records):
        raise ScoringError(f"{len(records)} QA predictions but fewer question ids: ids must be unique")


def score_predictions(records: Sequence[dict], metric: str, lang: str | None = None) -> dict[str, Any]:
    """The metrics of one language's prediction records (0–100), as results.json holds them.

    `metric` (one of `METRICS`; for a dataset, its `DatasetSpec.metric`): "accuracy" for label
    indices -> {accuracy, total}; for answer texts the QA normalization -> {exact_match, f1,
    normalization, total, missing} (see `qa_scores`): "squad", "mlqa" (MLQA's script for the
    answer language `lang`) or "mixed-zh". SQuAD-scored Chinese (metric "squad", lang "zh": XQuAD
    zh, where SQuAD v1.1 is XTREME's official choice) also gets `ZH_MIXED`: {exact_match, f1,
    normalization: "mixed-zh"}, the scoring of the authors' released code (what the paper's zh
    columns report); it never enters averages. Unlabelled examples (gold null) cannot be scored."""
    _check(records, metric)
    if metric == "accuracy":
        return {"accuracy": accuracy([r["prediction"] for r in records], [r["gold"] for r in records]),
                "total": len(records)}
    gold, answers = {r["id"]: r["gold"] for r in records}, {r["id"]: r["prediction"] for r in records}
    result = qa_scores(gold, answers, normalization=metric, lang=lang)
    if metric == "squad" and lang == "zh":
        mixed = qa_scores(gold, answers, normalization="mixed-zh")
        result[ZH_MIXED] = {k: mixed[k] for k in ("exact_match", "f1", "normalization")}
    return result


def per_example_scores(records: Sequence[dict], metric: str, lang: str | None = None,
                       measure: str | None = None) -> list[float]:
    """One number per record, in record order, on the 0–100 scale: their mean is the primary
    metric `score_predictions` gives for the same arguments (exactly for accuracy, to float
    rounding for F1). "accuracy": 100.0 if prediction == gold, else 0.0. QA ("squad", "mlqa" +
    `lang`, "mixed-zh"): the question's F1 in percent, the max over its gold answers under that
    normalization (as `qa_scores`); `measure="exact_match"`: its exact match, 100.0 or 0.0."""
    _check(records, metric)
    if metric == "accuracy":
        if measure not in (None, "accuracy"):
            raise ScoringError(f"measure {measure!r}: label predictions have one measure, 'accuracy'")
        return [100.0 if r["prediction"] == r["gold"] else 0.0 for r in records]
    if measure not in (None, "f1", "exact_match"):
        raise ScoringError(f"measure {measure!r}: answer texts are measured by 'f1' (the default) or 'exact_match'")
    one = exact_match if measure == "exact_match" else f1
    normalize, _ = get_normalizer(metric, lang)
    return [100.0 * max(one(r["prediction"], answer, normalize) for answer in r["gold"]) for r in records]


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
    if _holds_texts(records):
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
