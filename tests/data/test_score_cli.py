"""`eval.py score` (funfisher.data.score_cli): official-script behaviour, via subprocess and in-process."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from funfisher.data import load_dataset
from funfisher.data.score_cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNNER = "import sys; from funfisher.data.score_cli import main; sys.exit(main(sys.argv[1:]))"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", RUNNER, "score", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )


def _json(path: Path, payload) -> Path:
    path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    return path


def test_subprocess_xquad_gold_is_100(shared_data, tmp_path):
    dataset = shared_data / "xquad/xquad.de.json"
    examples = load_dataset("xquad", "test", "de", shared_data)
    predictions = _json(tmp_path / "pred.json", {e.id: e.answers[0][0] for e in examples})
    done = _run("--dataset-file", str(dataset), "--predictions", str(predictions))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # exactly one JSON object on stdout
    assert result["exact_match"] == 100.0 and result["f1"] == 100.0
    assert result["normalization"] == "squad" and result["total"] == 1190 and result["missing"] == 0


def test_subprocess_module_entry_mlqa(shared_data, tmp_path):
    dataset = shared_data / "mlqa/MLQA_V1/dev/dev-context-zh-question-zh.json"
    examples = load_dataset("mlqa", "dev", "zh", shared_data)
    predictions = _json(tmp_path / "pred.json", {e.id: e.answers[0][0] for e in examples})
    done = subprocess.run(
        [sys.executable, "-m", "funfisher.data.score_cli", "score", "--dataset-file", str(dataset),
         "--predictions", str(predictions), "--normalization", "mlqa", "--lang", "zh"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["exact_match"], result["f1"], result["normalization"]) == (100.0, 100.0, "mlqa-zh")


def test_missing_predictions_count_as_wrong(shared_data, tmp_path, capsys):
    examples = load_dataset("xquad", "test", "en", shared_data)
    predictions = _json(tmp_path / "pred.json", {e.id: e.answers[0][0] for e in examples[:595]})
    assert main(["score", "--dataset-file", str(shared_data / "xquad/xquad.en.json"), "--predictions", str(predictions)]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    # 595 of 1190 right, 595 unanswered: 100 * 595/1190 = 50
    assert (result["exact_match"], result["f1"], result["missing"]) == (50.0, 50.0, 595)
    assert "595 of 1190 items have no prediction" in err


def test_xcopa_accuracy(shared_data, tmp_path, capsys):
    dataset = shared_data / "xcopa/data/et/val.et.jsonl"
    labels = [e.label for e in load_dataset("xcopa", "val", "et", shared_data)]
    # 90 right, 5 wrong, 5 missing: accuracy = 100 * 90/100 = 90
    predictions = {str(i): y for i, y in enumerate(labels[:90])}
    predictions.update({str(i): 1 - labels[i] for i in range(90, 95)})
    assert main(["score", "--dataset-file", str(dataset), "--predictions", str(_json(tmp_path / "p.json", predictions))]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["accuracy"], result["correct"], result["total"], result["missing"]) == (90.0, 90, 100, 5)


def test_xnli_accuracy_with_label_names_and_test_labels(shared_data, tmp_path, capsys):
    dev = load_dataset("xnli", "dev", "sw", shared_data)
    names = ["entailment", "neutral", "contradiction"]
    predictions = _json(tmp_path / "dev.json", {str(i): names[e.label] for i, e in enumerate(dev)})
    assert main(["score", "--dataset-file", str(shared_data / "xnli/dev-sw.tsv"), "--predictions", str(predictions)]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == 100.0
    # test files carry no labels: --labels is required, all-"entailment" gets 1670/5010 = 33.33..%
    all_entailment = _json(tmp_path / "test.json", [0] * 5010)
    test_file = str(shared_data / "xnli/test-sw.tsv")
    assert main(["score", "--dataset-file", test_file, "--predictions", str(all_entailment)]) == 2
    assert "pass --labels" in capsys.readouterr().err
    assert main(["score", "--dataset-file", test_file, "--predictions", str(all_entailment),
                 "--labels", str(shared_data / "xnli/test-labels.derived.tsv")]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(100 / 3)


def test_copa_xml(shared_data, tmp_path, capsys):
    dataset = shared_data / "copa/COPA-resources/datasets/copa-test.xml"
    labels = [e.label for e in load_dataset("copa", "test", "en", shared_data)]
    predictions = _json(tmp_path / "p.json", {str(i): y for i, y in enumerate(labels)})
    assert main(["score", "--dataset-file", str(dataset), "--predictions", str(predictions)]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == 100.0


def test_errors_exit_2_with_file_named(tmp_path, capsys):
    dataset = _json(tmp_path / "d.json", {"data": [{"paragraphs": [{"context": "abc", "qas": [
        {"id": "q1", "question": "?", "answers": [{"text": "abc", "answer_start": 0}]}]}]}]})
    broken = tmp_path / "broken.json"
    broken.write_text("{oops", encoding="utf-8")
    assert main(["score", "--dataset-file", str(dataset), "--predictions", str(broken)]) == 2
    assert "broken.json: line 1 column 2: invalid JSON" in capsys.readouterr().err
    wrong_shape = _json(tmp_path / "list.json", ["abc"])
    assert main(["score", "--dataset-file", str(dataset), "--predictions", str(wrong_shape)]) == 2
    assert "list.json: top level: expected a JSON object {question id: answer text}" in capsys.readouterr().err
    ok = _json(tmp_path / "ok.json", {"q1": "abc"})
    assert main(["score", "--dataset-file", str(dataset), "--predictions", str(ok)]) == 0
    assert json.loads(capsys.readouterr().out)["exact_match"] == 100.0
    assert main(["score", "--dataset-file", str(tmp_path / "absent.json"), "--predictions", str(ok)]) == 2
    assert main(["score", "--dataset-file", str(dataset), "--predictions", str(ok), "--normalization", "mlqa"]) == 2
    assert "needs the answer language" in capsys.readouterr().err
    assert main(["not-score"]) == 2
    assert main(["score", "--bogus"]) == 2


def test_mixed_zh_normalization_choice(tmp_path, capsys):
    context = "北京大学在北京。"
    dataset = _json(tmp_path / "zh.json", {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": context, "qas": [
        {"id": "q1", "question": "哪所大学?", "answers": [{"text": "北京大学", "answer_start": 0}]},
        {"id": "q2", "question": "在哪里?", "answers": [{"text": "北京", "answer_start": 5}]}]}]}]})
    predictions = str(_json(tmp_path / "p.json", {"q1": "北京", "q2": "北京。"}))
    # q1 "北京" vs "北京大学"; q2 "北京。" vs "北京"
    # squad:    one token each side, never equal -> EM 0, F1 0
    # mixed-zh: q1 [北,京] vs [北,京,大,学]: P 1, R 1/2, F1 2/3; q2 [北,京,。] vs [北,京]: P 2/3, R 1, F1 0.8
    #           -> EM 0, F1 = 100 * (2/3 + 0.8) / 2 = 73.33
    # mlqa zh:  q2's "。" is deleted -> exact; EM 50, F1 = 100 * (2/3 + 1) / 2 = 83.33
    expected = {"squad": (0.0, 0.0), "mixed-zh": (0.0, 100 * (2 / 3 + 0.8) / 2), "mlqa-zh": (50.0, 100 * (2 / 3 + 1) / 2)}
    for args, name in ((["--normalization", "squad"], "squad"), (["--normalization", "mixed-zh"], "mixed-zh"),
                       (["--normalization", "mixed-zh", "--lang", "zh"], "mixed-zh"),
                       (["--normalization", "mlqa", "--lang", "zh"], "mlqa-zh")):
        assert main(["score", "--dataset-file", str(dataset), "--predictions", predictions, *args]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["normalization"] == name
        assert (result["exact_match"], result["f1"]) == (expected[name][0], pytest.approx(expected[name][1])), name
    assert main(["score", "--dataset-file", str(dataset), "--predictions", predictions,
                 "--normalization", "mixed-zh", "--lang", "de"]) == 2
    assert "for Chinese answers, not 'de'" in capsys.readouterr().err


def test_subprocess_xquad_zh_mixed_segmentation_gold_is_100(shared_data, tmp_path):
    examples = load_dataset("xquad", "test", "zh", shared_data)
    predictions = _json(tmp_path / "pred.json", {e.id: e.answers[0][0] for e in examples})
    done = _run("--dataset-file", str(shared_data / "xquad/xquad.zh.json"), "--predictions", str(predictions),
                "--normalization", "mixed-zh")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["exact_match"], result["f1"], result["normalization"], result["total"]) == (100.0, 100.0, "mixed-zh", 1190)
