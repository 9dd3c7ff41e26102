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
