"""The AdapterHub file format, in and out: `load_adapter`, `save_adapter`, `save_head`, `load_head`.

An adapter folder (as written by AdapterHub `adapters` 1.3.0 `model.save_adapter(path, name)`):

    adapter_config.json     {"config": {...architecture...}, "hidden_size", "model_type", "model_class",
                             "model_name", "name": <saved name>, "version": "adapters.1.3.0"} (+ "type")
    pytorch_adapter.bin     the weights (a torch pickle; read with weights_only=True), or
    adapter.safetensors     the same weights in safetensors (preferred when both exist)
    head_config.json, pytorch_model_head.bin   optional: a prediction head (static HF head classes)

Weight names are the model's parameter names. `KEY_TABLE` below is the complete mapping between
AdapterHub names and ours (inside `encoder.adapters[<name>]`), one row per kind of tensor, in the
template dialect of model/convert.py (whose head table `HEAD_KEY_TABLE` is derived from). On top
of the table, loading accepts what older files contain:
- a `bert.` / `roberta.` prefix (adapters saved from a model with a head) or none (bare model);
- adapter-transformers v1/v2 module names (`layer_text_lang_adapters`, `layer_text_task_adapters`
  -> `adapters`; `invertible_lang_adapters` -> `invertible_adapters`), as AdapterHub renames them;
- the saved adapter-name segment (config "name") is renamed to the name we load it under;
- configs without a "version" field (adapter-transformers): there "gelu" meant the tanh
  approximation (now "gelu_new") and "gelu_orig" the exact GELU; the nested
  `"invertible_adapter": {"block_type": "nice", "reduction_factor": 2, ...}` form; and
  "type": "text_lang" / "text_task", which becomes the adapter's role;
- files from adapters < 1.1.0 with a LoRA whose r != alpha were trained with scaling 1; AdapterHub
  loads them with alpha := r and so do we;
- a task-type adapter whose config names an invertible adapter that the file does not contain
  (old default configs did that) loads without it, as in AdapterHub.

Loading is strict: unknown keys, missing or mis-shaped weights, a hidden size or layer count that
does not fit the model, and architecture options funfisher does not implement are all errors that
say what was expected, what was found, and in which file.
"""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn as nn

from ..adapters.registry import (AdapterConfigType, AttachedAdapter, Role, add_adapter, default_role, delete_adapter,
                                 encoder_of, get_adapter)
from ..errors import ModelNotFoundError
from ..model.config import read_json_object
from ..model.convert import (BASE_PREFIXES, HEADS_FROM_HF, PRETRAINED_POOLER, TIED_DECODER, KeyTable, load_strict,
                             matches_any, read_weights, strip_base_prefix, translate, uses_pretrained_pooler)
from ..version import __version__
from .adapterhub_config import AdapterFormatError, config_from_adapterhub, config_to_adapterhub
from .hub import resolve_adapter
from .runs import atomic_save_safetensors, atomic_torch_save, atomic_write_text

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "pytorch_adapter.bin"
SAFE_WEIGHTS_NAME = "adapter.safetensors"
HEAD_CONFIG_NAME = "head_config.json"
HEAD_WEIGHTS_NAME = "pytorch_model_head.bin"
SAFE_HEAD_WEIGHTS_NAME = "model_head.safetensors"
# what a hub repo holds of an adapter (downloaded with resolve_adapter, funfisher/io/hub.py)
_HUB_FILES = [CONFIG_NAME, SAFE_WEIGHTS_NAME, WEIGHTS_NAME, HEAD_CONFIG_NAME, HEAD_WEIGHTS_NAME, SAFE_HEAD_WEIGHTS_NAME]

# --- the key table ---------------------------------------------------------------------------------
# AdapterHub name (bare-model form, adapter saved as {name})        our name inside encoder.adapters[<name>]
KEY_TABLE: KeyTable = [
    ("encoder.layer.{layer}.output.adapters.{name}.adapter_down.0.{param}", "layers.{layer}.down.{param}"),
    ("encoder.layer.{layer}.output.adapters.{name}.adapter_up.{param}", "layers.{layer}.up.{param}"),
    ("invertible_adapters.{name}.F.0.{param}", "invertible.F.down.{param}"),
    ("invertible_adapters.{name}.F.2.{param}", "invertible.F.up.{param}"),
    ("invertible_adapters.{name}.G.0.{param}", "invertible.G.down.{param}"),
    ("invertible_adapters.{name}.G.2.{param}", "invertible.G.up.{param}"),
    ("encoder.layer.{layer}.attention.self.{proj}.loras.{name}.lora_A", "layers.{layer}.{proj}.lora_A.weight"),
    ("encoder.layer.{layer}.attention.self.{proj}.loras.{name}.lora_B", "layers.{layer}.{proj}.lora_B.weight"),
]

# adapter-transformers module names -> AdapterHub 1.x (AdapterLoader.legacy_weights_mapping).
# The attention_* ones belong to Houlsby adapters, which then fail as unknown keys, as they should.
LEGACY_MODULE_NAMES: dict[str, str] = {
    "layer_text_lang_adapters": "adapters",
    "layer_text_task_adapters": "adapters",
    "attention_text_lang_adapters": "adapters",
    "attention_text_task_adapters": "adapters",
    "invertible_lang_adapters": "invertible_adapters",
}
ROLE_OF_TYPE: dict[str, Role] = {"text_lang": "language", "text_task": "task"}
TYPE_OF_ROLE: dict[Role, str] = {role: type_ for type_, role in ROLE_OF_TYPE.items()}
BASE_MODEL_CLASS: dict[str, str] = {"bert": "BertModel", "xlm-roberta": "XLMRobertaModel"}
_ADAPTER_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")  # what add_adapter accepts (adapters/registry.py)


def adapterhub_to_ours(key: str, saved_name: str) -> str | None:
    """An AdapterHub weight name (prefix and legacy module names already removed) -> ours, or None."""
    return translate(key, KEY_TABLE, to_ours=True, name=saved_name)


def ours_to_adapterhub(key: str, name: str) -> str:
    theirs = translate(key, KEY_TABLE, to_ours=False, name=name)
    if theirs is None:  # a bug: every adapter module is in the table
        raise KeyError(f"no AdapterHub name for adapter weight {key!r}")
    return theirs


def normalize_adapterhub_key(key: str) -> str:
    """Strip a `bert.` / `roberta.` prefix and rename adapter-transformers module names."""
    return ".".join(LEGACY_MODULE_NAMES.get(part, part) for part in strip_base_prefix(key).split("."))


# --- configs (the "config" entry itself is translated in adapterhub_config.py) -----------------------


def read_adapter_config(folder: Path) -> tuple[AdapterConfigType, dict[str, Any]]:
    """adapter_config.json -> (config, the file's top-level fields), checked: every problem is an
    `AdapterFormatError` naming the file and the field (a missing file a `ModelNotFoundError`)."""
    path = folder / CONFIG_NAME
    if not path.is_file():
        raise ModelNotFoundError(f"{folder}: no {CONFIG_NAME} (not an AdapterHub adapter folder)")
    meta = read_json_object(path, AdapterFormatError)
    if "config" not in meta or "name" not in meta:
        raise AdapterFormatError(f"{path}: expected an object with 'config' and 'name' "
                                 f"(AdapterHub adapter_config.json)")
    expected = {"name": (str, "a string"), "version": (str, "a string"), "type": (str, "a string"),
                "hidden_size": (int, "an integer")}
    for key, (kind, what) in expected.items():
        value = meta.get(key)
        if key in meta and value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise AdapterFormatError(f"{path}: {key!r} must be {what}, got {value!r}")
    if not meta["name"]:
        raise AdapterFormatError(f"{path}: 'name' must be the adapter's saved name, got an empty string")
    config = config_from_adapterhub(meta["config"], source=str(path), legacy="version" not in meta,
                                    version=meta.get("version"))
    return config, meta


# --- load / save ---------------------------------------------------------------------------------------


def load_adapter(
    model: nn.Module,
    path_or_hub_id: str | Path,
    name: str | None = None,
    *,
    role: Role | None = None,
    leave_out: list[int] | None = None,
    revision: str | None = None,
    with_head: bool = False,
) -> str:
    """Load an AdapterHub adapter into `model` (an Encoder, or a TaskModel); returns the name it got.

    name: the name to attach it under (default: the saved "name"). role: default from the file's
    "type" (text_lang / text_task), else "language" iff it has an invertible adapter. leave_out:
    additional layers to drop (as AdapterHub's load_adapter(leave_out=...)). revision: a hub
    branch, tag or commit. with_head: also load the head files into the TaskModel's head.
    The adapter is attached but not activated; on any error the model is left unchanged.
    """
    enc = encoder_of(model)
    folder, source = resolve_adapter(path_or_hub_id, revision, _HUB_FILES, CONFIG_NAME)
    config, meta = read_adapter_config(folder)
    saved_name = meta["name"]
    if name is None and not _ADAPTER_NAME.match(saved_name):
        raise AdapterFormatError(f"{folder / CONFIG_NAME}: the saved name {saved_name!r} cannot name an adapter "
                                 f"here (letters, digits, '_', '-'); load it with name=...")
    hidden, num_layers = enc.config.hidden_size, enc.config.num_hidden_layers
    if meta.get("hidden_size") is not None and meta["hidden_size"] != hidden:
        raise AdapterFormatError(f"{folder / CONFIG_NAME}: the adapter was made for hidden size {meta['hidden_size']}, "
                                 f"but the model has hidden size {hidden}")
    outside = [i for i in config.leave_out if i >= num_layers]
    if outside:
        raise AdapterFormatError(f"{folder / CONFIG_NAME}: leave_out {outside} is outside the model's layers "
                                 f"0..{num_layers - 1}")
    state, weights_path = read_weights(folder, SAFE_WEIGHTS_NAME, WEIGHTS_NAME, AdapterFormatError)
    ours = _map_adapter_keys(state, saved_name, weights_path)
    if leave_out:  # drop layers after loading, as AdapterHub does
        config = dataclasses.replace(config, leave_out=tuple(sorted(set(config.leave_out) | set(leave_out))))
    _check_layers(ours, config, enc.config.num_hidden_layers, weights_path)
    ours = {k: v for k, v in ours.items() if _layer_of(k) not in set(leave_out or ())}
    role = role or ROLE_OF_TYPE.get(meta.get("type") or "") or default_role(config)
    if role == "task" and getattr(config, "inv_adapter", None) and not any(k.startswith("invertible.") for k in ours):
        # old default configs named an invertible adapter that task adapters never had
        # (AdapterLoader._fix_legacy_config)
        config = dataclasses.replace(config, inv_adapter=None, inv_adapter_reduction_factor=None)
    if role == "task" and getattr(config, "inv_adapter", None):
        raise AdapterFormatError(f"{weights_path}: the adapter has an invertible adapter, which only a language "
                                 f"adapter can have, but it is loaded as a task adapter"
                                 + ("" if meta.get("type") != "text_task" else f" ({CONFIG_NAME} says type "
                                    f"'text_task')") + "; load it with role='language'")

    load_name = name or saved_name
    try:  # the sizes the config gives must be the weights' sizes: checked on the meta device, before allocating
        with torch.device("meta"):
            probe = AttachedAdapter(load_name, config, role, hidden, num_layers)
    except ValueError as e:  # e.g. a per-layer reduction_factor without the model's layers or a 'default'
        raise AdapterFormatError(f"{folder / CONFIG_NAME}: {e}") from e
    load_strict(probe, ours, source=f"{weights_path} (with the sizes in {CONFIG_NAME})")
    attached = add_adapter(enc, load_name, config, role=role)
    try:
        load_strict(attached, ours, source=str(weights_path))
        if with_head:
            load_head(model, folder)
    except (ValueError, TypeError, FileNotFoundError):
        delete_adapter(enc, load_name)
        raise
    attached.source = {**source, "weights": str(weights_path), "saved_name": saved_name, "version": meta.get("version")}
    return load_name


def _layer_of(key: str) -> int | None:
    m = re.match(r"layers\.(\d+)\.", key)
    return int(m.group(1)) if m else None


def _map_adapter_keys(state: Mapping[str, torch.Tensor], saved_name: str, where: Path) -> dict[str, torch.Tensor]:
    """File keys -> our keys inside the AttachedAdapter; every key must be a weight of this adapter."""
    ours: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, tensor in state.items():
        mapped = adapterhub_to_ours(normalize_adapterhub_key(key), saved_name)
        if mapped is None:
            unknown.append(key)
        else:
            ours[mapped] = tensor
    if unknown:
        raise AdapterFormatError(
            f"{where}: {len(unknown)} key(s) are not weights of adapter {saved_name!r} in a form funfisher knows: "
            + ", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else "")
            + " (expected e.g. encoder.layer.0.output.adapters.<name>.adapter_down.0.weight)")
    return ours


def _check_layers(ours: Mapping[str, torch.Tensor], config: AdapterConfigType, num_layers: int, where: Path) -> None:
    """The adapter's layers must be the model's layers minus leave_out: a clear error for a wrong depth."""
    in_file = sorted({i for k in ours if (i := _layer_of(k)) is not None})
    too_deep = [i for i in in_file if i >= num_layers]
    if too_deep:
        raise AdapterFormatError(f"{where}: the adapter has weights for layer(s) {too_deep}, "
                                 f"but the model has {num_layers} layers (0..{num_layers - 1})")
    absent = [i for i in config.layers(num_layers) if i not in in_file]
    if absent and in_file:
        raise AdapterFormatError(
            f"{where}: the adapter has weights for layers {in_file}, but the model has {num_layers} layers and the "
            f"config leaves out only {list(config.leave_out)}: no weights for layer(s) {absent} "
            f"(pass leave_out=[...] to load it into fewer layers)")


def adapter_state_dict(model: nn.Module, name: str, prefix: bool = False) -> dict[str, torch.Tensor]:
    """Adapter `name`'s weights under AdapterHub names (with a `bert.` / `roberta.` prefix if `prefix`)."""
    enc = encoder_of(model)
    attached = get_adapter(enc, name)
    lead = BASE_PREFIXES[enc.config.arch] if prefix else ""
    return {lead + ours_to_adapterhub(k, name): v.detach().to("cpu").contiguous()
            for k, v in attached.state_dict().items()}


def save_adapter(
    model: nn.Module,
    name: str,
    path: str | Path,
    *,
    prefix: bool = False,
    safetensors: bool = False,
    with_head: bool = False,
    model_name: str = "",
) -> Path:
    """Save adapter `name` as an AdapterHub folder that `adapters` 1.3.0 loads (`model.load_adapter(path)`).

    Weights go to pytorch_adapter.bin (what `load_adapter` reads by default), or to
    adapter.safetensors with safetensors=True (AdapterHub reads it with use_safetensors=True).
    prefix=True writes names as saved from a model with a head (`bert.` / `roberta.`), else as from
    the bare model. with_head: also write the TaskModel's head (head_config.json + weights).
    """
    enc = encoder_of(model)
    attached: AttachedAdapter = get_adapter(enc, name)
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "config": config_to_adapterhub(attached.config),
        "hidden_size": enc.config.hidden_size,
        "model_class": _model_class(model, enc),
        "model_name": model_name,
        "model_type": enc.config.arch,
        "name": name,
        "type": TYPE_OF_ROLE[attached.role],
        "version": f"funfisher.{__version__}",
    }
    atomic_write_text(folder / CONFIG_NAME, json.dumps(meta, indent=2, sort_keys=True))
    state = adapter_state_dict(enc, name, prefix=prefix)
    _write_weights(folder, state, SAFE_WEIGHTS_NAME if safetensors else WEIGHTS_NAME, safetensors)
    if with_head:
        save_head(model, folder, safetensors=safetensors, model_name=model_name)
    return folder


def _write_weights(folder: Path, state: dict[str, torch.Tensor], filename: str, safetensors: bool) -> None:
    """Atomically (io/runs.py), like every file a run writes."""
    if safetensors:
        atomic_save_safetensors(folder / filename, state)
    else:
        atomic_torch_save(folder / filename, state)


def _model_class(model: nn.Module, enc: nn.Module) -> str:
    kind = getattr(model, "kind", None)
    if kind is not None and (enc.config.arch, kind) in HEAD_CLASSES:
        return HEAD_CLASSES[(enc.config.arch, kind)]
    return BASE_MODEL_CLASS[enc.config.arch]


# --- heads --------------------------------------------------------------------------------------------
# AdapterHub saves the heads of Hugging Face's static head classes (BertForSequenceClassification, ...)
# as head_config.json (with "model_class") + the head's weights under their HF names. Our heads
# (funfisher/model/heads.py) map onto those names as below. BERT's pooler belongs to the base model
# in HF (`bert.pooler.dense`), so AdapterHub's own head files do not contain it (it stays the
# pretrained one); we write it with its prefix, which AdapterHub loads into the pooler.

HEAD_CLASSES: dict[tuple[str, str], str] = {
    ("bert", "classification"): "BertForSequenceClassification",
    ("xlm-roberta", "classification"): "XLMRobertaForSequenceClassification",
    ("bert", "multiple_choice"): "BertForMultipleChoice",
    ("xlm-roberta", "multiple_choice"): "XLMRobertaForMultipleChoice",
    ("bert", "qa"): "BertForQuestionAnswering",
    ("xlm-roberta", "qa"): "XLMRobertaForQuestionAnswering",
    ("bert", "mlm"): "BertForMaskedLM",
    ("xlm-roberta", "mlm"): "XLMRobertaForMaskedLM",
}
# (arch, kind) -> [(HF key template, our head key template)]: model/convert.py's HEADS_FROM_HF, with the
# pretrained pooler under the base model's prefix, as the heads' files name it.
HEAD_KEY_TABLE: dict[tuple[str, str], KeyTable] = {
    (arch, kind): [(BASE_PREFIXES[arch] + theirs if (theirs, ours) == PRETRAINED_POOLER else theirs, ours)
                   for theirs, ours in table]
    for (arch, kind), table in HEADS_FROM_HF.items()
}
# Head-file keys we read past: the MLM decoder is tied to the word embeddings (its bias is `bias`).
_HEAD_IGNORED = [f"{decoder}.{{param}}" for decoder in TIED_DECODER.values()]


def _task_model(model: nn.Module) -> tuple[nn.Module, str, str]:
    head, kind = getattr(model, "head", None), getattr(model, "kind", None)
    if head is None or kind is None:
        raise TypeError(f"heads are saved from / loaded into a TaskModel (pm.task_model(kind)), "
                        f"got {type(model).__name__}")
    return head, kind, encoder_of(model).config.arch


def save_head(model: nn.Module, path: str | Path, *, safetensors: bool = False, model_name: str = "") -> Path:
    """Write a TaskModel's head as AdapterHub does for static HF head classes (head_config.json + weights)."""
    head, kind, arch = _task_model(model)
    enc = encoder_of(model)
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    table = HEAD_KEY_TABLE[(arch, kind)]
    state: dict[str, torch.Tensor] = {}
    for key, tensor in head.state_dict().items():
        theirs = translate(key, table, to_ours=False)
        if theirs is None:  # a bug: every head weight is in the table
            raise KeyError(f"no HF name for head weight {key!r}")
        state[theirs] = tensor.detach().to("cpu").contiguous()
    if kind == "mlm":  # HF keeps the decoder bias as a second name of the same tensor
        state[f"{TIED_DECODER[arch]}.bias"] = state[translate("bias", table, to_ours=False)].clone()
    # the output layer's width (classes, 1 score per choice, start + end); MLM heads have no `out`
    num_labels = getattr(getattr(head, "out", None), "out_features", None)
    meta = {
        "config": None, "hidden_size": enc.config.hidden_size, "model_class": HEAD_CLASSES[(arch, kind)],
        "model_name": model_name, "model_type": arch, "name": None, "version": f"funfisher.{__version__}",
    }
    if num_labels is not None:
        meta["num_labels"] = num_labels
        meta["label2id"] = {f"LABEL_{i}": i for i in range(num_labels)}
    atomic_write_text(folder / HEAD_CONFIG_NAME, json.dumps(meta, indent=2, sort_keys=True))
    _write_weights(folder, state, SAFE_HEAD_WEIGHTS_NAME if safetensors else HEAD_WEIGHTS_NAME, safetensors)
    return folder


def load_head(model: nn.Module, path: str | Path) -> None:
    """Load head files written by AdapterHub (static HF head classes, or the flex heads of
    BertAdapterModel / XLMRobertaAdapterModel: `FLEX_HEADS`) or by `save_head` into a TaskModel's head.

    Every key must belong to the head; keys the file lacks keep their current values only for
    BERT's pooler (AdapterHub's head files do not contain it: it stays the pretrained pooler).
    """
    head, kind, arch = _task_model(model)
    folder = Path(path)
    cfg_path = folder / HEAD_CONFIG_NAME
    table, name = HEAD_KEY_TABLE[(arch, kind)], ""
    if cfg_path.is_file():
        meta = read_json_object(cfg_path, AdapterFormatError)
        expected = HEAD_CLASSES[(arch, kind)]
        if str(meta.get("model_class", "")).endswith("AdapterModel"):  # a flex head (AutoAdapterModel & co)
            table, name = _flex_head_table(meta, kind, cfg_path)
        elif meta.get("model_class") != expected:
            raise AdapterFormatError(f"{cfg_path}: the head is a {meta.get('model_class')!r} head, but this model "
                                     f"needs {expected!r} (or an AdapterHub flex head of type "
                                     f"{FLEX_HEADS[kind][0]!r})")
    state, where = read_weights(folder, SAFE_HEAD_WEIGHTS_NAME, HEAD_WEIGHTS_NAME, AdapterFormatError)
    ours: dict[str, torch.Tensor] = {}
    unknown = []
    for key, tensor in state.items():
        mapped = translate(key, table, to_ours=True, name=name)
        if mapped is not None:
            ours[mapped] = tensor
        elif not matches_any(key, _HEAD_IGNORED):
            unknown.append(key)
    if unknown:
        raise AdapterFormatError(f"{where}: key(s) that are not part of a {kind} head: {unknown[:10]}")
    pooler_in_base = uses_pretrained_pooler(arch, kind)  # HF keeps these poolers in the base model
    load_strict(head, ours, source=str(where), optional_prefixes=("pool.",) if pooler_in_base else ())


# AdapterHub's flex heads (heads of BertAdapterModel / XLMRobertaAdapterModel, saved with save_head)
# are nn.Sequential stacks named heads.<name>.<index>: classification and multiple choice with 2
# layers are [Dropout, Linear(h, h), Tanh, Dropout, Linear(h, n)] on the first token, the
# structure of our heads' pool.dense + tanh and out; QA with 1 layer is [Dropout, Linear(h, 2)] on
# every token, our out. In eval mode they compute what ours compute (dropout aside, the same).
# Other shapes (more layers, another activation, the base model's pooler) are refused.
FLEX_HEADS: dict[str, tuple[str, int, KeyTable]] = {  # kind -> (head_type, layers, table)
    "classification": ("classification", 2, [("heads.{name}.1.{param}", "pool.dense.{param}"),
                                             ("heads.{name}.4.{param}", "out.{param}")]),
    "multiple_choice": ("multiple_choice", 2, [("heads.{name}.1.{param}", "pool.dense.{param}"),
                                               ("heads.{name}.4.{param}", "out.{param}")]),
    "qa": ("question_answering", 1, [("heads.{name}.1.{param}", "out.{param}")]),
}


def _flex_head_table(meta: dict, kind: str, cfg_path: Path) -> tuple[KeyTable, str]:
    """The key table and head name of a flex head's head_config.json, if it has our head's shape."""
    if kind not in FLEX_HEADS:
        raise AdapterFormatError(f"{cfg_path}: a flex head cannot be loaded into a {kind} head")
    head_type, layers, table = FLEX_HEADS[kind]
    config, name = meta.get("config"), meta.get("name")
    if not isinstance(config, dict) or not isinstance(name, str) or not name:
        raise AdapterFormatError(f"{cfg_path}: a flex head's head_config.json needs a \"config\" object and a \"name\"")
    wanted = {"head_type": head_type, "layers": layers, "activation_function": "tanh"}
    found = {key: config.get(key) for key in wanted}
    if layers == 1:  # no activation between dropout and the single linear layer
        wanted.pop("activation_function"), found.pop("activation_function")
    if found != wanted or config.get("use_pooler") or config.get("bias", True) is not True:
        raise AdapterFormatError(
            f"{cfg_path}: a flex head with {found}, use_pooler {config.get('use_pooler')!r}, bias "
            f"{config.get('bias', True)!r}; a {kind} head here is {wanted}, use_pooler false, bias true")
    return table, name


__all__ = ["load_adapter", "save_adapter", "save_head", "load_head", "read_adapter_config",
           "adapter_state_dict", "adapterhub_to_ours", "ours_to_adapterhub", "normalize_adapterhub_key", "KEY_TABLE",
           "HEAD_KEY_TABLE", "HEAD_CLASSES", "LEGACY_MODULE_NAMES", "CONFIG_NAME", "WEIGHTS_NAME", "SAFE_WEIGHTS_NAME"]
