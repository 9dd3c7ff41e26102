"""eval.py report: synthetic run folders (results.json via RunResult + predictions/*.jsonl), every
number of report.json recomputed here by hand from the predictions, and the refusals."""
from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from funfisher import stats
from funfisher.data.metrics import accuracy, qa_scores
from funfisher.errors import UserError
from funfisher.evaluation import average_coverage, cross_lingual_average
from funfisher.io.runs import atomic_write_jsonl, read_json
from funfisher.report import build_report, write_report
from funfisher.report.markdown import render_markdown
from funfisher.report.runs import _per_example_scores
from funfisher.runconfig import load_config
from funfisher.schedules import make_schedule, simulate
from funfisher.train.results import RunResult

REPO = Path(__file__).resolve().parents[1]
LANGS = ["en", "de", "sw"]
TARGETS = ["de", "sw"]
N_EXAMPLES = 40
N_UNITS, K, STEPS = 3, 10, 40
P_CORRECT = {"standard": 0.55, "gu": 0.65, "fun": 0.7, "random": 0.6}
TIMINGS = {"train": 10.0, "fisher_select": 0.0, "fisher_track": 1.5, "validation": 2.0, "zero_shot": 3.0}
FUN_TRACES = {1: {0: 1.0, 1: 3.0}, 2: {0: 3.0, 1: 1.0}}  # seed 1: top-down; seed 2: unit 0 before 1


def gold_labels(lang: str, seed: int, per_seed: bool) -> list[int]:
    rng = np.random.default_rng([LANGS.index(lang), seed if per_seed else 0])
    return [int(g) for g in rng.integers(0, 3, N_EXAMPLES)]


def make_run(folder: Path, schedule: str, seed: int, *extra: str, order: int | None = None, per_seed: bool = False,
             tamper: str | None = None, traces: dict | None = None) -> Path:
    """A finished run folder: results.json (RunResult), predictions/xnli-dev-<lang>.jsonl, train_log.jsonl."""
    sets = [f"schedule.name={schedule}", f"seed={seed}", f"name=r-{schedule}-{seed}", f"schedule.k={K}",
            f"task.evaluate.languages={LANGS!r}", *extra]
    if order is not None:
        sets.append(f"schedule.seed={order}")
    cfg = load_config(None, sets)
    rng = np.random.default_rng([seed, order or 0, sorted(P_CORRECT).index(schedule)])
    metrics = {}
    for lang in LANGS:
        gold = gold_labels(lang, seed, per_seed)
        p = P_CORRECT[schedule] + (0.05 * order if order else 0.0)
        pred = [g if rng.random() < p else (g + 1 + int(rng.integers(0, 2))) % 3 for g in gold]
        ids = [f"{lang}-{seed if per_seed else 0}-{i}" for i in range(N_EXAMPLES)]
        atomic_write_jsonl(folder / "predictions" / f"xnli-dev-{lang}.jsonl",
                           [{"id": i, "prediction": p_, "gold": g} for i, p_, g in zip(ids, pred, gold)])
        metrics[lang] = {"accuracy": accuracy(pred, gold), "total": N_EXAMPLES, "setup": "synthetic"}
    if tamper:
        metrics[tamper]["accuracy"] += 2.5
    kwargs = {"seed": order} if schedule == "random" else {}
    table = traces or FUN_TRACES.get(seed, FUN_TRACES[1])
    log = simulate(make_schedule(schedule, N_UNITS, K, **kwargs), STEPS,
                   fisher_fn=(lambda step, frozen: {u: table[u] for u in frozen}) if schedule == "fun" else None)
    scale = 1.0 + (order or 0) + 0.1 * seed
    fisher = [{"purpose": "track", "step": s, "values": {str(u): scale * (u + 1) * s / 10 for u in range(N_UNITS)},
               "trainable": [2], "mean_trainable": scale * 3 * s / 10} for s in (10, 20, 30, 40)]
    fisher.insert(0, {"purpose": "select", "step": 10, "values": {"0": 1.0, "1": 2.0}})
    result = RunResult(
        name=cfg.name, schedule_name=schedule, schedule=log, fisher=fisher, fisher_summary={},
        trainable_parameters={"head": 7, "units": {str(u): 5 for u in range(N_UNITS)}}, metrics=metrics,
        xling_avg=cross_lingual_average(metrics, "en"), xling_avg_over=average_coverage(metrics, "en"),
        source_language="en", best={"step": 40, "validation": 50.0}, steps=STEPS, notes=[], model="synthetic",
        timings_seconds={**TIMINGS, "train": TIMINGS["train"] + seed, "fisher_select": 4.0 if schedule == "fun" else 0.0},
        versions={}, config=cfg)
    result.write(folder)
    atomic_write_jsonl(folder / "train_log.jsonl",
                       [{"step": s, "loss": 1.0, "val": 40.0 + s / 2 + (order or 0)} for s in (10, 20, 30, 40)])
    return folder


# ---------------------------------------------------------------------------------------------- by hand
def read_predictions(run: Path, lang: str) -> list[dict]:
    return [json.loads(line) for line in (run / "predictions" / f"xnli-dev-{lang}.jsonl").read_text().splitlines()]


def hand_scores(run: Path, lang: str) -> list[float]:
    return [100.0 if r["prediction"] == r["gold"] else 0.0 for r in read_predictions(run, lang)]


def hand_accuracy(run: Path, lang: str) -> float:
    s = hand_scores(run, lang)
    return sum(s) / len(s)


def hand_xling(run: Path) -> float:
    return sum(hand_accuracy(run, lang) for lang in TARGETS) / len(TARGETS)


def only_size(data: dict) -> dict:
    (size,) = data["train_sizes"].values()  # every run of these tests has task.train.n = 1000 (the default)
    return size


def strict_load(path: Path):
    def reject(name):
        raise ValueError(f"{name} in strict JSON")
    return json.loads(path.read_text(), parse_constant=reject)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """2 schedules x 2 seeds (standard, fun), plus gu with a single seed."""
    root = tmp_path_factory.mktemp("sweep") / "S"
    for schedule in ("standard", "fun"):
        for seed in (1, 2):
            make_run(root / schedule / f"seed{seed}", schedule, seed)
    make_run(root / "gu" / "seed1", "gu", 1)
    return root


@pytest.fixture(scope="module")
def report(sweep) -> dict:
    data = write_report(sweep, n_boot=300, bootstrap_seed=5, plots=False)
    return data


def test_every_number_recomputed_by_hand(sweep, report):
    assert report == strict_load(sweep / "report.json")
    assert report["metric"] == "accuracy" and report["xling_avg_over"] == TARGETS
    assert list(report["schedules"]) == ["standard", "gu", "fun"]
    for name, seeds in (("standard", [1, 2]), ("fun", [1, 2]), ("gu", [1])):
        entry = report["schedules"][name]
        runs = {s: sweep / name / f"seed{s}" for s in seeds}
        assert entry["n_seeds"] == len(seeds)
        for lang in LANGS:
            values = {s: hand_accuracy(r, lang) for s, r in runs.items()}
            got = entry["languages"][lang]
            assert got["seeds"] == {str(s): pytest.approx(v, abs=1e-9) for s, v in values.items()}
            assert got["mean"] == pytest.approx(statistics.mean(values.values()), abs=1e-9)
            if len(seeds) > 1:
                assert got["std"] == pytest.approx(statistics.stdev(values.values()), abs=1e-9)
            else:
                assert got["std"] is None  # a single seed: no std
        xling = {s: hand_xling(r) for s, r in runs.items()}
        assert entry["xling_avg"]["seeds"] == {str(s): pytest.approx(v, abs=1e-9) for s, v in xling.items()}
        assert entry["xling_avg"]["mean"] == pytest.approx(statistics.mean(xling.values()), abs=1e-9)
        assert entry["xling_avg"]["std"] == (pytest.approx(statistics.stdev(xling.values()), abs=1e-9)
                                             if len(seeds) > 1 else None)
    # Lowest: the target language with the lowest mean under standard, every schedule's score on it
    std_means = {lang: report["schedules"]["standard"]["languages"][lang]["mean"] for lang in TARGETS}
    lowest = min(TARGETS, key=lambda lang: std_means[lang])
    assert only_size(report)["lowest"]["language"] == lowest
    for name, entry in report["schedules"].items():
        assert entry["lowest"]["language"] == lowest
        assert entry["lowest"]["mean"] == entry["languages"][lowest]["mean"]


def test_paired_differences_by_hand(sweep, report):
    assert set(report["paired"]) == {"fun", "gu"}
    assert report["bootstrap"]["B"] == 300 and report["bootstrap"]["seed"] == 5
    for name, seeds in (("fun", [1, 2]), ("gu", [1])):
        p = report["paired"][name]
        assert p["against"] == "standard" and p["seeds"] == seeds and p["n_pairs"] == len(seeds)
        per_seed = {s: hand_xling(sweep / name / f"seed{s}") - hand_xling(sweep / "standard" / f"seed{s}") for s in seeds}
        assert p["xling_avg"]["mean_diff"] == pytest.approx(sum(per_seed.values()) / len(seeds), abs=1e-9)
        assert p["xling_avg"]["seeds"] == {str(s): pytest.approx(v, abs=1e-9) for s, v in per_seed.items()}
        assert p["xling_avg"]["favours"] == {name: sum(d > 0 for d in per_seed.values()),
                                             "standard": sum(d < 0 for d in per_seed.values()),
                                             "tie": sum(d == 0 for d in per_seed.values())}
        # the interval: the paired bootstrap of the per-example differences read from the files
        diffs = [[np.array(hand_scores(sweep / name / f"seed{s}", lang))
                  - np.array(hand_scores(sweep / "standard" / f"seed{s}", lang)) for lang in LANGS] for s in seeds]
        boot = stats.paired_bootstrap(diffs, n_boot=300, seed=5, average=[1, 2], shared_examples=True)
        assert p["xling_avg"]["ci95"] == pytest.approx(boot["average"]["ci95"], abs=1e-9)
        lo, hi = p["xling_avg"]["ci95"]
        assert lo <= p["xling_avg"]["mean_diff"] <= hi
        for i, lang in enumerate(LANGS):
            assert p["languages"][lang]["mean_diff"] == pytest.approx(np.mean([d[i].mean() for d in diffs]), abs=1e-9)
            assert p["languages"][lang]["ci95"] == pytest.approx(boot["languages"][i]["ci95"], abs=1e-9)
        assert set(p["examples"].values()) == {"the same for every seed (resampled once per replicate)"}


def test_kendall_tau_cost_and_markdown(sweep, report):
    # fun seed 1 follows top-down; seed 2 releases 2, 0, 1: one concordant pair of three is lost
    tau = report["kendall_tau"]
    assert tau["fun"]["seeds"] == {"1": pytest.approx(1.0), "2": pytest.approx(1 / 3)}
    assert tau["fun"]["mean"] == pytest.approx(2 / 3) and tau["fun"]["variant"] == "tau-b"
    assert tau["gu"]["seeds"] == {"1": 1.0} and "standard" not in tau  # standard: everything at step 0
    assert report["unfreezing_order"]["fun"]["mean_position"] == {"0": 1.5, "1": 1.5, "2": 0.0}
    cost = report["cost"]
    assert cost["runs"]["fun/seed2"] == {**TIMINGS, "train": 12.0, "fisher_select": 4.0,
                                         "total": 12.0 + 4.0 + 1.5 + 2.0 + 3.0}
    assert cost["schedules"]["fun"]["fisher_select"] == {"mean": 4.0, "sum": 8.0}
    assert cost["schedules"]["standard"]["train"] == {"mean": 11.5, "sum": 23.0}
    total = sum(sum(v for k, v in r.items() if k != "total") for r in cost["runs"].values())
    assert cost["sweep"]["total"] == pytest.approx(total)
    md = (sweep / "report.md").read_text()
    lowest = only_size(report)["lowest"]["language"]
    assert f"Lowest ({lowest})" in md and "| fun − standard | 2 |" in md and "figures: not drawn" in md


def test_eval_py_report_subprocess_matches_the_function(sweep, report):
    done = subprocess.run([sys.executable, str(REPO / "eval.py"), "report", str(sweep), "--bootstrap", "300",
                           "--bootstrap-seed", "5", "--no-plots"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "written:" in done.stdout
    assert strict_load(sweep / "report.json") == report


def test_configs_that_differ_are_refused(tmp_path):
    make_run(tmp_path / "fun" / "seed1", "fun", 1)
    make_run(tmp_path / "fun" / "seed2", "fun", 2, "train.lr=0.001")
    with pytest.raises(UserError, match=r"fun/seed1 and fun/seed2: .*train\.lr"):
        build_report(tmp_path)
    done = subprocess.run([sys.executable, str(REPO / "eval.py"), "report", str(tmp_path), "--no-plots"],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 2 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert "train.lr" in done.stderr


def test_schedules_may_differ_in_training_settings_but_not_in_the_task(tmp_path):
    make_run(tmp_path / "standard" / "seed1", "standard", 1, "train.lr=0.001")
    make_run(tmp_path / "fun" / "seed1", "fun", 1, "train.epochs=3")  # per-schedule settings: fine
    assert set(build_report(tmp_path).data["schedules"]) == {"standard", "fun"}
    make_run(tmp_path / "gu" / "seed1", "gu", 1, "task.max_length=64")
    with pytest.raises(UserError, match=r"task\.max_length"):
        build_report(tmp_path)


def test_two_runs_of_one_seed_are_refused(tmp_path):
    make_run(tmp_path / "a" / "fun", "fun", 1)
    make_run(tmp_path / "b" / "fun", "fun", 1)
    with pytest.raises(UserError, match="a/fun and b/fun: two runs of group 'fun' with seed 1"):
        build_report(tmp_path)


def test_results_that_disagree_with_the_predictions_are_refused(tmp_path):
    make_run(tmp_path / "standard" / "seed1", "standard", 1)
    make_run(tmp_path / "fun" / "seed1", "fun", 1, tamper="sw")
    with pytest.raises(UserError, match=r"fun/seed1: language sw: accuracy recomputed from predictions/xnli-dev-sw"):
        build_report(tmp_path)


def test_missing_predictions_and_unpairable_examples_are_refused(tmp_path):
    make_run(tmp_path / "standard" / "seed1", "standard", 1)
    fun = make_run(tmp_path / "fun" / "seed1", "fun", 1)
    records = read_predictions(fun, "de")
    for r in records[:2]:
        r["id"] = f"other-{r['id']}"
    atomic_write_jsonl(fun / "predictions" / "xnli-dev-de.jsonl", records)
    with pytest.raises(UserError, match="fun/seed1 and standard/seed1: language de: .*ids differ"):
        build_report(tmp_path)
    (fun / "predictions" / "xnli-dev-de.jsonl").unlink()
    with pytest.raises(UserError, match="no predictions file"):
        build_report(tmp_path)


def test_same_ids_in_another_order_are_matched_by_id(tmp_path):
    std = make_run(tmp_path / "standard" / "seed1", "standard", 1)
    make_run(tmp_path / "fun" / "seed1", "fun", 1)
    before = build_report(tmp_path, n_boot=50).data["paired"]["fun"]
    records = read_predictions(std, "de")
    atomic_write_jsonl(std / "predictions" / "xnli-dev-de.jsonl", records[::-1])
    after = build_report(tmp_path, n_boot=50).data["paired"]["fun"]
    assert after["languages"]["de"]["mean_diff"] == pytest.approx(before["languages"]["de"]["mean_diff"])
    assert after["xling_avg"]["mean_diff"] == pytest.approx(before["xling_avg"]["mean_diff"])


def test_per_seed_examples_are_resampled_per_seed(tmp_path):
    for schedule in ("standard", "fun"):
        for seed in (1, 2):
            make_run(tmp_path / schedule / f"seed{seed}", schedule, seed, per_seed=True)
    p = build_report(tmp_path, n_boot=200, bootstrap_seed=1).data["paired"]["fun"]
    assert set(p["examples"].values()) == {"each seed its own (resampled per drawn seed)"}
    diffs = [[np.array(hand_scores(tmp_path / "fun" / f"seed{s}", lang))
              - np.array(hand_scores(tmp_path / "standard" / f"seed{s}", lang)) for lang in LANGS] for s in (1, 2)]
    boot = stats.paired_bootstrap(diffs, n_boot=200, seed=1, average=[1, 2], shared_examples=False)
    assert p["xling_avg"]["ci95"] == pytest.approx(boot["average"]["ci95"])


def test_compare_folder_old_and_unfinished_runs(tmp_path):
    """A train.py --compare folder: one run per schedule, no seed folders (every std null)."""
    make_run(tmp_path / "standard", "standard", 42)
    make_run(tmp_path / "gu", "gu", 42)
    make_run(tmp_path / "gu.old-1", "gu", 42, "train.lr=0.1")  # moved aside by --overwrite: left out
    (tmp_path / "fun").mkdir()
    (tmp_path / "fun" / "config.toml").write_text("")  # unfinished
    (tmp_path / "sweep.json").write_text(json.dumps({"counts": {"cells": 3, "done": 2, "pending": 0, "failed": 1}}))
    data = write_report(tmp_path, n_boot=100, plots=False)
    assert list(data["schedules"]) == ["standard", "gu"]
    assert data["schedules"]["gu"]["xling_avg"]["std"] is None
    assert data["paired"]["gu"]["n_pairs"] == 1
    notes = " ".join(data["notes"])
    assert "gu.old-1: left out" in notes and "fun: unfinished" in notes and "1 cell(s) failed" in notes
    with pytest.raises(UserError, match="no finished runs"):
        build_report(tmp_path / "fun")


def test_several_train_sizes(tmp_path):
    for n in (100, 200):
        for schedule in ("standard", "gu"):
            make_run(tmp_path / schedule / f"n{n}" / "seed1", schedule, 1, f"task.train.n={n}")
    data = build_report(tmp_path, n_boot=50).data
    assert list(data["schedules"]) == ["standard@n100", "gu@n100", "standard@n200", "gu@n200"]
    assert data["paired"]["gu@n200"]["against"] == "standard@n200"
    assert data["train_sizes"]["100"]["schedules"] == ["standard@n100", "gu@n100"]
    assert data["schedules"]["gu@n100"]["train_n"] == 100


def test_fun_estimators_are_groups_of_their_own(tmp_path):
    """FUN with the batch estimator and argmax labels (C4) is the group fun/batch-argmax, compared
    seed by seed with exact FUN: the decisions that released other units, tau-b, score, seconds."""
    batch = ("fisher.method=batch", "fisher.labels=argmax", "fisher.max_batches=41", "fisher.min_batches=41")
    for seed in (1, 2):
        make_run(tmp_path / "main" / "standard" / f"seed{seed}", "standard", seed)
        make_run(tmp_path / "main" / "fun" / f"seed{seed}", "fun", seed)
        make_run(tmp_path / "c4" / "fun" / f"seed{seed}", "fun", seed, *batch, traces=FUN_TRACES[1])
    data = build_report(tmp_path, n_boot=200).data
    assert list(data["schedules"]) == ["standard", "fun", "fun/batch-argmax"]
    e = data["estimators"]["fun/batch-argmax"]
    assert e["against"] == "fun" and list(e["seeds"]) == ["1", "2"]
    # unit 2 goes first without tr(F) (first="top"); then steps 10 and 20 decide between units 0 and 1.
    # Seed 1: both use seed 1's traces (unit 1 first): the same decisions. Seed 2: exact FUN's traces
    # put unit 0 first, the batch runs' (seed 1's) unit 1: both decisions differ, from step 10.
    assert e["seeds"]["1"] == {"decisions": 2, "differing": 0, "first_differing_step": None, "tau_b": 1.0}
    assert e["seeds"]["2"]["decisions"] == 2 and e["seeds"]["2"]["differing"] == 2
    assert e["seeds"]["2"]["first_differing_step"] == 10
    # unfreeze steps (unit 0, 1, 2): exact (10, 20, 0), batch (20, 10, 0): pairs (0,1) discordant,
    # (0,2) and (1,2) concordant: tau-b = (2 - 1) / 3
    assert e["seeds"]["2"]["tau_b"] == pytest.approx(1 / 3)
    assert (e["decisions"], e["differing"]) == (4, 2)
    assert e["fisher_select_seconds"] == {"fun/batch-argmax": 4.0, "fun": 4.0, "ratio": 1.0}
    assert e["paired"]["against"] == "fun" and e["paired"]["n_pairs"] == 2
    md = render_markdown(data)
    assert "| fun/batch-argmax | fun | 2/4 | 1: 0/2, 2: 2/2 (10) |" in md


def test_random_orders_and_figures(tmp_path):
    """Three random orders x 2 seeds and gu: the Section 5.2 study and every figure."""
    pytest.importorskip("matplotlib")
    for order in (1, 2, 3):
        for seed in (1, 2):
            make_run(tmp_path / "random" / f"order{order}" / f"seed{seed}", "random", seed, order=order)
    for seed in (1, 2):
        make_run(tmp_path / "standard" / f"seed{seed}", "standard", seed)
        make_run(tmp_path / "gu" / f"seed{seed}", "gu", seed)
        make_run(tmp_path / "fun" / f"seed{seed}", "fun", seed)
    data = write_report(tmp_path, n_boot=100)
    study = only_size(data)["random_orders"]
    names = ["random/order1", "random/order2", "random/order3"]
    assert list(study["orders"]) == names + ["gu"] and study["orders"]["gu"]["top_down"]
    window = (N_UNITS - 1) * K  # the unfreezing phase
    for name in names + ["gu"]:
        o = study["orders"][name]
        folder = tmp_path / (name if name != "gu" else "gu")
        runs = [folder / f"seed{s}" for s in (1, 2)]
        assert o["xling_avg"] == pytest.approx(statistics.mean(hand_xling(r) for r in runs))
        areas = []
        for r in runs:
            track = [rec for rec in read_json(r / "results.json")["fisher"] if rec["purpose"] == "track"]
            points = [(rec["step"], sum(rec["values"].values())) for rec in track if rec["step"] <= window]
            areas.append(sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(points, points[1:])))
        assert o["early_area"] == pytest.approx(statistics.mean(areas))
        assert o["early_window"] == [window]
    scores = {name: o["xling_avg"] for name, o in study["orders"].items()}
    assert study["footnote10_groups"][0]["orders"][0] == max(scores, key=scores.get)
    assert sum(len(g["orders"]) for g in study["footnote10_groups"]) == 4
    corr = study["correlation_with_xling_avg"]["early_area"]
    assert corr["n_orders"] == 4
    assert corr["spearman"] == pytest.approx(stats.spearman([study["orders"][n]["early_area"] for n in scores],
                                                            list(scores.values())))
    assert study["pooled"]["n_runs"] == 6
    assert sorted(data["figures"]) == ["fisher_curves.png", "per_language.png", "random_orders.png", "unfreezing_order.png"]
    for name in data["figures"]:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "report.md").read_text()
    assert "## Random orders (Section 5.2)" in md and "![random_orders.png](random_orders.png)" in md


def test_per_example_qa_scores_agree_with_the_official_scoring():
    records = [{"id": "q1", "prediction": "the Eiffel Tower", "gold": ["Eiffel Tower", "tower"]},
               {"id": "q2", "prediction": "in Paris, France", "gold": ["Paris"]},
               {"id": "q3", "prediction": "", "gold": ["nothing"]},  # no answer: scores 0
               {"id": "q4", "prediction": "Der Hund", "gold": ["Hund"]}]
    gold = {r["id"]: r["gold"] for r in records}
    answers = {r["id"]: r["prediction"] for r in records}
    for metric, lang in (("squad", "de"), ("mlqa", "de")):
        scores = _per_example_scores(records, metric, lang)
        official = qa_scores(gold, answers, normalization=metric, lang=lang if metric == "mlqa" else None)
        assert math.fsum(scores["f1"]) / len(records) == pytest.approx(official["f1"], abs=1e-9)
        assert math.fsum(scores["exact_match"]) / len(records) == pytest.approx(official["exact_match"], abs=1e-9)
        assert scores["f1"][2] == 0.0 and 0 < scores["f1"][1] < 100
    scores = _per_example_scores([{"id": "1", "prediction": 2, "gold": 2}, {"id": "2", "prediction": 1, "gold": 0}],
                                 "accuracy", "de")
    assert scores["accuracy"].tolist() == [100.0, 0.0]
