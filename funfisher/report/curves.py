"""tr(F) curves and unfreezing orders from the runs' logs: Figure 3 (tr(F) per unit and summed, over
seeds), Figure 5 (the unfreezing order against top-down, Kendall tau) and the random-order study of
Section 5.2 (footnote 10's groups, each order's tr(F) statistics against its score).

* **Kendall tau** (Figure 5): tau-b between each run's unfreeze steps (schedule log) and the
  top-down order (unit L-1 first); 1 is GU's order. Units never released rank last, tied.
* **random orders** (Section 5.2): the random/fixed orders (and GU as the top-down order, "the
  10th schedule"), grouped as footnote 10 does (best ungrouped order, every order within 1
  point of it), with each order's tr(F) statistics (area under the tr(F)-summed-over-units curve
  in the early window, its peak and width) and their Spearman and Kendall correlation with the
  orders' cross-lingual scores.
* **estimators** (the study's C4): FUN with another tr(F) estimator (e.g. Algorithm 2's batch
  estimator with argmax labels) against FUN with the exact one (Eq. 1, sampled labels), seed by
  seed: how many of the tr(F) decisions (selection records with a ranking) released other units,
  the first step where they did, and tau-b between the two runs' unfreeze steps.
"""
from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .. import stats
from ..io.runs import TRAIN_LOG, read_jsonl
from ..schedules import unfreeze_steps
from .runs import Group, Run

ORDER_SCHEDULES = ("random", "fixed")  # one group per order (Section 5.2)


def fisher_tracks(run: Run) -> dict[str, Any]:
    """The run's tracked tr(F): steps, per unit, summed over all units, mean over trainable units."""
    records = sorted((r for r in run.result.fisher if r.get("purpose") == "track"), key=lambda r: r["step"])
    return {
        "steps": [int(r["step"]) for r in records],
        "units": {int(u): [float(r["values"].get(u, math.nan)) for r in records]
                  for u in (records[0]["values"] if records else {})},
        "sum": [math.fsum(float(v) for v in r["values"].values()) for r in records],
        "mean_trainable": [math.nan if r.get("mean_trainable") is None else float(r["mean_trainable"]) for r in records],
    }


def validation_curve(run: Run) -> tuple[list[int], list[float]]:
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


def group_curves(group: Group) -> dict[str, Any] | None:
    """Figure-3 data: mean (and min-max over seeds) of each tracked curve, at the steps every seed has."""
    tracks = [fisher_tracks(run) for run in group.runs.values()]
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


def kendall_and_order(group: Group) -> tuple[dict[str, Any], dict[str, Any]] | None:
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
    tau = {**stats.by_seed(taus), "variant": "tau-b", "against": f"top-down (unit {n - 1} first, then {n - 2}, ..., 0)"}
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
    track = fisher_tracks(run)
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


def random_orders(groups: list[Group], early_steps: int | None) -> dict[str, Any] | None:
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



def decisions(run: Run) -> list[tuple[int, list[int]]]:
    """The run's tr(F) decisions: (step, units released), the selection records with a ranking."""
    return [(record["step"], sorted(record["units"])) for record in run.result.schedule or [] if "ranking" in record]


def estimator_agreement(group: Group, exact: Group) -> dict[str, Any]:
    """C4 (module docstring): `group`'s FUN decisions against `exact`'s, per seed both ran."""
    seeds = [s for s in group.seeds if s in exact.runs]
    per_seed: dict[str, Any] = {}
    for s in seeds:
        mine, theirs = decisions(group.runs[s]), decisions(exact.runs[s])
        differing = [step for (step, a), (_, b) in zip(mine, theirs) if a != b]
        steps = [_unfreeze_positions(r) for r in (group.runs[s], exact.runs[s])]
        tau = None
        if all(steps):
            tau = stats.kendall_tau(*[[math.inf if w is None else w for w in found[1]] for found in steps])
        per_seed[str(s)] = {"decisions": min(len(mine), len(theirs)), "differing": len(differing),
                            "first_differing_step": differing[0] if differing else None, "tau_b": tau}
    total = sum(v["decisions"] for v in per_seed.values())
    return {"against": exact.name, "seeds": per_seed, "decisions": total,
            "differing": sum(v["differing"] for v in per_seed.values()),
            "tau_b": stats.by_seed({int(s): v["tau_b"] for s, v in per_seed.items()})}
