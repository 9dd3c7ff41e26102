"""Saved predictions (issue #13): every evaluation writes its per-example predictions to the run
folder, and re-scoring a file without the model (`eval.py score --predictions FILE`, or
`score_predictions` / `per_example_scores`) gives exactly the metrics of results.json.

A classification run of the tiny BERT on the XNLI sample in data/demo (conftest.TINY_RUN), and a
QA run of the tiny BERT QA fixture on small in-memory SQuAD-format files (English and Chinese).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from funfisher import adapters as A
from funfisher import data as D
from funfisher import load_pretrained
from funfisher.data.predictions import ZH_MIXED, per_example_scores, read_predictions, score_predictions
from funfisher.data.score_cli import main
from funfisher.errors import UserError
from funfisher.evaluation import predict, predictions_path, zero_shot
from funfisher.evaluate_saved import evaluate_saved
from funfisher.io.runs import CONFIG, EVAL_PREDICTIONS, PREDICTIONS, VALIDATION_PREDICTIONS, WEIGHTS
from funfisher.runconfig import load_config
from funfisher.tasks import get_task
from funfisher.train import prepare, run_one
from funfisher.train.recipe import validate

REPO = Path(__file__).resolve().parents[1]


def score_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "eval.py"), "score", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)


def one_error_line(done: subprocess.CompletedProcess) -> str:
    """Exit code 2 and exactly one stderr line `error: ...`; no traceback."""
    assert done.returncode == 2, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in done.stderr, done.stderr[-3000:]
    return lines[0]


def without_setup(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "setup"}


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


# --------------------------------------------------------------------------------------------------
# a classification run (XNLI sample): validation at steps 3, 6, 9, 10; zero-shot en, de, sw
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def xnli_run(tmp_path_factory, tiny_run):
    folder = tmp_path_factory.mktemp("predictions") / "run"
    config = load_config(None, list(tiny_run) + ["schedule.name=gu", "fisher.track_every=0"])
    return folder, config, run_one(config, folder)


def test_a_run_writes_every_evaluations_predictions_in_example_order(xnli_run):
    folder, config, result = xnli_run
    written = sorted(str(p.relative_to(folder / PREDICTIONS)) for p in (folder / PREDICTIONS).rglob("*.jsonl"))
    assert written == ["validation/xnli-dev-en.jsonl", "xnli-dev-de.jsonl", "xnli-dev-en.jsonl", "xnli-dev-sw.jsonl"]
    for lang in ("en", "de", "sw"):
        # the evaluated examples: the seeded eval_n subsample, in its order
        examples = D.subsample(D.load_dataset("xnli", "dev", lang=lang, data_dir=config.task.data_dir),
                               config.task.eval_n, config.seed)
        path = predictions_path(folder / PREDICTIONS, "xnli", "dev", lang)
        lines = path.read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines]
        assert len(records) == config.task.eval_n == result.metrics[lang]["total"]
        assert [r["id"] for r in records] == [e.id for e in examples]
        assert [r["gold"] for r in records] == [e.label for e in examples]
        assert all(set(r) == {"id", "prediction", "gold"} and type(r["prediction"]) is int for r in records)
        assert read_predictions(path) == records


def test_rescoring_each_file_gives_the_metrics_of_results_json_exactly(xnli_run):
    folder, _, result = xnli_run
    on_disk = json.loads((folder / "results.json").read_text(encoding="utf-8"))["metrics"]
    metric = D.DATASETS["xnli"].metric
    for lang in ("en", "de", "sw"):
        path = predictions_path(folder / PREDICTIONS, "xnli", "dev", lang)
        records = read_predictions(path)
        assert score_predictions(records, metric, lang) == without_setup(on_disk[lang]) == without_setup(result.metrics[lang])
        scores = per_example_scores(records, metric, lang)
        assert set(scores) <= {0.0, 100.0} and mean(scores) == on_disk[lang]["accuracy"]  # exactly
        assert scores == [100.0 * (r["prediction"] == r["gold"]) for r in records]
        done = score_cli("--predictions", path)
        assert done.returncode == 0, done.stderr[-3000:]
        printed = json.loads(done.stdout)
        assert printed["accuracy"] == on_disk[lang]["accuracy"] and printed["total"] == on_disk[lang]["total"]
        assert printed["predictions"] == str(path)


def test_eval_run_writes_its_own_predictions_and_leaves_the_runs_alone(xnli_run, tmp_path):
    folder = shutil.copytree(xnli_run[0], tmp_path / "run")  # eval.py run writes next to the run by default
    before = {p: p.read_bytes() for p in (folder / PREDICTIONS).rglob("*.jsonl")}
    written = evaluate_saved(load_config(folder / CONFIG, ["task.eval_n=10"]), folder / WEIGHTS, evaluated=folder,
                             output=folder)
    assert {p: p.read_bytes() for p in (folder / PREDICTIONS).rglob("*.jsonl") if EVAL_PREDICTIONS not in str(p)} == before
    for lang in ("en", "de", "sw"):
        records = read_predictions(predictions_path(folder / EVAL_PREDICTIONS, "xnli", "dev", lang))
        assert len(records) == 10
        assert score_predictions(records, "accuracy", lang) == without_setup(written["metrics"][lang])


def test_validation_file_holds_the_best_validation(xnli_run):
    folder, config, result = xnli_run
    records = read_predictions(predictions_path(folder / VALIDATION_PREDICTIONS, "xnli", "dev", "en"))
    assert {r["step"] for r in records} == {result.best["step"]}
    assert len(records) == config.task.eval_n
    assert score_predictions(records, "accuracy")["accuracy"] == result.best["validation"]
    log = [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]
    vals = {r["step"]: r["val"] for r in log if "val" in r}
    assert vals[result.best["step"]] == result.best["validation"] == max(vals.values())
    # the best is the first step that reached the maximum (later ties do not replace it)
    assert result.best["step"] == min(step for step, v in vals.items() if v == max(vals.values()))


def test_the_validation_file_is_rewritten_only_by_a_new_best(tmp_path, tiny_config):
    run = prepare(tiny_config("train.max_steps=2"))
    path = predictions_path(tmp_path / VALIDATION_PREDICTIONS, "xnli", "dev", "en")
    value = validate(run, tmp_path)
    first = read_predictions(path)
    assert {r["step"] for r in first} == {0} and score_predictions(first, "accuracy")["accuracy"] == value
    run.step = 5
    validate(run, tmp_path)  # the same weights: not better, the file keeps step 0
    assert read_predictions(path) == first
    run.best_metric = float("-inf")  # anything is better now
    validate(run, tmp_path)
    assert {r["step"] for r in read_predictions(path)} == {5} and run.best_step == 5
    validate(run, None)  # no run folder: nothing on disk (benchmarks)


def test_skipped_languages_write_no_file_and_stale_files_go(tmp_path):
    pm = load_pretrained(REPO / "tests/fixtures/tiny-bert/classification")
    model = pm.task_model("classification", num_labels=3).eval()
    for lang in ("en", "de"):
        A.add_adapter(model.encoder, lang, "seq_bn_inv", reduction_factor=2)
    A.add_adapter(model.encoder, "task", "seq_bn")
    stale = predictions_path(tmp_path, "xnli", "dev", "sw")
    stale.write_text('{"id": "0", "prediction": 0, "gold": 0}\n')  # from an earlier evaluation with an sw adapter
    other = predictions_path(tmp_path, "xnli", "test", "sw")
    other.write_text('{"id": "0", "prediction": 0, "gold": 0}\n')  # another split: not this evaluation's
    results = zero_shot(model, pm.tokenizer, "xnli", "dev", ["en", "de", "sw"], language_adapters=["en", "de"],
                        data_dir=str(REPO / "data/demo"), max_length=32, n=8, predictions_dir=tmp_path)
    assert "skipped" in results["sw"] and not stale.exists() and other.exists()
    for lang in ("en", "de"):
        records = read_predictions(predictions_path(tmp_path, "xnli", "dev", lang))
        assert len(records) == 8 and score_predictions(records, "accuracy", lang) == without_setup(results[lang])


# --------------------------------------------------------------------------------------------------
# QA: a tiny run on in-memory SQuAD-format files (XQuAD en and zh: zh also carries mixed-zh)
# --------------------------------------------------------------------------------------------------
EN = [("the cat sat on the mat . the dog ran fast because rain fell . a man saw a bird in the sky .",
       [("what sat on the mat ?", "the cat"), ("why was it fast ?", "because rain fell"), ("what was in the sky ?", "a bird")]),
      ("the house is big and the tree is green . the water is blue . a woman sat on a small red mat in the house .",
       [("what is green ?", "the tree"), ("what is blue ?", "the water"), ("what sat on the mat ?", "a woman")])]
ZH = [("北京 是 首都 。 上海 很 大 。", [("首都 是 什么 ?", "北京"), ("什么 很 大 ?", "上海 很 大")])]


def squad_file(path: Path, paragraphs, prefix: str) -> None:
    data = []
    for p, (context, qas) in enumerate(paragraphs):
        items = [{"id": f"{prefix}{p}-{q}", "question": question,
                  "answers": [{"text": answer, "answer_start": context.index(answer)}]}
                 for q, (question, answer) in enumerate(qas)]
        data.append({"title": f"t{p}", "paragraphs": [{"context": context, "qas": items}]})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"data": data}, ensure_ascii=False), encoding="utf-8")


@pytest.fixture(scope="module")
def qa_run(tmp_path_factory, tiny_run):
    root = tmp_path_factory.mktemp("qa")
    for rel, paragraphs, prefix in [("squad/train-v1.1.json", EN * 3, "tr"), ("squad/dev-v1.1.json", EN, "dev"),
                                    ("xquad/xquad.en.json", EN, "en"), ("xquad/xquad.zh.json", ZH, "zh")]:
        squad_file(root / "data" / rel, paragraphs, prefix)
    config = load_config(None, list(tiny_run) + [
        f"model.name={REPO / 'tests/fixtures/tiny-bert/qa'}", "task.kind=qa", f"task.data_dir={root / 'data'}",
        "task.doc_stride=8", "task.train.dataset=squad", "task.train.split=train", "task.validation.dataset=squad",
        "task.validation.split=dev", "task.evaluate.dataset=xquad", "task.evaluate.split=test",
        "task.evaluate.languages=['en', 'zh']", "train.max_steps=4", "train.batch_size=4", "train.eval_every=2",
        "schedule.name=standard", "fisher.track_every=0"])
    return root / "run", config, run_one(config, root / "run")


def test_qa_files_rescore_to_results_json_with_the_datasets_metric(qa_run):
    folder, _, result = qa_run
    metric = D.DATASETS["xquad"].metric
    assert ZH_MIXED in result.metrics["zh"]  # the run scored zh both ways
    for lang, n in (("en", 6), ("zh", 2)):
        path = predictions_path(folder / PREDICTIONS, "xquad", "test", lang)
        records = read_predictions(path)
        assert len(records) == n and all(isinstance(r["prediction"], str) and isinstance(r["gold"], list) for r in records)
        expected = without_setup(result.metrics[lang])
        assert score_predictions(records, metric, lang) == expected
        f1s, ems = per_example_scores(records, metric, lang), per_example_scores(records, metric, lang, "exact_match")
        assert mean(f1s) == pytest.approx(expected["f1"], rel=1e-12, abs=1e-12)
        assert mean(ems) == expected["exact_match"]
        done = score_cli("--predictions", path, "--lang", lang)
        assert done.returncode == 0, done.stderr[-3000:]
        printed = json.loads(done.stdout)
        assert {k: v for k, v in printed.items() if k != "predictions"} == expected
    zh = read_predictions(predictions_path(folder / PREDICTIONS, "xquad", "test", "zh"))
    assert score_predictions(zh, "mixed-zh")["f1"] == result.metrics["zh"][ZH_MIXED]["f1"]
    done = score_cli("--predictions", predictions_path(folder / PREDICTIONS, "xquad", "test", "zh"), "--normalization", "mixed-zh")
    assert json.loads(done.stdout)["f1"] == result.metrics["zh"][ZH_MIXED]["f1"]
    validation = read_predictions(predictions_path(folder / VALIDATION_PREDICTIONS, "squad", "dev", "en"))
    assert {r["step"] for r in validation} == {result.best["step"]}
    assert score_predictions(validation, "squad")["f1"] == result.best["validation"]


def test_qa_prediction_texts_are_what_task_score_scores(qa_run):
    folder, config, _ = qa_run
    pm = load_pretrained(config.model.name)
    task = get_task("qa")
    model = pm.task_model("qa").eval()
    examples = D.load_dataset("xquad", "test", lang="en", data_dir=config.task.data_dir)
    features = task.encode(pm.tokenizer, examples, max_length=24, doc_stride=4)
    assert len(features) > len(examples)  # several windows per question
    preds = predict(model, features, D.pad_id_of(pm.tokenizer))
    records = task.prediction_records(examples, features, preds)
    answers = D.postprocess_qa(examples, features, preds.start_logits, preds.end_logits)
    assert records == [{"id": e.id, "prediction": answers[e.id], "gold": [t for t, _ in e.answers]} for e in examples]
    # the metric from the task, from the records, and from the official-script path agree
    assert task.score("squad", examples, features, preds, "en") == score_predictions(records, "squad", "en") \
        == D.qa_scores(D.gold_answers(examples), answers, "squad")
    assert task.score("mlqa", examples, features, preds, "en") == D.qa_scores(D.gold_answers(examples), answers, "mlqa", "en")


# --------------------------------------------------------------------------------------------------
# scoring records by hand
# --------------------------------------------------------------------------------------------------
def test_per_example_scores_by_hand():
    labels = [{"id": "0", "prediction": 1, "gold": 1}, {"id": "1", "prediction": 0, "gold": 2},
              {"id": "2", "prediction": 2, "gold": 2}]
    assert per_example_scores(labels, "accuracy") == [100.0, 0.0, 100.0]
    assert score_predictions(labels, "accuracy") == {"accuracy": 200 / 3, "total": 3}
    texts = [{"id": "a", "prediction": "the dog runs", "gold": ["a dog", "cat"]},  # squad: "dog runs" vs "dog": F1 2/3
             {"id": "b", "prediction": "Der Hund.", "gold": ["der hund"]},  # squad keeps "der": exact
             {"id": "c", "prediction": "", "gold": ["x"]}]
    assert per_example_scores(texts, "squad") == pytest.approx([200 / 3, 100.0, 0.0])
    assert per_example_scores(texts, "squad", measure="exact_match") == [0.0, 100.0, 0.0]
    # MLQA de drops the German articles: "hund" vs "hund"
    assert per_example_scores(texts[1:2], "mlqa", "de") == [100.0]
    scored = score_predictions(texts, "squad")
    assert scored["f1"] == pytest.approx(mean(per_example_scores(texts, "squad"))) and scored["exact_match"] == 100 / 3
    with pytest.raises(UserError, match="the predictions are answer texts, but 'accuracy' scores label indices"):
        score_predictions(texts, "accuracy")
    with pytest.raises(UserError, match="needs the answer language"):
        score_predictions(texts, "mlqa")
    with pytest.raises(UserError, match="have no gold label"):
        score_predictions([{"id": "0", "prediction": 1, "gold": None}], "accuracy")
    with pytest.raises(UserError, match="ids must be unique"):
        score_predictions(texts + texts[:1], "squad")


# --------------------------------------------------------------------------------------------------
# bad files: one `error:` line naming the file and line, exit 2
# --------------------------------------------------------------------------------------------------
BAD = [
    ('{"id": "0", "prediction": 1, "gold": 1}\n{"id": "1", "prediction": 1\n', "line 2: invalid JSON"),
    ('{"id": "0", "prediction": 1}\n', "line 1: missing field 'gold'"),
    ('{"id": 0, "prediction": 1, "gold": 1}\n', "line 1: field 'id' should be a string"),
    ('{"id": "0", "prediction": true, "gold": 1}\n', "line 1: field 'prediction' should be a label index (int) or an answer text"),
    ('{"id": "0", "prediction": 1, "gold": 1}\n\n{"id": "1", "prediction": "x", "gold": ["x"]}\n',
     "line 3: prediction 'x': the file holds label indices (line 1 on), not both"),
    ('{"id": "0", "prediction": "x", "gold": "x"}\n', "line 1: field 'gold' should be a non-empty list of answer texts"),
    ('{"id": "0", "prediction": "x", "gold": []}\n', "line 1: field 'gold' should be a non-empty list of answer texts"),
    ('{"id": "0", "prediction": 1, "gold": "entailment"}\n', "line 1: field 'gold' should be a label index (int) or null"),
    ('{"id": "q", "prediction": "x", "gold": ["x"]}\n{"id": "q", "prediction": "y", "gold": ["y"]}\n',
     "line 2: question id 'q' again (first on line 1)"),
    ('{"id": "0", "prediction": 1, "gold": 1, "step": "3"}\n', "line 1: field 'step' should be an integer"),
    ('[1, 2]\n', "line 1: expected a JSON object"),
    ('\n', "file is empty"),
]


@pytest.mark.parametrize("text, message", BAD, ids=[m for _, m in BAD])
def test_malformed_files_are_format_errors_naming_file_and_line(tmp_path, capsys, text, message):
    path = tmp_path / "xnli-dev-de.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(D.DataFormatError) as err:
        read_predictions(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
    assert main(["score", "--predictions", str(path)]) == 2
    out, stderr = capsys.readouterr()
    assert out == "" and stderr.splitlines() == [f"error: {err.value}"]


def test_bad_files_and_options_on_the_command_line(tmp_path, capsys):
    broken = tmp_path / "xquad-test-de.jsonl"
    broken.write_text('{"id": "q", "prediction": "x", "gold": ["x"]}\n{"id": "r", "prediction": "x"}\n', encoding="utf-8")
    assert f"{broken}: line 2: missing field 'gold'" in one_error_line(score_cli("--predictions", broken))
    texts = tmp_path / "mlqa-test-de.jsonl"
    texts.write_text('{"id": "q", "prediction": "die Katze", "gold": ["Katze"]}\n', encoding="utf-8")
    assert "needs the answer language" in one_error_line(score_cli("--predictions", texts, "--normalization", "mlqa"))
    done = score_cli("--predictions", texts, "--normalization", "mlqa", "--lang", "de")
    assert done.returncode == 0 and json.loads(done.stdout)["exact_match"] == 100.0
    assert main(["score", "--predictions", str(texts)]) == 0
    assert json.loads(capsys.readouterr().out)["exact_match"] == 0.0  # squad keeps "die"
    assert main(["score", "--predictions", str(tmp_path / "absent.jsonl")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'absent.jsonl'}: no such file\n"


def test_options_that_do_not_fit_a_saved_file(tmp_path, capsys):
    path = tmp_path / "xnli-dev-de.jsonl"
    path.write_text('{"id": "0", "prediction": 1, "gold": 1}\n', encoding="utf-8")
    assert main(["score", "--predictions", str(path), "--normalization", "mlqa"]) == 2
    assert "holds label predictions; --normalization is for answer texts" in capsys.readouterr().err
    assert main(["score", "--predictions", str(path), "--labels", str(tmp_path / "labels.tsv")]) == 2
    assert "--labels goes with --dataset-file" in capsys.readouterr().err
    assert main(["score", "--predictions", str(path), "--dataset-file", str(tmp_path / "dev-de.tsv")]) == 2
    assert "holds its gold; score it without --dataset-file" in capsys.readouterr().err
    assert main(["score", "--predictions", str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == {"accuracy": 100.0, "total": 1, "predictions": str(path)}
