"""MAD-X step 1: train a language adapter (+ its invertible adapter) with masked LM on plain text.

    python examples/train_language_adapter.py --model bert-base-multilingual-cased \
        --text sw.txt --name sw --out adapters/sw --steps 10000

MAD-X (Pfeiffer et al. 2020) transfers a task across languages in three steps:

1. one *language adapter* per language, trained with the masked-LM objective on unlabeled text of
   that language (this script);
2. a *task adapter* trained on labelled source-language data, stacked on top of the source
   language's adapter, Stack(en, task) (train.py: FUN with Fisher schedules this step);
3. zero-shot evaluation: the target language's adapter replaces the source language's one under
   the same task adapter, Stack(sw, task) (train.py and eval.py).

The paper's configs (configs/paper/) use MAD-X language adapters published on the Hugging Face hub
by AdapterHub; this script trains one for a language that has none there. Every pretrained weight
stays frozen, including the MLM head and the word embeddings (the decoder is tied to them). Only
the adapter's bottleneck layers and its NICE invertible adapter learn (MAD-X Sec. 2.2-2.3); the
result is saved in the AdapterHub format, so `funfisher.adapters.load_adapter` and AdapterHub
`adapters` both read it.

Masking is BERT's (Devlin et al. 2019): each non-special token is selected with probability 0.15;
a selected token becomes the mask token 80% of the time, a random token 10%, and stays itself
10%; the loss is cross-entropy on the selected positions only.
"""
from __future__ import annotations

import argparse
import math
import random
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from funfisher import load_pretrained
from funfisher.adapters import activate, add_adapter, get_adapter, list_adapters, save_adapter
from funfisher.model.convert import head_state_from_hf
from funfisher.model.tokenizer import encode, mask_token_id

IGNORE_INDEX = -100


def special_token_ids(tok: Tokenizer) -> set[int]:
    """Ids of the tokenizer's special tokens ([CLS], [SEP], [PAD], <s>, </s>, <pad>, ...): never masked."""
    return {i for i, t in tok.get_added_tokens_decoder().items() if t.special}


def mask_tokens(
    input_ids: torch.Tensor,
    maskable: torch.Tensor,
    mask_id: int,
    vocab_size: int,
    generator: torch.Generator,
    mask_prob: float = 0.15,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking. input_ids [B, T] long, maskable [B, T] bool -> (masked inputs, labels with -100
    where nothing is predicted). At least one position is selected so the loss is defined."""
    selected = (torch.rand(input_ids.shape, generator=generator) < mask_prob) & maskable
    if not selected.any():
        candidates = maskable.nonzero()
        if len(candidates) == 0:
            raise ValueError("no maskable token in the batch (only special tokens / padding)")
        pick = candidates[torch.randint(len(candidates), (1,), generator=generator)]
        selected[pick[0, 0], pick[0, 1]] = True
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    roll = torch.rand(input_ids.shape, generator=generator)
    to_mask = selected & (roll < 0.8)
    to_random = selected & (roll >= 0.8) & (roll < 0.9)
    masked = input_ids.clone()
    masked[to_mask] = mask_id
    masked[to_random] = torch.randint(vocab_size, (int(to_random.sum()),), generator=generator)
    return masked, labels


def _batch(pm: Any, texts: list[str], max_length: int, generator: torch.Generator, mask_prob: float):
    tok = pm.tokenizer
    batch = encode(tok, texts, max_length=max_length)
    specials = torch.tensor(sorted(special_token_ids(tok)), dtype=torch.long)
    maskable = batch["attention_mask"].bool() & ~torch.isin(batch["input_ids"], specials)
    vocab = min(tok.get_vocab_size(), pm.config.vocab_size)
    inputs, labels = mask_tokens(batch["input_ids"], maskable, mask_token_id(tok), vocab, generator, mask_prob)
    return inputs, batch["attention_mask"], batch["token_type_ids"], labels


def _mlm_loss(task_model, inputs, attention_mask, token_type_ids, labels, pack: bool = False) -> torch.Tensor:
    """pack: for the eval-only `mlm_loss` (see Encoder.forward); training runs padded."""
    device = next(task_model.parameters()).device
    logits = task_model(inputs.to(device), attention_mask.to(device), token_type_ids.to(device), pack=pack)
    return F.cross_entropy(logits.flatten(0, 1), labels.to(device).flatten(), ignore_index=IGNORE_INDEX)


def read_lines(text_file: str | Path) -> list[str]:
    path = Path(text_file)
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise ValueError(f"{path}: no non-empty lines to train on")
    return lines


@torch.no_grad()
def mlm_loss(pm: Any, texts: list[str], task_model=None, *, max_length: int = 128, batch_size: int = 16,
             seed: int = 0, mask_prob: float = 0.15) -> float:
    """Mean masked-LM loss on `texts` with a fixed masking (seed), in eval mode: for before/after checks."""
    tm = task_model or pm.task_model("mlm")
    was_training = tm.training
    tm.eval()
    gen = torch.Generator().manual_seed(seed)
    total, count = 0.0, 0
    for start in range(0, len(texts), batch_size):
        inputs, att, types, labels = _batch(pm, texts[start:start + batch_size], max_length, gen, mask_prob)
        n = int((labels != IGNORE_INDEX).sum())
        total += float(_mlm_loss(tm, inputs, att, types, labels, pack=True)) * n
        count += n
    tm.train(was_training)
    return total / count


def train_language_adapter(
    pm: Any,
    text_file: str | Path,
    name: str,
    out_dir: str | Path,
    steps: int,
    *,
    batch_size: int = 16,
    max_length: int = 128,
    lr: float = 1e-4,
    reduction_factor: float = 2,
    non_linearity: str = "relu",
    mask_prob: float = 0.15,
    seed: int = 0,
    log_every: int = 0,
) -> dict[str, Any]:
    """Train language adapter `name` (seq_bn_inv, MAD-X: reduction factor 2) on the lines of
    `text_file` for `steps` AdamW steps, everything else frozen; save it to `out_dir`.

    pm: what `load_pretrained` returns (encoder, tokenizer, config; its MLM head is used if the
    checkpoint has one). If `name` is already attached (e.g. loaded to continue training) it is
    trained as is. Returns {"losses": per-step training losses, "path": out_dir}.
    The encoder is left with `name` active and in eval mode.
    """
    enc = pm.model
    if name not in list_adapters(enc):
        add_adapter(enc, name, "seq_bn_inv", role="language", reduction_factor=reduction_factor,
                    non_linearity=non_linearity)
    elif get_adapter(enc, name).role != "language":
        raise ValueError(f"adapter {name!r} is a {get_adapter(enc, name).role!r} adapter, not a language adapter")
    activate(enc, name)
    if not head_state_from_hf(getattr(pm, "head_weights", {}), pm.config.arch, "mlm"):
        warnings.warn("the checkpoint has no masked-LM head: training the language adapter against a freshly "
                      "initialized (random, frozen) MLM head, which is only meaningful for tests", stacklevel=2)
    tm = pm.task_model("mlm")
    tm.to(next(enc.parameters()).device)
    for p in tm.parameters():
        p.requires_grad_(False)
    params = list(get_adapter(enc, name).parameters())
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr)

    lines = read_lines(text_file)
    order = random.Random(seed)  # data order
    gen = torch.Generator().manual_seed(seed)  # masking
    losses: list[float] = []
    tm.train()
    for step in range(steps):
        texts = [lines[order.randrange(len(lines))] for _ in range(batch_size)]
        loss = _mlm_loss(tm, *_batch(pm, texts, max_length, gen, mask_prob))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.detach().item())
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"masked-LM loss became {losses[-1]} at step {step}")
        if log_every and (step + 1) % log_every == 0:
            print(f"[{name}] step {step + 1}/{steps}  mlm loss {sum(losses[-log_every:]) / log_every:.4f}")
    tm.eval()
    for p in params:
        p.requires_grad_(False)
    save_adapter(enc, name, out_dir)
    return {"losses": losses, "path": Path(out_dir)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="local folder, offline name or hub id of the encoder")
    parser.add_argument("--arch", choices=["bert", "xlm-roberta"], default=None)
    parser.add_argument("--text", required=True, help="plain text in the language, one sentence or paragraph a line")
    parser.add_argument("--name", required=True, help="the adapter's name, e.g. the language code")
    parser.add_argument("--out", required=True, help="folder to save the adapter to (AdapterHub format)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--reduction-factor", type=float, default=2, help="MAD-X language adapters use 2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=100)
    args = parser.parse_args(argv)
    pm = load_pretrained(args.model, arch=args.arch)
    result = train_language_adapter(pm, args.text, args.name, args.out, args.steps, batch_size=args.batch_size,
                                    max_length=args.max_length, lr=args.lr, reduction_factor=args.reduction_factor,
                                    seed=args.seed, log_every=args.log_every)
    print(f"language adapter {args.name!r} saved to {result['path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
