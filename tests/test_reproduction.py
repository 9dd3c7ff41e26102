"""The reproduction toolkit end to end, as a researcher uses it: a sweep (2 schedules x 2 seeds) on
the tiny model and the demo data, `eval.py report` on it, and every number of report.json
recomputed here, independently, from the saved predictions alone."""
from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def accuracy_of(path: Path) -> list[float]:
    """Per-example correctness (0 or 100) of a classification predictions file."""
    return [100.0 * (r["prediction"] == r["gold"]) for r in map(json.loads, path.read_text().splitlines())]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, tiny_run):
    out = tmp_path_factory.mktemp("sweep") / "S"
    cmd = [str(REPO / "train.py"), "--compare", "standard", "fun", "--seeds", "1", "2", "--output", str(out)]
    for item in [*tiny_run, "train.max_steps=6", "task.evaluate.languages=['en', 'de', 'sw']"]:
        cmd += ["--set", item]
    run(*cmd)
    run(str(REPO / "eval.py"), "report", str(out), "--no-plots")
    return out


def test_every_number_of_the_report_is_recomputed_from_the_saved_predictions(sweep):
    report = json.loads((sweep / "report.json").read_text())
    per_seed: dict[str, dict[int, dict[str, float]]] = {}
    for schedule in ("standard", "fun"):
        per_seed[schedule] = {}
        for seed in (1, 2):
            folder = sweep / schedule / f"seed{seed}"
            config = json.loads((folder / "results.json").read_text())["config"]
            assert config["seed"] == seed and config["schedule"]["name"] == schedule
            per_seed[schedule][seed] = {lang: statistics.fmean(accuracy_of(folder / "predictions" / f"xnli-dev-{lang}.jsonl"))
                                        for lang in ("en", "de", "sw")}
        got = report["schedules"][schedule]
        for lang in ("en", "de", "sw"):
            values = [per_seed[schedule][s][lang] for s in (1, 2)]
            assert got["languages"][lang]["seeds"] == {"1": pytest.approx(values[0]), "2": pytest.approx(values[1])}
            assert got["languages"][lang]["mean"] == pytest.approx(statistics.fmean(values))
            assert got["languages"][lang]["std"] == pytest.approx(statistics.stdev(values))
        xling = [statistics.fmean([per_seed[schedule][s][lang] for lang in ("de", "sw")]) for s in (1, 2)]
        assert got["xling_avg"]["mean"] == pytest.approx(statistics.fmean(xling))
        assert got["xling_avg"]["std"] == pytest.approx(statistics.stdev(xling))
    diffs = [statistics.fmean([per_seed["fun"][s][lang] - per_seed["standard"][s][lang] for lang in ("de", "sw")])
             for s in (1, 2)]
    paired = report["paired"]["fun"]["xling_avg"]
    assert paired["mean_diff"] == pytest.approx(statistics.fmean(diffs))
    lo, hi = paired["ci95"]
    assert lo <= paired["mean_diff"] + 1e-9 and paired["mean_diff"] <= hi + 1e-9 and math.isfinite(lo)


def test_the_sweep_records_its_cells_and_their_cost(sweep):
    grid = json.loads((sweep / "sweep.json").read_text())
    text = json.dumps(grid)
    assert "seed1" in text and "seed2" in text and "fun" in text and "standard" in text
    cost = json.loads((sweep / "report.json").read_text())["cost"]
    assert cost  # seconds per part, per run and per schedule
