"""funfisher models as Hugging Face folders that `transformers` loads as they are.

    export_base(pm, folder)          # an encoder: BertModel / XLMRobertaModel
    export_task_model(model, pm, folder)   # encoder + head (a full fine-tuning run): BertForSequenceClassification, ...

A folder holds config.json (model_type, architectures, the encoder's sizes, num_labels for a
head), model.safetensors in HF key naming (model/convert.py's tables read backwards; the head as
AdapterHub names it, `io.adapterhub.HEAD_KEY_TABLE`), the checkpoint's tokenizer.json, and
tokenizer_config.json + special_tokens_map.json. Without the last two, AutoTokenizer guesses the
special tokens: an XLM-R vocabulary loaded as a bare fast tokenizer has no pad or mask token at
all. The spelling is read from the vocabulary ([CLS] ... for WordPiece BERT vocabularies, <s> ...
for XLM-R's sentencepiece one; e5-small is a BERT model with XLM-R's vocabulary), and each token
must be in it. The folder must not exist yet or be empty: nothing is overwritten.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer

from ..errors import UserError
from ..model.convert import BASE_PREFIXES, ENCODER_FROM_HF, translate
from .adapterhub import BASE_MODEL_CLASS, HEAD_CLASSES, HEAD_KEY_TABLE
from .runs import atomic_save_safetensors, atomic_write_text

MODEL_TYPE = {"bert": "bert", "xlm-roberta": "xlm-roberta"}
# The special tokens of the two vocabulary families, as their HF tokenizers name them
SPECIAL_TOKENS: dict[str, dict[str, str]] = {
    "wordpiece": {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                  "mask_token": "[MASK]"},
    "sentencepiece": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
                      "pad_token": "<pad>", "cls_token": "<s>", "mask_token": "<mask>"},
}
TOKENIZER_CLASS = {"wordpiece": "BertTokenizerFast", "sentencepiece": "XLMRobertaTokenizerFast"}


class ExportError(UserError, ValueError):
    """A model or folder that cannot be exported (an existing folder, an unknown vocabulary)."""


def export_base(pm, folder: str | Path) -> Path:
    """The encoder of `pm` (a `load_pretrained` result) as an HF base-model folder, with the
    checkpoint's pretrained pooler when it has one (HF's base models hold it)."""
    state = {_hf_encoder_key(key): tensor for key, tensor in pm.model.state_dict().items()}
    pooler = re.compile(r"pooler\.dense\.(weight|bias)")
    state.update({key: tensor for key, tensor in pm.head_weights.items() if pooler.fullmatch(key)})
    return _write(folder, pm, state, BASE_MODEL_CLASS[pm.config.arch], {})


def export_task_model(model, pm, folder: str | Path) -> Path:
    """A TaskModel (encoder + head, e.g. a full fine-tuning run's) as an HF model-with-head folder:
    the encoder under `bert.` / `roberta.`, the head under HF's names."""
    arch, kind = pm.config.arch, model.kind
    if (arch, kind) not in HEAD_CLASSES:
        raise ExportError(f"a {kind} head has no Hugging Face model class to export to "
                          f"(known: {sorted(k for a, k in HEAD_CLASSES if a == arch)})")
    prefix = BASE_PREFIXES[arch]
    state = {prefix + _hf_encoder_key(key): tensor for key, tensor in model.encoder.state_dict().items()}
    for key, tensor in model.head.state_dict().items():
        theirs = translate(key, HEAD_KEY_TABLE[(arch, kind)], to_ours=False)
        if theirs is None:  # a bug: every head weight is in the table
            raise KeyError(f"no HF name for head weight {key!r}")
        state[theirs] = tensor
    extra: dict[str, Any] = {}
    out = getattr(model.head, "out", None)
    if kind == "classification" and out is not None:
        n = out.out_features
        extra = {"num_labels": n, "id2label": {str(i): f"LABEL_{i}" for i in range(n)},
                 "label2id": {f"LABEL_{i}": i for i in range(n)}}
    return _write(folder, pm, state, HEAD_CLASSES[(arch, kind)], extra)


def _hf_encoder_key(key: str) -> str:
    theirs = translate(key, ENCODER_FROM_HF, to_ours=False)
    if theirs is None:  # a bug: every encoder weight is in the table
        raise KeyError(f"no HF name for encoder weight {key!r}")
    return theirs


def vocabulary_family(tokenizer: Tokenizer) -> str:
    """"wordpiece" ([CLS] ...) or "sentencepiece" (<s> ...): which special tokens the vocabulary has."""
    for family, tokens in SPECIAL_TOKENS.items():
        if all(tokenizer.token_to_id(t) is not None for t in tokens.values()):
            return family
    raise ExportError("the tokenizer has neither BERT's special tokens ([CLS] [SEP] [PAD] [MASK] [UNK]) "
                      "nor XLM-R's (<s> </s> <pad> <mask> <unk>): its special tokens cannot be named")


def hf_config(pm, architecture: str, extra: dict[str, Any]) -> dict[str, Any]:
    """config.json: the encoder's sizes under HF's field names, model_type and architectures."""
    cfg = pm.config.to_dict()
    arch = cfg.pop("arch")
    if cfg.get("classifier_dropout") is None:
        cfg.pop("classifier_dropout", None)
    tok = pm.tokenizer
    family = vocabulary_family(tok)
    special = SPECIAL_TOKENS[family]
    ids = {"pad_token_id": tok.token_to_id(special["pad_token"])}
    if family == "sentencepiece":
        ids |= {"bos_token_id": tok.token_to_id(special["bos_token"]), "eos_token_id": tok.token_to_id(special["eos_token"])}
    return {"architectures": [architecture], "model_type": MODEL_TYPE[arch], **cfg, **ids,
            "position_embedding_type": "absolute", **extra}


def check_output(folder: str | Path) -> Path:
    """The export folder: new or empty (nothing is overwritten), else an ExportError."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ExportError(f"{folder}: exists and is not an empty folder; export writes a new folder (nothing "
                          f"is overwritten): pick another --output")
    return folder


def _write(folder: str | Path, pm, state: dict[str, torch.Tensor], architecture: str, extra: dict[str, Any]) -> Path:
    folder = check_output(folder)
    family = vocabulary_family(pm.tokenizer)  # checked before anything is written
    folder.mkdir(parents=True, exist_ok=True)
    atomic_save_safetensors(folder / "model.safetensors",
                            {k: v.detach().to("cpu").contiguous() for k, v in state.items()}, metadata={"format": "pt"})
    atomic_write_text(folder / "config.json", json.dumps(hf_config(pm, architecture, extra), indent=2) + "\n")
    shutil.copyfile(Path(pm.source["path"]) / "tokenizer.json", folder / "tokenizer.json")
    special = SPECIAL_TOKENS[family]
    atomic_write_text(folder / "special_tokens_map.json", json.dumps(special, indent=2) + "\n")
    # XLM-R's positions start after padding_idx (model/encoder.position_ids): 514 positions hold 512 tokens
    offset = pm.config.pad_token_id + 1 if pm.config.arch == "xlm-roberta" else 0
    tokenizer_config = {"tokenizer_class": TOKENIZER_CLASS[family], **special,
                        "model_max_length": pm.config.max_position_embeddings - offset,
                        "clean_up_tokenization_spaces": True}
    if family == "wordpiece":
        normalizer = json.loads(pm.tokenizer.to_str()).get("normalizer") or {}
        if normalizer.get("type") == "BertNormalizer":
            # BertTokenizerFast rebuilds the normalizer when these disagree with it: copy them
            tokenizer_config["do_lower_case"] = bool(normalizer.get("lowercase", False))
            tokenizer_config["strip_accents"] = normalizer.get("strip_accents")
        else:  # BertTokenizerFast needs a BertNormalizer; the generic class takes tokenizer.json as it is
            tokenizer_config["tokenizer_class"] = "PreTrainedTokenizerFast"
    atomic_write_text(folder / "tokenizer_config.json", json.dumps(tokenizer_config, indent=2) + "\n")
    return folder
