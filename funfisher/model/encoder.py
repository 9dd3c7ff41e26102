"""One Transformer encoder for both BERT (mBERT) and XLM-R.

The two architectures are the same post-LN Transformer (Devlin et al. 2019; Conneau et al. 2020);
they differ only in how position and token-type ids are made, and in LayerNorm eps. Those
differences live in `EncoderConfig`, so there is a single implementation here.

Where adapters plug in (funfisher/adapters sets these; nothing here knows about adapter types):
- `Encoder.embedding_adapter`: applied to the embeddings output (MAD-X invertible adapter);
  its `.inverse` is used before the MLM decoder.
- `FeedForward.adapter`: called after the FFN output projection with the pieces the Pfeiffer
  adapter needs: `adapter(h, residual, layer_norm)` where h = dropout(dense(intermediate)) and
  residual = the attention block output. Without an adapter the layer returns
  `layer_norm(h + residual)`, the plain BERT output block.
- LoRA replaces `SelfAttention.query` / `.value` (plain `nn.Linear`s) with wrapping modules.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..parallel import Dropout, attention_dropout
from .activations import ACTIVATIONS, activation
from .config import EncoderConfig


class OutputAdapter(Protocol):
    """What `FeedForward.adapter` must be: see funfisher/adapters/bottleneck.py."""

    def __call__(self, h: torch.Tensor, residual: torch.Tensor, layer_norm: nn.LayerNorm) -> torch.Tensor: ...


def position_ids(input_ids: torch.Tensor, config: EncoderConfig) -> torch.Tensor:
    """Position ids [B, T].

    BERT: 0..T-1. XLM-R/RoBERTa: real tokens count up from padding_idx + 1 and pads get padding_idx,
    i.e. cumsum(mask) * mask + padding_idx with mask = (input_ids != padding_idx) - the pad
    token marks padding, exactly as in the original fairseq / HF code.
    """
    if config.arch == "bert":
        return torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
    mask = input_ids.ne(config.pad_token_id).long()
    return torch.cumsum(mask, dim=1) * mask + config.pad_token_id


class Embeddings(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.tokens = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.positions = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_types = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        if token_type_ids is None or self.config.arch == "xlm-roberta":
            # XLM-R has a single token type; segment information is carried by </s></s> only.
            token_type_ids = torch.zeros_like(input_ids)
        x = self.tokens(input_ids) + self.positions(position_ids(input_ids, self.config)) + self.token_types(token_type_ids)
        return self.dropout(self.norm(x))


class SelfAttention(nn.Module):
    """Multi-head self-attention + the output projection, residual and LayerNorm (post-LN)."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        h = config.hidden_size
        self.n_heads = config.num_attention_heads
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.value = nn.Linear(h, h)
        self.out = nn.Linear(h, h)
        self.norm = nn.LayerNorm(h, eps=config.layer_norm_eps)
        self.attn_dropout = config.attention_probs_dropout_prob
        self.dropout = Dropout(config.hidden_dropout_prob)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, H] -> [B, heads, T, H/heads]
        b, t, _ = x.shape
        return x.view(b, t, self.n_heads, -1).transpose(1, 2)

    def forward(
        self,
        x: torch.Tensor,
        attn_mask: torch.Tensor | None,
        queries: torch.Tensor | None = None,
        packing: Packing | None = None,
    ) -> torch.Tensor:
        """Every position attends to all of `x`. `queries` (default: all of x) are the positions whose
        outputs are computed, e.g. x[:, :1] when only the first token's output is needed.

        With `packing`, x holds only the real tokens as rows [N, H]: the projections run on those
        rows, and only attention itself, which needs the [B, T] structure, sees the padded layout.
        """
        queries = x if queries is None else queries
        q, k, v = self.query(queries), self.key(x), self.value(x)
        if packing is not None:
            q, k, v = packing.pad(q), packing.pad(k), packing.pad(v)
        q, k, v = self._heads(q), self._heads(k), self._heads(v)
        p = self.attn_dropout if self.training else 0.0
        ctx = attention_dropout(q, k, v, attn_mask, p)  # on a torchrun share (funfisher/parallel.py)
        if ctx is None:
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p)
        ctx = ctx.transpose(1, 2).flatten(2)
        if packing is not None:
            ctx = packing.pack(ctx)
        return self.norm(self.dropout(self.out(ctx)) + queries)


class FeedForward(nn.Module):
    """up -> activation -> down, then the output block (where bottleneck adapters sit)."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.up = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = activation(config.hidden_act)
        self.down = nn.Linear(config.intermediate_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)
        self.adapter: OutputAdapter | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dropout(self.down(self.act(self.up(x))))
        if self.adapter is not None:
            return self.adapter(h, x, self.norm)
        return self.norm(h + x)


class Layer(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.attn = SelfAttention(config)
        self.ffn = FeedForward(config)

    def forward(
        self,
        x: torch.Tensor,
        attn_mask: torch.Tensor | None,
        first_token_only: bool = False,
        packing: Packing | None = None,
    ) -> torch.Tensor:
        """first_token_only needs the padded layout [B, T, H] (x[:, :1] is each first token)."""
        return self.ffn(self.attn(x, attn_mask, x[:, :1] if first_token_only else None, packing))


# Packing moves rows around (about 4% of a forward pass on CPU, measured with e5-small) to save
# the padding's share of the per-token work (about 90% of the pass), so it pays off above ~5%
# padding; 10% leaves a margin. Length-sorted batches usually stay below it and run padded.
PACKING_MIN_PADDING = 0.10


def worth_packing(attention_mask: torch.Tensor) -> bool:
    return 1.0 - attention_mask.float().mean().item() >= PACKING_MIN_PADDING


@dataclass
class Packing:
    """The real tokens of a right- or left-padded batch as rows [N, H], and the way back to [B, T, H].

    Everything in a layer but attention itself is per token (projections, FFN, LayerNorm,
    adapters, LoRA), so on a batch with padding it is cheaper to run those on the N real tokens
    than on all B*T positions: the saving is the padding fraction of the batch, often 30-50% for
    mixed-length sentences. Only attention needs the [B, T] layout (`pad`) and gives rows back
    (`pack`). Results on real tokens are the same as the padded computation; padded positions
    come out as zeros (they are undefined outputs either way).
    """

    index: torch.Tensor  # [N]: positions of the real tokens in the flattened [B * T]
    batch: int
    length: int

    @classmethod
    def from_mask(cls, attention_mask: torch.Tensor) -> Packing:
        b, t = attention_mask.shape
        return cls(attention_mask.flatten().nonzero().squeeze(1), b, t)

    def pack(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, H] -> [N, H]
        return x.flatten(0, 1).index_select(0, self.index)

    def pad(self, rows: torch.Tensor) -> torch.Tensor:  # [N, H] -> [B, T, H], zeros at padding
        out = rows.new_zeros(self.batch * self.length, rows.shape[-1])
        return out.index_copy_(0, self.index, rows).view(self.batch, self.length, -1)


def attention_bias(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """{0,1} mask [B, T] -> additive bias [B, 1, 1, T] for SDPA (0 = attend, dtype-min = padding).

    An additive float mask (not a bool one) keeps fully padded rows finite, like HF, so padded
    positions get well-defined (ignored) values instead of NaN.
    """
    if attention_mask is None:
        return None
    keep = attention_mask[:, None, None, :].to(torch.bool)
    return torch.zeros(keep.shape, dtype=dtype, device=keep.device).masked_fill(~keep, torch.finfo(dtype).min)


class Encoder(nn.Module):
    """Embeddings + L Transformer layers. `forward` returns the last hidden states [B, T, H]."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.embed = Embeddings(config)
        self.layers = nn.ModuleList(Layer(config) for _ in range(config.num_hidden_layers))
        self.embedding_adapter: nn.Module | None = None
        self.apply(lambda m: init_weights(m, config.initializer_range))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        first_token_only: bool = False,
        pack: bool = False,
        frozen_below: int = 0,
    ) -> torch.Tensor:
        """input_ids, attention_mask ({0,1}, 1 = real token), token_type_ids: [B, T] -> [B, T, H].

        first_token_only: return [B, 1, H], the first token's output only. Heads that read only
        token 0 (classification, multiple choice) ask for this: the last layer then computes the
        query, attention output and FFN for that token alone (keys and values still cover every
        token), which saves most of one layer's work with identical results.

        pack: run each layer's per-token work on the real tokens only, as rows [N, H] (`Packing`),
        when the batch has at least 10% padding (below that the padded layout is cheaper and is
        used anyway). An inference speed-up: `evaluation.predict` passes pack=True. Real tokens get
        the padded computation's values up to summation order; padded positions come out as zeros.
        It is safe under autograd (index_select / index_copy_ send each real token's gradient back
        to its position, so a loss on real tokens gets the padded run's gradients; test_packing.py
        compares them), yet training and the tr(F) estimators never pack: dropout would draw its
        masks over N rows instead of B * T, and the per-example gradient hooks (fisher/hooks.py)
        read each layer's rows as [B, T, ...], one example per b, which packing flattens to [N, ...].

        frozen_below: the caller's promise that nothing below layer `frozen_below` trains (the
        embeddings and layers 0 .. frozen_below-1: GU, FUN and LPFT before their last unfreeze).
        Those run under torch.no_grad(): no graph, no saved activations, no backward through them.
        The values are the same ops' values, so losses and gradients are bit-identical.
        """
        with torch.set_grad_enabled(torch.is_grad_enabled() and frozen_below <= 0):
            x = self.embed(input_ids, token_type_ids)
            if self.embedding_adapter is not None:
                x = self.embedding_adapter(x)
        bias = attention_bias(attention_mask, x.dtype)
        packing = None
        if pack and attention_mask is not None and worth_packing(attention_mask):
            packing = Packing.from_mask(attention_mask)
            x = packing.pack(x)
        last = len(self.layers) - 1
        grad = torch.is_grad_enabled()
        for i, layer in enumerate(self.layers):
            with torch.set_grad_enabled(grad and i >= frozen_below):
                if first_token_only and i == last:
                    x = x if packing is None else packing.pad(x)
                    return layer(x, bias, first_token_only=True)
                x = layer(x, bias, packing=packing)
        return x if packing is None else packing.pad(x)


@torch.no_grad()
def init_weights(module: nn.Module, std: float) -> None:
    """BERT's initialization: N(0, std) weights, zero biases, LayerNorm (1, 0). Also AdapterHub's
    "bert" init of adapters (`Adapter.init_bert_weights`, std 0.02), whose modules are Linears only."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        module.weight.normal_(0.0, std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.zero_()
        if isinstance(module, nn.Embedding) and module.padding_idx is not None:
            module.weight[module.padding_idx].zero_()
    elif isinstance(module, nn.LayerNorm):
        module.weight.fill_(1.0)
        module.bias.zero_()


__all__ = ["Encoder", "Embeddings", "Layer", "SelfAttention", "FeedForward", "Packing", "position_ids", "attention_bias",
           "init_weights", "activation", "ACTIVATIONS"]
