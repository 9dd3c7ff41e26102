"""PNG plots of a run: tr(F) over training (paper Figures 3/4) and the schedule vs top-down (Figure 5).

matplotlib is an optional extra (`pip install matplotlib`, or `.[plots]`). Without it the plots are
skipped and `plots_available()` says why; nothing else depends on it.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

from ..schedules import make_schedule, simulate, unfreeze_steps
from .runs import atomic_write_bytes


def plots_available() -> str | None:
    """None if matplotlib can be used, else the reason it cannot."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display
        return None
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib): plots skipped"


def _save(fig, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())


def plot_fisher(fisher_log: Sequence[dict], schedule_log: Sequence[dict], n_units: int, path: Path,
                title: str = "") -> bool:
    """tr(F) per unit over steps (tracking records), unfreeze events as dotted lines. False if no data."""
    import matplotlib.pyplot as plt

    tracks = [r for r in fisher_log if r.get("purpose") == "track"]
    if not tracks:
        return False
    fig, ax = plt.subplots(figsize=(8, 4.5))
    cmap = plt.get_cmap("viridis")
    steps = [r["step"] for r in tracks]
    for unit in range(n_units):
        ys = [r["values"].get(str(unit), float("nan")) for r in tracks]
        ax.plot(steps, ys, color=cmap(unit / max(1, n_units - 1)), label=f"layer {unit}", lw=1.4)
    means = [r.get("mean_trainable") if r.get("mean_trainable") is not None else float("nan") for r in tracks]  # NaN: a gap in the line
    ax.plot(steps, means, color="black", lw=2.2, ls="--", label="mean (trainable)")
    for event in schedule_log:
        if event["units"] and event["step"] > 0:
            ax.axvline(event["step"], color="grey", ls=":", lw=0.8)
            ax.text(event["step"], 1.0, ",".join(map(str, event["units"])), transform=ax.get_xaxis_transform(),
                    fontsize=7, ha="center", va="bottom", color="grey")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("tr(F) (log scale)")
    ax.set_title(title or "tr(F) per task adapter (dotted: unfreezing)", pad=14)
    ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _save(fig, path)
    plt.close(fig)
    return True


def plot_schedule(schedule_log: Sequence[dict], n_units: int, k: int, path: Path, title: str = "") -> bool:
    """Step at which each unit became trainable, against the top-down order of gradual unfreezing."""
    import matplotlib.pyplot as plt

    when = unfreeze_steps(schedule_log)
    if not when:
        return False
    top_down = unfreeze_steps(simulate(make_schedule("gu", n_units, k), total_steps=n_units * k))
    fig, ax = plt.subplots(figsize=(6, 4))
    units = list(range(n_units))
    ax.step([top_down[u] for u in units], units, where="post", color="grey", ls="--", label="top-down (GU)")
    xs = [when.get(u) for u in units]
    ax.scatter([x for x in xs if x is not None], [u for u, x in zip(units, xs) if x is not None],
               color="tab:red", zorder=3, label="this run")
    ax.set_xlabel("step unfrozen")
    ax.set_ylabel("layer (unit)")
    ax.set_yticks(units)
    ax.set_title(title or "unfreezing schedule")
    ax.legend(fontsize=8)
    _save(fig, path)
    plt.close(fig)
    return True


def plot_comparison(table: dict[str, dict[str, float]], path: Path, metric: str = "accuracy") -> bool:
    """Grouped bars: per language (x) the metric of each schedule (one colour each)."""
    import matplotlib.pyplot as plt

    schedules = list(table)
    if not schedules:
        return False
    langs = list(next(iter(table.values())))
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(langs) * len(schedules) / 2), 4))
    width = 0.8 / len(schedules)
    for i, name in enumerate(schedules):
        xs = [j + i * width for j in range(len(langs))]
        ax.bar(xs, [table[name].get(lang, float("nan")) for lang in langs], width=width, label=name)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(langs))])
    ax.set_xticklabels(langs)
    ax.set_ylabel(metric)
    # above the axes, so the legend never hides the last language's bars
    ax.legend(fontsize=8, ncol=len(schedules), loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False)
    _save(fig, path)
    plt.close(fig)
    return True


# ------------------------------------------------------------------ eval.py report: over seeds and schedules
STYLES = ("-", "--", ":", "-.")  # line styles that tell overlapping schedules apart


def _series(values) -> list[float]:
    return [float("nan") if v is None else float(v) for v in values]


def plot_fisher_curves(curves: dict[str, dict], path: Path, title: str = "") -> bool:
    """Figure 3 style, over seeds: per schedule a panel of tr(F) per unit (mean over seeds), then
    tr(F) summed over all units and tr(F) averaged over the trainable units (the paper's quantity,
    labelled: its population changes at every unfreeze), each mean over seeds with a min-max band.

    `curves[label]`: {"steps", "units": {unit: {"mean", "lo", "hi"}}, "sum": {...},
    "mean_trainable": {...}, "n_seeds"} (funfisher.report). False if there is nothing to draw."""
    import matplotlib.pyplot as plt

    curves = {label: c for label, c in curves.items() if c and c.get("steps")}
    if not curves:
        return False
    cols = max(len(curves), 2)
    fig, axes = plt.subplots(2, cols, figsize=(4.6 * cols, 8), squeeze=False)
    cmap = plt.get_cmap("viridis")
    colours = plt.get_cmap("tab10")
    for ax, (label, c) in zip(axes[0], curves.items()):
        n_units = len(c["units"])
        for i, (unit, band) in enumerate(sorted(c["units"].items())):
            ax.plot(c["steps"], _series(band["mean"]), color=cmap(i / max(1, n_units - 1)), lw=1.2, label=f"layer {unit}")
        ax.set_yscale("log")
        ax.set_title(f"{label}: tr(F) per unit\n(mean of {c['n_seeds']} seeds)", fontsize=9)
        ax.set_xlabel("training step")
    for ax in axes[0][len(curves):]:
        ax.axis("off")
    axes[0][0].set_ylabel("tr(F) (log scale)")
    axes[0][len(curves) - 1].legend(fontsize=6, ncol=2, loc="best")
    for ax, key, name in ((axes[1][0], "sum", "tr(F) summed over all units"),
                          (axes[1][1], "mean_trainable", "tr(F) mean over TRAINABLE units\n(population changes at each unfreeze)")):
        for i, (label, c) in enumerate(curves.items()):
            band = c[key]
            # a line style per schedule too: identical curves (FUN choosing GU's order) stay visible
            ax.plot(c["steps"], _series(band["mean"]), color=colours(i % 10), lw=1.8, ls=STYLES[i % len(STYLES)],
                    label=label)
            ax.fill_between(c["steps"], _series(band["lo"]), _series(band["hi"]), color=colours(i % 10), alpha=0.2, lw=0)
        ax.set_yscale("log")
        ax.set_title(f"{name}\nmean over seeds, band: min-max", fontsize=9)
        ax.set_xlabel("training step")
        ax.legend(fontsize=7)
    for ax in axes[1][2:]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return True


def plot_random_orders(lines: dict[str, dict], path: Path, metric: str = "accuracy",
                       groups: Sequence[Sequence[str]] | None = None) -> bool:
    """Figure 4 style: per order, tr(F) summed over units normalised by the run's maximum (mean
    over seeds; solid, left axis) and English validation `metric` (dashed, right axis).

    `lines[label]`: {"fisher": (steps, values), "val": (steps, values), "xling": average or None}.
    `groups`: footnote-10 groups of labels, named in the legend (each order has its own colour)."""
    import matplotlib.pyplot as plt

    lines = {label: line for label, line in lines.items() if line["fisher"][0] or line["val"][0]}
    if not lines:
        return False
    fig, ax = plt.subplots(figsize=(9, 4.8))
    twin = ax.twinx()
    colours = plt.get_cmap("tab10")
    group_of = {label: i for i, group in enumerate(groups or [], 1) for label in group}
    for i, (label, line) in enumerate(lines.items()):
        colour = colours(i % 10)
        notes = ([f"group {group_of[label]}"] if label in group_of else []) + \
                ([] if line.get("xling") is None else [f"avg {line['xling']:.2f}"])
        steps, values = line["fisher"]
        if steps:
            ax.plot(steps, _series(values), color=colour, lw=1.6, label=label + (f" ({', '.join(notes)})" if notes else ""))
        steps, values = line["val"]
        if steps:
            twin.plot(steps, _series(values), color=colour, lw=1.0, ls="--")
    ax.set_xlabel("training step")
    ax.set_ylabel("tr(F) summed over units / its maximum (solid)")
    twin.set_ylabel(f"English validation {metric} (dashed)")
    ax.set_title("random unfreezing orders: normalised tr(F) and validation" +
                 (" (groups: footnote 10)" if groups else ""), fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.08, 1.0))
    _save(fig, path)
    plt.close(fig)
    return True


def plot_unfreezing_order(orders: dict[str, dict], path: Path, title: str = "") -> bool:
    """Figure 5 style: per unit (y) its mean position in the unfreezing order over seeds (x, 0 =
    first; bars: min-max over seeds), against the top-down diagonal of GU.

    `orders[label]`: {"n_units", "mean_position", "min_position", "max_position": {unit: x},
    "tau": mean Kendall tau-b or None} (funfisher.report)."""
    import matplotlib.pyplot as plt

    if not orders:
        return False
    n_units = max(o["n_units"] for o in orders.values())
    fig, ax = plt.subplots(figsize=(6, 4.5))
    units = list(range(n_units))
    ax.plot([n_units - 1 - u for u in units], units, color="grey", ls="--", label="top-down (GU)")
    colours = plt.get_cmap("tab10")
    for i, (label, o) in enumerate(orders.items()):
        us = [u for u in units if str(u) in o["mean_position"]]
        xs = [o["mean_position"][str(u)] for u in us]
        lo = [x - o["min_position"][str(u)] for x, u in zip(xs, us)]
        hi = [o["max_position"][str(u)] - x for x, u in zip(xs, us)]
        tau = "" if o.get("tau") is None else f", Kendall tau {o['tau']:.2f}"
        ax.errorbar(xs, us, xerr=[lo, hi], fmt="o", color=colours(i % 10), capsize=3, label=f"{label}{tau}")
    ax.set_xlabel("position in the unfreezing order (0 = first; mean over seeds, bars min-max)")
    ax.set_ylabel("layer (unit)")
    ax.set_yticks(units)
    ax.set_title(title or "unfreezing order vs top-down (Figure 5 style)", fontsize=10)
    ax.legend(fontsize=8)
    _save(fig, path)
    plt.close(fig)
    return True


def plot_language_scores(table: dict[str, dict[str, tuple]], path: Path, metric: str = "accuracy",
                         title: str = "") -> bool:
    """Per language (x) each schedule's mean `metric` with std error bars (one colour each), on a
    y axis fitted to the values (it does not start at zero: the differences are the point).

    `table[label][lang] = (mean, std or None)`; languages in the first label's order."""
    import matplotlib.pyplot as plt

    table = {label: row for label, row in table.items() if row}
    if not table:
        return False
    langs = list(next(iter(table.values())))
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(langs) + 2), 4))
    width = 0.8 / len(table)
    colours = plt.get_cmap("tab10")
    low, high = [], []
    for i, (label, row) in enumerate(table.items()):
        xs = [j - 0.4 + width * (i + 0.5) for j in range(len(langs))]
        means = [row.get(lang, (None, None))[0] for lang in langs]
        stds = [row.get(lang, (None, None))[1] or 0.0 for lang in langs]
        ax.errorbar(xs, _series(means), yerr=stds, fmt="o", ms=4, capsize=3, color=colours(i % 10), label=label)
        low += [m - s for m, s in zip(means, stds) if m is not None]
        high += [m + s for m, s in zip(means, stds) if m is not None]
    if low:
        margin = max(0.5, 0.05 * (max(high) - min(low)))
        ax.set_ylim(min(low) - margin, max(high) + margin)
    ax.set_xticks(range(len(langs)))
    ax.set_xticklabels(langs)
    ax.set_ylabel(f"{metric} (%)")
    ax.set_title(title or f"{metric} per language (mean ± std over seeds)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _save(fig, path)
    plt.close(fig)
    return True
