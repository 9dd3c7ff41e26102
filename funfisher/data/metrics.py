"""Metrics: accuracy, and extractive-QA exact match / F1 as computed by the official scripts.

QA normalisations give different numbers on the same predictions, so every QA score carries the
name of the one that produced it (`"normalization": "squad"`, `"mlqa-<lang>"` or `"mixed-zh"`):

* **squad** — the SQuAD v1.1 evaluation script (used for SQuAD and, as in XTREME, for XQuAD):
  lowercase -> drop ASCII punctuation (`string.punctuation`) -> drop the English articles a/an/the
  -> collapse whitespace; tokens are whitespace-separated.
* **mlqa** — the MLQA evaluation script (`mlqa_evaluation_v1.py`), per answer language:
  lowercase -> drop every Unicode punctuation character (category P*) and `string.punctuation`
  -> drop that language's articles (en a|an|the; es un|una|unos|unas|el|la|los|las;
  de ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des; vi của|là|cái|chiếc|những;
  ar: every occurrence of "ال", also inside words, because the script's pattern `\\sال^|ال` reduces to
  that; hi and zh: nothing) -> tokenise: whitespace, except zh ("mixed segmentation": each CJK
  character U+4E00–U+9FA5 is a token, runs of other characters are split on whitespace).
* **mixed-zh** — what the paper's authors' released code scored XQuAD zh with (see
  `normalize_mixed_zh`): lowercase -> drop ASCII punctuation only -> mixed segmentation, in which
  the remaining (non-ASCII) punctuation such as "。" or "，" stays as one-character tokens; no
  article removal. Not an official script: XTREME scores XQuAD zh with **squad**, and so do we as
  the primary number; this one is recorded alongside, labelled.

Scores are on a 0–100 scale (the official scripts' scale); accuracy too, for uniform tables.
EM for one question is the max over its gold answers, as is F1.
"""
from __future__ import annotations

import re
import string
import sys
import unicodedata
from collections import Counter
from functools import lru_cache
from typing import Callable, Mapping, Sequence

from ..errors import UserError


class ScoringError(UserError, ValueError):
    """Predictions and gold answers that cannot be scored together (counts, normalization, language)."""

# --------------------------------------------------------------------------------------------------
# classification
# --------------------------------------------------------------------------------------------------


def accuracy(predictions: Sequence[int | None], labels: Sequence[int]) -> float:
    """Percentage (0–100) of predictions equal to the label. A None prediction (missing) is wrong."""
    if len(predictions) != len(labels):
        raise ScoringError(f"{len(predictions)} predictions for {len(labels)} labels")
    if not labels:
        raise ScoringError("accuracy of an empty set is undefined")
    correct = sum(int(p is not None and int(p) == int(y)) for p, y in zip(predictions, labels))
    return 100.0 * correct / len(labels)


# --------------------------------------------------------------------------------------------------
# SQuAD v1.1 normalisation
# --------------------------------------------------------------------------------------------------
_ASCII_PUNCT = frozenset(string.punctuation)
_EN_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_squad(text: str) -> str:
    """SQuAD v1.1 `normalize_answer`: lower, remove punctuation, remove a/an/the, fix whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _ASCII_PUNCT)
    text = _EN_ARTICLES.sub(" ", text)
    return " ".join(text.split())


# --------------------------------------------------------------------------------------------------
# MLQA normalisation
# --------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def mlqa_punctuation() -> frozenset[str]:
    """All Unicode punctuation (general category P*) plus ASCII punctuation (which adds symbols such
    as $ + < = > ^ ` | ~ that Unicode files under S*). Computed on first use: scanning all code
    points takes about a second."""
    return frozenset(
        chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")
    ) | _ASCII_PUNCT

MLQA_ARTICLES: dict[str, re.Pattern | None] = {
    "en": re.compile(r"\b(a|an|the)\b"),
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "ar": re.compile(r"\sال^|ال"),  # the official pattern; the first branch can never match
    "hi": None,  # Hindi has no formal articles
    "zh": None,  # Chinese has no formal articles
}
MLQA_LANGUAGES = tuple(MLQA_ARTICLES)
_CJK = re.compile(r"[\u4e00-\u9fa5]")


def mixed_segmentation(text: str) -> list[str]:
    """MLQA's Chinese tokenisation: CJK characters (and punctuation) are single tokens; the text
    between them is split on whitespace, so embedded Latin words and numbers stay whole."""
    punctuation = mlqa_punctuation()
    tokens: list[str] = []
    pending = ""
    for ch in text:
        if _CJK.match(ch) or ch in punctuation:
            tokens.extend(pending.split())
            pending = ""
            tokens.append(ch)
        else:
            pending += ch
    tokens.extend(pending.split())
    return tokens


def normalize_mlqa(text: str, lang: str) -> str:
    """MLQA `normalize_answer(s, lang)`: lower, remove punctuation, remove articles, re-tokenise."""
    if lang not in MLQA_ARTICLES:
        raise ScoringError(f"MLQA normalisation is defined for {list(MLQA_LANGUAGES)}, not {lang!r}")
    punctuation = mlqa_punctuation()
    text = text.lower()
    text = "".join(ch for ch in text if ch not in punctuation)
    articles = MLQA_ARTICLES[lang]
    if articles is not None:
        text = articles.sub(" ", text)
    tokens = mixed_segmentation(text) if lang == "zh" else text.split()
    return " ".join(token for token in tokens if token.strip())


def normalize_mixed_zh(text: str) -> str:
    """Chinese answer normalisation of the FUN authors' released code (UKPLab/naacl2024-fun,
    `utils/squad/evaluate.py`, which `run_qa.py` loads instead of the SQuAD metric whenever the
    dataset configuration name contains "zh", i.e. XQuAD zh).

    Steps, in order:
    1. lowercase;
    2. delete ASCII punctuation (`string.punctuation`) — nothing else is deleted;
    3. mixed segmentation (`mixed_segmentation`): every CJK character U+4E00–U+9FA5 and every
       remaining punctuation character (Unicode category P*, e.g. "。", "，", "《", "“") becomes a
       token of its own; the runs between them are split on whitespace, so Latin words and numbers
       stay whole;
    4. tokens joined by single spaces.

    Differences from MLQA's zh normalisation (`normalize_mlqa(text, "zh")`): MLQA deletes all
    Unicode punctuation before segmenting, this keeps non-ASCII punctuation as tokens (so
    "北京。" vs "北京" is EM 0 here, EM 1 under MLQA). Like MLQA zh, no articles are removed
    (the released script defines an a/an/the remover but never applies it).
    """
    text = "".join(ch for ch in text.lower() if ch not in _ASCII_PUNCT)
    return " ".join(token for token in mixed_segmentation(text) if token.strip())


# --------------------------------------------------------------------------------------------------
# EM / F1
# --------------------------------------------------------------------------------------------------
Normalizer = Callable[[str], str]
NORMALIZATIONS = ("squad", "mlqa", "mixed-zh")


def get_normalizer(normalization: str = "squad", lang: str | None = None) -> tuple[Normalizer, str]:
    """The normalising function and its recorded name ("squad", "mlqa-<lang>" or "mixed-zh").

    "mixed-zh" is defined for Chinese only: `lang` may be None or "zh"."""
    if normalization == "squad":
        return normalize_squad, "squad"
    if normalization == "mixed-zh":
        if lang not in (None, "zh"):
            raise ScoringError(f"the mixed-zh normalization is for Chinese answers, not {lang!r}")
        return normalize_mixed_zh, "mixed-zh"
    if normalization == "mlqa":
        if lang is None:
            raise ScoringError("MLQA normalisation needs the answer language (lang=...)")
        if lang not in MLQA_ARTICLES:
            raise ScoringError(f"MLQA normalisation is defined for {list(MLQA_LANGUAGES)}, not {lang!r}")
        return (lambda text: normalize_mlqa(text, lang)), f"mlqa-{lang}"
    raise ScoringError(f"unknown normalization {normalization!r}; expected {list(NORMALIZATIONS)}")


def exact_match(prediction: str, gold: str, normalize: Normalizer = normalize_squad) -> float:
    """1.0 if the normalised strings are equal, else 0.0."""
    return float(normalize(prediction) == normalize(gold))


def f1(prediction: str, gold: str, normalize: Normalizer = normalize_squad) -> float:
    """Token-level F1 (0–1) between the normalised strings, tokens counted with multiplicity."""
    pred_tokens = normalize(prediction).split()
    gold_tokens = normalize(gold).split()
    common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision = common / len(pred_tokens)
    recall = common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def qa_scores(
    gold: Mapping[str, Sequence[str]],
    predictions: Mapping[str, str],
    normalization: str = "squad",
    lang: str | None = None,
) -> dict:
    """EM and F1 (0–100) over all questions in `gold` ({id: [gold answer texts]}).

    Like the official scripts, a question without a prediction scores 0 and counts in the total;
    predictions for unknown ids are ignored. Returns exact_match, f1, normalization, total, missing.
    """
    normalize, name = get_normalizer(normalization, lang)
    if not gold:
        raise ScoringError("no gold questions to score")
    em_sum = f1_sum = 0.0
    missing = 0
    for qid, answers in gold.items():
        if not answers:
            raise ScoringError(f"question {qid!r} has no gold answers (SQuAD v1.1 scoring needs at least one)")
        if qid not in predictions:
            missing += 1
            continue
        prediction = predictions[qid]
        em_sum += max(exact_match(prediction, answer, normalize) for answer in answers)
        f1_sum += max(f1(prediction, answer, normalize) for answer in answers)
    total = len(gold)
    return {
        "exact_match": 100.0 * em_sum / total,
        "f1": 100.0 * f1_sum / total,
        "normalization": name,
        "total": total,
        "missing": missing,
    }


def gold_answers(examples: Sequence) -> dict[str, list[str]]:
    """{question id: [answer texts]} from `QAExample`s, the shape `qa_scores` expects."""
    return {example.id: [text for text, _ in example.answers] for example in examples}
