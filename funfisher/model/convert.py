"""Hugging Face checkpoint keys -> funfisher module names, and strict loading.

The tables below are the whole story of how an HF BERT / XLM-R checkpoint maps onto our modules.
Each row is a regular expression over the HF key (after removing a `bert.` / `roberta.` prefix
and renaming legacy LayerNorm `gamma` / `beta` to `weight` / `bias`) and the name it becomes.

Loading is strict: every encoder weight must be present with the right shape, and a key that no
table knows is an error. One error lists everything that is missing, unexpected or mis-shaped.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn as nn

from .config import Arch

# --- the encoder (same for BERT and XLM-R) -------------------------------------------------
_ENCODER_FROM_HF: dict[str, str] = {
    r"embeddings\.word_embeddings\.(weight)": r"embed.tokens.\1",
    r"embeddings\.position_embeddings\.(weight)": r"embed.positions.\1",
    r"embeddings\.token_type_embeddings\.(weight)": r"embed.token_types.\1",
    r"embeddings\.LayerNorm\.(weight|bias)": r"embed.norm.\1",
    r"encoder\.layer\.(\d+)\.attention\.self\.query\.(weight|bias)": r"layers.\1.attn.query.\2",
    r"encoder\.layer\.(\d+)\.attention\.self\.key\.(weight|bias)": r"layers.\1.attn.key.\2",
    r"encoder\.layer\.(\d+)\.attention\.self\.value\.(weight|bias)": r"layers.\1.attn.value.\2",
    r"encoder\.layer\.(\d+)\.attention\.output\.dense\.(weight|bias)": r"layers.\1.attn.out.\2",
    r"encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.(weight|bias)": r"layers.\1.attn.norm.\2",
    r"encoder\.layer\.(\d+)\.intermediate\.dense\.(weight|bias)": r"layers.\1.ffn.up.\2",
    r"encoder\.layer\.(\d+)\.output\.dense\.(weight|bias)": r"layers.\1.ffn.down.\2",
    r"encoder\.layer\.(\d+)\.output\.LayerNorm\.(weight|bias)": r"layers.\1.ffn.norm.\2",
}

# --- heads: (arch, kind) -> table. Keys become names inside the head module. ----------------
_POOLER = {r"pooler\.dense\.(weight|bias)": r"pool.dense.\1"}
_HEADS_FROM_HF: dict[tuple[Arch, str], dict[str, str]] = {
    ("bert", "classification"): {**_POOLER, r"classifier\.(weight|bias)": r"out.\1"},
    ("xlm-roberta", "classification"): {
        r"classifier\.dense\.(weight|bias)": r"pool.dense.\1",
        r"classifier\.out_proj\.(weight|bias)": r"out.\1",
    },
    ("bert", "multiple_choice"): {**_POOLER, r"classifier\.(weight|bias)": r"out.\1"},
    ("xlm-roberta", "multiple_choice"): {**_POOLER, r"classifier\.(weight|bias)": r"out.\1"},
    ("bert", "qa"): {r"qa_outputs\.(weight|bias)": r"out.\1"},
    ("xlm-roberta", "qa"): {r"qa_outputs\.(weight|bias)": r"out.\1"},
    ("bert", "mlm"): {
        r"cls\.predictions\.transform\.dense\.(weight|bias)": r"transform.\1",
        r"cls\.predictions\.transform\.LayerNorm\.(weight|bias)": r"norm.\1",
        r"cls\.predictions\.bias": r"bias",
    },
    ("xlm-roberta", "mlm"): {
        r"lm_head\.dense\.(weight|bias)": r"transform.\1",
        r"lm_head\.layer_norm\.(weight|bias)": r"norm.\1",
        r"lm_head\.bias": r"bias",
    },
}

def uses_pretrained_pooler(arch: Arch, kind: str) -> bool:
    """Whether the (arch, kind) head's `pool` is the checkpoint's pretrained pooler (BERT
    classification, multiple choice), which belongs to the frozen base model (heads.py)."""
    return all(_HEADS_FROM_HF.get((arch, kind), {}).get(k) == v for k, v in _POOLER.items())


# Keys that checkpoints carry but no module of ours holds: buffers, tied copies, NSP.
_IGNORED: list[str] = [
    r"embeddings\.position_ids",  # a buffer (arange) in older HF versions
    r"cls\.predictions\.decoder\.weight",  # tied to the word embeddings
    r"cls\.predictions\.decoder\.bias",  # the same tensor as cls.predictions.bias
    r"lm_head\.decoder\.weight",
    r"lm_head\.decoder\.bias",
    r"cls\.seq_relationship\.(weight|bias)",  # BERT's next-sentence-prediction head (pretraining only)
]

_PREFIXES = ("bert.", "roberta.")


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the model: lists every missing, unexpected and mis-shaped key."""


def normalize_hf_key(key: str) -> str:
    """Strip a `bert.` / `roberta.` prefix and rename legacy LayerNorm gamma/beta."""
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix):]
            break
    if re.search(r"(LayerNorm|layer_norm)\.gamma$", key):
        key = key[: -len("gamma")] + "weight"
    elif re.search(r"(LayerNorm|layer_norm)\.beta$", key):
        key = key[: -len("beta")] + "bias"
    return key


def _apply_table(key: str, table: dict[str, str]) -> str | None:
    for pattern, target in table.items():
        if re.fullmatch(pattern, key):
            return re.sub(pattern, target, key)
    return None


def split_hf_state_dict(
    hf_state: dict[str, torch.Tensor], arch: Arch
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], list[str]]:
    """HF state dict -> (encoder state in our names, head weights in normalized HF names, unexpected keys)."""
    head_patterns = [p for (a, _), table in _HEADS_FROM_HF.items() if a == arch for p in table]
    encoder, heads, unexpected = {}, {}, []
    for raw_key, tensor in hf_state.items():
        key = normalize_hf_key(raw_key)
        ours = _apply_table(key, _ENCODER_FROM_HF)
        if ours is not None:
            encoder[ours] = tensor
        elif any(re.fullmatch(p, key) for p in head_patterns):
            heads[key] = tensor
        elif not any(re.fullmatch(p, key) for p in _IGNORED):
            unexpected.append(raw_key)
    return encoder, heads, unexpected


def head_state_from_hf(head_weights: dict[str, torch.Tensor], arch: Arch, kind: str) -> dict[str, torch.Tensor]:
    """Pick the weights of one head kind from a checkpoint's head weights (normalized HF names)."""
    table = _HEADS_FROM_HF[(arch, kind)]
    out = {}
    for key, tensor in head_weights.items():
        ours = _apply_table(key, table)
        if ours is not None:
            out[ours] = tensor
    return out


def load_strict(
    module: nn.Module,
    state: dict[str, torch.Tensor],
    source: str,
    unexpected: list[str] = (),
    optional_prefixes: tuple[str, ...] = (),
) -> list[str]:
    """Copy `state` into `module`, checking names and shapes; raise one error listing every problem.

    Parameters under `optional_prefixes` may be absent as a whole submodule (e.g. a classifier
    that the checkpoint does not have yet): they keep their fresh initialization and are returned.
    A submodule that is only partly present is an error.
    """
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    not_ours = list(unexpected) + [k for k in state if k not in expected]
    misshaped = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    fresh: list[str] = []
    for prefix in optional_prefixes:
        group = [k for k in expected if k.startswith(prefix)]
        if group and all(k in missing for k in group):
            fresh.extend(group)
            missing = [k for k in missing if k not in group]
    if missing or not_ours or misshaped:
        lines = [f"{source}: checkpoint does not fit the {type(module).__name__}"]
        for title, items in (("missing", missing), ("unexpected", not_ours), ("mis-shaped", misshaped)):
            if items:
                lines.append(f"  {title} ({len(items)}): " + ", ".join(items[:20]) + (" ..." if len(items) > 20 else ""))
        raise CheckpointMismatchError("\n".join(lines))
    with torch.no_grad():
        for k, v in expected.items():
            if k in state:
                v.copy_(state[k])
    return fresh


def read_weights(folder: Path, safe_name: str = "model.safetensors", pickle_name: str = "pytorch_model.bin",
                 error: type[ValueError] = ValueError) -> tuple[dict[str, torch.Tensor], Path]:
    """Read `safe_name` (safetensors, preferred) or `pickle_name` (torch pickle, only with
    weights_only=True, which refuses code) from a folder. Returns the tensors and the file read;
    an unreadable file raises `error` naming it."""
    safe, pickled = folder / safe_name, folder / pickle_name
    if safe.is_file():
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(safe)), safe
        except (SafetensorError, OSError, ValueError) as e:
            raise error(f"{safe}: not a readable safetensors file (truncated or corrupt?): {e}") from e
    if pickled.is_file():
        try:
            state = torch.load(pickled, map_location="cpu", weights_only=True)
        except Exception as e:  # unpickling errors come in many types
            raise error(f"{pickled}: could not be read with torch.load(weights_only=True): {e}") from e
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise error(f"{pickled}: expected a dict of tensors, found {type(state).__name__}")
        return state, pickled
    raise FileNotFoundError(f"{folder}: neither {safe_name} nor {pickle_name}")
