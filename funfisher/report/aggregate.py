"""The report's numbers: mean ± std per group, the Lowest language, paired differences against
standard, cost; `build_report` puts them (and `curves`' Figure 3-5 data) into report.json's layout.

The statistics (computed by funfisher.stats):

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

Kendall tau and the random-order study are defined in `funfisher.report.curves`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import stats
from ..errors import UserError
from ..io.runs import RESULTS, read_json
from .curves import estimator_agreement, kendall_and_order, random_orders
from .runs import EXACT_ESTIMATOR, Group, ReportError, Run, find_run_dirs, group_runs, load_run

TIMING_KEYS = ("train", "fisher_select", "fisher_track", "validation", "zero_shot")
DEFAULT_BOOTSTRAP = 2000
DEFAULT_BOOTSTRAP_SEED = 0
TIE = 1e-9  # a paired seed difference this small favours neither side
STANDARD = "standard"

LOWEST_DEFINITION = (
    "Table 1's Lowest: the target language (not the source) on which standard training has the lowest "
    "mean score, for the same train size (without standard runs: the lowest mean over all groups' means); "
    "every group's mean/std/seeds on that language. own_lowest: the group's own lowest-mean target language.")


# ==================================================================================================
# the statistics
# ==================================================================================================
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
    languages = {lang: stats.by_seed({s: r.values.get(lang) for s, r in group.runs.items()}) for lang in first.languages}
    return {
        "schedule": group.schedule, "train_n": group.train_n, "order": group.order,
        "n_seeds": len(group.runs), "runs": {str(s): r.rel for s, r in group.runs.items()},
        "languages": languages,
        "xling_avg": stats.by_seed({s: r.xling for s, r in group.runs.items()}),
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


def _estimator_entry(group: Group, exact: Group, *, n_boot: int, seed: int) -> dict[str, Any]:
    """C4: the decisions (`curves.estimator_agreement`), the score difference and the decisions' cost."""
    def select_seconds(g: Group) -> float | None:
        seconds = [r.result.timings_seconds.get("fisher_select") for r in g.runs.values()]
        return stats.mean([t for t in seconds if t is not None])
    mine, theirs = select_seconds(group), select_seconds(exact)
    return {**estimator_agreement(group, exact), "paired": paired_against(group, exact, n_boot=n_boot, seed=seed),
            "fisher_select_seconds": {group.name: mine, exact.name: theirs,
                                      "ratio": mine / theirs if mine is not None and theirs else None}}


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
    estimators: dict[str, Any] = {}
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
        study = random_orders(members, early_steps)
        if study:
            train_sizes[bucket]["random_orders"] = study
        exact = next((g for g in members if g.estimator == EXACT_ESTIMATOR), None)
        for g in members:
            if g.estimator not in (None, EXACT_ESTIMATOR) and exact is not None:
                estimators[g.name] = _estimator_entry(g, exact, n_boot=n_boot, seed=bootstrap_seed)
    kendall, orders = {}, {}
    for name, g in groups.items():
        found = kendall_and_order(g)
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
        "estimators": estimators,
        "cost": _cost(groups),
        "definitions": {
            "values": f"percent: {first.metric} of the primary metric, recomputed from the predictions",
            "std": "sample standard deviation over seeds (n-1); null for one seed",
            "xling_avg": "mean over the target languages results.json averages (without the source language)",
            "lowest": LOWEST_DEFINITION,
            "paired": "group minus standard, same seed, same examples; ci95 from the paired bootstrap (see bootstrap)",
            "kendall_tau": "tau-b of each seed's unfreeze steps against top-down; null when undefined "
                           "(every unit released together)",
            "names": "schedule; random/fixed orders get /order..., FUN with another tr(F) estimator than "
                     f"{EXACT_ESTIMATOR} /<method>-<labels>; several train sizes add @n<size>",
            "estimators": "FUN with another tr(F) estimator against FUN with the exact one (same train size, "
                          "same seed): tr(F) decisions that released other units, tau-b between the two runs' "
                          "unfreeze steps, the paired score difference, and the seconds spent on decisions",
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

