"""The paper's three task kinds, one object each: everything that depends on what a head predicts.

| kind              | datasets            | features         | outputs                 | training loss             | metric |
|-------------------|---------------------|------------------|-------------------------|---------------------------|--------|
| `classification`  | XNLI / MNLI         | `encode_pairs`   | logits [B, C]           | CE over the C classes     | accuracy |
| `multiple_choice` | XCOPA / COPA        | `encode_choices` | scores [B, n]           | CE over the n choices     | accuracy |
| `qa`              | XQuAD, MLQA / SQuAD | `encode_qa`      | start, end [B, T] each  | (CE(start) + CE(end)) / 2 | EM, **F1** |

(Zero-shot targets before the slash, English training data after it; the dataset table itself is
`funfisher.data.DATASETS`. Multiple-choice inputs are [B, n, T], the others' [B, T]; the primary
metric, in bold for QA, is what model selection and averages use.)

Callers look the object up once, from the model or the configuration, and never branch on the
kind string:

    task = get_task(model.kind)
    features = task.encode(tokenizer, examples, max_length, doc_stride)
    loss = task.loss(model(**task.inputs(batch)), batch)                # training
    logp = task.log_likelihood(outputs, labels)                         # tr(F), paper Eq. 1
    rows = task.predict(outputs, batch_features)                        # per batch, then:
    preds = task.predictions(rows_of_all_features)
    records = task.prediction_records(examples, features, preds)        # one per example, as saved
    metrics = task.score(metric, examples, features, preds, lang)       # one language: the records scored
    value = task.primary_metric(metrics)                                # model selection, tables

`Task` holds what classification and multiple choice share (one categorical label per example,
a softmax over the last dimension of the outputs); `QuestionAnswering` overrides what two
positions per example change. Every score is `score_predictions` (funfisher.data.predictions) of
the per-example `prediction_records`, the very records a run folder saves: re-scoring a saved
predictions file gives the metrics of results.json exactly. Which label y enters tr(F) (sampled,
argmax, gold) is `funfisher.fisher.labels`; these objects only say how a kind's outputs and labels look.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from tokenizers import Tokenizer

from . import data as D
from .data.predictions import score_predictions

#: What a `TaskModel` returns: logits [B, C] (or [B, n_choices]), or (start, end) [B, T] each.
Outputs = Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]

#: The keyword arguments of `TaskModel.forward`, the same for every kind.
INPUT_KEYS = ("input_ids", "attention_mask", "token_type_ids")

# ZH_MIXED (from data.predictions, where it is scored): the key of the extra entry of SQuAD-scored Chinese results
ZH_MIXED_LABEL = "zh (mixed segmentation, as the released code; not in the average)"


def model_inputs(batch: Mapping[str, Any], device: torch.device | None = None) -> dict[str, torch.Tensor]:
    """The model's inputs from a batch: the `INPUT_KEYS` it has (and are not None), on `device`."""
    return {k: batch[k] if device is None else batch[k].to(device) for k in INPUT_KEYS if batch.get(k) is not None}


@dataclass
class Predictions:
    labels: list[int] | None = None  # classification / multiple choice, one per feature
    start_logits: list[torch.Tensor] | None = None  # QA: one 1-D row per feature (window)
    end_logits: list[torch.Tensor] | None = None


class Task:
    """One task kind. The methods here are the single-label kinds' (classification, multiple choice)."""

    kind: ClassVar[str]
    input_dims: ClassVar[int] = 2  # input_ids [B, T]; multiple choice: [B, n_choices, T]
    gold_keys: ClassVar[tuple[str, ...]] = ("labels",)  # the batch keys holding the gold labels
    n_draws: ClassVar[int] = 1  # uniforms per example for a sampled label (`fisher.labels.draw_uniforms`)
    primary: ClassVar[str] = "accuracy"  # the metric model selection and averages use
    columns: ClassVar[tuple[str, ...]] = ("accuracy",)  # the metric columns of result tables
    default_max_length: ClassVar[int] = 128  # tokens per feature when nothing is configured

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # ----------------------------------------------------------------------------- data
    def encode(self, tokenizer: Tokenizer, examples: Sequence, max_length: int = 128,
               doc_stride: int = 128) -> list:
        """Examples -> features (token ids). `doc_stride` is the QA window overlap."""
        raise NotImplementedError

    def num_labels(self, configured: int | None) -> int | None:
        """The head's `num_labels`: None where the kind fixes the head's size (1 score per choice,
        start and end); classification uses the configured number of classes."""
        return None

    def inputs(self, batch: Mapping[str, Any], device: torch.device | None = None) -> dict[str, torch.Tensor]:
        """`model_inputs(batch, device)`, checked: input_ids present, every input of `input_dims` dims."""
        if "input_ids" not in batch:
            raise KeyError(f"a batch needs 'input_ids' (and usually 'attention_mask', 'token_type_ids'); "
                           f"got keys {sorted(batch)}")
        inputs = model_inputs(batch, device)
        for k, v in inputs.items():
            if v.dim() != self.input_dims:
                shape = "[B, n_choices, T]" if self.input_dims == 3 else "[B, T]"
                raise ValueError(f"batch[{k!r}] of a {self.kind} model should be {shape}, got shape {tuple(v.shape)}")
        return inputs

    # ----------------------------------------------------------------------------- labels
    def gold(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The dataset labels as tr(F) uses them: [B] class / choice indices (QA: [B, 2])."""
        missing = [k for k in self.gold_keys if k not in batch]
        if missing:
            raise KeyError(f"labels='gold' needs batch key(s) {missing} for a {self.kind} model; "
                           f"the batch has {sorted(batch)}")
        return self._stack_gold(batch).long()

    def _stack_gold(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return batch["labels"]

    def label_bound(self, model: nn.Module, input_ids: torch.Tensor) -> tuple[int | None, str]:
        """(exclusive upper bound of a valid label, or None if unknown; what a valid label is)."""
        raise NotImplementedError

    # ----------------------------------------------------------------------------- likelihood
    def loss(self, outputs: Outputs, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The training loss of a batch: the mean negative log-likelihood of the gold labels."""
        return F.cross_entropy(outputs, batch["labels"])

    def log_likelihood(self, outputs: Outputs, labels: torch.Tensor) -> torch.Tensor:
        """log p(y|x) per example, the term of paper Eq. 1 (`funfisher.fisher` differentiates it):
        [B], or a scalar for one example without batch dimension. p = softmax over the last dim."""
        return F.log_softmax(outputs, dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)

    def as_draws(self, outputs: Outputs) -> torch.Tensor:
        """The outputs as logits [..., n_draws, K], one categorical distribution per label drawn."""
        return outputs.unsqueeze(-2)

    def from_draws(self, labels: torch.Tensor) -> torch.Tensor:
        """Labels [..., n_draws] (one per distribution of `as_draws`) -> this kind's label shape."""
        return labels.squeeze(-1)

    def one_example(self, outputs: Outputs) -> Outputs:
        """The outputs of a batch of one, without the batch dimension."""
        return outputs[0]

    # ----------------------------------------------------------------------------- evaluation
    def predict(self, outputs: Outputs, features: Sequence) -> list:
        """What one batch's outputs predict, per feature (in batch order): the argmax label."""
        return [int(row.argmax()) for row in outputs]

    def predictions(self, rows: Sequence) -> Predictions:
        """All features' `predict` rows, in feature order -> Predictions."""
        return Predictions(labels=list(rows))

    def prediction_records(self, examples: Sequence, features: Sequence, preds: Predictions) -> list[dict]:
        """One record per example, in example order: {"id", "prediction", "gold"}, what the saved
        predictions files hold and `score_predictions` scores. Here (one feature per example) the
        label index predicted and the gold one (None if unlabelled)."""
        return [{"id": e.id, "prediction": int(label), "gold": e.label}
                for e, label in zip(examples, preds.labels, strict=True)]

    def score(self, metric: str, examples: Sequence, features: Sequence, preds: Predictions,
              lang: str) -> dict[str, Any]:
        """Metrics for one language (`metric` is `DatasetSpec.metric`): the `prediction_records`
        scored by `score_predictions`, exactly what re-scoring their saved file gives."""
        return score_predictions(self.prediction_records(examples, features, preds), metric, lang)

    def primary_metric(self, metrics: Mapping[str, Any]) -> float:
        """The number model selection, averages and comparison tables use."""
        return float(metrics[self.primary])


class Classification(Task):
    """Sentence-pair classification (NLI): C classes from the first token."""

    kind = "classification"

    def encode(self, tokenizer: Tokenizer, examples: Sequence, max_length: int = 128,
               doc_stride: int = 128) -> list:
        return D.encode_pairs(tokenizer, examples, max_length=max_length)

    def num_labels(self, configured: int | None) -> int | None:
        return configured

    def label_bound(self, model: nn.Module, input_ids: torch.Tensor) -> tuple[int | None, str]:
        # the classification head's output size, when the head is ours
        upper = getattr(getattr(getattr(model, "head", None), "out", None), "out_features", None)
        return upper, "labels must be class indices in [0, num_labels)"


class MultipleChoice(Task):
    """COPA-style: one score per (premise, choice) sequence, a softmax over the choices."""

    kind = "multiple_choice"
    input_dims = 3

    def encode(self, tokenizer: Tokenizer, examples: Sequence, max_length: int = 128,
               doc_stride: int = 128) -> list:
        return D.encode_choices(tokenizer, examples, max_length=max_length)

    def label_bound(self, model: nn.Module, input_ids: torch.Tensor) -> tuple[int | None, str]:
        return input_ids.shape[1], "labels must be choice indices in [0, n_choices)"


class QuestionAnswering(Task):
    """Extractive QA: a start and an end position per window, drawn independently.

    y = (s, e) and log p(y|x) = log p_start(s|x) + log p_end(e|x), softmaxes over the window's
    positions (padding gets probability 0, see `TaskModel`); `funfisher.fisher.labels` says more.
    """

    kind = "qa"
    gold_keys = ("start_positions", "end_positions")
    n_draws = 2
    primary = "f1"
    columns = ("exact_match", "f1")
    default_max_length = 384

    def encode(self, tokenizer: Tokenizer, examples: Sequence, max_length: int = 128,
               doc_stride: int = 128) -> list:
        return D.encode_qa(tokenizer, examples, max_length=max_length, doc_stride=doc_stride)

    def _stack_gold(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return torch.stack([batch["start_positions"], batch["end_positions"]], dim=-1)

    def label_bound(self, model: nn.Module, input_ids: torch.Tensor) -> tuple[int | None, str]:
        return input_ids.shape[-1], "start/end positions must be in [0, T)"

    def loss(self, outputs: Outputs, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """(CE(start) + CE(end)) / 2: the mean over the batch of -log p(y|x), halved (as Hugging Face)."""
        start, end = outputs
        return (F.cross_entropy(start, batch["start_positions"]) + F.cross_entropy(end, batch["end_positions"])) / 2

    def log_likelihood(self, outputs: Outputs, labels: torch.Tensor) -> torch.Tensor:
        """log p_start(s) + log p_end(e) per example (labels [..., 2] = (s, e)), for paper Eq. 1."""
        start, end = outputs
        return (F.log_softmax(start, dim=-1).gather(-1, labels[..., 0:1]).squeeze(-1)
                + F.log_softmax(end, dim=-1).gather(-1, labels[..., 1:2]).squeeze(-1))

    def as_draws(self, outputs: Outputs) -> torch.Tensor:
        return torch.stack(outputs, dim=-2)

    def from_draws(self, labels: torch.Tensor) -> torch.Tensor:
        return labels

    def one_example(self, outputs: Outputs) -> Outputs:
        return tuple(o[0] for o in outputs)

    def predict(self, outputs: Outputs, features: Sequence) -> list:
        """Per feature (window): its start and end logits over its own tokens, on the CPU."""
        start, end = outputs
        # a copy, so the rows do not keep the whole batch's logits alive
        return [(start[row, :n].to("cpu", copy=True), end[row, :n].to("cpu", copy=True))
                for row, n in enumerate(len(f.input_ids) for f in features)]

    def predictions(self, rows: Sequence) -> Predictions:
        return Predictions(start_logits=[start for start, _ in rows], end_logits=[end for _, end in rows])

    def prediction_records(self, examples: Sequence, features: Sequence, preds: Predictions) -> list[dict]:
        """Per question: the text of its best span over all its windows (`postprocess_qa`), the text
        the metric scores, and its gold answer texts. `score` then gives EM/F1 labelled with the
        normalization used: MLQA's script for MLQA, SQuAD v1.1 for XQuAD and SQuAD, and for XQuAD
        zh also the released code's mixed segmentation (see `score_predictions`)."""
        answers = D.postprocess_qa(examples, features, preds.start_logits, preds.end_logits)
        return [{"id": e.id, "prediction": answers[e.id], "gold": [text for text, _ in e.answers]} for e in examples]


TASKS: dict[str, Task] = {task.kind: task for task in (Classification(), MultipleChoice(), QuestionAnswering())}


def get_task(kind: str | Task) -> Task:
    """The task object of a kind ("classification", "multiple_choice", "qa"); a Task is returned as is."""
    if isinstance(kind, Task):
        return kind
    try:
        return TASKS[kind]
    except KeyError:
        raise ValueError(f"unknown task kind {kind!r}; expected one of {', '.join(TASKS)}") from None
