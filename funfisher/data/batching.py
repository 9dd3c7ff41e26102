"""From features to batches: padding (`collate`) and length-bucketed batch order.

Tensor shapes (torch.long): classification `[batch, seq]`; multiple choice `[batch, n_choices, seq]`;
`attention_mask` is 1 for real tokens, 0 for padding. Keys follow the usual HF names:
input_ids, attention_mask, token_type_ids, and labels (classification / multiple choice) or
start_positions, end_positions (QA). Batches carry no index: the batch sampler yields feature
indices, so the caller knows which features (and, for QA, which logit rows) a batch holds.
"""
from __future__ import annotations

from typing import Sequence

import torch
from tokenizers import Tokenizer

from ..model.tokenizer import pad_token_id
from .features import ChoiceFeature, ClassificationFeature, QAFeature

Feature = ClassificationFeature | ChoiceFeature | QAFeature


def pad_id_of(tokenizer: Tokenizer) -> int:
    """The id of the padding token: BERT `[PAD]` = 0, XLM-R `<pad>` = 1 (from the tokenizer, never assumed)."""
    if tokenizer.padding is not None:
        return int(tokenizer.padding["pad_id"])
    return pad_token_id(tokenizer)


def _pad(rows: Sequence[Sequence[int]], length: int, value: int) -> list[list[int]]:
    return [list(row) + [value] * (length - len(row)) for row in rows]


def feature_length(feature: Feature) -> int:
    """Tokens in a feature (the longest choice for multiple choice): what padding and bucketing use."""
    if isinstance(feature, ChoiceFeature):
        return max(len(ids) for ids in feature.input_ids)
    return len(feature.input_ids)


def collate(features: Sequence[Feature], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad a list of features to the longest in the batch and stack them into long tensors."""
    if not features:
        raise ValueError("cannot collate an empty batch")
    length = max(feature_length(f) for f in features)
    first = features[0]
    if isinstance(first, ChoiceFeature):
        def stack(name: str, value: int) -> torch.Tensor:
            return torch.tensor([_pad(getattr(f, name), length, value) for f in features], dtype=torch.long)
    else:
        def stack(name: str, value: int) -> torch.Tensor:
            return torch.tensor(_pad([getattr(f, name) for f in features], length, value), dtype=torch.long)
    batch = {
        "input_ids": stack("input_ids", pad_id),
        "attention_mask": stack("attention_mask", 0),
        "token_type_ids": stack("token_type_ids", 0),
    }
    if isinstance(first, QAFeature):
        batch["start_positions"] = torch.tensor([f.start_position for f in features], dtype=torch.long)
        batch["end_positions"] = torch.tensor([f.end_position for f in features], dtype=torch.long)
    elif all(f.label is not None for f in features):
        batch["labels"] = torch.tensor([f.label for f in features], dtype=torch.long)
    return batch


def length_bucketed_batches(
    lengths: Sequence[int],
    batch_size: int,
    *,
    generator: torch.Generator | None = None,
    shuffle: bool = True,
    bucket_batches: int = 50,
    drop_last: bool = False,
) -> list[list[int]]:
    """Batches of indices whose items have similar lengths, so little compute goes into padding.

    shuffle=True (training): shuffle all indices with `generator`, cut them into chunks of
    `bucket_batches * batch_size`, sort each chunk by length, cut chunks into batches, shuffle the
    batch order. Randomness comes only from `generator`, so a seeded generator gives the same
    batches every time. shuffle=False (evaluation): sort everything by length (stable), no randomness.
    The result is a list, usable directly as a DataLoader `batch_sampler`.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(lengths)
    if not shuffle:
        order = sorted(range(n), key=lambda i: lengths[i])
        batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    else:
        order = torch.randperm(n, generator=generator).tolist()
        chunk = batch_size * max(1, bucket_batches)
        batches = []
        for begin in range(0, n, chunk):
            bucket = sorted(order[begin : begin + chunk], key=lambda i: lengths[i])
            batches.extend(bucket[i : i + batch_size] for i in range(0, len(bucket), batch_size))
        permutation = torch.randperm(len(batches), generator=generator).tolist()
        batches = [batches[i] for i in permutation]
    if drop_last:
        batches = [b for b in batches if len(b) == batch_size]
    return batches
