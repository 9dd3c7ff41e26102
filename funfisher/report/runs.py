"""One finished run, recomputed from its saved predictions, and the groups a report compares.

Runs are grouped by schedule (and train size `task.train.n`, if runs differ in it; a random order
`schedule.seed` and a fixed order `schedule.order` are groups of their own: `random/order3`; so
is a FUN run whose tr(F) estimator is not Eq. 1's exact one with sampled labels, named by its
method and labels: `fun/batch-argmax` is Algorithm 2 as the released code runs it). A
group's runs differ only in `seed` (and `name`): any other difference is refused, never averaged
(a `ReportError` naming both run folders and the keys). Across groups `model`, `adapters` and
`task` must be equal except `task.train.n`; `train`, `schedule` and `fisher` may differ (the
per-schedule settings of `[schedules.<name>]`). With several train sizes every group name gets
`@n<size>` (`fun@n1000`, `@nall` for the full set) and pairs are made within a size.

Every number is recomputed from the saved predictions (`predictions/<dataset>-<split>-<lang>.jsonl`,
one line per example: id, prediction, gold): per-example scores (0 or 100 for accuracy; EM and F1
x 100 for QA, normalised as the dataset's official script: `funfisher.data.metrics`), their mean
per language, and the cross-lingual average over the languages results.json averages (the
targets, without the source language and skipped ones). Each is checked against the run's
results.json to 1e-9; a difference is an error naming the run and the language, so a report
never silently differs from its runs.
"""
from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data import DATASETS
from ..data.metrics import get_normalizer
from ..data.predictions import per_example_scores, read_predictions
from ..errors import UserError
from ..evaluation import average_coverage, predictions_path
from ..io.runs import CONFIG, PREDICTIONS, RESULTS
from ..runconfig import diff_configs, to_dict
from ..tasks import get_task
from ..train.results import RunResult

TOLERANCE = 1e-9  # recomputed vs results.json
SCHEDULE_ORDER = ("standard", "lpft", "gu", "revgu", "fun", "random", "fixed", "surgical")
_OLD = re.compile(r"\.old-\d+$")


class ReportError(UserError, ValueError):
    """Runs that cannot be reported together, or predictions that disagree with results.json."""


# ==================================================================================================
# one run: results.json + predictions, recomputed and checked
# ==================================================================================================
@dataclass
class Run:
    """One finished run, its numbers recomputed from its predictions."""

    path: Path
    rel: str  # the folder, relative to the report folder
    result: RunResult
    config: dict[str, Any]  # to_dict(result.config)
    kind: str
    metric: str  # the primary metric: accuracy or f1
    languages: list[str]  # evaluated (not skipped), results.json order
    xling_languages: list[str]  # the cross-lingual average's languages
    ids: dict[str, list] = field(default_factory=dict)
    gold: dict[str, list] = field(default_factory=dict)
    scores: dict[str, np.ndarray] = field(default_factory=dict)  # per-example primary metric, percent
    values: dict[str, float] = field(default_factory=dict)  # per-language primary metric (recomputed)
    xling: float | None = None

    @property
    def seed(self) -> int:
        return self.result.config.seed

    @property
    def schedule(self) -> str:
        return self.result.config.schedule.name

    @property
    def train_n(self) -> int | None:
        return self.result.config.task.train.n


def find_run_dirs(folder: Path) -> tuple[list[Path], list[str]]:
    """Every run folder below `folder` (holding results.json), sorted, and notes on what was left
    out: folders moved aside by --overwrite (`*.old-N`), hidden folders, unfinished runs."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReportError(f"{folder}: not a folder of runs")
    runs, notes = [], []
    for path in sorted(folder.rglob(RESULTS)):
        rel = path.parent.relative_to(folder)
        if any(_OLD.search(part) or part.startswith(".") for part in rel.parts):
            notes.append(f"{_rel(path.parent, folder)}: left out (moved aside by --overwrite, or hidden)")
            continue
        runs.append(path.parent)
    for path in sorted(folder.rglob(CONFIG)):
        rel = path.parent.relative_to(folder)
        if not (path.parent / RESULTS).exists() and not any(_OLD.search(p) or p.startswith(".") for p in rel.parts):
            notes.append(f"{_rel(path.parent, folder)}: unfinished (no {RESULTS}), not in the report")
    return runs, notes


def _rel(path: Path, folder: Path) -> str:
    rel = Path(path).relative_to(folder).as_posix()
    return rel if rel != "." else Path(folder).name or "."


def _read_predictions(path: Path) -> list[dict[str, Any]]:
    """A run's saved predictions (`data.predictions.read_predictions`: every line checked)."""
    if not path.is_file():
        raise ReportError(f"{path}: no predictions file; the report recomputes every number from the saved "
                          f"predictions (evaluate the run again with this funfisher version)")
    return read_predictions(path)


def _per_example_scores(records: Sequence[dict[str, Any]], metric: str, lang: str) -> dict[str, np.ndarray]:
    """Per-example scores in percent, the ones results.json's means are made of
    (`data.predictions.per_example_scores`): {"accuracy": 0/100} for classification and multiple
    choice; {"exact_match", "f1"} for QA under the dataset's metric ("squad", or "mlqa" for `lang`)."""
    if metric == "accuracy":
        return {"accuracy": np.array(per_example_scores(records, metric, lang))}
    return {measure: np.array(per_example_scores(records, metric, lang, measure=measure))
            for measure in ("exact_match", "f1")}


def load_run(run_dir: Path, folder: Path) -> Run:
    """results.json and the predictions of one run, every metric recomputed and checked."""
    result = RunResult.read(Path(run_dir))
    rel = _rel(run_dir, folder)
    cfg = result.config
    task = get_task(cfg.task.kind)
    dataset, split = cfg.task.evaluate.dataset, cfg.task.evaluate.split
    metric = DATASETS[dataset].metric
    source = result.source_language
    coverage = average_coverage(result.metrics, source)
    if list(result.xling_avg_over.get("languages", [])) != coverage["languages"]:
        raise ReportError(f"{rel}: results.json xling_avg_over lists {result.xling_avg_over.get('languages')}, "
                          f"but its metrics average {coverage['languages']}")
    languages = [lang for lang, m in result.metrics.items() if "skipped" not in m]
    run = Run(path=Path(run_dir), rel=rel, result=result, config=to_dict(cfg), kind=cfg.task.kind,
              metric=task.primary, languages=languages, xling_languages=coverage["languages"])
    for lang in languages:
        path = predictions_path(Path(run_dir) / PREDICTIONS, dataset, split, lang)
        records = _read_predictions(path)
        where = f"{rel}: {PREDICTIONS}/{path.name}"
        scores = _per_example_scores(records, metric, lang)
        normalization = None if metric == "accuracy" else get_normalizer(metric, lang)[1]
        saved = result.metrics[lang]
        if "total" in saved and saved["total"] != len(records):
            raise ReportError(f"{where}: {len(records)} predictions, but results.json scored {saved['total']} "
                              f"examples of {lang}")
        if normalization is not None and saved.get("normalization", normalization) != normalization:
            raise ReportError(f"{where}: results.json {lang} was scored with normalization "
                              f"{saved.get('normalization')!r}, the dataset's metric is {normalization!r}")
        for name, values in scores.items():
            recomputed = math.fsum(values.tolist()) / len(values)
            if name not in saved or not _close(recomputed, saved[name]):
                raise ReportError(f"{rel}: language {lang}: {name} recomputed from {PREDICTIONS}/{path.name} is "
                                  f"{recomputed!r}, results.json says {saved.get(name)!r}; the report never "
                                  f"differs from its runs (re-evaluate the run)")
        run.ids[lang] = [r["id"] for r in records]
        run.gold[lang] = [r["gold"] for r in records]
        run.scores[lang] = scores[task.primary]
        run.values[lang] = math.fsum(scores[task.primary].tolist()) / len(records)
    if run.xling_languages:
        run.xling = math.fsum(run.values[lang] for lang in run.xling_languages) / len(run.xling_languages)
    disagree = (run.xling is None) != (result.xling_avg is None)
    if disagree or (run.xling is not None and not _close(run.xling, result.xling_avg)):
        raise ReportError(f"{rel}: the cross-lingual average recomputed from the predictions is {run.xling!r}, "
                          f"results.json says {result.xling_avg!r}")
    return run


def _close(a: float, b: Any) -> bool:
    return isinstance(b, (int, float)) and not isinstance(b, bool) and abs(float(a) - float(b)) <= TOLERANCE


# ==================================================================================================
# groups and the rules on configurations
# ==================================================================================================
@dataclass
class Group:
    """The runs of one schedule (one train size, one random order): they differ only in seed."""

    name: str
    schedule: str
    train_n: int | None
    order: str | None  # random: "order<seed>"; fixed: "order=11-10-..."
    runs: dict[int, Run]  # by seed, ascending
    estimator: str | None = None  # fun: `estimator_key`

    @property
    def bucket(self) -> str:
        return _bucket(self.train_n)

    @property
    def seeds(self) -> list[int]:
        return sorted(self.runs)

    @property
    def first(self) -> Run:
        return self.runs[self.seeds[0]]


def _bucket(n: int | None) -> str:
    return "all" if n is None else str(n)


def _order_key(run: Run) -> str | None:
    schedule = run.result.config.schedule
    if schedule.name == "random":
        return f"order{schedule.seed}"
    if schedule.name == "fixed":
        return "order=" + "-".join(map(str, schedule.order or []))
    return None


EXACT_ESTIMATOR = "exact-sample"  # Eq. 1: per-example tr(F), labels sampled from the model (the default)


def estimator_key(run: Run) -> str | None:
    """FUN's tr(F) estimator, "<method>-<labels>" with the exact methods (hooks, vmap, loop: the same
    values) as "exact"; None for schedules that estimate nothing to decide."""
    if run.schedule != "fun":
        return None
    fisher = run.result.config.fisher
    return f"{'batch' if fisher.method == 'batch' else 'exact'}-{fisher.labels}"


def _without(tree: dict, *paths: str) -> dict:
    out = copy.deepcopy(tree)
    for dotted in paths:
        node = out
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.get(part, {})
        node.pop(last, None)
    return out


def _differences(a: Run, b: Run, tree_a: dict, tree_b: dict, what: str) -> None:
    lines = diff_configs(tree_a, tree_b)
    if lines:
        shown = "; ".join(line.replace(" (saved) -> ", f" ({a.rel}) vs ").replace(" (now)", f" ({b.rel})")
                          for line in lines)
        raise ReportError(f"{a.rel} and {b.rel}: {what}, but their configs differ: {shown}")


def check_configs(runs: Sequence[Run]) -> None:
    """The rules (module docstring): across all runs model, adapters and task equal except
    task.train.n; within a group everything but seed and name. A violation is a ReportError."""
    if not runs:
        return
    ref = runs[0]
    shared = lambda run: _without({k: run.config[k] for k in ("model", "adapters", "task")}, "task.train.n")  # noqa: E731
    for run in runs[1:]:
        _differences(ref, run, shared(ref), shared(run), "runs of one report must share model, adapters and "
                     "task (except task.train.n)")
    for group in group_runs(runs, check=False).values():
        first = group.first
        for seed in group.seeds[1:]:
            run = group.runs[seed]
            _differences(first, run, _without(first.config, "seed", "name"), _without(run.config, "seed", "name"),
                         f"both are runs of group {group.name!r} (seeds {first.seed} and {run.seed}), which may "
                         f"differ only in seed")


def group_runs(runs: Sequence[Run], check: bool = True) -> dict[str, Group]:
    """The groups, in a fixed order (schedules as SCHEDULE_ORDER, then sizes, then orders). Two runs
    of one group with the same seed are an error."""
    if check:
        check_configs(runs)
    several_sizes = len({run.train_n for run in runs}) > 1
    groups: dict[tuple, Group] = {}
    for run in runs:
        order, estimator = _order_key(run), estimator_key(run)
        variant = order or (estimator if estimator not in (None, EXACT_ESTIMATOR) else None)
        key = (run.schedule, run.train_n, variant)
        if key not in groups:
            name = run.schedule + (f"/{variant}" if variant else "") + (f"@n{_bucket(run.train_n)}" if several_sizes else "")
            groups[key] = Group(name, run.schedule, run.train_n, order, {}, estimator)
        group = groups[key]
        if run.seed in group.runs:
            raise ReportError(f"{group.runs[run.seed].rel} and {run.rel}: two runs of group {group.name!r} with "
                              f"seed {run.seed}; a group averages different seeds (move one aside)")
        group.runs[run.seed] = run

    def sort_key(key: tuple) -> tuple:
        schedule, n, order = key  # order: the variant (a random or fixed order, FUN's estimator)
        rank = SCHEDULE_ORDER.index(schedule) if schedule in SCHEDULE_ORDER else len(SCHEDULE_ORDER)
        number = re.fullmatch(r"order(-?\d+)", order or "")
        return (n is None, n or 0, rank, schedule, number is None, int(number.group(1)) if number else 0, order or "")

    ordered = {}
    for key in sorted(groups, key=sort_key):
        group = groups[key]
        group.runs = dict(sorted(group.runs.items()))
        ordered[group.name] = group
    return ordered

