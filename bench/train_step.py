"""Training step, evaluation and memory: funfisher vs transformers + AdapterHub, same weights, same batches.

    python bench/train_step.py                          # timings (5 interleaved repeats) + peak RSS, 2 threads
    python bench/train_step.py --repeats 1 --no-rss     # a quick look at the timings
    python bench/train_step.py --only rss               # the memory table alone

Setting (configs/demo.toml): multilingual-e5-small (12 BERT layers, hidden 384), a Pfeiffer
bottleneck task adapter (seq_bn, reduction factor 16) in every layer, no language adapters, a
3-way XNLI classifier (a two-layer head on the first token: e5 has no pooler weights), English
XNLI training examples (../shared/data when present, else data/demo). Six fixed training
batches of 32 examples (the first six of the run's first epoch), built once with funfisher's
collate: transformers gets the very same token ids and attention masks.

Ours is the real code path: `recipe.prepare(load_config("configs/demo.toml", overrides))`, then
`recipe.train_step(run, batch, run_dir)`: forward under train.precision, fp32 loss, backward,
clip 1.0, AdamW, LR schedule. Theirs: `BertAdapterModel.from_pretrained(the same folder)`,
`add_adapter("task", config="seq_bn")`, `add_classification_head("task", num_labels=3)`,
`train_adapter("task")`; a step is forward, cross entropy, backward, clip_grad_norm_(1.0), AdamW
(lr 1e-3), zero_grad(set_to_none=True); their bf16 is torch.autocast("cpu", bfloat16) around the
forward, the loss in fp32. Both sides train the same 375,075 parameters (12 adapters + head).

Measured, as theirs time / ours time (> 1: ours is faster), medians over interleaved repeats
(bench/timing.py: the settings take turns within each repeat), all in this run:
  1. training steps (six per timing) in two phases: all-trainable (every adapter) and top-only
     (layer 11's adapter + the head: GU's early phase; theirs sets requires_grad=False on every
     other adapter parameter); fp32 vs fp32, bf16 vs bf16, ours bf16 vs theirs fp32 (their default).
  2. evaluation of 512 English XNLI dev examples, batch 64: ours `evaluation.predict`
     (length-sorted batches, packing; it collates as it goes) vs theirs on the same length-sorted
     batches, collated beforehand, under torch.inference_mode; the same three comparisons.
  3. peak RSS per phase, each in a fresh process (this script, --rss-child IMPL PHASE PRECISION):
     load (model, adapter, head, tokenizer, data; nothing run), all / top (six steps), eval (the
     512 examples). Theirs loads the batches this process built, and the same tokenizer.json with
     transformers (a training script holds one, as our run does).
     The peak is the child's VmHWM (/proc/self/status), with VmRSS at the end and its file-backed
     part; ru_maxrss is recorded too but misleads here, as Linux keeps it across exec: a child of
     this process starts with the parent's peak.
The first-step fp32 losses of both sides on batch 0 are printed: both near ln 3 = 1.0986 (the same
3-way task with untrained heads; the heads' random inits differ, so the values do too).

Targets (from the issue; printed as met / NOT met, never asserted): >= 1.2x per step at the same
precision with all adapters trainable, >= 1.5x top-only, >= 1.3x evaluation against their
length-sorted batches, peak RSS <= theirs in every phase.

Output: the report is printed and written next to --out as .txt (default
bench/results/train_step.txt); every median, ratio and RSS row goes to --out (strict JSON).
Needs the test extras transformers==4.57.6 and adapters==1.3.0 (pip install -e '.[test]').
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import logging
import platform
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from funfisher import data as D  # noqa: E402
from funfisher.evaluation import predict  # noqa: E402
from funfisher.runconfig import load_config  # noqa: E402
from funfisher.tasks import get_task  # noqa: E402
from funfisher.train import recipe  # noqa: E402
from timing import interleaved  # noqa: E402  (bench/timing.py)

N_LAYERS = 12  # multilingual-e5-small: one adapter unit per layer
PHASES = {"all": set(range(N_LAYERS)), "top": {N_LAYERS - 1}}  # phase -> the units that train
PRECISIONS = ("fp32", "bf16")
N_BATCHES, BATCH_SIZE = 6, 32
EVAL_N, EVAL_BATCH = 512, 64
LR = 1e-3  # configs/demo.toml's train.lr, for theirs
TARGETS = {"all": 1.2, "top": 1.5, "eval": 1.3}  # theirs / ours, at the same precision
# (label, our precision, their precision); a target applies only where the precisions match
COMPARISONS = [("fp32 vs fp32", "fp32", "fp32"), ("bf16 vs bf16", "bf16", "bf16"),
               ("ours bf16 vs theirs fp32", "bf16", "fp32")]
RSS_CASES = [("load", "-")] + [(phase, p) for phase in ("all", "top", "eval") for p in PRECISIONS]
DEFAULT_OUT = REPO / "bench" / "results" / "train_step.json"


def data_dir() -> Path:
    shared = REPO.parent / "shared" / "data"
    return shared if (shared / "xnli").is_dir() else REPO / "data" / "demo"


# --------------------------------------------------------------------------------------------------
# ours: the trainer's own functions
# --------------------------------------------------------------------------------------------------
def our_config(precision: str, threads: int):
    """configs/demo.toml at batch 32 with the bench's precision and threads. Only English dev is
    evaluated here, so `prepare` need not read the other 14 evaluation files."""
    return load_config(REPO / "configs" / "demo.toml", [
        f"train.batch_size={BATCH_SIZE}", f"train.precision={precision}", f"train.threads={threads}",
        f"task.data_dir={data_dir()}", 'task.evaluate.languages=["en"]'])


def our_batches(run) -> list[dict[str, torch.Tensor]]:
    """The first six batches of the run's first epoch, as the trainer would take them."""
    return [recipe.collate(run, idx) for idx in recipe.epoch_batches(run, 0)[:N_BATCHES]]


def eval_features(run) -> list:
    """512 English XNLI dev examples (a seeded subsample), encoded as the run encodes validation."""
    examples = D.load_dataset("xnli", "dev", lang="en", data_dir=run.config.task.data_dir)
    return get_task("classification").encode(run.pm.tokenizer, D.subsample(examples, EVAL_N, 0),
                                             run.config.task.max_length)


def our_steps(run, batches: list[dict], phase: str, run_dir: Path) -> Callable[[], list[float]]:
    def go() -> list[float]:
        run.trainable_set.apply(PHASES[phase])  # microseconds, against seconds of steps
        return [recipe.train_step(run, batch, run_dir)[0] for batch in batches]
    return go


def our_eval(run, features: list) -> Callable[[], object]:
    pad_id = D.pad_id_of(run.pm.tokenizer)
    return lambda: predict(run.model, features, pad_id, EVAL_BATCH, precision=run.config.train.precision).labels


# --------------------------------------------------------------------------------------------------
# theirs: transformers + adapters, the usual AdapterHub way
# --------------------------------------------------------------------------------------------------
def their_autocast(precision: str) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext() if precision == "fp32" else torch.autocast("cpu", dtype=torch.bfloat16)


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}


class Theirs:
    """BertAdapterModel with a seq_bn task adapter and a flex classification head, its own AdamW."""

    def __init__(self, folder: str):
        import transformers
        from adapters import BertAdapterModel

        transformers.logging.set_verbosity_error()  # "pooler weights not found": e5 has none, as for ours
        # train_adapter resets the adapter setup before it activates "task", and warns in between
        logging.getLogger("adapters").setLevel(logging.ERROR)
        torch.manual_seed(0)  # the head's init
        self.model = BertAdapterModel.from_pretrained(folder)
        self.model.add_adapter("task", config="seq_bn")  # Pfeiffer; reduction factor 16 is its default
        # dropout, dense, tanh, dropout, linear on the first token: the head ours trains on e5
        self.model.add_classification_head("task", num_labels=3)
        self.model.train_adapter("task")  # freezes the base model, activates the adapter; the head trains
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        top = f"encoder.layer.{N_LAYERS - 1}."
        self.below_top = [p for n, p in self.model.named_parameters() if ".adapters.task." in n and top not in n]
        # weight_decay 0: ours' train.weight_decay default, so both optimizers do the same work
        self.optimizer = torch.optim.AdamW(self.params, lr=LR, weight_decay=0.0)

    def set_phase(self, phase: str) -> None:
        for p in self.below_top:
            p.requires_grad_(phase == "all")

    def step(self, batch: dict[str, torch.Tensor], precision: str) -> float:
        self.model.train()
        with their_autocast(precision):
            logits = self.model(**model_inputs(batch)).logits
        loss = F.cross_entropy(logits.float(), batch["labels"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in self.params if p.requires_grad], 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    @torch.inference_mode()
    def predict(self, batches: list[dict], precision: str) -> torch.Tensor:
        self.model.eval()
        labels = []
        for batch in batches:
            with their_autocast(precision):
                labels.append(self.model(**model_inputs(batch)).logits.float().argmax(-1))
        return torch.cat(labels)


def their_tokenizer(folder: str):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_file=str(Path(folder) / "tokenizer.json"))


def their_steps(theirs: Theirs, batches: list[dict], phase: str, precision: str) -> Callable[[], list[float]]:
    def go() -> list[float]:
        theirs.set_phase(phase)
        return [theirs.step(batch, precision) for batch in batches]
    return go


def sorted_batches(features: list, pad_id: int) -> list[dict[str, torch.Tensor]]:
    """The length-sorted batches `predict` runs, collated once (theirs gets them ready-made)."""
    order = D.length_bucketed_batches([D.feature_length(f) for f in features], EVAL_BATCH, shuffle=False)
    return [D.collate([features[i] for i in idx], pad_id) for idx in order]


# --------------------------------------------------------------------------------------------------
# timing: every setting of a table in one interleaved loop
# --------------------------------------------------------------------------------------------------
def time_steps(ours: dict, theirs: Theirs, batches: list[dict], run_dir: Path, repeats: int):
    """Seconds per six steps for impl/precision/phase, and the first-step fp32 losses on batch 0."""
    makers: dict[str, Callable[[list[dict]], Callable[[], list[float]]]] = {}
    for phase in PHASES:
        for precision in PRECISIONS:
            makers[f"ours/{precision}/{phase}"] = lambda bs, r=ours[precision], ph=phase: our_steps(r, bs, ph, run_dir)
            makers[f"theirs/{precision}/{phase}"] = lambda bs, p=precision, ph=phase: their_steps(theirs, bs, ph, p)
    # warm-up: one step each on batch 0 (first-call allocations). ours/fp32/all and theirs/fp32/all
    # warm up first, so the losses kept are each side's very first step
    first = {name: make(batches[:1])()[0] for name, make in makers.items()}
    timed = interleaved({name: make(batches) for name, make in makers.items()}, repeats)
    losses = {"ours": first["ours/fp32/all"], "theirs": first["theirs/fp32/all"]}
    return {name: seconds for name, (seconds, _) in timed.items()}, losses


def time_eval(ours: dict, theirs: Theirs, features: list, repeats: int) -> dict[str, float]:
    """Seconds per evaluation of the 512 features, for impl/precision/eval."""
    batches = sorted_batches(features, D.pad_id_of(ours["fp32"].pm.tokenizer))
    fns, warm = {}, {}
    for precision in PRECISIONS:
        fns[f"ours/{precision}/eval"] = our_eval(ours[precision], features)
        fns[f"theirs/{precision}/eval"] = lambda p=precision: theirs.predict(batches, p)
        warm[f"ours/{precision}/eval"] = our_eval(ours[precision], features[:EVAL_BATCH])
        warm[f"theirs/{precision}/eval"] = lambda p=precision: theirs.predict(batches[:1], p)
    for fn in warm.values():  # warm-up on one batch each
        fn()
    return {name: seconds for name, (seconds, _) in interleaved(fns, repeats).items()}


def ratios(medians: dict[str, float], phase: str) -> list[dict]:
    rows = []
    for label, our_p, their_p in COMPARISONS:
        ours, theirs = medians[f"ours/{our_p}/{phase}"], medians[f"theirs/{their_p}/{phase}"]
        target = TARGETS[phase] if our_p == their_p else None
        rows.append({"phase": phase, "comparison": label, "ours_s": ours, "theirs_s": theirs,
                     "ratio": theirs / ours, "target": target,
                     "met": None if target is None else theirs / ours >= target})
    return rows


def verdict(met: bool | None) -> str:
    return "-" if met is None else ("met" if met else "NOT met")


# --------------------------------------------------------------------------------------------------
# peak RSS: one fresh process per (impl, phase, precision)
# --------------------------------------------------------------------------------------------------
def memory_mib() -> dict[str, float]:
    """This process's memory in MiB: peak (VmHWM) and current (VmRSS) resident set, the current
    one's anonymous and file-backed parts, and ru_maxrss.

    The peak is VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child started
    from this benchmark (which holds two runs and their model) would report at least the parent's
    peak at the fork. VmHWM belongs to the child's own address space."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    mib = lambda key: round(int(status[key].split()[0]) / 1024, 1)  # noqa: E731  (kB)
    return {"peak_mib": mib("VmHWM"), "current_mib": mib("VmRSS"), "anon_mib": mib("RssAnon"),
            "file_mib": mib("RssFile"),
            "ru_maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def rss_child(impl: str, phase: str, precision: str, threads: int, inputs: Path) -> int:
    """Load, run one phase, print one JSON line: impl, phase, precision and `memory_mib()`."""
    p = "fp32" if precision == "-" else precision
    if impl == "ours":
        run = recipe.prepare(our_config(p, threads))  # model, adapters, data: the run as train.py builds it
        with tempfile.TemporaryDirectory() as tmp:
            if phase in PHASES:
                our_steps(run, our_batches(run), phase, Path(tmp))()
            elif phase == "eval":
                our_eval(run, eval_features(run))()
    else:
        torch.set_num_threads(threads)
        saved = torch.load(inputs)  # the parent's batches: the same tensors ours builds
        theirs = Theirs(saved["folder"])
        # A training script holds its tokenizer, as our run does (pm.tokenizer): the same
        # tokenizer.json, as transformers loads it (about 300 MiB resident for e5's 250k pieces).
        tokenizer = their_tokenizer(saved["folder"])  # noqa: F841  (kept alive until measured)
        if phase in PHASES:
            their_steps(theirs, saved["train"], phase, p)()
        elif phase == "eval":
            theirs.predict(saved["eval"], p)
    print(json.dumps({"impl": impl, "phase": phase, "precision": precision, **memory_mib()}))
    return 0


def rss_table(threads: int, inputs: Path) -> list[dict]:
    rows = []
    for phase, precision in RSS_CASES:
        row: dict = {"phase": phase, "precision": precision}
        for impl in ("ours", "theirs"):
            cmd = [sys.executable, str(Path(__file__).resolve()), "--rss-child", impl, phase, precision,
                   "--threads", str(threads), "--inputs", str(inputs)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            lines = done.stdout.strip().splitlines()
            if done.returncode or not lines:
                row[impl] = {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
            else:
                row[impl] = json.loads(lines[-1])
        if "peak_mib" in row["ours"] and "peak_mib" in row["theirs"]:
            row["met"] = row["ours"]["peak_mib"] <= row["theirs"]["peak_mib"]
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------------
class Report:
    """Print a line and keep it for the .txt file."""

    def __init__(self):
        self.lines: list[str] = []

    def __call__(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)


def machine(threads: int) -> dict:
    import adapters
    import transformers

    info = {}  # the first processor's entries (later ones repeat them)
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    flags = set(info.get("flags", "").split())
    return {"processor": platform.processor(), "cpu": info.get("model name", ""),
            "avx512_bf16": "yes" if "avx512_bf16" in flags else "no",
            "amx_bf16": "yes" if "amx_bf16" in flags else "no", "threads": threads,
            "torch": torch.__version__, "transformers": transformers.__version__, "adapters": adapters.__version__,
            "python": platform.python_version(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def print_ratio_table(say: Report, rows: list[dict], unit: str, scale: Callable[[float], float]) -> None:
    say(f"| phase | comparison | ours {unit} | theirs {unit} | ratio | target |")
    say("|---|---|---:|---:|---:|---|")
    for r in rows:
        target = "-" if r["target"] is None else f">= {r['target']}x: {verdict(r['met'])}"
        say(f"| {r['phase']} | {r['comparison']} | {scale(r['ours_s']):,.1f} | {scale(r['theirs_s']):,.1f} "
            f"| {r['ratio']:.2f}x | {target} |")


def print_rss_table(say: Report, rows: list[dict]) -> None:
    say("| phase | precision | ours peak MiB | theirs peak MiB | ours now MiB (file) | theirs now MiB (file) "
        "| peak <= theirs |")
    say("|---|---|---:|---:|---:|---:|---|")
    peak = lambda side: f"{side['peak_mib']:,.0f}" if "peak_mib" in side else "error"  # noqa: E731
    now = lambda side: f"{side['current_mib']:,.0f} ({side['file_mib']:,.0f})" if "peak_mib" in side else "error"  # noqa: E731
    for r in rows:
        say(f"| {r['phase']} | {r['precision']} | {peak(r['ours'])} | {peak(r['theirs'])} "
            f"| {now(r['ours'])} | {now(r['theirs'])} | {verdict(r.get('met'))} |")
    for r in rows:
        for impl in ("ours", "theirs"):
            if "error" in r[impl]:
                say(f"{impl} {r['phase']} {r['precision']} failed: {r[impl]['error']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS processes")
    parser.add_argument("--only", choices=["step", "eval", "rss"], help="measure this part alone")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="the JSON file (the report goes next to it as .txt)")
    parser.add_argument("--rss-child", nargs=3, metavar=("IMPL", "PHASE", "PRECISION"), help=argparse.SUPPRESS)
    parser.add_argument("--inputs", type=Path, help=argparse.SUPPRESS)  # the parent's batches, for theirs' children
    args = parser.parse_args(argv)
    if args.rss_child:
        return rss_child(*args.rss_child, args.threads, args.inputs)
    try:
        import adapters  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as e:
        print(f"this benchmark needs transformers==4.57.6 and adapters==1.3.0 (pip install -e '.[test]'): {e}",
              file=sys.stderr)
        return 2
    parts = [args.only] if args.only else ["step", "eval"] + ([] if args.no_rss else ["rss"])
    say, results = Report(), {"machine": machine(args.threads)}

    # ours: one run per precision (train.precision is part of the run's config)
    timing = "step" in parts or "eval" in parts
    ours = {p: recipe.prepare(our_config(p, args.threads)) for p in (PRECISIONS if timing else ("fp32",))}
    batches, features = our_batches(ours["fp32"]), eval_features(ours["fp32"])
    folder = ours["fp32"].pm.source["path"]
    m = results["machine"]
    say(f"funfisher vs transformers {m['transformers']} + adapters {m['adapters']}, torch {m['torch']}, "
        f"{args.threads} threads, {m['cpu'] or m['processor']} (avx512_bf16 {m['avx512_bf16']}), {m['date']}")
    say(f"model multilingual-e5-small ({folder}), seq_bn task adapter rf 16 in all {N_LAYERS} layers, 3-way head; "
        f"data {data_dir()}")
    say(f"{N_BATCHES} training batches of {BATCH_SIZE}, lengths {[b['input_ids'].shape[1] for b in batches]}; "
        f"evaluation {len(features)} English dev examples, batch {EVAL_BATCH}"
        + (f"; {args.repeats} interleaved repeats" if timing else ""))
    results["setup"] = {"model": "multilingual-e5-small", "folder": folder, "data_dir": str(data_dir()),
                        "batches": [list(b["input_ids"].shape) for b in batches], "eval_n": len(features),
                        "eval_batch": EVAL_BATCH, "repeats": args.repeats,
                        "trainable_parameters_ours": ours["fp32"].trainable_set.trainable_parameters()}

    if timing:
        theirs = Theirs(folder)
        results["setup"]["trainable_parameters_theirs"] = sum(p.numel() for p in theirs.params)
    if "step" in parts:
        with tempfile.TemporaryDirectory() as tmp:
            medians, losses = time_steps(ours, theirs, batches, Path(tmp), args.repeats)
        rows = ratios(medians, "all") + ratios(medians, "top")
        results["step"] = {"seconds_per_6_steps": medians, "first_step_loss_fp32": losses, "ratios": rows}
        say()
        say(f"training step (ms per step, median of {N_BATCHES}-step blocks); ratio = theirs time / ours time, "
            f"> 1: ours faster")
        print_ratio_table(say, rows, "ms/step", lambda s: s / N_BATCHES * 1e3)
        say(f"first-step fp32 loss on batch 0: ours {losses['ours']:.4f}, theirs {losses['theirs']:.4f} "
            f"(ln 3 = 1.0986: the same 3-way task, untrained heads with different random inits)")
    if "eval" in parts:
        medians = time_eval(ours, theirs, features, args.repeats)
        rows = ratios(medians, "eval")
        results["eval"] = {"seconds": medians, "ratios": rows}
        say()
        say(f"evaluation of {len(features)} examples (examples/s): ours predict vs theirs on the same "
            f"length-sorted batches")
        print_ratio_table(say, rows, "ex/s", lambda s: len(features) / s)
        say("(the ex/s columns are throughputs; the ratio is theirs time / ours time)")
    if "rss" in parts:
        with tempfile.TemporaryDirectory() as tmp:
            inputs = Path(tmp) / "inputs.pt"
            torch.save({"folder": folder, "train": batches,
                        "eval": sorted_batches(features, D.pad_id_of(ours["fp32"].pm.tokenizer))}, inputs)
            rows = rss_table(args.threads, inputs)
        results["rss"] = rows
        say()
        say("peak RSS per phase, each in a fresh process (VmHWM; 'now' = VmRSS at the end, (file) its file-backed "
            "part: shared libraries, memory-mapped files); target: ours <= theirs")
        print_rss_table(say, rows)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    args.out.with_suffix(".txt").write_text("\n".join(say.lines) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out} and {args.out.with_suffix('.txt')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
