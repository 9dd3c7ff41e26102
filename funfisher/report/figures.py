"""The report's PNGs: Figure 3 (tr(F) curves), Figure 4 (random orders), Figure 5 (FUN's order)
styles and the per-language scores, drawn by `io.plots` (matplotlib, an optional extra)."""
from __future__ import annotations

from pathlib import Path

from .. import stats
from .aggregate import Report
from .curves import ORDER_SCHEDULES, fisher_tracks, group_curves, validation_curve

FIGURE3_SCHEDULES = ("standard", "gu", "fun")


def make_figures(report: Report) -> list[str]:
    """The PNGs (Figures 3, 4, 5 style and per-language scores), per train size; their file names."""
    from ..io.plots import plot_fisher_curves, plot_language_scores, plot_random_orders, plot_unfreezing_order

    data, written = report.data, []
    several = len(data["train_sizes"]) > 1
    for bucket in data["train_sizes"]:
        suffix = f"-n{bucket}" if several else ""
        members = [g for g in report.groups.values() if g.bucket == bucket]

        def out(name: str) -> Path:
            return report.folder / f"{name}{suffix}.png"

        curves = {g.name: c for g in members if g.schedule in FIGURE3_SCHEDULES and (c := group_curves(g))}
        if curves and plot_fisher_curves(curves, out("fisher_curves"), title="tr(F) during training (Figure 3 style)"):
            written.append(out("fisher_curves").name)
        study = data["train_sizes"][bucket].get("random_orders")
        if study:
            lines = {}
            for name in study["orders"]:
                g = report.groups[name]
                normalized, validation = [], []
                for run in g.runs.values():
                    t = fisher_tracks(run)
                    top = max(t["sum"]) if t["sum"] else 0.0
                    normalized.append((t["steps"], [v / top for v in t["sum"]] if top > 0 else t["sum"]))
                    validation.append(validation_curve(run))
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

