"""Turn examples into model inputs (token ids) and QA model outputs back into answer text.

The tokenizer is a `tokenizers.Tokenizer` (from a `tokenizer.json`); its post-processor adds the
special tokens, so BERT gives `[CLS] A [SEP] B [SEP]` with token types 0/1 and XLM-R gives
`<s> A </s></s> B </s>` with token types all 0 — nothing here hand-builds those sequences.
A `tokenizer.json` may carry its own truncation/padding settings (the MiniLM one pads to 128);
each encoder below sets what it needs for the duration of the call and restores the rest after.

Features are plain lists of ints; `batching.collate` turns a list of them into padded tensors.

* classification  `encode_pairs`    sentence pairs, max 128 tokens, longest-first truncation
* multiple choice `encode_choices`  "{premise} What was the cause?" / "... effect?" x each choice
* QA              `encode_qa`       384-token windows over the context (question first, only the
                                    context truncated), consecutive windows overlap by 128 tokens
                  `postprocess_qa`  best span over all windows of a question -> answer text
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
from tokenizers import Encoding, Tokenizer

from .examples import ChoiceExample, PairExample, QAExample

logger = logging.getLogger(__name__)

CLS_INDEX = 0  # position of [CLS] / <s>: the target when the answer is not inside a window


@dataclass(frozen=True)
class ClassificationFeature:
    """One encoded sentence pair. `label` is None for unlabelled data."""

    input_ids: list[int]
    attention_mask: list[int]
    token_type_ids: list[int]
    label: int | None


@dataclass(frozen=True)
class ChoiceFeature:
    """One multiple-choice item: one encoded sequence per choice (lists of lists, [n_choices][T_i])."""

    input_ids: list[list[int]]
    attention_mask: list[list[int]]
    token_type_ids: list[list[int]]
    label: int | None


@dataclass(frozen=True)
class QAFeature:
    """One window over one question's context.

    `example_index` points into the example list given to `encode_qa`. `context_offsets[t]` is the
    (start, end) character span of token t in the context, or None for question/special tokens —
    the only tokens an answer may use. `start_position`/`end_position` are the gold answer's token
    positions, or CLS_INDEX (0) for both when the answer is not inside this window (or there is no
    answer / it could not be located).
    """

    example_index: int
    example_id: str
    input_ids: list[int]
    attention_mask: list[int]
    token_type_ids: list[int]
    context_offsets: list[tuple[int, int] | None]
    start_position: int
    end_position: int


# --------------------------------------------------------------------------------------------------
# tokenizer settings
# --------------------------------------------------------------------------------------------------
@contextmanager
def truncation(
    tokenizer: Tokenizer, max_length: int | None, strategy: str = "longest_first", stride: int = 0
) -> Iterator[Tokenizer]:
    """Temporarily set truncation (max_length=None: none) and no padding on `tokenizer`; restore its
    own settings after.

    Why not copy the tokenizer: a multilingual tokenizer.json is ~17 MB, copying it per call is slow;
    and leaving our settings behind would change the caller's later encodings.
    """
    old_truncation, old_padding = tokenizer.truncation, tokenizer.padding
    tokenizer.no_padding()
    if max_length is None:
        tokenizer.no_truncation()
    else:
        tokenizer.enable_truncation(max_length=max_length, stride=stride, strategy=strategy)
    try:
        yield tokenizer
    finally:
        if old_truncation is None:
            tokenizer.no_truncation()
        else:
            tokenizer.enable_truncation(**old_truncation)
        if old_padding is not None:
            tokenizer.enable_padding(**old_padding)


def _to_lists(encoding: Encoding) -> tuple[list[int], list[int], list[int]]:
    return list(encoding.ids), list(encoding.attention_mask), list(encoding.type_ids)


# --------------------------------------------------------------------------------------------------
# classification and multiple choice
# --------------------------------------------------------------------------------------------------
def encode_pairs(tokenizer: Tokenizer, examples: Sequence[PairExample], max_length: int = 128) -> list[ClassificationFeature]:
    """Encode sentence pairs; if too long, tokens are removed from the longer sentence first."""
    with truncation(tokenizer, max_length, "longest_first"):
        encodings = tokenizer.encode_batch([(example.text_a, example.text_b) for example in examples])
    return [ClassificationFeature(*_to_lists(encoding), example.label) for encoding, example in zip(encodings, examples)]


def choice_prompt(premise: str, question: str) -> str:
    """'{premise} What was the cause?' / '... effect?' — the first segment paired with each choice.

    The English wording is used for every language (as in XCOPA's zero-shot transfer baselines): the
    task adapter is trained on English COPA and sees the same prompt at test time.
    """
    return f"{premise} What was the {question}?"


def encode_choices(tokenizer: Tokenizer, examples: Sequence[ChoiceExample], max_length: int = 128) -> list[ChoiceFeature]:
    """Encode each (prompt, choice) pair; a feature holds all choices of one example."""
    pairs = [(choice_prompt(e.premise, e.question), choice) for e in examples for choice in e.choices]
    with truncation(tokenizer, max_length, "longest_first"):
        encodings = tokenizer.encode_batch(pairs)
    features, position = [], 0
    for example in examples:
        chunk = encodings[position : position + len(example.choices)]
        position += len(example.choices)
        ids, masks, types = zip(*(_to_lists(encoding) for encoding in chunk))
        features.append(ChoiceFeature(list(ids), list(masks), list(types), example.label))
    return features


# --------------------------------------------------------------------------------------------------
# extractive QA: windows
# --------------------------------------------------------------------------------------------------
def _encode_qa_pairs(tokenizer: Tokenizer, questions: list[str], contexts: list[str], max_query_length: int) -> list[Encoding]:
    """Batch-encode (question, context); on the rare question too long to leave room for context,
    cut that question to `max_query_length` tokens and encode it alone."""
    try:
        return tokenizer.encode_batch(list(zip(questions, contexts)))
    except Exception:  # tokenizers raises a plain Exception("Truncation error: ...")
        pass
    encodings = []
    for question, context in zip(questions, contexts):
        try:
            encodings.append(tokenizer.encode(question, context))
        except Exception:
            with truncation(tokenizer, None):  # (restores the window settings on exit)
                offsets = tokenizer.encode(question, add_special_tokens=False).offsets
            cut = offsets[max_query_length - 1][1] if len(offsets) > max_query_length else len(question)
            encodings.append(tokenizer.encode(question[:cut], context))
    return encodings


def _answer_positions(offsets: list[tuple[int, int] | None], start_char: int, end_char: int) -> tuple[int, int]:
    """Token span covering characters [start_char, end_char) in this window, or (0, 0) if not inside.

    The start token is the last context token starting at or before `start_char`; the end token the
    first context token ending at or after `end_char`. (SentencePiece tokens may include the space in
    front of a word, so recovered text can carry a leading space; answers are compared stripped.)
    """
    context = [t for t, span in enumerate(offsets) if span is not None]
    if not context:
        return CLS_INDEX, CLS_INDEX
    first, last = context[0], context[-1]
    if offsets[first][0] > start_char or offsets[last][1] < end_char:
        return CLS_INDEX, CLS_INDEX
    start = max(t for t in context if offsets[t][0] <= start_char)
    end = min(t for t in context if offsets[t][1] >= end_char)
    return start, end


def encode_qa(
    tokenizer: Tokenizer,
    examples: Sequence[QAExample],
    max_length: int = 384,
    doc_stride: int = 128,
    max_query_length: int = 64,
) -> list[QAFeature]:
    """Split each (question, context) into windows of `max_length` tokens.

    The question comes first and is never truncated (unless longer than `max_query_length` tokens and
    leaving no room); the context is cut into windows that overlap by `doc_stride` tokens (the
    `tokenizers`/HF `run_qa.py` meaning of stride). Gold positions come from the first answer.
    Leading whitespace of questions is dropped: some SQuAD questions start with many spaces that
    would only waste window room.
    """
    questions = [example.question.lstrip() for example in examples]
    contexts = [example.context for example in examples]
    with truncation(tokenizer, max_length, "only_second", stride=doc_stride):
        encodings = _encode_qa_pairs(tokenizer, questions, contexts, max_query_length)
    features = []
    moved, lost = [], []
    for index, (example, encoding) in enumerate(zip(examples, encodings)):
        start_char = locate_answer(example)
        if start_char is None:
            start_char = end_char = -1
            if example.answers:
                lost.append(example.id)
        else:
            if start_char != example.answers[0][1]:
                moved.append(example.id)
            end_char = start_char + len(example.answers[0][0])
        for window in [encoding, *encoding.overflowing]:
            offsets = [
                tuple(span) if sequence == 1 else None for span, sequence in zip(window.offsets, window.sequence_ids)
            ]
            start, end = _answer_positions(offsets, start_char, end_char) if start_char >= 0 else (CLS_INDEX, CLS_INDEX)
            features.append(QAFeature(index, example.id, *_to_lists(window), offsets, start, end))
    if moved or lost:
        logger.warning(
            "encode_qa: %d answer_start offsets did not point at the answer text and were replaced by its first "
            "occurrence (e.g. %s); %d answers do not occur in their context and get no target (e.g. %s)",
            len(moved), moved[:3], len(lost), lost[:3],
        )
    return features


def locate_answer(example: QAExample) -> int | None:
    """Character start of the first gold answer: `answer_start` if the text is there, else the first
    occurrence of the text in the context (wrong offsets exist, e.g. in the reconstructed SQuAD dev),
    else None (also for questions without answers)."""
    if not example.answers:
        return None
    text, start = example.answers[0]
    if example.context[start : start + len(text)] == text:
        return start
    found = example.context.find(text)
    return found if found >= 0 and text else None


def span_text(context: str, offsets: Sequence[tuple[int, int] | None], start: int, end: int) -> str:
    """The context text covered by tokens start..end (inclusive), whitespace-stripped."""
    return context[offsets[start][0] : offsets[end][1]].strip()


# --------------------------------------------------------------------------------------------------
# extractive QA: logits -> answer text
# --------------------------------------------------------------------------------------------------
def _row(logits: Any, index: int) -> np.ndarray:
    row = logits[index]
    if hasattr(row, "detach"):  # torch tensor
        row = row.detach().float().cpu().numpy()
    return np.asarray(row, dtype=np.float64)


def best_span(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offsets: Sequence[tuple[int, int] | None],
    n_best: int = 20,
    max_answer_length: int = 30,
) -> tuple[float, int, int] | None:
    """Highest-scoring (start_logit + end_logit, start, end) among the `n_best` start and `n_best` end
    candidates of one window, restricted to context tokens, start <= end, length <= max_answer_length.
    Logit positions beyond the window (batch padding) are ignored."""
    length = len(offsets)
    start_logits, end_logits = start_logits[:length], end_logits[:length]
    starts = np.argsort(start_logits)[::-1][:n_best]
    ends = np.argsort(end_logits)[::-1][:n_best]
    best = None
    for s in starts:
        if offsets[s] is None:
            continue
        for e in ends:
            if offsets[e] is None or e < s or e - s + 1 > max_answer_length:
                continue
            score = float(start_logits[s] + end_logits[e])
            if best is None or score > best[0]:
                best = (score, int(s), int(e))
    return best


def postprocess_qa(
    examples: Sequence[QAExample],
    features: Sequence[QAFeature],
    start_logits: Any,
    end_logits: Any,
    n_best: int = 20,
    max_answer_length: int = 30,
) -> dict[str, str]:
    """Map per-window start/end logits back to one answer text per question id.

    `start_logits[i]`/`end_logits[i]` belong to `features[i]` (a padded [n_features, T] tensor/array
    or a list of 1-D rows). For each question the best-scoring valid span over *all* its windows
    wins (score = start logit + end logit, as in the BERT/HF SQuAD post-processing); a question
    with no valid span gets "".
    """
    if len(start_logits) != len(features) or len(end_logits) != len(features):
        raise ValueError(f"{len(features)} features but {len(start_logits)} start / {len(end_logits)} end logit rows")
    best: dict[int, tuple[float, int, int, int]] = {}
    for i, feature in enumerate(features):
        span = best_span(_row(start_logits, i), _row(end_logits, i), feature.context_offsets, n_best, max_answer_length)
        if span is not None and (feature.example_index not in best or span[0] > best[feature.example_index][0]):
            best[feature.example_index] = (*span, i)
    answers = {}
    for index, example in enumerate(examples):
        if index in best:
            _, start, end, i = best[index]
            answers[example.id] = span_text(example.context, features[i].context_offsets, start, end)
        else:
            answers[example.id] = ""
    return answers
