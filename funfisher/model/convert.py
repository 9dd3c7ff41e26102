"""Hugging Face checkpoint keys -> funfisher module names, and strict loading.

The tables below are the whole story of how an HF BERT / XLM-R checkpoint maps onto our modules.
Each row is a pair of templates, (HF key, our name), over the HF key after removing a `bert.` /
`roberta.` prefix and renaming legacy LayerNorm `gamma` / `beta` to `weight` / `bias`. A template
is a key with fields: {layer} a layer index, {param} weight or bias, {proj} an attention
projection (query, key, value), {name} an adapter's name. funfisher/io/adapterhub.py writes its
tables (adapter files, head files) in the same dialect and translates them with `translate`.

Loading is strict: every encoder weight must be present with the right shape, and a key that no
table knows is an error. One error lists everything that is missing, unexpected or mis-shaped.

Reading (`read_weights`): safetensors, or a torch pickle with weights_only=True only (pickled code
is refused, never run; zip CRCs are checked, which torch does not do). A truncated, corrupt or
non-tensor file is a `ModelFileError` naming it, a mismatch a `CheckpointMismatchError` (both
`funfisher.errors.UserError`s and ValueErrors), a folder without weights a `ModelNotFoundError`.
"""
from __future__ import annotations

import functools
import json
import mmap
import pickle
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from ..errors import ModelFileError, ModelNotFoundError
from .config import Arch

KeyTable = list[tuple[str, str]]  # rows of (their template, our template)
FIELD_PATTERNS: dict[str, str] = {"layer": r"\d+", "param": r"weight|bias", "proj": r"query|key|value"}

# --- the encoder (same for BERT and XLM-R) -------------------------------------------------
ENCODER_FROM_HF: KeyTable = [
    ("embeddings.word_embeddings.weight", "embed.tokens.weight"),
    ("embeddings.position_embeddings.weight", "embed.positions.weight"),
    ("embeddings.token_type_embeddings.weight", "embed.token_types.weight"),
    ("embeddings.LayerNorm.{param}", "embed.norm.{param}"),
    ("encoder.layer.{layer}.attention.self.{proj}.{param}", "layers.{layer}.attn.{proj}.{param}"),
    ("encoder.layer.{layer}.attention.output.dense.{param}", "layers.{layer}.attn.out.{param}"),
    ("encoder.layer.{layer}.attention.output.LayerNorm.{param}", "layers.{layer}.attn.norm.{param}"),
    ("encoder.layer.{layer}.intermediate.dense.{param}", "layers.{layer}.ffn.up.{param}"),
    ("encoder.layer.{layer}.output.dense.{param}", "layers.{layer}.ffn.down.{param}"),
    ("encoder.layer.{layer}.output.LayerNorm.{param}", "layers.{layer}.ffn.norm.{param}"),
]

# --- heads: (arch, kind) -> table. Our names are names inside the head module. ---------------
# BERT's pooler is pretrained base model: in HF it sits in the encoder (`bert.pooler`), so
# AdapterHub's head files name it with the prefix (funfisher/io/adapterhub.py adds it).
PRETRAINED_POOLER = ("pooler.dense.{param}", "pool.dense.{param}")
_CLASSIFIER = ("classifier.{param}", "out.{param}")
HEADS_FROM_HF: dict[tuple[Arch, str], KeyTable] = {
    ("bert", "classification"): [PRETRAINED_POOLER, _CLASSIFIER],
    ("xlm-roberta", "classification"): [("classifier.dense.{param}", "pool.dense.{param}"),
                                        ("classifier.out_proj.{param}", "out.{param}")],
    ("bert", "multiple_choice"): [PRETRAINED_POOLER, _CLASSIFIER],
    ("xlm-roberta", "multiple_choice"): [PRETRAINED_POOLER, _CLASSIFIER],
    ("bert", "qa"): [("qa_outputs.{param}", "out.{param}")],
    ("xlm-roberta", "qa"): [("qa_outputs.{param}", "out.{param}")],
    ("bert", "mlm"): [("cls.predictions.transform.dense.{param}", "transform.{param}"),
                      ("cls.predictions.transform.LayerNorm.{param}", "norm.{param}"),
                      ("cls.predictions.bias", "bias")],
    ("xlm-roberta", "mlm"): [("lm_head.dense.{param}", "transform.{param}"),
                             ("lm_head.layer_norm.{param}", "norm.{param}"),
                             ("lm_head.bias", "bias")],
}
# The MLM decoder is tied to the word embeddings, and its bias is the same tensor as the head's `bias`.
TIED_DECODER: dict[Arch, str] = {"bert": "cls.predictions.decoder", "xlm-roberta": "lm_head.decoder"}


def uses_pretrained_pooler(arch: Arch, kind: str) -> bool:
    """Whether the (arch, kind) head's `pool` is the checkpoint's pretrained pooler (BERT
    classification, multiple choice), which belongs to the frozen base model (heads.py)."""
    return PRETRAINED_POOLER in HEADS_FROM_HF.get((arch, kind), [])


# Keys that checkpoints carry but no module of ours holds: buffers, tied copies, NSP.
_IGNORED: list[str] = [
    "embeddings.position_ids",  # a buffer (arange) in older HF versions
    *(f"{decoder}.{{param}}" for decoder in TIED_DECODER.values()),
    "cls.seq_relationship.{param}",  # BERT's next-sentence-prediction head (pretraining only)
]

# The base model's name in HF models with a head: `bert.encoder...`, `roberta.encoder...`.
BASE_PREFIXES: dict[Arch, str] = {"bert": "bert.", "xlm-roberta": "roberta."}


@functools.lru_cache(maxsize=256)
def _template_regex(template: str, name: str) -> re.Pattern[str]:
    """"encoder.layer.{layer}.output.adapters.{name}.adapter_up.{param}" -> a regex with named groups."""
    out = []
    for part in re.split(r"(\{\w+\})", template):
        if part == "{name}":
            out.append(re.escape(name))
        elif part.startswith("{") and part.endswith("}"):
            field = part[1:-1]
            out.append(f"(?P<{field}>{FIELD_PATTERNS[field]})")
        else:
            out.append(re.escape(part))
    return re.compile("".join(out))


def translate(key: str, table: KeyTable, to_ours: bool = True, name: str = "") -> str | None:
    """Map one key through a template table (their side, our side); None if no row matches."""
    for theirs, ours in table:
        source, target = (theirs, ours) if to_ours else (ours, theirs)
        m = _template_regex(source, name).fullmatch(key)
        if m:
            return target.format(name=name, **m.groupdict())
    return None


def matches_any(key: str, templates: list[str]) -> bool:
    return any(_template_regex(t, "").fullmatch(key) for t in templates)


class CheckpointMismatchError(ModelFileError):
    """A checkpoint does not fit the model: lists every missing, unexpected and mis-shaped key."""


def strip_base_prefix(key: str) -> str:
    """`bert.encoder.layer.0...` / `roberta.encoder.layer.0...` -> `encoder.layer.0...`."""
    for prefix in BASE_PREFIXES.values():
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def normalize_hf_key(key: str) -> str:
    """Strip a `bert.` / `roberta.` prefix and rename legacy LayerNorm gamma/beta."""
    key = strip_base_prefix(key)
    if re.search(r"(LayerNorm|layer_norm)\.gamma$", key):
        key = key[: -len("gamma")] + "weight"
    elif re.search(r"(LayerNorm|layer_norm)\.beta$", key):
        key = key[: -len("beta")] + "bias"
    return key


def split_hf_state_dict(
    hf_state: dict[str, torch.Tensor], arch: Arch
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], list[str]]:
    """HF state dict -> (encoder state in our names, head weights in normalized HF names, unexpected keys)."""
    head_templates = [theirs for (a, _), table in HEADS_FROM_HF.items() if a == arch for theirs, _ in table]
    encoder, heads, unexpected = {}, {}, []
    for raw_key, tensor in hf_state.items():
        key = normalize_hf_key(raw_key)
        ours = translate(key, ENCODER_FROM_HF)
        if ours is not None:
            encoder[ours] = tensor
        elif matches_any(key, head_templates):
            heads[key] = tensor
        elif not matches_any(key, _IGNORED):
            unexpected.append(raw_key)
    return encoder, heads, unexpected


def head_state_from_hf(head_weights: dict[str, torch.Tensor], arch: Arch, kind: str) -> dict[str, torch.Tensor]:
    """Pick the weights of one head kind from a checkpoint's head weights (normalized HF names)."""
    table = HEADS_FROM_HF[(arch, kind)]
    out = {}
    for key, tensor in head_weights.items():
        ours = translate(key, table)
        if ours is not None:
            out[ours] = tensor
    return out


def load_strict(
    module: nn.Module,
    state: dict[str, torch.Tensor],
    source: str,
    unexpected: list[str] = (),
    optional_prefixes: tuple[str, ...] = (),
    assign: bool = False,
) -> list[str]:
    """Copy `state` into `module`, checking names and shapes; raise one error listing every problem.

    Parameters under `optional_prefixes` may be absent as a whole submodule (e.g. a classifier
    that the checkpoint does not have yet): they keep their fresh initialization and are returned.
    A submodule that is only partly present is an error.

    assign: make `state`'s tensors the module's parameters instead of copying them (for a module
    built on the meta device: the weights then exist once in memory, not twice). Floating-point
    tensors are stored as fp32 (a half-precision checkpoint is widened, tensor by tensor).
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
        parts = [f"{title} ({len(items)}): " + ", ".join(items[:20]) + (" ..." if len(items) > 20 else "")
                 for title, items in (("missing", missing), ("unexpected", not_ours), ("mis-shaped", misshaped))
                 if items]
        raise CheckpointMismatchError(f"{source}: checkpoint does not fit the {type(module).__name__}: "
                                      + "; ".join(parts))
    if assign:
        own = {k: v.float() if v.is_floating_point() else v for k, v in state.items() if k in expected}
        module.load_state_dict(own, strict=False, assign=True)
        return fresh
    with torch.no_grad():
        for k, v in expected.items():
            if k in state:
                v.copy_(state[k])
    return fresh


def read_weights(folder: Path, safe_name: str = "model.safetensors", pickle_name: str = "pytorch_model.bin",
                 error: type[ModelFileError] = ModelFileError, mapped: Callable[[str], bool] = lambda key: False
                 ) -> tuple[dict[str, torch.Tensor], Path]:
    """Read `safe_name` (safetensors, preferred) or `pickle_name` (torch pickle, only with
    weights_only=True, which refuses code) from a folder. Returns the tensors and the file read;
    an unreadable file raises `error` naming it, a folder with neither a `ModelNotFoundError`.
    `mapped(key)`: leave that safetensors tensor in a map of the file (see `read_safetensors`)."""
    safe, pickled = folder / safe_name, folder / pickle_name
    if safe.is_file():
        return read_safetensors(safe, error, mapped), safe
    if pickled.is_file():
        return read_torch_pickle(pickled, error), pickled
    raise ModelNotFoundError(f"{folder}: no weights (expected {safe_name} or {pickle_name})")


def is_lookup_table(hf_key: str) -> bool:
    """An embedding table of the encoder: only ever indexed by rows, never multiplied."""
    return normalize_hf_key(hf_key) in _LOOKUP_TABLES


_LOOKUP_TABLES = {theirs for theirs, _ in ENCODER_FROM_HF if theirs.endswith("_embeddings.weight")}


def read_safetensors(path: Path, error: type[ModelFileError] = ModelFileError,
                     mapped: Callable[[str], bool] = lambda key: False) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors, each read straight into its own torch-allocated (64-byte aligned)
    storage, or for the keys where `mapped(key)` left in a copy-on-write map of the file; a
    truncated or corrupt file raises `error` naming it.

    Why not `safetensors.torch.load_file`: its tensors are views into one map of the whole file, at
    addresses 8 bytes off 64-byte alignment. Matrix kernels take other code paths on such data, so
    a model used as loaded would not compute bit for bit like a deep copy of it (`--compare` and
    sweeps copy the loaded model), and realigning them costs a second copy of the weights (the map
    is freed only with its last view). Reading each tensor's bytes into `torch.empty` gives one
    aligned copy and nothing left over.

    Why map some: a lookup table (`is_lookup_table`) is only indexed, which copies rows bit for bit
    at any address, and a run reads few of its rows. Mapped, only the pages of the rows looked up
    are ever in memory (e5-small: its 250k-token table is 384 of the 448 MiB of weights), as in
    transformers, which maps every tensor. Writing to it (full fine-tuning) copies the pages
    written, never the file. The file must not be rewritten in place while the model lives (the
    hub's cache and funfisher's replace files, never rewrite them).

    The header is checked by safetensors itself (`safe_open` validates offsets, dtypes and the
    file's size) before any byte is read."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt"):  # validation only; it reads no tensor data
            pass
        with open(path, "rb") as f:
            header_size = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(header_size))
            header.pop("__metadata__", None)
            file_map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) if any(map(mapped, header)) else None
            state = {}
            for name, entry in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
                begin, end = entry["data_offsets"]
                if entry["dtype"] not in SAFETENSORS_DTYPES:
                    raise error(f"{path}: tensor {name!r} has dtype {entry['dtype']}, which funfisher does not read")
                if file_map is not None and mapped(name) and end > begin:
                    data = torch.frombuffer(file_map, dtype=torch.uint8, count=end - begin,
                                            offset=8 + header_size + begin)  # holds file_map open
                else:
                    f.seek(8 + header_size + begin)
                    data = torch.empty(end - begin, dtype=torch.uint8)
                    if f.readinto(data.numpy()) != end - begin:
                        raise OSError(f"short read of {name!r}")
                # safetensors stores little-endian bytes, the byte order of every CPU torch runs on here
                state[name] = data.view(SAFETENSORS_DTYPES[entry["dtype"]]).reshape(entry["shape"])
            return state
    except FileNotFoundError:
        raise ModelNotFoundError(f"{path}: no such file") from None
    except (SafetensorError, OSError) as e:
        raise error(f"{path}: not a readable safetensors file (truncated or corrupt?): {first_line(e)}") from None


# The format's dtype names and torch's (the format also has F8 variants and F4 kinds torch has no reader for)
SAFETENSORS_DTYPES: dict[str, torch.dtype] = {
    "BOOL": torch.bool, "U8": torch.uint8, "I8": torch.int8, "I16": torch.int16, "U16": torch.uint16,
    "I32": torch.int32, "U32": torch.uint32, "I64": torch.int64, "U64": torch.uint64,
    "F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32, "F64": torch.float64,
    "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
}


# What torch.load(weights_only=True) raises on a damaged file: besides its UnpicklingError and
# RuntimeError (a bad zip archive, short reads), the legacy (non-zip) format lets corrupt bytes
# surface as any of these (found by cutting and flipping bytes of real files).
_CORRUPT_PICKLE = (RuntimeError, EOFError, OSError, ValueError, struct.error, zipfile.BadZipFile, AssertionError,
                   AttributeError, IndexError, KeyError, TypeError)


def read_torch_pickle(path: Path, error: type[ModelFileError] = ModelFileError) -> dict[str, torch.Tensor]:
    """A torch.save'd dict of tensors, read with weights_only=True: pickled code is never run (the file
    is refused). A truncated or corrupt file, or one holding anything else, raises `error` naming it."""
    if _is_zip(path):  # torch >= 1.6 files; torch does not check their CRCs, so a flipped byte would load
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error, NotImplementedError, zlib.error,
                RuntimeError) as e:  # RuntimeError: an entry flagged as encrypted
            raise error(f"{path}: truncated or corrupt torch file (not a complete zip archive: {first_line(e)})"
                        ) from None
        if bad is not None:
            raise error(f"{path}: corrupt torch file (checksum mismatch in {bad!r})")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        refused, detail = _unpickler_message(e)
        if refused:
            raise error(f"{path}: holds pickled objects other than tensors ({refused}), which "
                        f"torch.load(weights_only=True) refuses; funfisher never runs pickled code: get the weights "
                        f"as safetensors, or saved as a plain dict of tensors") from None
        raise error(f"{path}: truncated or corrupt torch file (torch.load(weights_only=True): {detail})") from None
    except _CORRUPT_PICKLE as e:
        raise error(f"{path}: truncated or corrupt torch file ({type(e).__name__}: {first_line(e)})") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        found = type(state).__name__ if not isinstance(state, dict) else "a dict with other keys or values"
        raise error(f"{path}: expected a dict of tensors by name, found {found}")
    return state


def first_line(e: BaseException, limit: int = 150) -> str:
    """A library error's first line, shortened: the part of it that goes into a one-line message."""
    lines = str(e).strip().splitlines()
    return (lines[0][:limit] if lines else "") or type(e).__name__


def _is_zip(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"PK\x03\x04"


def _unpickler_message(e: pickle.UnpicklingError) -> tuple[str, str]:
    """(what the weights-only unpickler refused, e.g. 'GLOBAL posix.system', or ""; its last error line),
    leaving out torch's advice on how to load the file anyway (which would run its code)."""
    text = str(e)
    refused = re.search(r"GLOBAL [\w.]+", text)
    lines = [line.strip() for line in text.splitlines() if line.strip() and "weights_only" not in line]
    return (refused.group(0) if refused else ""), (lines[-1][:150] if lines else type(e).__name__)
