"""Evaluation throughput: funfisher's zero-shot evaluation vs transformers, same weights and examples, one run.

    python bench/eval_throughput.py [--model multilingual-e5-small] [--n 300] [--languages en de zh sw] [--batch-size 64]

Task: XNLI dev sentence pairs (../shared/data or the sample in data/demo), a 3-label classifier
on the real encoder (a seeded random head, identical on both sides: transformers builds it, saves
it, and funfisher loads the same folder). Timed from examples to predicted labels, tokenization
included, 2 threads, inference mode on both sides. Reported as examples/s and ratios:

  1. transformers fed in file order (the usual way: batches as the examples come);
  2. transformers fed the same length-sorted batches as ours (the implementation alone).

The predictions of both sides are compared (they must agree on every example).
Needs the test extra transformers==4.57.6.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

from funfisher import data as D
from funfisher import load_pretrained
from funfisher.evaluation import predict
from funfisher.tasks import get_task
from timing import interleaved  # bench/timing.py

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    shared = REPO.parent / "shared" / "data"
    return shared if (shared / "xnli").is_dir() else REPO / "data" / "demo"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="multilingual-e5-small")
    p.add_argument("--n", type=int, default=300, help="examples per language")
    p.add_argument("--languages", nargs="+", default=["en", "de", "zh", "sw"])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    try:
        import transformers
    except ImportError:
        print("this benchmark needs transformers==4.57.6 (pip install -e '.[test]')", file=sys.stderr)
        return 2
    torch.set_num_threads(2)
    base = load_pretrained(args.model)
    family = "Bert" if base.config.arch == "bert" else "XLMRoberta"
    torch.manual_seed(0)
    hf = getattr(transformers, f"{family}ForSequenceClassification").from_pretrained(base.source["path"], num_labels=3).eval()
    with tempfile.TemporaryDirectory() as tmp:
        hf.save_pretrained(tmp)
        (Path(tmp) / "tokenizer.json").write_bytes((Path(base.source["path"]) / "tokenizer.json").read_bytes())
        pm = load_pretrained(tmp)
    ours = pm.task_model("classification", num_labels=3).eval()
    fast = getattr(transformers, f"{family}TokenizerFast")(tokenizer_file=str(Path(base.source["path"]) / "tokenizer.json"))
    examples = [e for lang in args.languages
                for e in D.subsample(D.load_dataset("xnli", "dev", lang=lang, data_dir=data_dir()), args.n, 0)]

    nli = get_task("classification")

    def run_ours():  # tokenization included, as a user's evaluation pays it
        features = nli.encode(pm.tokenizer, examples, args.max_length)
        return predict(ours, features, D.pad_id_of(pm.tokenizer), args.batch_size).labels

    sorted_order = D.length_bucketed_batches(
        [D.feature_length(f) for f in nli.encode(pm.tokenizer, examples, args.max_length)],
        args.batch_size, shuffle=False)
    file_order = [list(range(i, min(i + args.batch_size, len(examples)))) for i in range(0, len(examples), args.batch_size)]

    @torch.inference_mode()
    def run_hf(batches):
        labels = [0] * len(examples)
        for idx in batches:
            enc = fast([examples[i].text_a for i in idx], [examples[i].text_b for i in idx], padding=True,
                       truncation="longest_first", max_length=args.max_length, return_tensors="pt")
            for i, label in zip(idx, hf(**enc).logits.argmax(-1).tolist()):
                labels[i] = label
        return labels

    run_ours()  # warm-up (first-call allocations)
    timed = interleaved({"ours": run_ours, "file": lambda: run_hf(file_order),
                         "sorted": lambda: run_hf(sorted_order)}, args.repeats)
    (t_ours, pred_ours), (t_file, pred_file), (t_sorted, pred_sorted) = timed["ours"], timed["file"], timed["sorted"]
    n = len(examples)
    agree = sum(a == b for a, b in zip(pred_ours, pred_file)) / n
    print(f"model {args.model} ({pm.config.arch}), XNLI dev {args.languages} x {args.n} = {n} examples "
          f"({data_dir()}), batch {args.batch_size}, max_length {args.max_length}, 2 threads")
    print("| baseline | funfisher ex/s | transformers ex/s | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| transformers, file order | {n / t_ours:,.1f} | {n / t_file:,.1f} | {t_file / t_ours:.2f}x |")
    print(f"| transformers, same length-sorted batches | {n / t_ours:,.1f} | {n / t_sorted:,.1f} | {t_sorted / t_ours:.2f}x |")
    print(f"predictions agree with transformers on {agree:.1%} of examples; "
          f"sorted vs file order transformers agree on {sum(a == b for a, b in zip(pred_file, pred_sorted)) / n:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
