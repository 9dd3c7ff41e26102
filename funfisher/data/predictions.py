"""Saved predictions: one record per evaluated example, and the one scoring of them.

Every evaluation of a run writes one JSON line per example, in example order, `{"id": example id,
"prediction": ..., "gold": ...}` (the validation kept as best adds `"step"`): classification and
multiple choice the label index predicted and the gold one (null if unlabelled), QA the answer
text predicted and the list of gold answer texts. The gold is in the file, so it is scored
without the dataset or the model (`eval.py score --predictions FILE`).

`read_predictions` reads such a file (every line checked), `score_predictions` scores records
(the task objects score every evaluation with it: results.json holds exactly what re-scoring the
file gives), and `per_example_scores` gives each example's number (their mean is the primary
metric; the report's statistics resample them).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from .errors import DataFormatError
from .metrics import NORMALIZATIONS, ScoringError, accuracy, exact_match, f1, get_normalizer, qa_scores
from .readers import _jsonl_records, _show

#: What `score_predictions` scores with: accuracy (label predictions) or a QA normalization
#: (answer texts). A dataset's `DatasetSpec.metric` is one of them ("accuracy", "squad", "mlqa").
METRICS = ("accuracy",) + NORMALIZATIONS
ZH_MIXED = "zh_mixed_segmentation"  # the extra, labelled entry of SQuAD-scored Chinese results


# --------------------------------------------------------------------------------------------------
# saved predictions: one record per example, {"id", "prediction", "gold"} (+ "step")
# --------------------------------------------------------------------------------------------------
def holds_texts(records: Sequence[dict]) -> bool:
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
    texts = holds_texts(records)
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
