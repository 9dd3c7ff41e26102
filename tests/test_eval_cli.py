"""eval.py: zero-shot evaluation of a saved run / adapter folder, and the score subcommand."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY_MODEL = REPO / "tests/fixtures/tiny-bert/classification"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from funfisher.train import run_one
    from funfisher.runconfig import load_config

    out = tmp_path_factory.mktemp("eval") / "run"
    cfg = load_config(None, [f"model.name={TINY_MODEL}", f"task.data_dir={REPO / 'data/demo'}", "task.max_length=32",
                             "task.eval_n=20", "task.train.n=32", "task.evaluate.languages=['en', 'de']",
                             "train.max_steps=4", "train.batch_size=8", "schedule.name=gu", "schedule.k=2",
                             "fisher.track_every=0"])
    return out, run_one(cfg, out)


def run_eval(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "eval.py"), *map(str, args)], capture_output=True, text=True, cwd=REPO)


def test_eval_run_folder_reproduces_the_runs_numbers(finished_run):
    out, results = finished_run
    done = run_eval("run", out)  # no options: the run's own eval_n (20), seed, split, data_dir, precision
    assert done.returncode == 0, done.stderr[-2000:]
    written = json.loads((out / "eval-xnli-dev.json").read_text())
    # Same adapter + head, same seeded 20 examples per language: the same numbers as the run.
    assert written["n_per_language"] == 20 and written["seed"] == results.config.seed
    assert written["precision"] == "fp32" and written["device"] == "cpu"
    for lang in ("en", "de"):
        assert written["metrics"][lang] == results.metrics[lang]
    assert "| de |" in done.stdout and "| **avg without en (all 1)** |" in done.stdout
    # the average says what it averages: de only (en is the source, nothing skipped)
    assert written["xling_avg"] == written["metrics"]["de"]["accuracy"]
    assert written["xling_avg_over"] == {"languages": ["de"], "skipped": [], "n": 1, "of": 1, "text": "all 1"}


def test_eval_adapter_folder_on_other_languages(finished_run, tmp_path):
    out, _ = finished_run
    done = run_eval("run", out / "adapter", "--model", TINY_MODEL, "--dataset", "xnli", "--data-dir", REPO / "data/demo",
                    "--languages", "sw", "zh", "--n", "10", "--output", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    written = json.loads((tmp_path / "eval-xnli-dev.json").read_text())
    metrics = written["metrics"]
    assert set(metrics) == {"sw", "zh"} and all(m["total"] == 10 for m in metrics.values())
    assert written["xling_avg_over"]["text"] == "all 2"  # neither is the source (en)
    assert metrics["sw"]["setup"] == "task adapter alone (no language adapters)"


def test_missing_language_adapter_is_a_clear_error(finished_run, tmp_path):
    out, _ = finished_run
    done = run_eval("run", out / "adapter", "--model", TINY_MODEL, "--dataset", "xnli", "--data-dir", REPO / "data/demo",
                    "--languages", "en", "de", "--language-adapter", "en=/no/such/adapter", "--output", tmp_path)
    assert done.returncode == 2 and "/no/such/adapter" in done.stderr


def test_eval_errors_are_clear(tmp_path):
    done = run_eval("run", tmp_path)
    assert done.returncode == 2 and "neither a run folder (config.toml) nor an adapter folder" in done.stderr


def test_score_subcommand(tmp_path):
    data = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": "The cat sat on the mat.", "qas": [
        {"id": "q1", "question": "Who sat?", "answers": [{"text": "The cat", "answer_start": 0}]},
        {"id": "q2", "question": "Where?", "answers": [{"text": "on the mat", "answer_start": 12}]}]}]}]}
    (tmp_path / "d.json").write_text(json.dumps(data))
    # q1 exact after normalization ("the" is removed); q2 "the mat" vs "on the mat": EM 0,
    # F1 = 2 * (1/1 * 1/2) / (1 + 1/2) = 2/3 (tokens after normalization: [mat] vs [on, mat]).
    (tmp_path / "p.json").write_text(json.dumps({"q1": "cat", "q2": "the mat"}))
    done = run_eval("score", "--dataset-file", tmp_path / "d.json", "--predictions", tmp_path / "p.json")
    assert done.returncode == 0, done.stderr
    scores = json.loads(done.stdout)
    assert scores["exact_match"] == pytest.approx(50.0)
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3) / 2)


def test_eval_never_replaces_an_earlier_evaluation_silently(finished_run, tmp_path):
    out, results = finished_run
    args = ("run", out, "--output", tmp_path, "--languages", "de")
    assert run_eval(*args).returncode == 0
    first = (tmp_path / "eval-xnli-dev.json").read_bytes()
    again = run_eval(*args, "--n", "all", "--precision", "bf16", "--threads", "1")
    assert again.returncode == 2 and again.stderr.count("\n") == 1, again.stderr
    assert again.stderr.startswith(f"error: {tmp_path / 'eval-xnli-dev.json'}: an earlier evaluation of xnli-dev")
    assert (tmp_path / "eval-xnli-dev.json").read_bytes() == first  # untouched
    done = run_eval(*args, "--n", "all", "--precision", "bf16", "--threads", "1", "--overwrite")
    assert done.returncode == 0, done.stderr[-2000:]
    aside = tmp_path / "eval-xnli-dev.old-1"
    assert (aside / "eval-xnli-dev.json").read_bytes() == first
    assert sorted(p.relative_to(aside).as_posix() for p in aside.rglob("*") if p.is_file()) == [
        "eval-xnli-dev.json", "eval-xnli-dev.md", "predictions/eval/xnli-dev-de.jsonl"]
    written = json.loads((tmp_path / "eval-xnli-dev.json").read_text())
    assert written["n_per_language"] is None and written["precision"] == "bf16"
    from funfisher.data import load_dataset

    every_row = len(load_dataset("xnli", "dev", lang="de", data_dir=REPO / "data/demo"))
    assert written["metrics"]["de"]["total"] == every_row > 20  # --n all: not the run's 20


@pytest.mark.parametrize("flags,message", [
    (("--precision", "fp16"), "fp16"),
    (("--device", "tpu"), "train.device"),
    (("--threads", "0"), "train.threads = 0: must be >= 1"),
    (("--n", "0"), "--n: '0': expected a whole number >= 1 or 'all'"),
])
def test_eval_flags_are_checked_before_any_work(finished_run, tmp_path, flags, message):
    out, _ = finished_run
    done = run_eval("run", out, "--output", tmp_path, *flags)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not list(tmp_path.iterdir())
