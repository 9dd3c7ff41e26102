"""What does bf16 cost in accuracy, and what does it save in time? fp32 vs bf16 on a real XNLI run.

    python bench/precision_accuracy.py                       # configs/cpu/xnli_e5.toml, seeds 1 2 3
    python bench/precision_accuracy.py --seeds 1 2 3 4 5 --schedule gu --out runs/precision

Two sweeps of the real trainer (`train.py --compare SCHEDULE --seeds ...`), one with
train.precision = "fp32" and one with "bf16", otherwise the same config: multilingual-e5-small
with bottleneck task adapters, 2,000 labelled XNLI-en rows, 800 steps, English dev validation,
zero-shot on the dev sets of 14 languages (eval_n 500 per language; ../shared/data). The sweeps
are resumable: a stopped run of this script continues where it stopped (finished runs are kept in
--out).

Reported, seed by seed (same seed: same data order, head init and dropout draws, so the two runs
differ only by bf16 rounding): the cross-lingual average of each, their difference bf16 - fp32,
and the paired bootstrap interval over seeds and evaluation examples that `eval.py report` uses
against standard (`funfisher.report.aggregate.paired_against`, B = 2000); per language too; and
each run's training seconds (the forward and backward passes; evaluation is separate).
tr(F) is fp32 in both (FUN's decisions never see bf16; funfisher/model/precision.py).

Output: the table is printed and written as bench/results/precision_accuracy.{json,txt}.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from funfisher.io.runs import atomic_write_json, atomic_write_text  # noqa: E402
from funfisher.report.aggregate import paired_against  # noqa: E402
from funfisher.report.runs import Group, find_run_dirs, load_run  # noqa: E402

PRECISIONS = ("fp32", "bf16")


def sweep(config: Path, schedule: str, seeds: list[int], precision: str, out: Path) -> Path:
    """One train.py sweep (resumed if it exists); its folder."""
    folder = out / precision
    command = [sys.executable, str(REPO / "train.py"), "--config", str(config), "--compare", schedule,
               "--seeds", *map(str, seeds), "--set", f"train.precision={precision}", "--output", str(folder)]
    if (folder / "sweep.json").exists():
        command.append("--resume")
    print("$", " ".join(command[1:]), flush=True)
    subprocess.run(command, check=True, cwd=REPO)
    return folder


def group(folder: Path, name: str, schedule: str) -> Group:
    dirs, _ = find_run_dirs(folder)
    runs = [load_run(d, folder) for d in dirs]
    return Group(name, schedule, runs[0].train_n, None, {run.seed: run for run in sorted(runs, key=lambda r: r.seed)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "cpu" / "xnli_e5.toml")
    parser.add_argument("--schedule", default="standard")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench-precision",
                        help="where the two sweeps' run folders go (kept: the script resumes them)")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "precision_accuracy.json")
    args = parser.parse_args(argv)

    folders = {p: sweep(args.config, args.schedule, args.seeds, p, args.out) for p in PRECISIONS}
    groups = {p: group(folders[p], p, args.schedule) for p in PRECISIONS}
    paired = paired_against(groups["bf16"], groups["fp32"], n_boot=2000, seed=0)
    lines = [f"fp32 vs bf16, {args.config.relative_to(REPO)}, schedule {args.schedule}, seeds "
             f"{' '.join(map(str, args.seeds))} (command: python bench/precision_accuracy.py "
             f"--seeds {' '.join(map(str, args.seeds))} --schedule {args.schedule})", "",
             "| seed | fp32 avg | bf16 avg | bf16 - fp32 | fp32 train s | bf16 train s | speed-up |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    rows = []
    for seed in paired["seeds"]:
        a, b = groups["fp32"].runs[seed], groups["bf16"].runs[seed]
        ta, tb = a.result.timings_seconds["train"], b.result.timings_seconds["train"]
        rows.append({"seed": seed, "fp32": a.xling, "bf16": b.xling, "diff": b.xling - a.xling,
                     "fp32_train_seconds": ta, "bf16_train_seconds": tb})
        lines.append(f"| {seed} | {a.xling:.2f} | {b.xling:.2f} | {b.xling - a.xling:+.2f} | {ta:.0f} | {tb:.0f} | "
                     f"{ta / tb:.2f}x |")
    x = paired["xling_avg"]
    speed = statistics.median(r["fp32_train_seconds"] / r["bf16_train_seconds"] for r in rows)
    lines += ["", f"cross-lingual average, bf16 - fp32: {x['mean_diff']:+.2f} points, 95% CI "
                  f"[{x['ci95'][0]:+.2f}, {x['ci95'][1]:+.2f}] (paired bootstrap over seeds and examples, B = 2000); "
                  f"seeds favouring bf16 / fp32 / neither: {x['favours']['bf16']} / {x['favours']['fp32']} / "
                  f"{x['favours']['tie']}",
              f"training time, fp32 / bf16: {speed:.2f}x (median over seeds)", "",
              "per language, bf16 - fp32 (mean over seeds [95% CI]):"]
    for lang, entry in paired["languages"].items():
        lines.append(f"  {lang}: {entry['mean_diff']:+.2f} [{entry['ci95'][0]:+.2f}, {entry['ci95'][1]:+.2f}]")
    text = "\n".join(lines)
    print(text)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.results, {"config": str(args.config.relative_to(REPO)), "schedule": args.schedule,
                                     "seeds": args.seeds, "runs": rows, "paired": paired, "train_speedup_median": speed})
    atomic_write_text(args.results.with_suffix(".txt"), text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
