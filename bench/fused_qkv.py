"""Would a fused QKV projection make funfisher faster? (issue #14, item 3: "kept only where measured")

    python bench/fused_qkv.py            # 2 threads, e5-small's layer 0, training and evaluation shapes

The encoder computes query, key and value as three Linear(384, 384) calls on the same input
(funfisher/model/encoder.py, SelfAttention.forward; LoRA wraps query and value separately). A
fused projection would be one Linear(384, 1152) and a split. This times both on the loaded
model's own layer-0 weights, interleaved, medians, for the rows of a training batch (32 x 40
tokens) and of an evaluation batch (64 x 60), forward only (evaluation, frozen layers) and
forward + backward to the input (what training does through a frozen layer under a trainable
adapter). Ratio = three / fused: > 1 means fusing would be faster.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from funfisher import load_pretrained


def seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    attn = load_pretrained("multilingual-e5-small").model.layers[0].attn
    projections = (attn.query, attn.key, attn.value)
    weight = torch.cat([p.weight for p in projections]).detach().clone()
    bias = torch.cat([p.bias for p in projections]).detach().clone()
    hidden = attn.query.in_features
    print(f"e5-small layer 0: three Linear({hidden}, {hidden}) vs one Linear({hidden}, {3 * hidden}) + split; "
          f"{args.threads} threads, medians of {args.repeats}")
    print("| rows | pass | three ms | fused ms | three / fused |")
    print("|---|---|---:|---:|---:|")
    for label, rows in (("train 32 x 40", 32 * 40), ("eval 64 x 60", 64 * 60)):
        for backward in (False, True):
            x = torch.randn(rows, hidden, requires_grad=backward)

            def three():
                outs = [p(x) for p in projections]
                if backward:
                    torch.autograd.grad(sum(o.sum() for o in outs), x)

            def fused():
                outs = F.linear(x, weight, bias).split(hidden, dim=-1)
                if backward:
                    torch.autograd.grad(sum(o.sum() for o in outs), x)

            with torch.set_grad_enabled(backward):
                for _ in range(3):  # warm-up
                    three(), fused()
                t3, tf = [], []
                for _ in range(args.repeats):  # interleaved: drift hits both alike
                    t3.append(seconds(three))
                    tf.append(seconds(fused))
            m3, mf = statistics.median(t3), statistics.median(tf)
            print(f"| {label} | {'forward + backward' if backward else 'forward'} | {m3 * 1e3:.2f} | {mf * 1e3:.2f} | "
                  f"{m3 / mf:.2f}x |")


if __name__ == "__main__":
    main()
