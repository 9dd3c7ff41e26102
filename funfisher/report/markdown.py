"""report.md: report.json's tables, for a human."""
from __future__ import annotations

from typing import Any


def _f(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def mean_pm_std(summary: dict[str, Any]) -> str:
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
            lines.append(f"| {name} | {e['n_seeds']} | {mean_pm_std(src) if src else '–'} | {mean_pm_std(low) if low else '–'} | "
                         f"{mean_pm_std(e['xling_avg'])} |")
        study = size.get("random_orders")
        if study:
            p = study["pooled"]
            lines.append(f"| random, pooled over orders | {p['n_runs']} runs | "
                         f"{mean_pm_std(p['languages'][source]) if source in p['languages'] else '–'} | "
                         f"{mean_pm_std(p['languages'][lowest['language']]) if lowest else '–'} | {mean_pm_std(p['xling_avg'])} |")
        if lowest:
            lines += ["", f"Lowest: {lowest['language']}, the lowest target language of {lowest['chosen_by']} "
                          f"(as Table 1: one language per dataset and model, every schedule's score on it)."]
        lines.append("")
    langs = data["languages"]
    lines += ["## Per language (mean ± std over seeds)", "",
              "| schedule | " + " | ".join(langs) + " | avg |", "|---|" + "---:|" * (len(langs) + 1)]
    for name, e in sched.items():
        lines.append(f"| {name} | " + " | ".join(mean_pm_std(e["languages"][l]) for l in langs) + f" | {mean_pm_std(e['xling_avg'])} |")
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
    if data.get("estimators"):
        lines += ["## FUN's tr(F) estimator against the exact one", "",
                  "Per seed both ran: tr(F) decisions that released other units than the exact estimator's "
                  "(first such step), tau-b between the two unfreeze orders, the paired difference of the "
                  "average (95% CI) and the seconds spent on decisions per run.", "",
                  "| estimator | against | decisions differing | per seed (first step) | tau-b mean | "
                  "avg diff [95% CI] | decision s | ratio |", "|---|---|---:|---|---:|---|---:|---:|"]
        for name, e in data["estimators"].items():
            per_seed = ", ".join(f"{s}: {v['differing']}/{v['decisions']}"
                                 + (f" ({v['first_differing_step']})" if v["first_differing_step"] is not None else "")
                                 for s, v in e["seeds"].items())
            x = e["paired"]["xling_avg"]
            ci = "–" if x.get("ci95") is None else f"[{_f(x['ci95'][0])}, {_f(x['ci95'][1])}]"
            sec = e["fisher_select_seconds"]
            ratio = "–" if sec["ratio"] is None else f"{sec['ratio']:.2f}x"
            lines.append(f"| {name} | {e['against']} | {e['differing']}/{e['decisions']} | {per_seed} | "
                         f"{_f(e['tau_b']['mean'], 3)} | {_f(x['mean_diff'])} {ci} | {_f(sec[name], 1)} | {ratio} |")
        lines.append("")
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

