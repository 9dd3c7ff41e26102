"""What does an exact tr(F) estimate cost? (funfisher.fisher, paper Eq. 1 / Algorithm 2)

    python bench/fisher_overhead.py            # e5-small dims, batch 32 x 128 tokens, 2 threads
    python bench/fisher_overhead.py --quick    # batch 8 x 64 tokens, fewer repeats (a smoke run)

(a) One tr(F) estimate of one batch, per method, against one plain forward + backward of the same
    batch, all timed in this run (interleaved rounds, median ratio): a 12-layer encoder with the
    multilingual-e5-small dimensions (hidden 384, 12 heads, FFN 1536; random weights and a small
    vocabulary, which does not change the cost), a Pfeiffer bottleneck adapter with reduction
    factor 16 (384 -> 24 -> 384) at every layer, and a 3-way classification head. tr(F) is
    estimated for all 12 adapter units while they are frozen (FUN's first selection); the plain
    forward + backward is an adapter-training step's: gold-label cross entropy, gradients for all
    adapters and the head, eval mode (no dropout, like the estimator), and once in train mode
    for reference. Also printed: how far the fast estimators are from the per-example loop.

    Targets: hooks <= 1.10x a plain forward + backward; |hooks - loop| / loop < 1e-4.

(b) The total training wall time of a FUN run vs a gradual unfreezing (GU) run with the same
    config (the real trainer, multilingual-e5-small, k=50), and of FUN done the reference way
    (41 fresh batches per decision): see `part_b`. Target: FUN <= 1.10x GU.

    python bench/fisher_overhead.py --part b      # about 15 minutes on 2 cores
    python bench/fisher_overhead.py --part b --runs gu fun --rounds 2   # gu, fun, fun, gu: ~18 min

(c) FUN's cost at the paper's scale, from measured per-batch costs and the configs' step counts:
    for every config with a FUN section (configs/paper/*.toml: MNLI, SQuAD, COPA; bottleneck and
    LoRA) and every CPU config (configs/cpu/*.toml), FUN / GU training time =
        1 + decisions x batches per decision x t(tr(F) batch) / (steps x t(training step)),
    decisions: FUN's selection steps that estimate tr(F) (`schedules.simulate` on the config's
    schedule), batches: fisher.max_batches (the paper's estimator: a fixed 40; CPU configs: the
    stopping rule's upper bound, so a worst case), steps: the config's (epochs x batches per
    epoch, Table 5's training-set sizes). Both times are measured here on the real code path
    (`recipe.train_step` on a top-only run, the cheapest step and so the worst case for the ratio;
    one batch of `fisher.trace_fisher` for the 11 frozen units, what FUN's first decision runs per
    batch) with
    multilingual-e5-small at the config's batch size and max_length (random tokens, lengths
    between half and all of max_length). Paper models are base-size (hidden 768); the ratio of
    two costs of the same network shape is what carries over. Target: FUN <= 1.05x GU.

    python bench/fisher_overhead.py --part c      # about 5 minutes on 2 cores
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from funfisher.fisher import trace_fisher  # noqa: E402
from funfisher.model.config import EncoderConfig  # noqa: E402
from funfisher.model.encoder import Encoder  # noqa: E402
from funfisher.model.heads import TaskModel, build_head  # noqa: E402

# multilingual-e5-small's dimensions; the vocabulary (250037) only changes the embedding lookup.
E5_SMALL = EncoderConfig(arch="bert", vocab_size=1000, hidden_size=384, num_hidden_layers=12, num_attention_heads=12,
                         intermediate_size=1536, max_position_embeddings=512, type_vocab_size=2,
                         layer_norm_eps=1e-12, pad_token_id=0)


class BenchAdapter(nn.Module):
    """Pfeiffer (seq_bn) adapter as funfisher.adapters wires it: out = LN(up(relu(down(LN(h + x)))) + h + x)."""

    def __init__(self, hidden: int, reduction_factor: int):
        super().__init__()
        self.down = nn.Linear(hidden, hidden // reduction_factor)
        self.up = nn.Linear(hidden // reduction_factor, hidden)
        for layer in (self.down, self.up):
            nn.init.normal_(layer.weight, std=0.02)
            nn.init.zeros_(layer.bias)

    def forward(self, h: torch.Tensor, x: torch.Tensor, layer_norm: nn.LayerNorm) -> torch.Tensor:
        h = self.up(torch.relu(self.down(layer_norm(h + x)))) + h
        return layer_norm(h + x)


def build(reduction_factor: int = 16, num_labels: int = 3) -> tuple[TaskModel, dict[int, list[nn.Parameter]]]:
    torch.manual_seed(0)
    encoder = Encoder(E5_SMALL)
    units = {}
    for j, layer in enumerate(encoder.layers):
        layer.ffn.adapter = BenchAdapter(E5_SMALL.hidden_size, reduction_factor)
        units[j] = list(layer.ffn.adapter.parameters())
    model = TaskModel(encoder, build_head(E5_SMALL, "classification", num_labels), "classification")
    model.requires_grad_(False)
    return model, units


def make_batch(batch_size: int, seq_len: int, num_labels: int = 3, vocab: int = E5_SMALL.vocab_size
               ) -> dict[str, torch.Tensor]:
    """Random tokens (ids 5 .. vocab-1) with lengths between seq_len / 2 and seq_len (so there is padding)."""
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(seq_len // 2, seq_len + 1, (batch_size,), generator=g)
    mask = (torch.arange(seq_len)[None, :] < lengths[:, None]).long()
    ids = torch.randint(5, vocab, (batch_size, seq_len), generator=g) * mask
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids),
            "labels": torch.randint(0, num_labels, (batch_size,), generator=g)}


def timed(run: Callable[[], object], before: Callable[[], None] = lambda: None) -> float:
    before()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def interleaved(cases: dict[str, tuple[Callable[[], object], Callable[[], None]]], repeats: int,
                few: dict[str, int]) -> dict[str, list[float]]:
    """Time every case once per round, round-robin, after one warm-up round.

    Interleaving makes the ratios robust to a machine whose load changes during the run: each
    round's ratios compare timings taken seconds apart. Cases in `few` run only that many rounds.
    """
    for run, before in cases.values():
        timed(run, before)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for r in range(repeats):
        for name, (run, before) in cases.items():
            if r < few.get(name, repeats):
                times[name].append(timed(run, before))
    return times


def part_a(batch_size: int, seq_len: int, repeats: int, loop_repeats: int) -> None:
    model, units = build()
    batch = make_batch(batch_size, seq_len)
    trainable = [p for ps in units.values() for p in ps] + list(model.head.parameters())
    inputs = (batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])

    def clear_grads() -> None:
        for p in trainable:
            p.grad = None

    def plain_step(train_mode: bool) -> Callable[[], None]:
        def run() -> None:
            model.train(train_mode)
            for p in trainable:
                p.requires_grad_(True)
            F.cross_entropy(model(*inputs), batch["labels"]).backward()
            for p in trainable:
                p.requires_grad_(False)
            model.eval()
        return run

    def estimate(method: str) -> Callable[[], dict[int, float]]:
        return lambda: trace_fisher(model, [batch], units, method=method,
                                    generator=torch.Generator().manual_seed(0)).values

    nothing = lambda: None  # noqa: E731
    cases = {"plain forward + backward (eval)": (plain_step(False), clear_grads),
             "plain forward + backward (train mode)": (plain_step(True), clear_grads)}
    for method in ("hooks", "vmap", "loop", "batch"):
        cases[f"tr(F) {method}"] = (estimate(method), nothing)
    times = interleaved(cases, repeats, few={"tr(F) loop": loop_repeats})
    plain_times = times["plain forward + backward (eval)"]
    rows = [(name, statistics.median(ts), statistics.median(t / p for t, p in zip(ts, plain_times)))
            for name, ts in times.items()]

    hooks, vmap, loop = estimate("hooks")(), estimate("vmap")(), estimate("loop")()

    def rel(a: dict[int, float]) -> tuple[float, float]:
        return (max(abs(a[u] - loop[u]) for u in loop), max(abs(a[u] - loop[u]) / abs(loop[u]) for u in loop))

    print(f"setting: 12 layers x hidden 384 (e5-small dims), bottleneck adapter rf 16 at every layer, "
          f"classification (3 labels), batch {batch_size} x {seq_len} tokens, "
          f"{torch.get_num_threads()} threads, {torch.get_default_dtype()}, torch {torch.__version__}")
    print(f"{repeats} interleaved rounds ({loop_repeats} for loop); 'x plain' = median over rounds of time / plain "
          f"(eval) time in the same round; tr(F) for all {len(units)} units, labels='sample'\n")
    print(f"| {'what':<38} | {'median ms':>9} | {'x plain':>7} |")
    print(f"|{'-' * 40}|{'-' * 11}|{'-' * 9}|")
    for name, seconds, ratio in rows:
        print(f"| {name:<38} | {seconds * 1e3:>9.1f} | {ratio:>6.2f}x |")
    print()
    for name, values in (("hooks", hooks), ("vmap", vmap)):
        abs_err, rel_err = rel(values)
        print(f"{name} vs loop: max abs diff {abs_err:.3e}, max relative diff {rel_err:.3e}")
    print("tr(F) per unit (hooks): " + ", ".join(f"{u}: {v:.3e}" for u, v in hooks.items()))
    ratio = {name: r for name, _, r in rows}["tr(F) hooks"]
    print(f"\ntarget hooks <= 1.10x: {'met' if ratio <= 1.10 else 'NOT met'} ({ratio:.2f}x); "
          f"agreement < 1e-4 relative: {'met' if rel(hooks)[1] < 1e-4 else 'NOT met'}")


def part_b(k: int = 50, model: str = "multilingual-e5-small", runs: tuple[str, ...] = ("gu", "fun", "fun-reference"),
           keep: Path | None = None, rounds: int = 1) -> None:
    """(b) Total training wall time of a FUN run vs a GU run: same config, data, seed, k.

    Three runs of the real trainer (funfisher/train/recipe.py) on the XNLI sample in data/demo with
    multilingual-e5-small (12 units, so L*k steps cover every selection):
      gu            gradual unfreezing (no tr(F) at all): the baseline
      fun           FUN as shipped: exact per-example tr(F) (hooks) + the stopping rule (max 40 batches)
      fun-reference FUN as the reference design does it: 41 fresh batches per decision, Algorithm 2
    tr(F) tracking and validation are off so the ratio isolates the cost of the selections.

    The same run repeated on a shared 2-core machine varies by up to ~10% in wall time, as much
    as the effect measured; `rounds` > 1 repeats the runs in alternating order (gu, fun, fun, gu,
    ...) and reports medians, so drift hits both alike.
    """
    import tempfile

    from funfisher import load_pretrained
    from funfisher.runconfig import load_config
    from funfisher.train import prepare, train

    repo = Path(__file__).resolve().parents[1]
    steps = 12 * k
    common = [f"model.name={model}", f"task.data_dir={repo / 'data/demo'}", "task.max_length=64", "task.eval_n=32",
              "task.train.n=2000", f"train.max_steps={steps}", "train.batch_size=16", f"train.eval_every={10 * steps}",
              f"train.checkpoint_every={10 * steps}", f"schedule.k={k}", "fisher.track_every=0", "fisher.batch_size=16"]
    variants = {
        "gu": ["schedule.name=gu"],
        "fun": ["schedule.name=fun", "fisher.method=hooks", "fisher.max_batches=40"],  # otherwise the defaults
        "fun-reference": ["schedule.name=fun", "fisher.method=batch", "fisher.labels=argmax",
                          "fisher.max_batches=41", "fisher.min_batches=41"],
    }
    measured: dict[str, list[tuple[float, float, float, list[int]]]] = {name: [] for name in runs}
    base = load_pretrained(model)  # each run gets its own copy to attach its adapters to
    for r in range(rounds):
        for name in runs if r % 2 == 0 else runs[::-1]:
            run = prepare(load_config(None, common + variants[name]), pm=copy.deepcopy(base))
            with tempfile.TemporaryDirectory() as tmp:
                run_dir = Path(tmp) if keep is None else keep / f"{name}-{r}"
                t0 = time.perf_counter()
                train(run, run_dir)
                total = time.perf_counter() - t0
            batches = [rec["n_batches"] for rec in run.fisher_log if rec.get("purpose") == "select"]
            measured[name].append((total, run.seconds["train"], run.seconds["fisher_select"], batches))
            print(f"  round {r + 1}, {name}: {total:.1f} s", flush=True)
    if "gu" not in measured:
        return
    gu_total = statistics.median([m[0] for m in measured["gu"]])
    print(f"(b) total training time, {model}, {steps} steps (k={k}, 12 selections), batch 16, 2 threads, "
          f"{rounds} round(s): medians")
    print("| run | total s | training steps s | tr(F) selection s | batches per decision (round 1) | ratio vs GU |")
    print("|---|---:|---:|---:|---|---:|")
    for name, ms in measured.items():
        total, train_s, fisher_s = (statistics.median([m[i] for m in ms]) for i in range(3))
        print(f"| {name} | {total:.1f} | {train_s:.1f} | {fisher_s:.1f} | {ms[0][3] or '-'} | {total / gu_total:.2f}x |")
    if "fun" in measured:
        ratio = statistics.median([m[0] for m in measured["fun"]]) / gu_total
        if rounds > 1:
            pairs = [f"{f[0] / g[0]:.2f}x" for f, g in zip(measured["fun"], measured["gu"])]
            print(f"fun / gu per round: {', '.join(pairs)}")
        print(f"target: fun <= 1.10x GU: {'met' if ratio <= 1.10 else 'NOT met'} ({ratio:.2f}x)")


# Training-set sizes (paper Table 5; SQuAD: questions, a few long paragraphs give a second window).
TRAIN_EXAMPLES = {"mnli": 392_702, "squad": 87_599, "copa": 400}


def fun_decisions(config) -> tuple[int, int]:
    """(steps, FUN selection steps that estimate tr(F)) of a config, from its schedule."""
    import math

    from funfisher.schedules import simulate
    from funfisher.train.recipe import build_schedule

    train = config.train
    n = config.task.train.n or TRAIN_EXAMPLES[config.task.train.dataset]
    steps = train.max_steps or math.ceil(train.epochs * math.ceil(n / train.batch_size))
    schedule = build_schedule(config, n_units=12)
    records = simulate(schedule, steps, lambda step, frozen: {u: float(u) for u in frozen})
    return steps, sum("ranking" in r for r in records)


def part_c(repeats: int = 3) -> None:
    """(c) FUN / GU at the configs' scale: measured per-batch costs x the configs' counts."""
    import tempfile

    from funfisher import load_pretrained
    from funfisher.runconfig import load_config
    from funfisher.train import recipe

    repo = Path(__file__).resolve().parents[1]
    configs = sorted((repo / "configs" / "paper").glob("*.toml")) + sorted((repo / "configs" / "cpu").glob("*.toml"))
    rows = []
    for path in configs:
        cfg = load_config(path, ["schedule.name=fun"])
        steps, decisions = fun_decisions(cfg)
        choices = 2 if cfg.task.kind == "multiple_choice" else 1  # COPA: every example is 2 sequences
        rows.append((path, cfg, steps, decisions, choices))
    shapes = sorted({(cfg.train.batch_size * ch, cfg.fisher.batch_size * ch, cfg.task.max_length)
                     for _, cfg, _, _, ch in rows})
    pm = load_pretrained("multilingual-e5-small")
    costs = {}
    for train_batch, fisher_batch, length in shapes:
        # A classification run of e5-small stands in for every task: the encoder is the cost (the
        # heads are one small linear layer), and COPA's 2 choices become 2 sequences per example.
        cfg = load_config(repo / "configs" / "demo.toml", [
            f"train.batch_size={train_batch}", f"fisher.batch_size={fisher_batch}", f"task.max_length={length}",
            "task.evaluate.languages=['en']", "fisher.labels=sample", "fisher.method=hooks",
            "fisher.max_batches=1", "fisher.min_batches=1"])
        run = recipe.prepare(cfg, pm=copy.deepcopy(pm))
        step_batch = make_batch(train_batch, length, vocab=pm.config.vocab_size)
        estimate_batch = make_batch(fisher_batch, length, vocab=pm.config.vocab_size)
        run.trainable_set.apply({11})  # GU's and FUN's first phase: the top unit trains
        run.trainable = {11}
        frozen = {u: run.units[u] for u in run.schedule.frozen_units(run.trainable)}
        with tempfile.TemporaryDirectory() as tmp:
            def step() -> None:
                recipe.train_step(run, step_batch, Path(tmp))

            def estimate() -> None:  # one batch of FUN's estimate (what estimate_until_separated runs per batch)
                trace_fisher(run.model, [estimate_batch], frozen, generator=torch.Generator().manual_seed(0))

            times = interleaved({"step": (step, lambda: None), "fisher": (estimate, lambda: None)}, repeats, few={})
        costs[(train_batch, fisher_batch, length)] = (statistics.median(times["step"]), statistics.median(times["fisher"]))
        print(f"  measured: train batch {train_batch} / tr(F) batch {fisher_batch} x {length} tokens: step "
              f"{costs[(train_batch, fisher_batch, length)][0]:.2f} s, tr(F) batch "
              f"{costs[(train_batch, fisher_batch, length)][1]:.2f} s", flush=True)
    print(f"(c) FUN / GU training time at the configs' scale ({repeats} interleaved rounds, medians; e5-small, "
          f"{torch.get_num_threads()} threads)")
    print("| config | steps | FUN decisions | batches per decision | t(tr(F) batch) / t(step) | FUN / GU | <= 1.05x |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for path, cfg, steps, decisions, ch in rows:
        t_step, t_fisher = costs[(cfg.train.batch_size * ch, cfg.fisher.batch_size * ch, cfg.task.max_length)]
        ratio = 1 + decisions * cfg.fisher.max_batches * t_fisher / (steps * t_step)
        bound = "" if cfg.fisher.min_batches == cfg.fisher.max_batches else " (at most)"
        print(f"| {path.relative_to(repo)} | {steps:,} | {decisions} | {cfg.fisher.max_batches}{bound} | "
              f"{t_fisher / t_step:.2f} | {ratio:.3f}x{bound} | {'met' if ratio <= 1.05 else 'NOT met'} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="batch 8 x 64 tokens, 3 repeats")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--part", choices=["a", "b", "c", "both"], default="both", help="both: a and b")
    parser.add_argument("--k", type=int, default=50, help="part (b): unfreezing interval (12 * k steps)")
    parser.add_argument("--runs", nargs="+", default=["gu", "fun", "fun-reference"],
                        choices=["gu", "fun", "fun-reference"], help="part (b): which runs (ratios need gu)")
    parser.add_argument("--keep", type=Path, help="part (b): keep the run folders under this directory")
    parser.add_argument("--rounds", type=int, default=1, help="part (b): repeat the runs, alternating their order")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch_size, args.seq_len, args.repeats = 8, 64, 3
    torch.set_num_threads(args.threads)
    if args.part in ("a", "both"):
        part_a(args.batch_size, args.seq_len, args.repeats, loop_repeats=max(1, min(3, args.repeats)))
        print()
    if args.part in ("b", "both"):
        part_b(k=args.k, runs=tuple(args.runs), keep=args.keep, rounds=args.rounds)
    if args.part == "c":
        part_c(repeats=max(1, min(args.repeats, 3)))


if __name__ == "__main__":
    main()
