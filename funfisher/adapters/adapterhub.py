"""The AdapterHub file format, in and out: `load_adapter`, `save_adapter`, `save_head`, `load_head`.

An adapter folder (as written by AdapterHub `adapters` 1.3.0 `model.save_adapter(path, name)`):

    adapter_config.json     {"config": {...architecture...}, "hidden_size", "model_type", "model_class",
                             "model_name", "name": <saved name>, "version": "adapters.1.3.0"} (+ "type")
    pytorch_adapter.bin     the weights (a torch pickle; read with weights_only=True), or
    adapter.safetensors     the same weights in safetensors (preferred when both exist)
    head_config.json, pytorch_model_head.bin   optional: a prediction head (static HF head classes)

Weight names are the model's parameter names. `KEY_TABLE` below is the complete mapping between
AdapterHub names and ours (inside `encoder.adapters[<name>]`), one row per kind of tensor. On top
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
import functools
import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn as nn

from ..model.convert import load_strict, read_weights
from .bottleneck import BottleneckConfig
from .lora import LoRAConfig
from .registry import (AdapterConfigType, AttachedAdapter, Role, add_adapter, default_role, delete_adapter,
                       encoder_of, get_adapter)

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "pytorch_adapter.bin"
SAFE_WEIGHTS_NAME = "adapter.safetensors"
HEAD_CONFIG_NAME = "head_config.json"
HEAD_WEIGHTS_NAME = "pytorch_model_head.bin"
SAFE_HEAD_WEIGHTS_NAME = "model_head.safetensors"

# --- the key table ---------------------------------------------------------------------------------
# AdapterHub name (bare-model form, adapter saved as {name})        our name inside encoder.adapters[<name>]
KEY_TABLE: list[tuple[str, str]] = [
    ("encoder.layer.{layer}.output.adapters.{name}.adapter_down.0.{param}", "layers.{layer}.down.{param}"),
    ("encoder.layer.{layer}.output.adapters.{name}.adapter_up.{param}", "layers.{layer}.up.{param}"),
    ("invertible_adapters.{name}.F.0.{param}", "invertible.F.down.{param}"),
    ("invertible_adapters.{name}.F.2.{param}", "invertible.F.up.{param}"),
    ("invertible_adapters.{name}.G.0.{param}", "invertible.G.down.{param}"),
    ("invertible_adapters.{name}.G.2.{param}", "invertible.G.up.{param}"),
    ("encoder.layer.{layer}.attention.self.{proj}.loras.{name}.lora_A", "layers.{layer}.{proj}.lora_A.weight"),
    ("encoder.layer.{layer}.attention.self.{proj}.loras.{name}.lora_B", "layers.{layer}.{proj}.lora_B.weight"),
]
_FIELD_PATTERNS = {"layer": r"\d+", "param": r"weight|bias", "proj": r"query|key|value"}

# adapter-transformers module names -> AdapterHub 1.x (AdapterLoader.legacy_weights_mapping).
# The attention_* ones belong to Houlsby adapters, which then fail as unknown keys, as they should.
LEGACY_MODULE_NAMES: dict[str, str] = {
    "layer_text_lang_adapters": "adapters",
    "layer_text_task_adapters": "adapters",
    "attention_text_lang_adapters": "adapters",
    "attention_text_task_adapters": "adapters",
    "invertible_lang_adapters": "invertible_adapters",
}
BASE_PREFIXES: dict[str, str] = {"bert": "bert.", "xlm-roberta": "roberta."}
# Old configs (no "version" field): the activation names of adapter-transformers (AdapterHub's ACTIVATION_RENAME).
LEGACY_ACTIVATIONS: dict[str, str] = {"gelu": "gelu_new", "gelu_orig": "gelu"}
ROLE_OF_TYPE: dict[str, Role] = {"text_lang": "language", "text_task": "task"}
TYPE_OF_ROLE: dict[Role, str] = {"language": "text_lang", "task": "text_task"}
BASE_MODEL_CLASS: dict[str, str] = {"bert": "BertModel", "xlm-roberta": "XLMRobertaModel"}


class AdapterFormatError(ValueError):
    """An adapter folder or file that does not fit the model, or uses options we do not implement."""


@functools.lru_cache(maxsize=256)
def _template_regex(template: str, name: str) -> re.Pattern[str]:
    """"encoder.layer.{layer}.output.adapters.{name}.adapter_up.{param}" -> a regex with named groups."""
    parts = re.split(r"(\{\w+\})", template)
    out = []
    for part in parts:
        if part == "{name}":
            out.append(re.escape(name))
        elif part.startswith("{") and part.endswith("}"):
            field = part[1:-1]
            out.append(f"(?P<{field}>{_FIELD_PATTERNS[field]})")
        else:
            out.append(re.escape(part))
    return re.compile("".join(out))


def translate(key: str, table: list[tuple[str, str]], to_ours: bool, name: str = "") -> str | None:
    """Map one key through a template table (AdapterHub side, our side); None if no row matches."""
    for theirs, ours in table:
        source, target = (theirs, ours) if to_ours else (ours, theirs)
        m = _template_regex(source, name).fullmatch(key)
        if m:
            return target.format(name=name, **m.groupdict())
    return None


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
    for prefix in BASE_PREFIXES.values():
        if key.startswith(prefix):
            key = key[len(prefix):]
            break
    return ".".join(LEGACY_MODULE_NAMES.get(part, part) for part in key.split("."))


# --- configs -----------------------------------------------------------------------------------------

# What AdapterHub 1.3.0 writes for `seq_bn` (SeqBnConfig().to_dict()) and `lora` (LoRAConfig().to_dict()).
# We write every field so `adapters` rebuilds exactly our architecture.
_BN_FULL_DEFAULTS: dict[str, Any] = {
    "adapter_residual_before_ln": False, "cross_adapter": False, "dropout": 0.0, "factorized_phm_W": True,
    "factorized_phm_rule": False, "hypercomplex_nonlinearity": "glorot-uniform", "init_weights": "bert",
    "init_weights_seed": None, "inv_adapter": None, "inv_adapter_reduction_factor": None, "is_parallel": False,
    "learn_phm": True, "leave_out": [], "ln_after": False, "ln_before": False, "mh_adapter": False,
    "non_linearity": "relu", "original_ln_after": True, "original_ln_before": True, "output_adapter": True,
    "phm_bias": True, "phm_c_init": "normal", "phm_dim": 4, "phm_init_range": 0.0001, "phm_layer": False,
    "phm_rank": 1, "reduction_factor": 16, "residual_before_ln": True, "scaling": 1.0, "shared_W_phm": False,
    "shared_phm_rule": True, "stochastic_depth": 0.0, "use_gating": False,
}
_LORA_FULL_DEFAULTS: dict[str, Any] = {
    "alpha": 8, "architecture": "lora", "attn_matrices": ["q", "v"], "composition_mode": "add", "dropout": 0.0,
    "dtype": None, "init_weights": "lora", "init_weights_seed": None, "intermediate_lora": False, "leave_out": [],
    "output_lora": False, "r": 8, "selfattn_lora": True, "use_dora": False, "use_gating": False, "vera_b": None,
    "vera_d": None,
}
# Options that must have these values for the architecture we implement (else: not supported).
_BN_REQUIRED: dict[str, Any] = {
    "mh_adapter": False, "output_adapter": True, "original_ln_before": True, "original_ln_after": True,
    "residual_before_ln": True, "ln_before": False, "ln_after": False, "is_parallel": False, "use_gating": False,
    "phm_layer": False, "stochastic_depth": 0.0, "cross_adapter": False,
}
_LORA_REQUIRED: dict[str, Any] = {
    "selfattn_lora": True, "intermediate_lora": False, "output_lora": False, "composition_mode": "add",
    "use_gating": False, "use_dora": False, "vera_d": None, "vera_b": None,
}
# Config names AdapterHub accepts in place of a dict (its ADAPTER_CONFIG_MAP; seq_bn_inv also has rf 16).
_SEQ_BN = dict(_BN_FULL_DEFAULTS)
_PRESET_CONFIGS: dict[str, dict[str, Any]] = {
    "pfeiffer": _SEQ_BN, "seq_bn": _SEQ_BN,
    "pfeiffer+inv": {**_SEQ_BN, "inv_adapter": "nice", "inv_adapter_reduction_factor": 2},
    "seq_bn_inv": {**_SEQ_BN, "inv_adapter": "nice", "inv_adapter_reduction_factor": 2},
    "lora": {"architecture": "lora"},
}


# AdapterHub's BnConfig defaults for fields a file may omit (mh_adapter / output_adapter have none: required).
# Note original_ln_before: the *base* default is False (Houlsby-style), only SeqBnConfig sets True.
_BN_BASE_DEFAULTS: dict[str, Any] = {
    "original_ln_before": False, "original_ln_after": True, "residual_before_ln": True, "ln_before": False,
    "ln_after": False, "is_parallel": False, "use_gating": False, "phm_layer": False, "stochastic_depth": 0.0,
    "cross_adapter": False,
}


def _check_options(cfg: Mapping[str, Any], required: Mapping[str, Any], defaults: Mapping[str, Any], source: str,
                   what: str) -> None:
    """Each option in `required` must have that value. A missing option takes AdapterHub's default
    (`defaults`), as the library would; an option without a default must be present."""
    missing = [k for k in required if k not in cfg and k not in defaults]
    if missing:
        raise AdapterFormatError(f"{source}: this {what} config lacks the required field(s) {missing}")
    values = {k: cfg.get(k, defaults.get(k)) for k in required}
    bad = {k: v for k, v in values.items() if v != required[k]}
    if bad:
        expected = {k: required[k] for k in bad}
        raise AdapterFormatError(f"{source}: this {what} uses options funfisher does not implement: {bad} "
                                 f"(supported: {expected}; funfisher implements Pfeiffer seq_bn, seq_bn_inv "
                                 f"and attention LoRA)")


def config_from_adapterhub(cfg: Mapping[str, Any] | str, source: str = "adapter config", legacy: bool = False,
                           version: str | None = None) -> AdapterConfigType:
    """AdapterHub's "config" entry -> BottleneckConfig or LoRAConfig.

    legacy: the file has no "version" field (adapter-transformers): rename its activation names.
    Fields that only matter for a fresh initialization (init_weights, init_weights_seed) are ignored.
    """
    if isinstance(cfg, str):
        if cfg not in _PRESET_CONFIGS:
            raise AdapterFormatError(f"{source}: unknown adapter config name {cfg!r}; "
                                     f"expected one of {sorted(_PRESET_CONFIGS)}")
        cfg = dict(_PRESET_CONFIGS[cfg])
    cfg = dict(cfg)
    arch = cfg.get("architecture")
    if arch == "lora":
        _check_options(cfg, _LORA_REQUIRED, _LORA_REQUIRED, source, "LoRA")
        if cfg.get("dtype") not in (None, "float32"):
            raise AdapterFormatError(f"{source}: LoRA dtype {cfg['dtype']!r} is not supported "
                                     f"(expected null or 'float32')")
        r, alpha = int(cfg.get("r", 8)), cfg.get("alpha", 8)
        old_library = bool(version) and version.startswith("adapters.") and _version_tuple(version) < (1, 1, 0)
        if old_library and r != alpha:
            alpha = r  # the faulty-scaling fix of adapters >= 1.1.0 (AdapterLoader._fix_backward_compat)
        return LoRAConfig(r=r, alpha=alpha, dropout=float(cfg.get("dropout", 0.0)),
                          attn_matrices=tuple(cfg.get("attn_matrices", ("q", "v"))),
                          leave_out=tuple(cfg.get("leave_out") or ()))
    if arch is not None:
        raise AdapterFormatError(f"{source}: adapter architecture {arch!r} is not supported; "
                                 f"funfisher implements bottleneck (seq_bn, seq_bn_inv) and 'lora'")
    _check_options(cfg, _BN_REQUIRED, _BN_BASE_DEFAULTS, source, "bottleneck adapter")
    if not isinstance(cfg.get("scaling", 1.0), (int, float)):
        raise AdapterFormatError(f"{source}: scaling {cfg['scaling']!r} is not supported (only a constant number)")
    inv, inv_rf = cfg.get("inv_adapter"), cfg.get("inv_adapter_reduction_factor")
    nested = cfg.get("invertible_adapter")
    if nested:  # adapter-transformers v1: {"block_type": "nice", "non_linearity": ..., "reduction_factor": 2}
        inv, inv_rf = nested.get("block_type"), nested.get("reduction_factor")
    act = cfg.get("non_linearity", "relu")
    if legacy:
        act = LEGACY_ACTIVATIONS.get(act, act)
    missing = [k for k in ("reduction_factor",) if k not in cfg]
    if missing:
        raise AdapterFormatError(f"{source}: bottleneck adapter config lacks {missing}")
    rf = cfg["reduction_factor"]
    try:
        return BottleneckConfig(reduction_factor=rf, non_linearity=act, inv_adapter=inv,
                                inv_adapter_reduction_factor=inv_rf, leave_out=tuple(cfg.get("leave_out") or ()),
                                dropout=float(cfg.get("dropout", 0.0)), scaling=float(cfg.get("scaling", 1.0)))
    except ValueError as e:
        raise AdapterFormatError(f"{source}: {e}") from e


def config_to_adapterhub(config: AdapterConfigType) -> dict[str, Any]:
    """Our config -> the full "config" dict AdapterHub 1.3.0 writes and reads."""
    if isinstance(config, LoRAConfig):
        return {**_LORA_FULL_DEFAULTS, "r": config.r, "alpha": config.alpha, "dropout": config.dropout,
                "attn_matrices": list(config.attn_matrices), "leave_out": list(config.leave_out),
                "init_weights": config.init_weights}
    rf = dict(config.reduction_factor) if isinstance(config.reduction_factor, Mapping) else config.reduction_factor
    return {**_BN_FULL_DEFAULTS, "reduction_factor": rf, "non_linearity": config.non_linearity,
            "inv_adapter": config.inv_adapter, "inv_adapter_reduction_factor": config.inv_adapter_reduction_factor,
            "leave_out": list(config.leave_out), "dropout": config.dropout, "scaling": config.scaling,
            "init_weights": config.init_weights}


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def read_adapter_config(folder: Path) -> tuple[AdapterConfigType, dict[str, Any]]:
    """adapter_config.json -> (config, the file's top-level fields)."""
    path = folder / CONFIG_NAME
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder}: no {CONFIG_NAME} (not an AdapterHub adapter folder)") from None
    except json.JSONDecodeError as e:
        raise AdapterFormatError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from e
    if not isinstance(meta, dict) or "config" not in meta or "name" not in meta:
        raise AdapterFormatError(f"{path}: expected an object with 'config' and 'name' "
                                 f"(AdapterHub adapter_config.json)")
    config = config_from_adapterhub(meta["config"], source=str(path), legacy="version" not in meta,
                                    version=meta.get("version"))
    return config, meta


# --- reading weights ---------------------------------------------------------------------------------


# --- where adapters come from ------------------------------------------------------------------------

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_HUB_FILES = [CONFIG_NAME, SAFE_WEIGHTS_NAME, WEIGHTS_NAME, HEAD_CONFIG_NAME, HEAD_WEIGHTS_NAME, SAFE_HEAD_WEIGHTS_NAME]


def resolve_adapter(path_or_hub_id: str | Path, revision: str | None = None) -> tuple[Path, dict[str, Any]]:
    """A local adapter folder, or a Hugging Face hub repo (e.g. "AdapterHub/xlm-roberta-base-de-wiki_pfeiffer")
    downloaded once with huggingface_hub into the HF cache. Returns the folder and a source record
    (for the hub: the repo id and the resolved commit)."""
    path = Path(path_or_hub_id).expanduser()
    if path.is_dir():
        return path, {"kind": "local", "path": str(path.resolve())}
    name = str(path_or_hub_id)
    if name.startswith((".", "/", "~")) or not _HUB_ID.match(name):
        raise FileNotFoundError(f"adapter {name!r}: no such local folder, and not a Hugging Face hub id (owner/name)")
    import huggingface_hub as hf
    from huggingface_hub.errors import (HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    try:
        folder = Path(hf.snapshot_download(name, revision=revision, allow_patterns=_HUB_FILES))
    except (RepositoryNotFoundError, RevisionNotFoundError) as e:
        raise FileNotFoundError(f"adapter {name!r}: the Hugging Face hub has no such repository or revision "
                                f"({type(e).__name__})") from e
    except (LocalEntryNotFoundError, OSError, HfHubHTTPError) as e:
        raise FileNotFoundError(
            f"adapter {name!r}: not a local folder, and it could not be downloaded from the Hugging Face hub "
            f"(offline or unreachable, and not in the local HF cache; HF_HUB_OFFLINE={_env('HF_HUB_OFFLINE')}). "
            f"Download it once with internet access, or pass a local folder. ({type(e).__name__})"
        ) from e
    if not (folder / CONFIG_NAME).is_file():
        raise FileNotFoundError(f"adapter {name!r}: the hub repository has no {CONFIG_NAME} "
                                f"(not an AdapterHub adapter)")
    # snapshot folders are named by the commit they hold: that is the resolved revision
    return folder, {"kind": "hub", "repo_id": name, "revision": folder.name, "requested_revision": revision,
                    "path": str(folder)}


def _env(name: str) -> str:
    return os.environ.get(name, "<unset>")


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
    folder, source = resolve_adapter(path_or_hub_id, revision)
    config, meta = read_adapter_config(folder)
    saved_name = str(meta["name"])
    state, weights_path = read_weights(folder, SAFE_WEIGHTS_NAME, WEIGHTS_NAME, AdapterFormatError)
    hidden = enc.config.hidden_size
    if meta.get("hidden_size") is not None and int(meta["hidden_size"]) != hidden:
        raise AdapterFormatError(f"{folder / CONFIG_NAME}: the adapter was made for hidden size {meta['hidden_size']}, "
                                 f"but the model has hidden size {hidden}")
    ours = _map_adapter_keys(state, saved_name, weights_path)
    if leave_out:  # drop layers after loading, as AdapterHub does
        config = dataclasses.replace(config, leave_out=tuple(sorted(set(config.leave_out) | set(leave_out))))
    _check_layers(ours, config, enc.config.num_hidden_layers, weights_path)
    ours = {k: v for k, v in ours.items() if _layer_of(k) not in set(leave_out or ())}
    role = role or ROLE_OF_TYPE.get(meta.get("type", "")) or default_role(config)
    if role == "task" and getattr(config, "inv_adapter", None) and not any(k.startswith("invertible.") for k in ours):
        # old default configs named an invertible adapter that task adapters never had
        # (AdapterLoader._fix_legacy_config)
        config = dataclasses.replace(config, inv_adapter=None, inv_adapter_reduction_factor=None)

    load_name = name or saved_name
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
        "version": f"funfisher.{_funfisher_version()}",
    }
    (folder / CONFIG_NAME).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
    state = adapter_state_dict(enc, name, prefix=prefix)
    _write_weights(folder, state, SAFE_WEIGHTS_NAME if safetensors else WEIGHTS_NAME, safetensors)
    if with_head:
        save_head(model, folder, safetensors=safetensors, model_name=model_name)
    return folder


def _write_weights(folder: Path, state: dict[str, torch.Tensor], filename: str, safetensors: bool) -> None:
    if safetensors:
        from safetensors.torch import save_file

        save_file(state, str(folder / filename))
    else:
        torch.save(state, folder / filename)


def _funfisher_version() -> str:
    from .. import __version__

    return __version__


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
# (arch, kind) -> [(HF key template, our head key template)], like KEY_TABLE
HEAD_KEY_TABLE: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("bert", "classification"): [("bert.pooler.dense.{param}", "pool.dense.{param}"),
                                 ("classifier.{param}", "out.{param}")],
    ("xlm-roberta", "classification"): [("classifier.dense.{param}", "pool.dense.{param}"),
                                        ("classifier.out_proj.{param}", "out.{param}")],
    ("bert", "multiple_choice"): [("bert.pooler.dense.{param}", "pool.dense.{param}"),
                                  ("classifier.{param}", "out.{param}")],
    ("xlm-roberta", "multiple_choice"): [("roberta.pooler.dense.{param}", "pool.dense.{param}"),
                                         ("classifier.{param}", "out.{param}")],
    ("bert", "qa"): [("qa_outputs.{param}", "out.{param}")],
    ("xlm-roberta", "qa"): [("qa_outputs.{param}", "out.{param}")],
    ("bert", "mlm"): [("cls.predictions.transform.dense.{param}", "transform.{param}"),
                      ("cls.predictions.transform.LayerNorm.{param}", "norm.{param}"),
                      ("cls.predictions.bias", "bias")],
    ("xlm-roberta", "mlm"): [("lm_head.dense.{param}", "transform.{param}"),
                             ("lm_head.layer_norm.{param}", "norm.{param}"),
                             ("lm_head.bias", "bias")],
}
# Head-file keys we read past: the MLM decoder is tied to the word embeddings (its bias is `bias`).
_HEAD_IGNORED = re.compile(r"(cls\.predictions|lm_head)\.decoder\.(weight|bias)")


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
        state[("cls.predictions" if arch == "bert" else "lm_head") + ".decoder.bias"] = state[
            "cls.predictions.bias" if arch == "bert" else "lm_head.bias"].clone()
    num_labels = _num_labels(head, kind)
    meta = {
        "config": None, "hidden_size": enc.config.hidden_size, "model_class": HEAD_CLASSES[(arch, kind)],
        "model_name": model_name, "model_type": arch, "name": None, "version": f"funfisher.{_funfisher_version()}",
    }
    if num_labels is not None:
        meta["num_labels"] = num_labels
        meta["label2id"] = {f"LABEL_{i}": i for i in range(num_labels)}
    (folder / HEAD_CONFIG_NAME).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
    _write_weights(folder, state, SAFE_HEAD_WEIGHTS_NAME if safetensors else HEAD_WEIGHTS_NAME, safetensors)
    return folder


def _num_labels(head: nn.Module, kind: str) -> int | None:
    if kind in ("classification", "multiple_choice"):
        return head.out.out_features
    if kind == "qa":
        return 2
    return None


def load_head(model: nn.Module, path: str | Path) -> None:
    """Load head files written by AdapterHub (static HF head classes) or by `save_head` into a TaskModel's head.

    Every key must belong to the head; keys the file lacks keep their current values only for
    BERT's pooler (AdapterHub's head files do not contain it: it stays the pretrained pooler).
    """
    head, kind, arch = _task_model(model)
    folder = Path(path)
    cfg_path = folder / HEAD_CONFIG_NAME
    if cfg_path.is_file():
        meta = json.loads(cfg_path.read_text(encoding="utf-8"))
        expected = HEAD_CLASSES[(arch, kind)]
        if meta.get("model_class") != expected:
            raise AdapterFormatError(f"{cfg_path}: the head is a {meta.get('model_class')!r} head, but this model "
                                     f"needs {expected!r} (funfisher reads the heads of HF's static head classes, "
                                     f"not AdapterHub flex heads)")
    state, where = read_weights(folder, SAFE_HEAD_WEIGHTS_NAME, HEAD_WEIGHTS_NAME, AdapterFormatError)
    table = HEAD_KEY_TABLE[(arch, kind)]
    ours: dict[str, torch.Tensor] = {}
    unknown = []
    for key, tensor in state.items():
        mapped = translate(key, table, to_ours=True)
        if mapped is not None:
            ours[mapped] = tensor
        elif not _HEAD_IGNORED.fullmatch(key):
            unknown.append(key)
    if unknown:
        raise AdapterFormatError(f"{where}: key(s) that are not part of a {kind} head: {unknown[:10]}")
    pooler_in_base = arch == "bert" or kind == "multiple_choice"  # HF keeps these poolers in the base model
    load_strict(head, ours, source=str(where), optional_prefixes=("pool.",) if pooler_in_base else ())


__all__ = ["load_adapter", "save_adapter", "save_head", "load_head", "resolve_adapter", "read_adapter_config",
           "config_from_adapterhub", "config_to_adapterhub", "adapter_state_dict", "adapterhub_to_ours",
           "ours_to_adapterhub", "normalize_adapterhub_key", "AdapterFormatError", "KEY_TABLE", "HEAD_KEY_TABLE",
           "HEAD_CLASSES", "LEGACY_MODULE_NAMES", "CONFIG_NAME", "WEIGHTS_NAME", "SAFE_WEIGHTS_NAME"]
