"""`eval.py report FOLDER`: the paper's tables and figures from a folder of finished runs.

    python eval.py report runs/S [--bootstrap 2000] [--bootstrap-seed 0] [--early-steps N] [--no-plots]

writes FOLDER/report.md, FOLDER/report.json (strict JSON, atomic) and PNG figures next to them.
FOLDER is any folder of finished runs: every results.json below it is one run (a sweep
`S/<schedule>/[n<size>/]seed<k>/`, `S/random/order<i>/seed<k>/`, or a `train.py --compare`
folder `S/<schedule>/`). Folders moved aside by --overwrite (`*.old-N`) are left out, and
unfinished runs (a config.toml but no results.json) are listed in the notes.

Groups and pairs
----------------
Runs are grouped by schedule (and train size `task.train.n`, if runs differ in it; a random order
`schedule.seed` and a fixed order `schedule.order` are groups of their own: `random/order3`). A
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

The statistics (funfisher.stats)
--------------------------------
* **mean ± std** (Table 1): over a group's seeds, of each seed's value; std is the *sample*
  standard deviation (n-1), i.e. how much one more training run with another seed would vary.
  It is null for a single seed. It says nothing about the finite evaluation set.
* **Lowest** (Table 1): the paper names one language per dataset and model ("Lowest (Sw)") and
  gives every method's score on it: the target language on which *standard* training scores
  lowest (the columns agree with Tables 8-10: mBERT XNLI's Lowest is Sw for every method,
  though GU is lower on Th). Here: the target language with the lowest mean under `standard`
  of the same train size (without standard runs: the lowest mean over all groups' means), and
  each group's mean, std and seeds on it. Each group's own lowest language is there too.
* **paired differences** against `standard`, per language and for the average: for each seed that
  both groups ran, the two runs (same seed, same evaluation examples: the ids must agree) give
  per-example differences d = score_A - score_standard. The mean difference is the mean over
  paired seeds of the difference of the averages. Its 95% interval is a paired two-stage
  percentile bootstrap (B replicates, fixed seed, both in report.json): resample the paired
  seeds with replacement, then per language resample the example indices with replacement, the
  SAME indices for both schedules (and, when every seed evaluated the same examples, the same
  indices for every drawn seed; with a per-seed evaluation subsample each drawn seed gets its
  own; `paired[...]["examples"]` says which). Pairing matters: most of the variation
  between examples (easy and hard ones) is shared by both schedules and cancels in d, so the
  interval measures the difference, not the spread of the test set. Both noise sources a re-run
  of the study would change (training seed, evaluation sample) are in the interval; with 4 seeds
  its seed part is optimistic (a bootstrap of 4 values) and its example part a little wide
  (`stats.paired_bootstrap` says why): it is a measure of the noise, not an exact 95% statement.
  The intervals are percentile intervals. "favours" counts the seeds on which each
  side is ahead (|d| < 1e-9 is a tie).
* **Kendall tau** (Figure 5): tau-b between each run's unfreeze steps (schedule log) and the
  top-down order (unit L-1 first); 1 is GU's order. Units never released rank last, tied.
* **random orders** (Section 5.2): the random/fixed orders (and GU as the top-down order, "the
  10th schedule"), grouped as footnote 10 does (best ungrouped order, every order within 1
  point of it), with each order's tr(F) statistics (area under the tr(F)-summed-over-units curve
  in the early window, its peak and width) and their Spearman and Kendall correlation with the
  orders' cross-lingual scores.

Every number is recomputed from the per-example scores of the saved predictions
(`funfisher.data.predictions.per_example_scores`, the same scoring results.json was made with) and
checked against results.json: a report never differs from its runs.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import stats
from .data import DATASETS
from .data.metrics import get_normalizer
from .data.predictions import per_example_scores, read_predictions
from .errors import UserError
from .evaluation import average_coverage, predictions_path
from .io.runs import CONFIG, PREDICTIONS, RESULTS, TRAIN_LOG, atomic_write_json, atomic_write_text, read_json, read_jsonl
from .runconfig import diff_configs, to_dict
from .schedules import unfreeze_steps
from .tasks import get_task
from .train.results import RunResult

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
TIMING_KEYS = ("train", "fisher_select", "fisher_track", "validation", "zero_shot")
DEFAULT_BOOTSTRAP = 2000
DEFAULT_BOOTSTRAP_SEED = 0
TOLERANCE = 1e-9  # recomputed vs results.json
TIE = 1e-9  # a paired seed difference this small favours neither side
STANDARD = "standard"
FIGURE3_SCHEDULES = ("standard", "gu", "fun")
ORDER_SCHEDULES = ("random", "fixed")  # one group per order (Section 5.2)
SCHEDULE_ORDER = ("standard", "lpft", "gu", "revgu", "fun", "random", "fixed", "surgical")
_OLD = re.compile(r"\.old-\d+$")

LOWEST_DEFINITION = (
    "Table 1's Lowest: the target language (not the source) on which standard training has the lowest "
    "mean score, for the same train size (without standard runs: the lowest mean over all groups' means); "
    "every group's mean/std/seeds on that language. own_lowest: the group's own lowest-mean target language.")


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
        order = _order_key(run)
        key = (run.schedule, run.train_n, order)
        if key not in groups:
            name = run.schedule + (f"/{order}" if order else "") + (f"@n{_bucket(run.train_n)}" if several_sizes else "")
            groups[key] = Group(name, run.schedule, run.train_n, order, {})
        group = groups[key]
        if run.seed in group.runs:
            raise ReportError(f"{group.runs[run.seed].rel} and {run.rel}: two runs of group {group.name!r} with "
                              f"seed {run.seed}; a group averages different seeds (move one aside)")
        group.runs[run.seed] = run

    def sort_key(key: tuple) -> tuple:
        schedule, n, order = key
        rank = SCHEDULE_ORDER.index(schedule) if schedule in SCHEDULE_ORDER else len(SCHEDULE_ORDER)
        number = re.fullmatch(r"order(-?\d+)", order or "")
        return (n is None, n or 0, rank, schedule, number is None, int(number.group(1)) if number else 0, order or "")

    ordered = {}
    for key in sorted(groups, key=sort_key):
        group = groups[key]
        group.runs = dict(sorted(group.runs.items()))
        ordered[group.name] = group
    return ordered


# ==================================================================================================
# the statistics
# ==================================================================================================
def _summary(values: dict[int, float | None]) -> dict[str, Any]:
    """{"mean", "std", "seeds": {"1": v, ...}} over the values that exist."""
    present = [v for v in values.values() if v is not None]
    return {"mean": stats.mean(present), "std": stats.sample_std(present),
            "seeds": {str(seed): v for seed, v in values.items()}}


def _aligned(a: Run, b: Run, lang: str) -> tuple[np.ndarray, np.ndarray]:
    """The per-example scores of two paired runs on the same examples: the same ids in the same
    order, or the same (distinct) ids in another order (re-ordered by id). Anything else is refused."""
    ids_a, ids_b = a.ids[lang], b.ids[lang]
    where = f"{a.rel} and {b.rel}: language {lang}"
    if ids_a == ids_b:
        order = list(range(len(ids_b)))
    else:
        keys_a, keys_b = [_id_key(i) for i in ids_a], [_id_key(i) for i in ids_b]
        if len(set(keys_a)) != len(keys_a) or sorted(keys_a) != sorted(keys_b) or len(set(keys_b)) != len(keys_b):
            raise ReportError(f"{where}: the predictions are not on the same examples (ids differ), so they "
                              f"cannot be paired (same seed should mean the same evaluation examples)")
        where_b = {key: i for i, key in enumerate(keys_b)}
        order = [where_b[key] for key in keys_a]
    gold_b = [b.gold[lang][i] for i in order]
    if gold_b != a.gold[lang]:
        raise ReportError(f"{where}: the same example ids have different gold answers; not the same data")
    return a.scores[lang], b.scores[lang][order]


def _id_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def paired_against(group: Group, standard: Group, *, n_boot: int, seed: int) -> dict[str, Any]:
    """Group minus standard over their common seeds (module docstring): mean differences, paired
    bootstrap intervals, and the seeds favouring each side, per language and for the average."""
    seeds = [s for s in group.seeds if s in standard.runs]
    entry: dict[str, Any] = {"against": standard.name, "seeds": seeds, "n_pairs": len(seeds)}
    if not seeds:
        entry["xling_avg"] = {"mean_diff": None, "ci95": None}
        entry["note"] = f"no seed in common with {standard.name}"
        return entry
    languages = group.first.languages
    xling = group.first.xling_languages
    for s in seeds:
        for a, b in ((group.runs[s], standard.runs[s]), (standard.runs[s], group.runs[s])):
            if a.languages != languages or a.xling_languages != xling:
                raise ReportError(f"{group.first.rel} and {a.rel}: evaluated or averaged languages differ "
                                  f"({languages} / {xling} vs {a.languages} / {a.xling_languages})")
    differences = []
    for s in seeds:
        per_lang = []
        for lang in languages:
            mine, theirs = _aligned(group.runs[s], standard.runs[s], lang)
            per_lang.append(mine - theirs)
        differences.append(per_lang)
    average = [languages.index(lang) for lang in xling] or None
    # crossed (every seed evaluated the same examples) or nested (a per-seed subsample): stats.paired_bootstrap
    shared = [all(group.runs[s].ids[lang] == group.runs[seeds[0]].ids[lang] for s in seeds) for lang in languages]
    boot = stats.paired_bootstrap(differences, n_boot=n_boot, seed=seed, average=average, shared_examples=shared)
    entry["examples"] = {lang: "the same for every seed (resampled once per replicate)" if same else
                         "each seed its own (resampled per drawn seed)" for lang, same in zip(languages, shared)}

    def favours(diffs: list[float]) -> dict[str, int]:
        return {group.name: sum(d > TIE for d in diffs), standard.name: sum(d < -TIE for d in diffs),
                "tie": sum(abs(d) <= TIE for d in diffs)}

    per_seed_lang = {lang: [group.runs[s].values[lang] - standard.runs[s].values[lang] for s in seeds]
                     for lang in languages}
    entry["languages"] = {lang: {**boot["languages"][i], "seeds": dict(zip(map(str, seeds), per_seed_lang[lang])),
                                 "favours": favours(per_seed_lang[lang])}
                          for i, lang in enumerate(languages)}
    if xling:
        per_seed = [group.runs[s].xling - standard.runs[s].xling for s in seeds]
        entry["xling_avg"] = {**boot["average"], "seeds": dict(zip(map(str, seeds), per_seed)),
                              "favours": favours(per_seed)}
    else:
        entry["xling_avg"] = {"mean_diff": None, "ci95": None, "note": "no target language"}
    return entry


def _schedule_entry(group: Group) -> dict[str, Any]:
    first = group.first
    languages = {lang: _summary({s: r.values.get(lang) for s, r in group.runs.items()}) for lang in first.languages}
    return {
        "schedule": group.schedule, "train_n": group.train_n, "order": group.order,
        "n_seeds": len(group.runs), "runs": {str(s): r.rel for s, r in group.runs.items()},
        "languages": languages,
        "xling_avg": _summary({s: r.xling for s, r in group.runs.items()}),
        "xling_avg_over": list(first.xling_languages),
    }


def _lowest(groups: list[Group], entries: dict[str, dict]) -> dict[str, Any] | None:
    """Table 1's Lowest language for one train size (LOWEST_DEFINITION)."""
    targets = groups[0].first.xling_languages
    if not targets:
        return None
    standard = [g for g in groups if g.schedule == STANDARD]
    if standard:
        means = {lang: entries[standard[0].name]["languages"][lang]["mean"] for lang in targets}
        chosen_by = standard[0].name
    else:
        means = {lang: stats.mean([entries[g.name]["languages"][lang]["mean"] for g in groups]) for lang in targets}
        chosen_by = "the mean over all groups (no standard runs)"
    language = min(targets, key=lambda lang: means[lang])  # ties: the first in results order
    return {"language": language, "chosen_by": chosen_by, "reference_mean": means[language]}


# ------------------------------------------------------------------------------ tr(F) and schedules
def _tracks(run: Run) -> dict[str, Any]:
    """The run's tracked tr(F): steps, per unit, summed over all units, mean over trainable units."""
    records = sorted((r for r in run.result.fisher if r.get("purpose") == "track"), key=lambda r: r["step"])
    return {
        "steps": [int(r["step"]) for r in records],
        "units": {int(u): [float(r["values"].get(u, math.nan)) for r in records]
                  for u in (records[0]["values"] if records else {})},
        "sum": [math.fsum(float(v) for v in r["values"].values()) for r in records],
        "mean_trainable": [math.nan if r.get("mean_trainable") is None else float(r["mean_trainable"]) for r in records],
    }


def _validation(run: Run) -> tuple[list[int], list[float]]:
    log = read_jsonl(run.path / TRAIN_LOG)
    points = [(int(r["step"]), float(r["val"])) for r in log if isinstance(r, dict) and "val" in r and "step" in r]
    return [s for s, _ in points], [v for _, v in points]


def _n_units(run: Run) -> int:
    return len(run.result.trainable_parameters.get("units", {}))


def _band(rows: list[list[float]]) -> dict[str, list[float]]:
    arr = np.array(rows, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN steps (no trainable unit yet)
        return {"mean": np.nanmean(arr, axis=0).tolist(), "lo": np.nanmin(arr, axis=0).tolist(),
                "hi": np.nanmax(arr, axis=0).tolist()}


def _group_curves(group: Group) -> dict[str, Any] | None:
    """Figure-3 data: mean (and min-max over seeds) of each tracked curve, at the steps every seed has."""
    tracks = [_tracks(run) for run in group.runs.values()]
    steps = sorted(set.intersection(*(set(t["steps"]) for t in tracks)))
    if not steps:
        return None

    def at(track: dict, series: list[float]) -> list[float]:
        where = {s: i for i, s in enumerate(track["steps"])}
        return [series[where[s]] for s in steps]

    units = sorted(set.intersection(*(set(t["units"]) for t in tracks)))
    return {
        "steps": steps,
        "units": {u: _band([at(t, t["units"][u]) for t in tracks]) for u in units},
        "sum": _band([at(t, t["sum"]) for t in tracks]),
        "mean_trainable": _band([at(t, t["mean_trainable"]) for t in tracks]),
        "n_seeds": len(tracks),
    }


def _unfreeze_positions(run: Run) -> tuple[list[float], list[float | None]] | None:
    """Per unit: its position in the unfreezing order (0 = first, ties averaged, never = last) and
    its unfreeze step (None: never released). None without a schedule log."""
    n = _n_units(run)
    if not run.result.schedule or n == 0:
        return None
    when = unfreeze_steps(run.result.schedule)
    steps = [float(when[u]) if u in when else math.inf for u in range(n)]
    positions = [r - 1 for r in stats.rankdata(steps)]
    return positions, [when.get(u) for u in range(n)]


def _kendall_and_order(group: Group) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Figure 5: each seed's tau-b against top-down, and the mean position of every unit."""
    taus, positions, steps = {}, {}, {}
    for seed, run in group.runs.items():
        found = _unfreeze_positions(run)
        if found is None:
            return None
        pos, when = found
        n = len(pos)
        top_down = [float(n - 1 - u) for u in range(n)]  # unit L-1 first
        taus[seed] = stats.kendall_tau([math.inf if w is None else w for w in when], top_down)
        positions[seed], steps[seed] = pos, when
    n = len(next(iter(positions.values())))
    if any(len(p) != n for p in positions.values()):
        return None
    tau = {**_summary(taus), "variant": "tau-b", "against": f"top-down (unit {n - 1} first, then {n - 2}, ..., 0)"}
    order = {
        "n_units": n,
        "mean_position": {str(u): stats.mean([positions[s][u] for s in positions]) for u in range(n)},
        "min_position": {str(u): min(positions[s][u] for s in positions) for u in range(n)},
        "max_position": {str(u): max(positions[s][u] for s in positions) for u in range(n)},
        "steps": {str(s): {str(u): w for u, w in enumerate(steps[s])} for s in steps},
    }
    return tau, order


def _order_stats(run: Run, early_steps: int | None) -> dict[str, Any]:
    """Section 5.2: the shape of a run's summed tr(F) curve."""
    track = _tracks(run)
    steps, summed = track["steps"], track["sum"]
    window = early_steps if early_steps is not None else max(0, _n_units(run) - 1) * run.result.config.schedule.k
    window = min(window, run.result.steps) if window > 0 else run.result.steps
    out: dict[str, Any] = {"early_window": window, "early_area": None, "peak": None, "peak_step": None,
                           "half_max_width": None, "peak_mean_trainable": None}
    if not steps:
        return out
    peak_i = int(np.argmax(summed))
    above = [s for s, v in zip(steps, summed) if v >= summed[peak_i] / 2]
    mean_trainable = [v for v in track["mean_trainable"] if not math.isnan(v)]
    out.update(early_area=stats.trapezoid_area(steps, summed, until=window), peak=summed[peak_i],
               peak_step=steps[peak_i], half_max_width=above[-1] - above[0],
               peak_mean_trainable=max(mean_trainable) if mean_trainable else None)
    return out


ORDER_STATISTICS = ("early_area", "peak", "peak_step", "half_max_width", "peak_mean_trainable")


def _random_orders(groups: list[Group], early_steps: int | None) -> dict[str, Any] | None:
    """The random-order study of one train size (Section 5.2, footnote 10)."""
    orders = [g for g in groups if g.schedule in ORDER_SCHEDULES]
    if not orders:
        return None
    members = orders + [g for g in groups if g.schedule == "gu"]
    study: dict[str, Any] = {"orders": {}}
    for g in members:
        per_run = {seed: _order_stats(run, early_steps) for seed, run in g.runs.items()}
        when = unfreeze_steps(g.first.result.schedule) if g.first.result.schedule else {}
        entry = {
            "top_down": g.schedule == "gu",
            "unfreeze_order": sorted(when, key=lambda u: (when[u], -u)),
            "n_seeds": len(g.runs),
            "xling_avg": stats.mean([r.xling for r in g.runs.values() if r.xling is not None]),
            "early_window": sorted({s["early_window"] for s in per_run.values()}),
        }
        for name in ORDER_STATISTICS:
            entry[name] = stats.mean([s[name] for s in per_run.values() if s[name] is not None])
        entry["seeds"] = {str(seed): s for seed, s in per_run.items()}
        study["orders"][g.name] = entry
    scores = {name: e["xling_avg"] for name, e in study["orders"].items() if e["xling_avg"] is not None}
    study["footnote10_groups"] = [
        {"orders": group, "xling_avg": stats.mean([scores[o] for o in group]),
         "min": min(scores[o] for o in group), "max": max(scores[o] for o in group)}
        for group in stats.footnote10_groups(scores, delta=1.0)]
    correlations = {}
    for name in ORDER_STATISTICS:
        pairs = [(e[name], e["xling_avg"]) for e in study["orders"].values()
                 if e[name] is not None and e["xling_avg"] is not None]
        enough = len(pairs) >= 3
        correlations[name] = {
            "n_orders": len(pairs),
            "spearman": stats.spearman(*zip(*pairs)) if enough else None,
            "kendall_tau": stats.kendall_tau(*zip(*pairs)) if enough else None,
        }
    study["correlation_with_xling_avg"] = correlations
    pooled = [r for g in orders for r in g.runs.values()]
    study["pooled"] = {
        "what": f"every run of the {len(orders)} order(s) as one group, like Table 1's +Rand",
        "n_runs": len(pooled),
        "xling_avg": {"mean": stats.mean([r.xling for r in pooled if r.xling is not None]),
                      "std": stats.sample_std([r.xling for r in pooled if r.xling is not None])},
        "languages": {lang: {"mean": stats.mean([r.values[lang] for r in pooled]),
                             "std": stats.sample_std([r.values[lang] for r in pooled])}
                      for lang in orders[0].first.languages},
    }
    study["definitions"] = {
        "early_area": "trapezoid area under tr(F) summed over all units (tracking records) for steps <= the "
                      "early window: --early-steps, else (units - 1) * k, the unfreezing phase",
        "peak": "the largest tracked tr(F) summed over all units; peak_step: where",
        "half_max_width": "steps between the first and the last tracked step at >= half the peak (summed tr(F))",
        "peak_mean_trainable": "the largest tr(F) averaged over the trainable units (its population changes "
                               "at every unfreeze)",
        "footnote10_groups": "best ungrouped order, then every ungrouped order at most 1 point below it",
        "members": "random and fixed orders, and gu as the top-down order (Section 5.2's 10th schedule); "
                   "statistics are means over each order's seeds",
    }
    return study


def _cost(groups: dict[str, Group]) -> dict[str, Any]:
    """Part 6: seconds per run and per sweep in training, FUN selection, tracking, validation, evaluation."""
    runs, per_group = {}, {}
    totals = {key: 0.0 for key in TIMING_KEYS}
    for name, group in groups.items():
        rows = []
        for run in group.runs.values():
            t = run.result.timings_seconds
            row = {key: (float(t[key]) if key in t else None) for key in TIMING_KEYS}
            row["total"] = math.fsum(v for v in row.values() if v is not None)
            runs[run.rel] = row
            rows.append(row)
            for key in TIMING_KEYS:
                totals[key] += row[key] or 0.0
        per_group[name] = {key: {"mean": stats.mean([r[key] for r in rows if r[key] is not None]),
                                 "sum": math.fsum(r[key] for r in rows if r[key] is not None)}
                           for key in (*TIMING_KEYS, "total")}
    for name, group in groups.items():
        std = next((g for g in groups.values() if g.schedule == STANDARD and g.train_n == group.train_n), None)
        mine, theirs = per_group[name]["total"]["mean"], per_group[std.name]["total"]["mean"] if std else None
        per_group[name]["total_relative_to_standard"] = mine / theirs if mine is not None and theirs else None
    return {"unit": "seconds", "keys": list(TIMING_KEYS), "runs": runs, "schedules": per_group,
            "sweep": {**totals, "total": math.fsum(totals.values())}}


# ==================================================================================================
# the report
# ==================================================================================================
@dataclass
class Report:
    """report.json's content (`data`) and what the figures need besides."""

    folder: Path
    data: dict[str, Any]
    groups: dict[str, Group]
    notes: list[str]


def build_report(folder: Path, *, n_boot: int = DEFAULT_BOOTSTRAP, bootstrap_seed: int = DEFAULT_BOOTSTRAP_SEED,
                 early_steps: int | None = None) -> Report:
    """Read, check and recompute every run below `folder`; the statistics (module docstring)."""
    folder = Path(folder)
    dirs, notes = find_run_dirs(folder)
    if not dirs:
        raise ReportError(f"{folder}: no finished runs ({RESULTS}) below this folder")
    notes += _sweep_notes(folder)
    runs = [load_run(d, folder) for d in dirs]
    groups = group_runs(runs)
    first = runs[0]
    for run in runs[1:]:
        if run.languages != first.languages or run.xling_languages != first.xling_languages:
            raise ReportError(f"{first.rel} and {run.rel}: evaluated languages {first.languages} (averaged "
                              f"{first.xling_languages}) vs {run.languages} (averaged {run.xling_languages}); "
                              f"their averages are not comparable")
    skipped = [lang for lang, m in first.result.metrics.items() if "skipped" in m]
    if skipped:
        notes.append(f"skipped languages (no language adapter), in no table: {', '.join(skipped)}")
    entries = {name: _schedule_entry(g) for name, g in groups.items()}
    buckets: dict[str, list[Group]] = {}
    for g in groups.values():
        buckets.setdefault(g.bucket, []).append(g)
    paired: dict[str, Any] = {}
    train_sizes: dict[str, Any] = {}
    for bucket, members in buckets.items():
        lowest = _lowest(members, entries)
        if lowest:
            for g in members:
                lang = lowest["language"]
                own = min(g.first.xling_languages, key=lambda l: entries[g.name]["languages"][l]["mean"])
                entries[g.name]["lowest"] = {"language": lang, **entries[g.name]["languages"][lang]}
                entries[g.name]["own_lowest"] = {"language": own, "mean": entries[g.name]["languages"][own]["mean"]}
        standard = next((g for g in members if g.schedule == STANDARD), None)
        if standard is None:
            notes.append(f"train size {bucket}: no standard runs, so no paired differences")
        else:
            for g in members:
                if g is not standard:
                    paired[g.name] = paired_against(g, standard, n_boot=n_boot, seed=bootstrap_seed)
        train_sizes[bucket] = {"train_n": members[0].train_n, "schedules": [g.name for g in members],
                               "lowest": lowest}
        study = _random_orders(members, early_steps)
        if study:
            train_sizes[bucket]["random_orders"] = study
    kendall, orders = {}, {}
    for name, g in groups.items():
        found = _kendall_and_order(g)
        if found and any(v is not None for v in found[0]["seeds"].values()):
            kendall[name], orders[name] = found
    data = {
        "folder": str(folder),
        "metric": first.metric,
        "kind": first.kind,
        "dataset": first.result.config.task.evaluate.dataset,
        "split": first.result.config.task.evaluate.split,
        "source_language": first.result.source_language,
        "languages": first.languages,
        "xling_avg_over": first.xling_languages,
        "n_runs": len(runs),
        "schedules": entries,
        "paired": paired,
        "bootstrap": {"B": n_boot, "seed": bootstrap_seed, "level": 0.95, "method": "percentile",
                      "resampled": "paired seeds with replacement; then per language example indices with "
                                   "replacement, the same for both schedules (and for every drawn seed when all "
                                   "seeds evaluated the same examples; see paired[...].examples)",
                      "rng": "numpy.random.default_rng(seed), fresh for every compared schedule"},
        "kendall_tau": kendall,
        "unfreezing_order": orders,
        "train_sizes": train_sizes,
        "cost": _cost(groups),
        "definitions": {
            "values": f"percent: {first.metric} of the primary metric, recomputed from the predictions",
            "std": "sample standard deviation over seeds (n-1); null for one seed",
            "xling_avg": "mean over the target languages results.json averages (without the source language)",
            "lowest": LOWEST_DEFINITION,
            "paired": "group minus standard, same seed, same examples; ci95 from the paired bootstrap (see bootstrap)",
            "kendall_tau": "tau-b of each seed's unfreeze steps against top-down; null when undefined "
                           "(every unit released together)",
            "names": "schedule; random/fixed orders get /order...; several train sizes add @n<size>",
        },
        "notes": notes,
        "figures": [],
    }
    return Report(folder, data, groups, notes)


def _sweep_notes(folder: Path) -> list[str]:
    """What sweep.json (train.py's sweep) says about cells that did not finish; read defensively."""
    path = folder / "sweep.json"
    if not path.is_file():
        return []
    try:
        counts = read_json(path).get("counts", {})
        failed, pending = int(counts.get("failed", 0)), int(counts.get("pending", 0))
    except (UserError, AttributeError, TypeError, ValueError):
        return ["sweep.json: not read (not the expected format); the report covers the finished runs it found"]
    if failed or pending:
        return [f"sweep.json: {failed} cell(s) failed and {pending} pending; the report covers only finished runs"]
    return []


def write_report(folder: Path, *, n_boot: int = DEFAULT_BOOTSTRAP, bootstrap_seed: int = DEFAULT_BOOTSTRAP_SEED,
                 early_steps: int | None = None, plots: bool = True) -> dict[str, Any]:
    """`build_report`, the figures, then report.md and report.json (atomic). Returns report.json's data."""
    report = build_report(folder, n_boot=n_boot, bootstrap_seed=bootstrap_seed, early_steps=early_steps)
    if plots:
        from .io.plots import plots_available

        reason = plots_available()
        if reason is None:
            report.data["figures"] = make_figures(report)
        else:
            report.notes.append(f"figures: {reason}")
    else:
        report.notes.append("figures: not drawn (--no-plots)")
    atomic_write_text(report.folder / REPORT_MD, render_markdown(report.data))
    atomic_write_json(report.folder / REPORT_JSON, report.data)
    return report.data


# ------------------------------------------------------------------------------------------ figures
def make_figures(report: Report) -> list[str]:
    """The PNGs (Figures 3, 4, 5 style and per-language scores), per train size; their file names."""
    from .io.plots import plot_fisher_curves, plot_language_scores, plot_random_orders, plot_unfreezing_order

    data, written = report.data, []
    several = len(data["train_sizes"]) > 1
    for bucket in data["train_sizes"]:
        suffix = f"-n{bucket}" if several else ""
        members = [g for g in report.groups.values() if g.bucket == bucket]

        def out(name: str) -> Path:
            return report.folder / f"{name}{suffix}.png"

        curves = {g.name: c for g in members if g.schedule in FIGURE3_SCHEDULES and (c := _group_curves(g))}
        if curves and plot_fisher_curves(curves, out("fisher_curves"), title="tr(F) during training (Figure 3 style)"):
            written.append(out("fisher_curves").name)
        study = data["train_sizes"][bucket].get("random_orders")
        if study:
            lines = {}
            for name in study["orders"]:
                g = report.groups[name]
                normalized, validation = [], []
                for run in g.runs.values():
                    t = _tracks(run)
                    top = max(t["sum"]) if t["sum"] else 0.0
                    normalized.append((t["steps"], [v / top for v in t["sum"]] if top > 0 else t["sum"]))
                    validation.append(_validation(run))
                lines[name] = {"fisher": _mean_curve(normalized), "val": _mean_curve(validation),
                               "xling": study["orders"][name]["xling_avg"]}
            if plot_random_orders(lines, out("random_orders"), metric=data["metric"],
                                  groups=[g["orders"] for g in study["footnote10_groups"]]):
                written.append(out("random_orders").name)
        orders = {name: {**data["unfreezing_order"][name], "tau": data["kendall_tau"][name]["mean"]}
                  for name in data["unfreezing_order"] if report.groups[name].bucket == bucket
                  and report.groups[name].schedule == "fun"}
        if orders and plot_unfreezing_order(orders, out("unfreezing_order")):
            written.append(out("unfreezing_order").name)
        table = {}
        for g in members:
            if g.schedule in ORDER_SCHEDULES:
                continue
            entry = data["schedules"][g.name]
            table[g.name] = {**{lang: (v["mean"], v["std"]) for lang, v in entry["languages"].items()},
                             "avg": (entry["xling_avg"]["mean"], entry["xling_avg"]["std"])}
        if study:
            pooled = study["pooled"]
            table[f"random (pooled, {len(study['orders']) - sum(e['top_down'] for e in study['orders'].values())} "
                  f"orders)"] = {**{lang: (v["mean"], v["std"]) for lang, v in pooled["languages"].items()},
                                 "avg": (pooled["xling_avg"]["mean"], pooled["xling_avg"]["std"])}
        if table and plot_language_scores(table, out("per_language"), metric=data["metric"],
                                          title=f"{data['dataset']} {data['split']}: mean ± std over seeds"):
            written.append(out("per_language").name)
    return written


def _mean_curve(series: list[tuple[list, list]]) -> tuple[list, list]:
    """The mean over runs at the steps all runs have."""
    series = [(s, v) for s, v in series if s]
    if not series:
        return [], []
    steps = sorted(set.intersection(*(set(s) for s, _ in series)))
    maps = [dict(zip(s, v)) for s, v in series]
    return steps, [stats.mean([m[step] for m in maps]) for step in steps]


# ----------------------------------------------------------------------------------------- markdown
def _f(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _pm(summary: dict[str, Any]) -> str:
    return _f(summary["mean"]) + ("" if summary["std"] is None else f" ± {_f(summary['std'])}")


def render_markdown(data: dict[str, Any]) -> str:
    """report.md: the tables of report.json, for a human."""
    metric, source = data["metric"], data["source_language"]
    sched = data["schedules"]
    lines = [f"# Report: {data['folder']}", "",
             f"{data['n_runs']} runs in {len(sched)} groups; {data['dataset']} ({data['split']}), metric **{metric}** "
             f"(percent), recomputed from each run's saved predictions and checked against its results.json. "
             f"Average: over {', '.join(data['xling_avg_over']) or 'no language'} (without the source language "
             f"{source}). ± is the sample std over seeds (none for one seed).", ""]
    for bucket, size in data["train_sizes"].items():
        lowest = size["lowest"]
        title = "## Table 1 style" + (f" (train size {bucket})" if len(data["train_sizes"]) > 1 else "")
        low_head = f"Lowest ({lowest['language']})" if lowest else "Lowest"
        lines += [title, "", f"| schedule | seeds | {source} | {low_head} | Average |", "|---|---:|---:|---:|---:|"]
        for name in size["schedules"]:
            e = sched[name]
            src = e["languages"].get(source)
            low = e.get("lowest")
            lines.append(f"| {name} | {e['n_seeds']} | {_pm(src) if src else '–'} | {_pm(low) if low else '–'} | "
                         f"{_pm(e['xling_avg'])} |")
        study = size.get("random_orders")
        if study:
            p = study["pooled"]
            lines.append(f"| random, pooled over orders | {p['n_runs']} runs | "
                         f"{_pm(p['languages'][source]) if source in p['languages'] else '–'} | "
                         f"{_pm(p['languages'][lowest['language']]) if lowest else '–'} | {_pm(p['xling_avg'])} |")
        if lowest:
            lines += ["", f"Lowest: {lowest['language']}, the lowest target language of {lowest['chosen_by']} "
                          f"(as Table 1: one language per dataset and model, every schedule's score on it)."]
        lines.append("")
    langs = data["languages"]
    lines += ["## Per language (mean ± std over seeds)", "",
              "| schedule | " + " | ".join(langs) + " | avg |", "|---|" + "---:|" * (len(langs) + 1)]
    for name, e in sched.items():
        lines.append(f"| {name} | " + " | ".join(_pm(e["languages"][l]) for l in langs) + f" | {_pm(e['xling_avg'])} |")
    lines += ["", "## Average per seed", "", "| schedule | per seed |", "|---|---|"]
    for name, e in sched.items():
        lines.append(f"| {name} | " + ", ".join(f"{s}: {_f(v)}" for s, v in e["xling_avg"]["seeds"].items()) + " |")
    lines.append("")
    b = data["bootstrap"]
    if data["paired"]:
        lines += ["## Paired differences against standard", "",
                  f"Same seed, same evaluation examples. 95% interval: paired bootstrap, B = {b['B']}, seed {b['seed']} "
                  f"({b['resampled']}). Seeds: how many favour the schedule / standard / neither.", "",
                  "| schedule | pairs | mean diff (avg) | 95% CI | seeds (+ / − / =) |", "|---|---:|---:|---|---|"]
        for name, p in data["paired"].items():
            x = p["xling_avg"]
            ci = "–" if x.get("ci95") is None else f"[{_f(x['ci95'][0])}, {_f(x['ci95'][1])}]"
            fav = x.get("favours")
            fav_text = "–" if not fav else f"{fav[name]} / {fav[p['against']]} / {fav['tie']}"
            lines.append(f"| {name} − {p['against']} | {p['n_pairs']} | {_f(x['mean_diff'])} | {ci} | {fav_text} |")
        lines += ["", "Per language (mean diff [95% CI]):", "",
                  "| schedule | " + " | ".join(langs) + " |", "|---|" + "---|" * len(langs)]
        for name, p in data["paired"].items():
            if "languages" in p:
                lines.append(f"| {name} | " + " | ".join(
                    f"{_f(p['languages'][l]['mean_diff'])} [{_f(p['languages'][l]['ci95'][0])}, "
                    f"{_f(p['languages'][l]['ci95'][1])}]" for l in langs) + " |")
        lines.append("")
    if data["kendall_tau"]:
        lines += ["## Unfreezing order against top-down (Figure 5)", "",
                  "Kendall tau-b of each seed's unfreeze steps against the top-down order (1: GU's order).", "",
                  "| schedule | mean | per seed |", "|---|---:|---|"]
        for name, t in data["kendall_tau"].items():
            per_seed = ", ".join(f"{s}: {_f(v, 3)}" for s, v in t["seeds"].items())
            lines.append(f"| {name} | {_f(t['mean'], 3)} | {per_seed} |")
        lines.append("")
    for bucket, size in data["train_sizes"].items():
        study = size.get("random_orders")
        if not study:
            continue
        lines += ["## Random orders (Section 5.2)" + (f", train size {bucket}" if len(data["train_sizes"]) > 1 else ""), "",
                  "| order | top-down | seeds | unfreezing order | avg | early area | peak | peak step | width |",
                  "|---|---|---:|---|---:|---:|---:|---:|---:|"]
        for name, o in study["orders"].items():
            lines.append(f"| {name} | {'yes' if o['top_down'] else ''} | {o['n_seeds']} | "
                         f"{' '.join(map(str, o['unfreeze_order']))} | {_f(o['xling_avg'])} | {_f(o['early_area'], 4)} | "
                         f"{_f(o['peak'], 4)} | {_f(o['peak_step'], 0)} | {_f(o['half_max_width'], 0)} |")
        lines += ["", "Footnote-10 groups (best ungrouped order, and all within 1 point of it):", ""]
        for i, g in enumerate(study["footnote10_groups"], 1):
            lines.append(f"{i}. {', '.join(g['orders'])}: avg {_f(g['xling_avg'])} ({_f(g['min'])}–{_f(g['max'])})")
        lines += ["", "Rank correlation of each tr(F) statistic with the cross-lingual average, over orders "
                      "(none below 3 orders):", "",
                  "| statistic | orders | Spearman | Kendall tau-b |", "|---|---:|---:|---:|"]
        for name, c in study["correlation_with_xling_avg"].items():
            lines.append(f"| {name} | {c['n_orders']} | {_f(c['spearman'], 3)} | {_f(c['kendall_tau'], 3)} |")
        lines += ["", "Definitions: " + "; ".join(f"{k}: {v}" for k, v in study["definitions"].items()) + ".", ""]
    cost = data["cost"]
    lines += ["## Cost (seconds, mean per run)", "",
              "| schedule | " + " | ".join(cost["keys"]) + " | total | vs standard |",
              "|---|" + "---:|" * (len(cost["keys"]) + 2)]
    for name, c in cost["schedules"].items():
        rel = c["total_relative_to_standard"]
        lines.append(f"| {name} | " + " | ".join(_f(c[k]["mean"], 1) for k in cost["keys"]) +
                     f" | {_f(c['total']['mean'], 1)} | {'–' if rel is None else f'{rel:.2f}x'} |")
    lines.append("| **whole folder (sum)** | " + " | ".join(_f(cost["sweep"][k], 1) for k in cost["keys"]) +
                 f" | {_f(cost['sweep']['total'], 1)} | |")
    lines.append("")
    if data["figures"]:
        lines += ["## Figures", ""] + [f"![{name}]({name})" for name in data["figures"]] + [""]
    if data["notes"]:
        lines += ["## Notes", ""] + [f"- {n}" for n in data["notes"]] + [""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", type=Path, help="a folder of finished runs (a sweep or a --compare folder)")
    p.add_argument("--bootstrap", type=int, default=DEFAULT_BOOTSTRAP, metavar="B",
                   help=f"bootstrap replicates for the paired intervals (default {DEFAULT_BOOTSTRAP})")
    p.add_argument("--bootstrap-seed", type=int, default=DEFAULT_BOOTSTRAP_SEED,
                   help=f"seed of the bootstrap's random numbers (default {DEFAULT_BOOTSTRAP_SEED})")
    p.add_argument("--early-steps", type=int, default=None, metavar="N",
                   help="random orders: the early window of the tr(F) area (default: (units - 1) * k)")
    p.add_argument("--no-plots", action="store_true", help="write report.md and report.json only")


def main(argv: list[str] | None = None) -> int:
    """`eval.py report FOLDER ...` (argv without the "report")."""
    parser = argparse.ArgumentParser(prog="eval.py report", description="tables, paired statistics and figures "
                                     "from a folder of finished runs (writes report.md, report.json, PNGs)")
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.bootstrap < 1:
        parser.error("--bootstrap must be >= 1")
    if args.early_steps is not None and args.early_steps < 1:
        parser.error("--early-steps must be >= 1")
    try:
        data = write_report(args.folder, n_boot=args.bootstrap, bootstrap_seed=args.bootstrap_seed,
                            early_steps=args.early_steps, plots=not args.no_plots)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, e in data["schedules"].items():
        print(f"{name}: average {_pm(e['xling_avg'])} over {e['n_seeds']} seed(s)")
    print(f"written: {args.folder / REPORT_MD}, {args.folder / REPORT_JSON}"
          + "".join(f", {name}" for name in data["figures"]))
    return 0
