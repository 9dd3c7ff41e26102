"""`train.py --compare`: several schedules on one model, one after the other, side by side.

Each schedule's run goes to output/<schedule> (a run folder, see `recipe.run_one`); the
comparison adds comparison.json, comparison.md and comparison.png next to them.
"""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any, Mapping

from ..evaluation import average_coverage
from ..io.plots import plot_comparison, plots_available
from ..io.runs import RunLock, atomic_write_json, atomic_write_text, check_run_dir, create_run_dir
from ..runconfig import ConfigError, RunConfig
from ..tasks import Task, get_task
from .checkpoint import plan_run
from .recipe import check_before_training, finished_outputs, run_one
from .results import RunResult


def compare(configs: dict[str, RunConfig], output: Path, resume: bool = False,
            overwrite: bool = False) -> dict[str, RunResult]:
    """Run one configuration per schedule (`{schedule: config}`, each resolved with its own
    `[schedules.<name>]` section), each in output/<schedule>, and tabulate them side by side.

    Every run is checked before the first one trains: its folder (a resumed run's configuration
    must be the one it was made with, so one table never mixes settings), the data, and its
    schedule on this model. The comparison folder is locked while it runs."""
    first = next(iter(configs.values()))
    models = {(c.model.name, c.model.arch) for c in configs.values()}
    if len(models) > 1:
        raise ConfigError(f"--compare needs one model for every schedule, got {sorted(map(str, models))}")
    runs = {name: dataclasses.replace(config, name=f"{config.name}-{name}") for name, config in configs.items()}
    with RunLock(output) as lock:
        check_run_dir(output, resume=resume, overwrite=overwrite)  # never mix into an existing comparison
        for name, config in runs.items():  # with --overwrite the runs go aside with the comparison folder
            plan_run(config, output / name, resume, overwrite, finished_outputs(config))
        base_pm = check_before_training(list(runs.values()))
        create_run_dir(output, resume=resume, overwrite=overwrite, lock=lock)
        results = {}
        for name, config in runs.items():
            # Each run attaches its own adapters to its own copy of the pretrained encoder.
            results[name] = run_one(config, output / name, resume=resume, pm=copy.deepcopy(base_pm))
        table = comparison_table(results, first.adapters.source_language, first.task.kind)
        atomic_write_json(output / "comparison.json", {
            "schedules": list(configs),
            "metric": table["metric"],
            "per_language": table["values"],
            "xling_avg": {name: r.xling_avg for name, r in results.items()},
            "xling_avg_over": table["xling_avg_over"],
            "timings_seconds": {name: r.timings_seconds for name, r in results.items()},
            "fisher_batches_per_decision": {name: r.fisher_summary["batches_per_decision"] for name, r in results.items()},
        })
        atomic_write_text(output / "comparison.md", table["markdown"] + "\n")
        note = plots_available()
        if note is None:
            plot_comparison(table["values"], output / "comparison.png", table["metric"])
        print(table["markdown"])
        if note:
            print(note)
        print(f"\nwritten: {output}/comparison.md, comparison.json" + ("" if note else ", comparison.png") +
              "; per schedule: results.json, summary.md, fisher.png, schedule.png")
    return results


def comparison_table(results: Mapping[str, RunResult], source_language: str = "en",
                     task: str | Task = "classification") -> dict[str, Any]:
    """Per language (rows) x schedule (columns) of `task`'s primary metric (a kind or a Task, as in
    `evaluation.cross_lingual_average`), plus the cross-lingual average. A result needs only
    `metrics`, `xling_avg` and `steps`.

    The average row says which languages it covers (`average_coverage`): one label when every
    schedule averages the same languages, else each cell names its own. The returned dict has
    "metric", "values", "xling_avg_over" ({schedule: coverage}) and "markdown"."""
    names = list(results)
    langs = list(next(iter(results.values())).metrics)
    task = get_task(task)
    values = {n: {lang: task.primary_metric(m) for lang, m in results[n].metrics.items() if "skipped" not in m}
              for n in names}
    metric = task.primary
    lines = [f"| language ({metric}) | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for lang in langs:
        lines.append(f"| {lang} | " + " | ".join(f"{values[n][lang]:.2f}" if lang in values[n] else "skipped"
                                                 for n in names) + " |")
    avg = [results[n].xling_avg for n in names]
    over = {n: average_coverage(results[n].metrics, source_language) for n in names}
    cells = [f"**{a:.2f}**" if a is not None else "-" for a in avg]
    if len({over[n]["text"] for n in names}) == 1:
        label = f"avg without {source_language} ({over[names[0]]['text']})"
    else:
        label = f"avg without {source_language}"
        cells = [f"{cell} ({over[n]['text']})" for cell, n in zip(cells, names)]
    lines.append(f"| **{label}** | " + " | ".join(cells) + " |")
    steps = [str(results[n].steps) for n in names]
    lines.append("| steps | " + " | ".join(steps) + " |")
    return {"metric": metric, "values": values, "xling_avg_over": over, "markdown": "\n".join(lines)}
