"""Encoder forward throughput: funfisher vs transformers, same real weights, same sentences, one run.

    python bench/encoder_forward.py [--model multilingual-e5-small] [--sentences 512] [--batch-size 32]

Both encoders run in eval mode under torch.inference_mode with 2 threads, on the same batches of
mixed-length multilingual sentences (XNLI dev premises in 15 languages from ../shared/data when
present, else the built-in parallel sentences). Reported: real (non-padding) tokens per second and
the ratio ours / transformers, for

  1. file order: both get the same batches in the order the sentences come;
  2. length-sorted: ours with length-sorted batches (less padding) vs transformers in file order;
  3. both sorted: the same sorted batches for both (the implementation alone).

Our encoder is called with `pack=True` (as zero-shot evaluation does): each layer's per-token work
then runs on the real tokens only when a batch has at least 10% padding (`Packing` in funfisher/model/encoder.py); that is where the gain
on unsorted batches comes from. Sorted batches have little padding and run padded.

Needs the test extra transformers==4.57.6 (pip install -e '.[test]').
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch

from funfisher import load_pretrained
from funfisher.model import encode
from funfisher.samples import PARALLEL_SENTENCES
from timing import interleaved  # bench/timing.py

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def load_sentences(n: int) -> tuple[list[str], str]:
    folder = SHARED / "xnli"
    if folder.is_dir():
        per_lang = []
        for path in sorted(folder.glob("dev-*.tsv")):
            with path.open(encoding="utf-8", newline="") as f:
                per_lang.append([row[0] for _, row in zip(range(n), csv.reader(f, delimiter="\t"))])
        # interleave languages so every batch mixes scripts and lengths
        mixed = [s for group in zip(*per_lang) for s in group]
        return mixed[:n], f"XNLI dev premises, {len(per_lang)} languages"
    base = [s for texts in PARALLEL_SENTENCES.values() for s in texts]
    return (base * (n // len(base) + 1))[:n], "built-in parallel sentences"


def batches(tok, sentences: list[str], batch_size: int, sort: bool) -> list[dict[str, torch.Tensor]]:
    order = list(range(len(sentences)))
    if sort:
        lengths = [len(e.ids) for e in tok.encode_batch(sentences)]
        order.sort(key=lambda i: lengths[i])
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return [encode(tok, [sentences[i] for i in c], max_length=128) for c in chunks]


def tokens_per_second(settings: dict[str, tuple], repeats: int) -> dict[str, float]:
    """settings: name -> (run, batches). Timed interleaved (bench/timing.py), median over repeats."""
    for run, data in settings.values():
        run(data[0])  # warm-up

    def all_batches(run, data):
        def go() -> None:
            for b in data:
                run(b)
        return go

    timed = interleaved({name: all_batches(run, data) for name, (run, data) in settings.items()}, repeats)
    return {name: sum(int(b["attention_mask"].sum()) for b in data) / timed[name][0]
            for name, (_, data) in settings.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="multilingual-e5-small")
    p.add_argument("--sentences", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    try:
        import transformers
    except ImportError:
        print("this benchmark needs transformers==4.57.6 (pip install -e '.[test]')", file=sys.stderr)
        return 2
    torch.set_num_threads(2)
    pm = load_pretrained(args.model)
    family = "BertModel" if pm.config.arch == "bert" else "XLMRobertaModel"
    hf = getattr(transformers, family).from_pretrained(pm.source["path"], add_pooling_layer=False).eval()
    sentences, what = load_sentences(args.sentences)

    @torch.inference_mode()
    def ours(b):
        return pm.model(b["input_ids"], b["attention_mask"], b["token_type_ids"], pack=True)

    @torch.inference_mode()
    def theirs(b):
        return hf(**b).last_hidden_state

    file_order = batches(pm.tokenizer, sentences, args.batch_size, sort=False)
    sorted_ = batches(pm.tokenizer, sentences, args.batch_size, sort=True)
    tps = tokens_per_second({"hf_file": (theirs, file_order), "our_file": (ours, file_order),
                             "hf_sorted": (theirs, sorted_), "our_sorted": (ours, sorted_)}, args.repeats)
    hf_file, our_file, hf_sorted, our_sorted = tps["hf_file"], tps["our_file"], tps["hf_sorted"], tps["our_sorted"]
    print(f"model {args.model} ({pm.config.arch}), {len(sentences)} sentences ({what}), batch {args.batch_size}, "
          f"2 threads, torch {torch.__version__}, transformers {transformers.__version__}")
    print("| setting | funfisher tok/s | transformers tok/s | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| file order (same batches) | {our_file:,.0f} | {hf_file:,.0f} | {our_file / hf_file:.2f}x |")
    print(f"| ours length-sorted vs transformers file order | {our_sorted:,.0f} | {hf_file:,.0f} | {our_sorted / hf_file:.2f}x |")
    print(f"| both length-sorted (same batches) | {our_sorted:,.0f} | {hf_sorted:,.0f} | {our_sorted / hf_sorted:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
