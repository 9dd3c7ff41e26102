"""The encoder configuration: one dataclass for BERT (mBERT) and XLM-R (RoBERTa).

The two architectures share every module. What differs is data, read from the checkpoint's
`config.json` (Hugging Face `BertConfig` / `XLMRobertaConfig` field names):

| field                  | BERT / mBERT         | XLM-R                                   |
|------------------------|----------------------|-----------------------------------------|
| positions              | 0, 1, 2, ...         | padding_idx + 1, +2, ... (pads get padding_idx) |
| token types            | 0 / 1 (type_vocab 2) | always 0 (type_vocab 1)                 |
| LayerNorm eps          | 1e-12                | 1e-5                                    |
| sequence classifier    | pooler -> linear     | dense -> tanh -> out_proj on token 0    |
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

Arch = Literal["bert", "xlm-roberta"]

# HF `model_type` -> our arch name. RoBERTa and XLM-R share the RoBERTa embedding rules.
ARCH_OF_MODEL_TYPE: dict[str, Arch] = {
    "bert": "bert",
    "roberta": "xlm-roberta",
    "xlm-roberta": "xlm-roberta",
}
ARCHS: tuple[Arch, ...] = ("bert", "xlm-roberta")


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
        """Read a Hugging Face BertConfig / XLMRobertaConfig dict.

        `arch` overrides the architecture only if it agrees with the config's `model_type`: the
        embedding rules differ, so silently reading a BERT checkpoint as XLM-R would give wrong
        hidden states. (The offline e5 model offers both by shifting its position table.)
        """
        model_type = hf.get("model_type")
        if model_type not in ARCH_OF_MODEL_TYPE:
            raise ValueError(
                f"{source}: model_type {model_type!r} is not supported; expected one of {sorted(ARCH_OF_MODEL_TYPE)}"
            )
        found = ARCH_OF_MODEL_TYPE[model_type]
        if arch is not None and arch != found:
            raise ValueError(f"{source}: model_type {model_type!r} is a {found} checkpoint, but arch={arch!r} was asked for")
        if hf.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{source}: only absolute position embeddings are supported, got {hf['position_embedding_type']!r}")
        required = ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                    "max_position_embeddings", "type_vocab_size"]
        missing = [k for k in required if k not in hf]
        if missing:
            raise ValueError(f"{source}: missing required field(s) {missing}")
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in hf.items() if k in names}
        values.setdefault("layer_norm_eps", 1e-12)
        values.setdefault("pad_token_id", 0 if found == "bert" else 1)
        return cls(arch=found, **values)

    @classmethod
    def from_json(cls, path: str | Path, arch: Arch | None = None) -> "EncoderConfig":
        path = Path(path)
        try:
            hf = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from e
        return cls.from_hf_dict(hf, arch=arch, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
