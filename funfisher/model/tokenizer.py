"""Tokenization with the `tokenizers` library, straight from a checkpoint's `tokenizer.json`.

The tokenizer's own post-processor adds the special tokens ([CLS] A [SEP] B [SEP] with token
types 0/1 for BERT; <s> A </s></s> B </s> with types 0 for XLM-R), so the ids are exactly those
of the Hugging Face fast tokenizers (tested).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Sequence

import torch
from tokenizers import Tokenizer

from ..errors import ModelFileError, ModelNotFoundError
from .convert import first_line

Truncation = Literal["longest_first", "only_first", "only_second"]


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load tokenizer.json with padding and truncation switched off.

    Some published tokenizer.json files carry a fixed padding/truncation (all-MiniLM-L6-v2 pads
    everything to 128); we want those to be explicit per call, so they start disabled.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"{path}: no such file (every model folder needs its tokenizer.json)")
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as e:  # the Rust side raises a bare Exception, for unreadable files too
        raise ModelFileError(f"{path}: not a valid tokenizer.json ({first_line(e)})") from None
    if all(tok.token_to_id(t) is None for t in ("[PAD]", "<pad>")):
        raise ModelFileError(f"{path}: the tokenizer has neither a [PAD] nor a <pad> token (needed to pad batches)")
    tok.no_padding()
    tok.no_truncation()
    return tok


def special_token_id(tok: Tokenizer, bert_token: str, xlmr_token: str) -> int:
    """The id of a special token under its BERT ([PAD]) or XLM-R (<pad>) spelling."""
    for token in (bert_token, xlmr_token):
        i = tok.token_to_id(token)
        if i is not None:
            return i
    raise ValueError(f"the tokenizer has neither a {bert_token} nor a {xlmr_token} token")


def pad_token_id(tok: Tokenizer) -> int:
    return special_token_id(tok, "[PAD]", "<pad>")


def mask_token_id(tok: Tokenizer) -> int:
    return special_token_id(tok, "[MASK]", "<mask>")


def encode(
    tok: Tokenizer,
    texts: Sequence[str],
    pairs: Sequence[str] | None = None,
    max_length: int | None = 512,
    truncation: Truncation = "longest_first",
    return_offsets: bool = False,
) -> dict[str, torch.Tensor]:
    """Encode a batch of texts (or text pairs) to padded tensors.

    Returns `input_ids`, `attention_mask` (1 = real token) and `token_type_ids`, each [B, T] long,
    plus `offsets` [B, T, 2] (character spans in the original text; (0, 0) for special tokens and
    padding) when `return_offsets`. Padding is to the longest sequence in the batch.
    """
    if pairs is not None and len(pairs) != len(texts):
        raise ValueError(f"got {len(texts)} texts but {len(pairs)} pair texts")
    if max_length is not None:
        tok.enable_truncation(max_length, strategy=truncation)
    tok.enable_padding(pad_id=pad_token_id(tok), pad_token=tok.id_to_token(pad_token_id(tok)))
    try:
        batch = list(zip(texts, pairs)) if pairs is not None else list(texts)
        encs = tok.encode_batch(batch)
    finally:
        tok.no_truncation()
        tok.no_padding()
    out = {
        "input_ids": torch.tensor([e.ids for e in encs], dtype=torch.long),
        "attention_mask": torch.tensor([e.attention_mask for e in encs], dtype=torch.long),
        "token_type_ids": torch.tensor([e.type_ids for e in encs], dtype=torch.long),
    }
    if return_offsets:
        out["offsets"] = torch.tensor([e.offsets for e in encs], dtype=torch.long)
    return out
