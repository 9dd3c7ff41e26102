"""Does FUN's early-stopping rule for tr(F) pick the same unit as a fixed 40-batch estimate?

    python bench/fun_agreement.py                      # demo config, FUN, decisions 2 4 7 10, 2 threads
    python bench/fun_agreement.py --quick --threads 1  # a smoke run: 2 decisions, 3 draws, 8-batch reference
    python bench/fun_agreement.py --config configs/cpu/xnli_e5.toml --set fisher.max_batches=40

Why: the paper estimates tr(F) "on 40 batches (maximum) of training data" (footnote 12). This
project's FUN instead adds batches only until the leading frozen unit is separated from the
runner-up by a paired t-test, or their gap is confidently below `tolerance` of the leader's tr(F)
("tied"), within [min_batches, max_batches] (funfisher/fisher/stopping.py,
`estimate_until_separated`). That is cheaper, but it is only a faithful stand-in if it makes the
decisions the 40-batch estimate makes. Project rule: a paper config may use the stopping rule
only if its agreement with the 40-batch decision is >= 95% at the config's settings; otherwise it
uses a fixed 40 batches.

What it does, on the real code path only (funfisher.train; nothing here re-implements it):
1. `prepare` a FUN run and train it with the real trainer, pausing at the selection steps of the
   chosen tr(F) decisions (`train(run, run_dir, stop_after=s)` returns with run.step == s, just
   before the selection of step s; calling `train` again continues the same run).
2. At each pause, with the model fixed, draw the decision many times through `selection_estimate`,
   each draw on fresh, independent Fisher-batch and label streams (own seeds):
   - reference: `--reference-draws` estimates on exactly `--reference-batches` (40) batches;
     the reference choice is their majority; their agreement with it is a ceiling (when even 40
     batches disagree with themselves, the decision is a near-tie);
   - rule: `--draws` estimates per rule setting (the config's `[fisher]`, and the same with the
     other `--tolerances`).
   The run's own Fisher streams and the global RNG are saved before and restored after, so the
   training run continues exactly as it would have without the benchmark.
3. Report per setting: agreement with the reference majority (and with the pooled reference, all
   reference batches averaged), batches used, stop reasons, seconds per decision and the cost
   ratio vs the reference measured in the same run (draws of all settings take turns, so a slow
   phase of a shared machine hits all of them alike). Everything also goes to `--output` (JSON).

A decision at which at most m units are frozen has nothing to decide and is skipped.
"""
from __future__ import annotations

import argparse
import math
import shlex
import statistics
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from funfisher.runconfig import ConfigError, FisherConfig, load_config  # noqa: E402
from funfisher.io.runs import atomic_write_json, read_jsonl  # noqa: E402
from funfisher.schedules import rank_by_fisher  # noqa: E402
from funfisher.train import Run, prepare, selection_estimate, train  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TARGET = 0.95  # the project rule: the stopping rule is allowed at >= 95% agreement


# --------------------------------------------------------------------------------------------------
# settings and seeds
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    """One way of making the tr(F) decision, drawn `draws` times at every checkpoint."""

    name: str
    fisher: FisherConfig
    draws: int
    reference: bool = False


def make_settings(config_fisher: FisherConfig, args: argparse.Namespace) -> list[Setting]:
    """The reference (fixed number of batches) first, then one rule setting per tolerance."""
    n = args.reference_batches
    settings = [Setting(f"reference ({n} batches)", replace(config_fisher, min_batches=n, max_batches=n),
                        args.reference_draws, reference=True)]
    tolerances = args.tolerances if args.tolerances is not None else [config_fisher.tolerance, 0.0]
    for tol in dict.fromkeys(tolerances):  # keep the order, drop duplicates
        own = " (config)" if tol == config_fisher.tolerance else ""
        settings.append(Setting(f"rule tol={tol:g}{own}", replace(config_fisher, tolerance=tol), args.draws))
    return settings


def draw_seeds(base: int, decision: int, setting: int, draw: int) -> tuple[int, int]:
    """(Fisher-batch seed, label seed) of one draw: distinct for every (decision, setting, draw),
    so every draw is independent of every other and of the run's own streams (seed+1, seed+2)."""
    key = ((decision * 100 + setting) * 10_000 + draw) * 2
    return base + key, base + key + 1


def interleaved_jobs(settings: list[Setting]) -> list[tuple[int, int]]:
    """(setting index, draw) in the order to run them: each setting's draws spread evenly over
    the whole sequence, so timings of all settings are taken side by side (bench/timing.py's
    reason). The order changes no result: every draw has its own seeds and the model is fixed."""
    jobs = sorted(((d + 0.5) / s.draws, i, d) for i, s in enumerate(settings) for d in range(s.draws))
    return [(i, d) for _, i, d in jobs]


# --------------------------------------------------------------------------------------------------
# one draw, without disturbing the run
# --------------------------------------------------------------------------------------------------
@contextmanager
def fresh_streams(run: Run, data_seed: int, label_seed: int) -> Iterator[None]:
    """Give the run's Fisher estimate fresh streams, then put the run's own streams back.

    `selection_estimate` draws its batches from run.fisher_data_rng and its labels from
    run.fisher_label_rng; the run's next real selection must see those streams exactly as they
    were. The global RNG (dropout) is saved too: the estimator should not touch it, and if it
    ever did, the run measured must still be the run that would have happened.
    """
    data_rng, label_rng = run.fisher_data_rng, run.fisher_label_rng
    saved = (data_rng.get_state(), label_rng.get_state(), torch.get_rng_state())
    run.fisher_data_rng = torch.Generator().manual_seed(data_seed)
    run.fisher_label_rng = torch.Generator().manual_seed(label_seed)
    try:
        yield
    finally:
        run.fisher_data_rng, run.fisher_label_rng = data_rng, label_rng
        data_rng.set_state(saved[0])
        label_rng.set_state(saved[1])
        torch.set_rng_state(saved[2])


def draw_decision(run: Run, fisher: FisherConfig, seeds: tuple[int, int], m: int) -> dict[str, Any]:
    """One tr(F) decision with `fisher`'s settings: what FUN would release, and what it cost."""
    with fresh_streams(run, *seeds):
        t0 = time.perf_counter()
        result = selection_estimate(run, fisher=fisher)
        seconds = time.perf_counter() - t0
    ranking = result.estimate.ranking()  # best first, ties to the higher unit (as FUN breaks them)
    boundary, next_best = ranking[m - 1][1], ranking[m][1]  # the pair the stopping rule tests
    return {"choice": sorted(u for u, _ in ranking[:m]),  # the m units are released together
            "values": {str(u): v for u, v in result.estimate.values.items()},
            "n_batches": result.n_batches, "reason": result.reason, "seconds": seconds,
            "gap": boundary - next_best, "rel_gap": (boundary - next_best) / boundary if boundary else None,
            "seeds": list(seeds)}


# --------------------------------------------------------------------------------------------------
# one checkpoint
# --------------------------------------------------------------------------------------------------
def measure_checkpoint(run: Run, settings: list[Setting], decision: int, base_seed: int, m: int) -> list[list[dict]]:
    """Every draw of every setting at the current (fixed) model state: draws[setting][draw]."""
    draws: list[list[dict | None]] = [[None] * s.draws for s in settings]
    jobs = interleaved_jobs(settings)
    t0 = time.perf_counter()
    for n, (i, d) in enumerate(jobs, 1):
        draws[i][d] = draw_decision(run, settings[i].fisher, draw_seeds(base_seed, decision, i, d), m)
        if n % 10 == 0 or n == len(jobs):
            print(f"  decision {decision}: {n}/{len(jobs)} draws, {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr, flush=True)
    return draws  # type: ignore[return-value]


def pooled_choice(reference: list[dict], m: int) -> tuple[list[int], dict[str, float]]:
    """All reference draws averaged (equal batch counts): the best estimate this run has."""
    units = reference[0]["values"]
    pooled = {u: statistics.fmean(r["values"][u] for r in reference) for u in units}
    ranking = rank_by_fisher({int(u): v for u, v in pooled.items()}, [int(u) for u in units])  # FUN's tie-break
    return sorted(u for u, _ in ranking[:m]), pooled


def summarize_checkpoint(settings: list[Setting], draws: list[list[dict]], m: int) -> dict[str, Any]:
    """Reference choice (majority), its ceiling, and each rule setting's agreement and cost."""
    reference = draws[0]
    pooled, pooled_values = pooled_choice(reference, m)
    counts = Counter(tuple(r["choice"]) for r in reference)
    top = max(counts.values())
    # A tie between reference draws (e.g. 1-1) goes to the candidate the pooled estimate prefers.
    tied = [c for c, k in counts.items() if k == top]
    majority = list(max(tied, key=lambda c: sum(pooled_values[str(u)] for u in c)))
    ref_seconds = statistics.fmean(r["seconds"] for r in reference)
    ref_batches = statistics.fmean(r["n_batches"] for r in reference)
    gaps = [r["rel_gap"] for r in reference if r["rel_gap"] is not None]
    out = {"reference": {"choice": majority, "self_agreement": top / len(reference),
                         "choices": choice_counts(reference), "pooled_choice": pooled,
                         "pooled_values": pooled_values, "reasons": dict(Counter(r["reason"] for r in reference)),
                         "rel_gap_mean": statistics.fmean(gaps) if gaps else None,
                         "rel_gap_sd": statistics.stdev(gaps) if len(gaps) > 1 else None,
                         "rel_gap_min": min(gaps, default=None), "rel_gap_max": max(gaps, default=None),
                         "mean_batches": ref_batches, "seconds_per_decision": ref_seconds},
           "rules": {}}
    for setting, rule in zip(settings[1:], draws[1:]):
        seconds = statistics.fmean(r["seconds"] for r in rule)
        batches = statistics.fmean(r["n_batches"] for r in rule)
        out["rules"][setting.name] = {
            "draws": len(rule),
            "agree": sum(r["choice"] == majority for r in rule),
            "agreement": statistics.fmean(r["choice"] == majority for r in rule),
            "agreement_pooled": statistics.fmean(r["choice"] == pooled for r in rule),
            "choices": choice_counts(rule), "reasons": dict(Counter(r["reason"] for r in rule)),
            "mean_batches": batches, "max_batches_used": max(r["n_batches"] for r in rule),
            "seconds_per_decision": seconds,
            "batches_ratio": batches / ref_batches, "seconds_ratio": seconds / ref_seconds}
    return out


def choice_counts(draws: list[dict]) -> dict[str, int]:
    """{"11": 48, "10": 2}, most frequent first (m > 1: "10,11")."""
    return dict(Counter(",".join(map(str, r["choice"])) for r in draws).most_common())


def compact(counts: dict[str, int]) -> str:
    """{"11": 48, "10": 2} -> "11 x48, 10 x2" (for the tables)."""
    return ", ".join(f"{k} x{v}" for k, v in counts.items())


# --------------------------------------------------------------------------------------------------
# driving the real run
# --------------------------------------------------------------------------------------------------
def decision_steps(run: Run) -> list[int]:
    """The selection steps at which this run's schedule asks for tr(F), in order (decision i is
    the i-th of them, counting from 1). Steps at or after the last training step never come."""
    return [s for s in range(run.total_steps)
            if run.schedule.is_selection_step(s) and run.schedule.needs_fisher_at(s)]


def continue_to(run: Run, run_dir: Path, step: int) -> None:
    """Train the run on to just before the selection of `step` (nothing to do for step 0), and
    check that the trainer really continued the same run: run.step lands on `step` and the
    training log has every step 1..step exactly once."""
    if run.step < step:
        train(run, run_dir, stop_after=step)
    if run.step != step:
        raise RuntimeError(f"expected the run to pause at step {step}, it is at step {run.step}")
    logged = [r["step"] for r in read_jsonl(run_dir / "train_log.jsonl")]
    if logged != list(range(1, step + 1)):
        raise RuntimeError(f"training log is not steps 1..{step} once each: {logged[:5]}...{logged[-5:]}")


def own_decisions(run: Run, steps: list[int]) -> dict[int, dict]:
    """What the run itself selected at those steps (its own streams, the config's rule)."""
    units = {r["step"]: r["units"] for r in run.schedule_log}
    fisher = {r["step"]: r for r in run.fisher_log if r.get("purpose") == "select"}
    return {s: {"choice": sorted(units[s]), "n_batches": fisher[s]["n_batches"], "reason": fisher[s]["reason"]}
            for s in steps if s in units and s in fisher}


# --------------------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------------------
def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def print_checkpoint(c: dict[str, Any], settings: list[Setting]) -> None:
    ref, n_ref = c["reference"], settings[0].draws
    own = c.get("own")
    pooled = {int(u): v for u, v in ref["pooled_values"].items()}
    top3 = rank_by_fisher(pooled, pooled)[:3]
    print(f"\n## decision {c['decision']} at step {c['step']}: {len(c['frozen'])} frozen units, m={c['m']}")
    print(f"{settings[0].name} x {n_ref}: choices {compact(ref['choices'])}; majority {ref['choice']} "
          f"(self-agreement {pct(ref['self_agreement'])}: the ceiling), pooled {ref['pooled_choice']}; "
          f"{ref['seconds_per_decision']:.1f} s/decision; stop reasons {compact(ref['reasons'])}")
    print("  pooled tr(F) top 3: " + ", ".join(f"unit {u}: {v:.4g}" for u, v in top3)
          + f"; gap (m-th - next) / m-th: mean {pct(ref['rel_gap_mean'])}, sd {pct(ref['rel_gap_sd'])}, "
          f"min {pct(ref['rel_gap_min'])}, max {pct(ref['rel_gap_max'])}")
    if own:
        print(f"  the run's own decision (its own streams, config rule): {own['choice']} after "
              f"{own['n_batches']} batch(es) ({own['reason']})")
    print("| rule | draws | agree | agree pooled | choices | mean batches | stop reasons | s/decision "
          "| batches vs ref | time vs ref |")
    print("|---|---:|---:|---:|---|---:|---|---:|---:|---:|")
    for name, r in c["rules"].items():
        print(f"| {name} | {r['draws']} | {pct(r['agreement'])} | {pct(r['agreement_pooled'])} "
              f"| {compact(r['choices'])} | {r['mean_batches']:.2f} | {compact(r['reasons'])} "
              f"| {r['seconds_per_decision']:.2f} | {r['batches_ratio']:.2f}x | {r['seconds_ratio']:.2f}x |")


def summarize(checkpoints: list[dict], settings: list[Setting]) -> dict[str, Any]:
    """Per rule setting over all checkpoints: overall agreement (all draws), the worst checkpoint,
    mean batches and cost vs the reference; and the reference's own ceiling."""
    out: dict[str, Any] = {}
    ref_seconds = statistics.fmean(c["reference"]["seconds_per_decision"] for c in checkpoints)
    ref_batches = statistics.fmean(c["reference"]["mean_batches"] for c in checkpoints)
    for s in settings[1:]:
        rs = [c["rules"][s.name] for c in checkpoints]
        draws = sum(r["draws"] for r in rs)
        agreement = sum(r["agree"] for r in rs) / draws
        batches = sum(r["mean_batches"] * r["draws"] for r in rs) / draws
        seconds = sum(r["seconds_per_decision"] * r["draws"] for r in rs) / draws
        out[s.name] = {"draws": draws, "agreement": agreement,
                       "min_checkpoint_agreement": min(r["agreement"] for r in rs),
                       "agreement_pooled": sum(r["agreement_pooled"] * r["draws"] for r in rs) / draws,
                       "mean_batches": batches, "seconds_per_decision": seconds,
                       "batches_ratio": batches / ref_batches, "seconds_ratio": seconds / ref_seconds,
                       "tolerance": s.fisher.tolerance, "meets_target": agreement >= TARGET}
    ceiling = statistics.fmean(c["reference"]["self_agreement"] for c in checkpoints)
    return {"rules": out, "reference_self_agreement": ceiling, "reference_seconds_per_decision": ref_seconds,
            "reference_batches": ref_batches}


def print_summary(summary: dict[str, Any], settings: list[Setting], n_checkpoints: int) -> None:
    ref = settings[0]
    print(f"\n## summary over {n_checkpoints} decision(s); reference = majority of {ref.draws} x "
          f"{ref.fisher.max_batches} batches ({summary['reference_seconds_per_decision']:.1f} s/decision), "
          f"its mean self-agreement (ceiling) {pct(summary['reference_self_agreement'])}")
    print("| rule | draws | agreement | min per checkpoint | agreement pooled | mean batches "
          "| batches vs ref | time vs ref |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in summary["rules"].items():
        print(f"| {name} | {r['draws']} | {pct(r['agreement'])} | {pct(r['min_checkpoint_agreement'])} "
              f"| {pct(r['agreement_pooled'])} | {r['mean_batches']:.2f} | {r['batches_ratio']:.2f}x "
              f"| {r['seconds_ratio']:.2f}x |")
    caveat = "" if ref.fisher.max_batches == 40 else f" [reference is {ref.fisher.max_batches} batches, not 40]"
    for name, r in summary["rules"].items():
        print(f"{name}: agreement >= {TARGET:.0%}: {'yes' if r['meets_target'] else 'no'} "
              f"({pct(r['agreement'])} of {r['draws']} draws, min per checkpoint "
              f"{pct(r['min_checkpoint_agreement'])}){caveat}")


def strict(x: Any) -> Any:
    """JSON without NaN/Infinity (not JSON): non-finite floats become null."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): strict(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [strict(v) for v in x]
    return x


# --------------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--config", type=Path, default=REPO / "configs/demo.toml", help="TOML run config (default: demo)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, as in train.py (repeatable)")
    p.add_argument("--schedule", default="fun", help="schedule name (= --set schedule.name=NAME); needs tr(F)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (= --set train.threads=N)")
    p.add_argument("--decisions", type=int, nargs="+", default=[2, 4, 7, 10],
                   help="which tr(F) decisions of the run to measure (1 = the first; FUN starts with the top unit at "
                        "step 0, so its first tr(F) decision is at step k)")
    p.add_argument("--max-decisions", type=int, help="measure at most this many of --decisions")
    p.add_argument("--draws", type=int, default=50, help="draws per rule setting and decision")
    p.add_argument("--reference-draws", type=int, default=3, help="reference draws per decision")
    p.add_argument("--reference-batches", type=int, default=40, help="batches per reference draw (paper: 40)")
    p.add_argument("--tolerances", type=float, nargs="+",
                   help="rule settings: fisher.tolerance values (default: the config's and 0.0)")
    p.add_argument("--seed", type=int, default=1_000_000, help="base of the per-draw stream seeds")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: max_steps 30, decisions 1 2, 3 draws, 2 reference draws of 8 batches")
    p.add_argument("--output", type=Path, help="JSON results (default bench/results/fun_agreement[_quick].json)")
    args = p.parse_args(argv)
    if args.quick:
        args.overrides = ["train.max_steps=30"] + args.overrides  # the user's --set still wins
        args.decisions, args.draws, args.reference_draws, args.reference_batches = [1, 2], 3, 2, 8
    if args.output is None:
        args.output = REPO / "bench/results" / ("fun_agreement_quick.json" if args.quick else "fun_agreement.json")
    if min(args.draws, args.reference_draws, args.reference_batches, *args.decisions) < 1 or args.draws >= 10_000:
        p.error("--draws (< 10000), --reference-draws, --reference-batches and --decisions must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    overrides = [f"schedule.name={args.schedule}", f"train.threads={args.threads}", *args.overrides]
    try:
        config = load_config(args.config, overrides)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    settings = make_settings(config.fisher, args)
    print(f"# FUN stopping rule vs a fixed {args.reference_batches}-batch tr(F) decision")
    print(f"command: {command}")
    print(f"config {args.config}, overrides {overrides}; run seed {config.seed}, draw seed base {args.seed}; "
          f"torch {torch.__version__}, {args.threads} thread(s)")
    print("settings: " + "; ".join(f"{s.name}: {s.draws} draws, batches {s.fisher.min_batches}..{s.fisher.max_batches}, "
                                   f"confidence {s.fisher.confidence}, tolerance {s.fisher.tolerance}" for s in settings))

    print("preparing the run (model, data) ...", file=sys.stderr, flush=True)
    run = prepare(config)
    if not run.schedule.needs_fisher:
        print(f"error: schedule {config.schedule.name!r} makes no tr(F) decisions", file=sys.stderr)
        return 2
    m = config.schedule.m or 1
    steps = decision_steps(run)
    wanted = sorted(set(args.decisions))[:args.max_decisions]
    notes = [f"decision {d}: the run has only {len(steps)} tr(F) decisions" for d in wanted if d > len(steps)]
    plan = [(d, steps[d - 1]) for d in wanted if d <= len(steps)]
    print(f"the run makes {len(steps)} tr(F) decisions (steps {steps}); measuring decisions "
          f"{[d for d, _ in plan]} at steps {[s for _, s in plan]}")

    t_start = time.perf_counter()
    checkpoints, seconds_training = [], 0.0
    with tempfile.TemporaryDirectory(prefix="fun_agreement_") as tmp:
        run_dir = Path(tmp)
        for decision, step in plan:
            t0 = time.perf_counter()
            continue_to(run, run_dir, step)
            seconds_training += time.perf_counter() - t0
            frozen = run.schedule.frozen_units(run.trainable)
            if len(frozen) <= m:  # nothing to decide: the estimator stops at once ("single_unit")
                notes.append(f"decision {decision} (step {step}): only {len(frozen)} frozen unit(s), skipped")
                continue
            print(f"decision {decision} at step {step}: {len(frozen)} frozen units", file=sys.stderr, flush=True)
            draws = measure_checkpoint(run, settings, decision, args.seed, m)
            checkpoints.append({"decision": decision, "step": step, "frozen": frozen, "m": m,
                                **summarize_checkpoint(settings, draws, m),
                                "draws": {s.name: d for s, d in zip(settings, draws)}})
        # One step past the last pause: the run's own selection there (shows it carried on normally).
        if plan and plan[-1][1] < run.total_steps:
            t0 = time.perf_counter()
            train(run, run_dir, stop_after=plan[-1][1] + 1)
            seconds_training += time.perf_counter() - t0
    own = own_decisions(run, [c["step"] for c in checkpoints])
    for c in checkpoints:
        c["own"] = own.get(c["step"])
        print_checkpoint(c, settings)
    for note in notes:
        print(f"note: {note}")
    if not checkpoints:
        print("no decision measured")
        return 1
    summary = summarize(checkpoints, settings)
    print_summary(summary, settings, len(checkpoints))
    total = time.perf_counter() - t_start
    print(f"\nwall time {total:.0f} s (training {seconds_training:.0f} s, tr(F) draws "
          f"{total - seconds_training:.0f} s); results in {args.output}")

    atomic_write_json(args.output, strict({
        "command": command, "config": str(args.config), "overrides": overrides, "run_seed": config.seed,
        "draw_seed_base": args.seed, "seed_formula": "key = ((decision*100 + setting)*10000 + draw)*2; "
                                                     "data seed = base + key, label seed = base + key + 1",
        "threads": args.threads, "torch": torch.__version__, "target_agreement": TARGET,
        "settings": [{"index": i, "name": s.name, "draws": s.draws, "reference": s.reference, "fisher": asdict(s.fisher)}
                     for i, s in enumerate(settings)],
        "decision_steps": steps, "notes": notes, "checkpoints": checkpoints, "summary": summary,
        "seconds": {"total": total, "training": seconds_training}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
