"""The encoder configuration: one dataclass for BERT (mBERT) and XLM-R (RoBERTa).

The two architectures share every module. What differs is data, read from the checkpoint's
`config.json` (Hugging Face `BertConfig` / `XLMRobertaConfig` field names):

| field                  | BERT / mBERT         | XLM-R                                   |
|------------------------|----------------------|-----------------------------------------|
| positions              | 0, 1, 2, ...         | padding_idx + 1, +2, ... (pads get padding_idx) |
| token types            | 0 / 1 (type_vocab 2) | always 0 (type_vocab 1)                 |
| LayerNorm eps          | 1e-12                | 1e-5                                    |
| sequence classifier    | pooler -> linear     | dense -> tanh -> out_proj on token 0    |

`EncoderConfig.from_json` checks every field it takes (type and range); a config.json that is not
UTF-8, not JSON, or has a missing or wrong field is a `ModelFileError` naming the file and the field.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

from ..errors import ModelFileError, ModelNotFoundError, UserError
from .activations import ACTIVATIONS

Arch = Literal["bert", "xlm-roberta"]

# HF `model_type` -> our arch name. RoBERTa and XLM-R share the RoBERTa embedding rules.
ARCH_OF_MODEL_TYPE: dict[str, Arch] = {
    "bert": "bert",
    "roberta": "xlm-roberta",
    "xlm-roberta": "xlm-roberta",
}
ARCHS: tuple[Arch, ...] = ("bert", "xlm-roberta")


class ArchitectureError(UserError, ValueError):
    """An architecture that is neither bert nor xlm-roberta (in any spelling `arch_of_name` accepts),
    or one that the checkpoint or offline model does not have."""


def arch_of_name(name: str) -> Arch | None:
    """An architecture as a user may spell it (`load_pretrained("multilingual-e5-small", arch="xlmr")`)
    -> ours, else None: any `model_type` above, case-insensitive, "_" for "-", and the short "xlmr"."""
    key = name.strip().lower().replace("_", "-")
    return ARCH_OF_MODEL_TYPE.get("xlm-roberta" if key == "xlmr" else key)


@dataclass(frozen=True)
class EncoderConfig:
    arch: Arch
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    pad_token_id: int
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    classifier_dropout: float | None = None  # None: use hidden_dropout_prob, as HF does
    initializer_range: float = 0.02

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not divisible by num_attention_heads {self.num_attention_heads}"
            )

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def head_dropout(self) -> float:
        return self.hidden_dropout_prob if self.classifier_dropout is None else self.classifier_dropout

    @classmethod
    def from_hf_dict(cls, hf: dict[str, Any], arch: Arch | None = None, source: str = "config.json") -> "EncoderConfig":
        """Read a Hugging Face BertConfig / XLMRobertaConfig dict; every problem is a `ModelFileError`
        naming `source` and the field.

        `arch` overrides the architecture only if it agrees with the config's `model_type`: the
        embedding rules differ, so silently reading a BERT checkpoint as XLM-R would give wrong
        hidden states. (The offline e5 model offers both by shifting its position table.)
        """
        if not isinstance(hf, dict):
            raise ModelFileError(f"{source}: expected a JSON object {{...}}, found {_json_type(hf)}")
        model_type = hf.get("model_type")
        if not isinstance(model_type, str) or model_type not in ARCH_OF_MODEL_TYPE:
            raise ModelFileError(
                f"{source}: model_type {model_type!r} is not supported; expected one of {sorted(ARCH_OF_MODEL_TYPE)}"
            )
        found = ARCH_OF_MODEL_TYPE[model_type]
        if arch is not None:
            wanted = arch_of_name(arch) if isinstance(arch, str) else None
            if wanted is None:
                raise ArchitectureError(f"unknown architecture {arch!r}; expected one of {list(ARCHS)}")
            if wanted != found:
                raise ArchitectureError(
                    f"{source}: model_type {model_type!r} is a {found} checkpoint, but arch={arch!r} was asked for")
        if hf.get("position_embedding_type", "absolute") != "absolute":
            raise ModelFileError(
                f"{source}: only absolute position embeddings are supported, got {hf['position_embedding_type']!r}")
        missing = [k for k in _POSITIVE_INTS if k not in hf]
        if missing:
            raise ModelFileError(f"{source}: missing required field(s) {missing}")
        names = {f.name for f in fields(cls)} - {"arch"}
        values = {k: v for k, v in hf.items() if k in names}
        values.setdefault("layer_norm_eps", 1e-12)
        values.setdefault("pad_token_id", 0 if found == "bert" else 1)
        _check_fields(values, found, source)
        return cls(arch=found, **values)

    @classmethod
    def from_json(cls, path: str | Path, arch: Arch | None = None) -> "EncoderConfig":
        path = Path(path)
        return cls.from_hf_dict(read_json_object(path), arch=arch, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# What from_hf_dict checks, field by field: a wrong type would otherwise surface deep in torch.
_POSITIVE_INTS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                  "max_position_embeddings", "type_vocab_size")
_MAX_SIZE = 2**24  # far above any real model's sizes; products of two stay far below torch's int64 limits
_PROBABILITIES = ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout")


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_fields(values: dict[str, Any], arch: Arch, source: str) -> None:
    """The type and range of every field EncoderConfig takes from config.json."""
    def bad(key: str, expected: str) -> ModelFileError:
        return ModelFileError(f"{source}: {key!r} must be {expected}, got {values[key]!r}")

    for key in _POSITIVE_INTS:
        if not _is_int(values[key]) or not 1 <= values[key] <= _MAX_SIZE:
            raise bad(key, f"a positive integer (at most {_MAX_SIZE})")
    for key in _PROBABILITIES:
        if key in values and not (key == "classifier_dropout" and values[key] is None):
            if not _is_number(values[key]) or not 0 <= values[key] <= 1:
                raise bad(key, "a number from 0 to 1" + (" or null" if key == "classifier_dropout" else ""))
    if not _is_number(values["layer_norm_eps"]) or values["layer_norm_eps"] <= 0:
        raise bad("layer_norm_eps", "a positive number")
    if "initializer_range" in values and (not _is_number(values["initializer_range"])
                                          or values["initializer_range"] < 0):
        raise bad("initializer_range", "a number >= 0")
    pad = values["pad_token_id"]
    if not (pad is None and arch == "bert") and (not _is_int(pad) or not 0 <= pad < values["vocab_size"]):
        raise bad("pad_token_id", f"a token id from 0 to vocab_size - 1 = {values['vocab_size'] - 1}"
                  + (" (or null)" if arch == "bert" else ""))
    act = values.get("hidden_act", "gelu")
    if not isinstance(act, str) or act.lower() not in ACTIVATIONS:
        raise ModelFileError(f"{source}: hidden_act {act!r} is not supported; expected one of {sorted(ACTIVATIONS)}")
    if values["hidden_size"] % values["num_attention_heads"]:
        raise ModelFileError(f"{source}: hidden_size {values['hidden_size']} is not divisible by "
                             f"num_attention_heads {values['num_attention_heads']}")


def read_json_object(path: Path, error: type[ModelFileError] = ModelFileError) -> dict[str, Any]:
    """A JSON file that must hold an object: a missing file is a `ModelNotFoundError`, one that is
    not UTF-8, not JSON or not an object an `error` naming the file (and the line)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ModelNotFoundError(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 text (invalid byte at offset {e.start})") from None
    except OSError as e:
        raise error(f"{path}: cannot be read ({e.strerror or type(e).__name__})") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise error(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
    except RecursionError:
        raise error(f"{path}: not valid JSON (nested too deeply)") from None
    if not isinstance(value, dict):
        raise error(f"{path}: expected a JSON object {{...}}, found {_json_type(value)}")
    return value
