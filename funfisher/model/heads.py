"""Task heads on top of the encoder's last hidden states, and `TaskModel` = encoder + head.

Four kinds, matching the Hugging Face heads numerically (tests/model/test_hf_parity.py):

| kind              | BERT (mBERT)                                   | XLM-R                                   |
|-------------------|------------------------------------------------|-----------------------------------------|
| `classification`  | pooler(tanh on token 0) -> dropout -> linear   | dropout -> dense -> tanh -> dropout -> out_proj (token 0) |
| `multiple_choice` | pooler -> dropout -> linear(H, 1), one score per choice (both archs)      |
| `qa`              | linear(H, 2) on every token -> start, end logits (no pooler)              |
| `mlm`             | dense -> act -> LayerNorm -> decoder tied to the word embeddings + bias   |

The two classification heads are one module: XLM-R's `classifier.dense` is a pooler that sits
behind one more dropout. Which checkpoint keys feed which head lives in `convert.py`.

What trains (`trainable_parameters`). BERT's pooler (`bert.pooler.dense`, and `roberta.pooler`
for multiple choice) is part of the *pretrained base model*: in Hugging Face it lives in the
encoder, and AdapterHub's `train_adapter` (and the paper's released code) freeze it with the rest
of the base model. So when a head's pooler was loaded from the checkpoint's pooler it is frozen
(`ClassificationHead.freeze_pooler`) and the head that trains is what the reference trains:

| head (checkpoint with a pooler)          | trainable                                   |
|------------------------------------------|---------------------------------------------|
| BERT classification                      | dropout + `out` (linear H -> C)             |
| XLM-R classification                     | dense, tanh, `out` (its own classifier head) |
| multiple choice (both archs)             | `out` (linear H -> 1) on the frozen pooler  |
| QA                                       | `out` = qa_outputs (linear H -> 2)          |

A checkpoint without pooler weights (e.g. multilingual-e5-small) leaves the pooler freshly
initialized; freezing a random layer would make the head rest on noise, so there the pooler
trains too and the head is a trainable two-layer head on the first token (the trainer says so in
the run's notes).
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn as nn

from ..parallel import Dropout
from .config import EncoderConfig
from .encoder import Encoder, activation, init_weights

HeadKind = Literal["classification", "multiple_choice", "qa", "mlm"]
HEAD_KINDS: tuple[HeadKind, ...] = ("classification", "multiple_choice", "qa", "mlm")


class Pooler(nn.Module):
    """tanh(dense(h[:, 0])): BERT's pooler, and XLM-R's classifier.dense."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden[:, 0]))


class ClassificationHead(nn.Module):
    """Sentence (pair) classification and multiple-choice scoring (num_labels=1)."""

    def __init__(self, config: EncoderConfig, num_labels: int, dropout_before_pool: bool):
        super().__init__()
        self.pre_dropout = Dropout(config.head_dropout if dropout_before_pool else 0.0)
        self.pool = Pooler(config.hidden_size)
        self.dropout = Dropout(config.head_dropout)
        self.out = nn.Linear(config.hidden_size, num_labels)
        self.pooler_frozen = False  # True when `pool` is the checkpoint's pretrained pooler

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(self.pool(self.pre_dropout(hidden))))

    def freeze_pooler(self, frozen: bool = True) -> None:
        """Treat `pool` as frozen base model (True) or as part of the trained head (False)."""
        self.pooler_frozen = frozen
        self.pool.requires_grad_(not frozen)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """What the optimizer updates: `out`, plus the pooler unless it is the frozen pretrained one."""
        return list(self.out.parameters()) + ([] if self.pooler_frozen else list(self.pool.parameters()))


class QAHead(nn.Module):
    """Extractive QA: a start and an end score for every token."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.out = nn.Linear(config.hidden_size, 2)

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start, end = self.out(hidden).unbind(dim=-1)
        return start, end

    def trainable_parameters(self) -> list[nn.Parameter]:
        return list(self.parameters())


class MLMHead(nn.Module):
    """Masked-LM head. The decoder matrix is the word embedding (tied), passed in at call time
    so that the head owns no copy of it."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.transform = nn.Linear(config.hidden_size, config.hidden_size)
        # BERT uses config.hidden_act; RoBERTa's lm_head is hard-wired to GELU (same for mBERT/XLM-R).
        self.act = activation(config.hidden_act if config.arch == "bert" else "gelu")
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden: torch.Tensor, decoder_weight: torch.Tensor, inverse=None) -> torch.Tensor:
        h = self.norm(self.act(self.transform(hidden)))
        if inverse is not None:  # MAD-X: the invertible adapter's inverse sits right before the tied decoder
            h = inverse(h)
        return torch.nn.functional.linear(h, decoder_weight, self.bias)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return list(self.parameters())


def build_head(config: EncoderConfig, kind: HeadKind, num_labels: int | None = None) -> nn.Module:
    """A freshly initialized head (BERT init: N(0, 0.02) weights, zero biases)."""
    if kind == "classification":
        if not num_labels:
            raise ValueError("a classification head needs num_labels >= 1")
        head: nn.Module = ClassificationHead(config, num_labels, dropout_before_pool=config.arch == "xlm-roberta")
    elif kind == "multiple_choice":
        head = ClassificationHead(config, 1, dropout_before_pool=False)
    elif kind == "qa":
        head = QAHead(config)
    elif kind == "mlm":
        head = MLMHead(config)
    else:
        raise ValueError(f"unknown head kind {kind!r}; expected one of {HEAD_KINDS}")
    head.apply(lambda m: init_weights(m, config.initializer_range))
    return head


class TaskModel(nn.Module):
    """Encoder + one head. `forward` takes the tokenizer's tensors and returns the head's logits:

    - classification: [B, num_labels]
    - multiple_choice: inputs [B, C, T] -> scores [B, C]
    - qa: (start [B, T], end [B, T]); padded positions get the dtype's lowest value, so a softmax
      over positions (the training loss, tr(F)'s sampled labels) covers the real tokens only and
      an example's distribution does not depend on how much padding its batch has
    - mlm: [B, T, vocab]
    """

    def __init__(self, encoder: Encoder, head: nn.Module, kind: HeadKind):
        super().__init__()
        if kind not in HEAD_KINDS:
            raise ValueError(f"unknown head kind {kind!r}; expected one of {HEAD_KINDS}")
        self.encoder = encoder
        self.head = head
        self.kind = kind

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        pack: bool = False,
        frozen_below: int = 0,
    ):
        """pack: run the encoder on the real tokens only (`Encoder.forward`); inference only in practice.
        frozen_below: nothing below that encoder layer trains; it runs without autograd (`Encoder.forward`)."""
        if self.kind == "multiple_choice":
            b, c, t = input_ids.shape
            flat = lambda x: None if x is None else x.reshape(b * c, t)  # noqa: E731
            hidden = self.encoder(flat(input_ids), flat(attention_mask), flat(token_type_ids), first_token_only=True,
                                  pack=pack, frozen_below=frozen_below)
            return self.head(hidden).view(b, c)
        # The classification heads read token 0 only: the encoder can skip the rest of the last layer.
        hidden = self.encoder(input_ids, attention_mask, token_type_ids, first_token_only=self.kind == "classification",
                              pack=pack, frozen_below=frozen_below)
        if self.kind == "mlm":
            # MAD-X: the inverse of the invertible adapter runs inside the head, before the decoder
            # (AdapterHub hooks it onto the output embedding layer).
            adapter = self.encoder.embedding_adapter
            inverse = adapter.inverse if adapter is not None else None
            return self.head(hidden, self.encoder.embed.tokens.weight, inverse)
        if self.kind == "qa" and attention_mask is not None:
            padding = attention_mask == 0
            lowest = torch.finfo(hidden.dtype).min
            return tuple(logits.masked_fill(padding, lowest) for logits in self.head(hidden))
        return self.head(hidden)
