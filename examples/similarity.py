"""Cross-lingual sentence similarity with a multilingual encoder: a first look at the model.

    python examples/similarity.py [--model multilingual-e5-small] [--arch bert|xlm-roberta]

Embeds a few parallel sentences in twelve languages (mean pooling over real tokens, L2
normalization, the "query: " prefix that e5 models expect) and prints, for every language, how
similar each sentence is to its English translation versus the other English sentences. A good
multilingual encoder puts translations close together: that shared space is what zero-shot
cross-lingual transfer relies on. The sentences are `funfisher.samples.PARALLEL_SENTENCES`.
"""
from __future__ import annotations

import argparse
import sys

import torch

from funfisher import load_pretrained
from funfisher.model import encode
from funfisher.samples import PARALLEL_SENTENCES


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the hidden states of real (non-padding) tokens: [B, T, H] -> [B, H]."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


@torch.inference_mode()
def embed(pm, texts: list[str]) -> torch.Tensor:
    batch = encode(pm.tokenizer, texts, max_length=512)
    # inference: pack=True runs the layers on the real tokens only (see Encoder.forward)
    hidden = pm.model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"], pack=True)
    return torch.nn.functional.normalize(mean_pool(hidden, batch["attention_mask"]), dim=-1)


def similarity_table(pm, sentences: dict[str, list[str]], prefix: str = "query: ") -> list[dict]:
    """Per language: mean cosine to the English translation, to the other English sentences,
    and retrieval accuracy (is the translation the nearest English sentence?)."""
    english = embed(pm, [prefix + s for s in sentences["en"]])
    rows = []
    for lang, texts in sentences.items():
        sims = embed(pm, [prefix + s for s in texts]) @ english.T  # [n, n], row i = sentence i of lang
        n = sims.shape[0]
        off = sims[~torch.eye(n, dtype=torch.bool)]
        rows.append({
            "lang": lang,
            "translation": float(sims.diagonal().mean()),
            "other": float(off.mean()),
            "retrieval_acc": float((sims.argmax(1) == torch.arange(n)).float().mean()),
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="multilingual-e5-small", help="local folder, offline name or hub id")
    parser.add_argument("--arch", choices=["bert", "xlm-roberta"], default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    print(f"loading {args.model} ...", file=sys.stderr)
    pm = load_pretrained(args.model, arch=args.arch)
    print(f"{args.model} ({pm.config.arch}, {pm.config.num_hidden_layers} layers, hidden {pm.config.hidden_size})\n")
    rows = similarity_table(pm, PARALLEL_SENTENCES)
    print("| lang | cos(translation) | cos(other sentences) | retrieval acc |")
    print("|------|-----------------:|---------------------:|--------------:|")
    for r in rows:
        print(f"| {r['lang']:4} | {r['translation']:16.3f} | {r['other']:20.3f} | {r['retrieval_acc']:13.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
