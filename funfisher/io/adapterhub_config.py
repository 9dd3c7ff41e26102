"""AdapterHub's adapter config dialect: its "config" dicts (and config names) <-> our configs.

`config_from_adapterhub` reads what adapter_config.json holds under "config" (AdapterHub 1.3.0,
and the older adapter-transformers forms: activation names, the nested invertible adapter) into a
`BottleneckConfig` or `LoRAConfig`, refusing options funfisher does not implement;
`config_to_adapterhub` writes the full dict AdapterHub 1.3.0 rebuilds exactly our architecture from.

`PRESETS` are AdapterHub's config names ("seq_bn", "seq_bn_inv", "lora", ...), which are also
the names `add_adapter` takes. This module depends only on adapters/bottleneck.py and
adapters/lora.py. Both adapters/registry.py (`add_adapter` accepts a config name or an AdapterHub
config dict) and io/adapterhub.py (the folder format) import it, so imports run one way:
io/adapterhub -> adapters/registry -> io/adapterhub_config -> adapters/bottleneck, adapters/lora.
"""
from __future__ import annotations

import math
import re
from typing import Any, Mapping

from ..adapters.bottleneck import BottleneckConfig
from ..adapters.lora import LoRAConfig
from ..errors import ModelFileError


class AdapterFormatError(ModelFileError):
    """An adapter folder or file that does not fit the model, or uses options we do not implement
    (a `funfisher.errors.UserError`, and a ValueError)."""


# Old configs (no "version" field): the activation names of adapter-transformers (AdapterHub's ACTIVATION_RENAME).
LEGACY_ACTIVATIONS: dict[str, str] = {"gelu": "gelu_new", "gelu_orig": "gelu"}

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
# Config names AdapterHub accepts in place of a dict (its ADAPTER_CONFIG_MAP, old names too; seq_bn_inv
# also has rf 16), as (our config class, fields that differ from its defaults). Overrides come as
# keywords: e.g. the MAD-X language adapter is add_adapter(model, "de", "seq_bn_inv", reduction_factor=2).
PRESETS: dict[str, tuple[type, dict[str, Any]]] = {
    "seq_bn": (BottleneckConfig, {}),
    "pfeiffer": (BottleneckConfig, {}),
    "seq_bn_inv": (BottleneckConfig, {"inv_adapter": "nice", "inv_adapter_reduction_factor": 2}),
    "pfeiffer+inv": (BottleneckConfig, {"inv_adapter": "nice", "inv_adapter_reduction_factor": 2}),
    "lora": (LoRAConfig, {}),
}


# AdapterHub's BnConfig defaults for fields a file may omit (mh_adapter / output_adapter have none: required).
# Note original_ln_before: the *base* default is False (Houlsby-style), only SeqBnConfig sets True.
_BN_BASE_DEFAULTS: dict[str, Any] = {
    "original_ln_before": False, "original_ln_after": True, "residual_before_ln": True, "ln_before": False,
    "ln_after": False, "is_parallel": False, "use_gating": False, "phm_layer": False, "stochastic_depth": 0.0,
    "cross_adapter": False,
}

# Bounds far beyond real adapters (reduction factors 2..64, ranks 1..64) that keep every size torch builds
# from a file describable: a bottleneck is hidden_size / reduction_factor.
_MIN_REDUCTION = 1 / 256
_MAX_SIZE = 2**24


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
                           version: str | None = None) -> BottleneckConfig | LoRAConfig:
    """AdapterHub's "config" entry -> BottleneckConfig or LoRAConfig.

    legacy: the file has no "version" field (adapter-transformers): rename its activation names.
    Fields that only matter for a fresh initialization (init_weights, init_weights_seed) are ignored.
    Every problem (an unknown name or option, a value of the wrong type) is an `AdapterFormatError`
    naming `source` and the field.
    """
    if isinstance(cfg, str):
        if cfg not in PRESETS:
            raise AdapterFormatError(f"{source}: unknown adapter config name {cfg!r}; "
                                     f"expected one of {sorted(PRESETS)}")
        cls, fields = PRESETS[cfg]
        return cls(**fields)
    if not isinstance(cfg, Mapping):
        raise AdapterFormatError(f"{source}: 'config' must be an adapter config name or an object, got {cfg!r}")
    cfg = dict(cfg)
    arch = cfg.get("architecture")
    if arch == "lora":
        _check_options(cfg, _LORA_REQUIRED, _LORA_REQUIRED, source, "LoRA")
        if cfg.get("dtype") not in (None, "float32"):
            raise AdapterFormatError(f"{source}: LoRA dtype {cfg['dtype']!r} is not supported "
                                     f"(expected null or 'float32')")
        r = _field(cfg, "r", 8, lambda v: _is_int(v) and v <= _MAX_SIZE, f"an integer from 1 to {_MAX_SIZE}", source)
        alpha = _field(cfg, "alpha", 8, _is_number, "a number", source)
        old_library = (isinstance(version, str) and version.startswith("adapters.")
                       and _version_tuple(version) < (1, 1, 0))
        if old_library and r != alpha:
            alpha = r  # the faulty-scaling fix of adapters >= 1.1.0 (AdapterLoader._fix_backward_compat)
        matrices = _field(cfg, "attn_matrices", ["q", "v"], lambda v: isinstance(v, (list, tuple))
                          and all(isinstance(m, str) for m in v), "a list of 'q', 'k', 'v'", source)
        return _build(LoRAConfig, source, r=r, alpha=alpha, dropout=_dropout(cfg, source),
                      attn_matrices=tuple(matrices), leave_out=_leave_out(cfg, source))
    if arch is not None:
        raise AdapterFormatError(f"{source}: adapter architecture {arch!r} is not supported; "
                                 f"funfisher implements bottleneck (seq_bn, seq_bn_inv) and 'lora'")
    _check_options(cfg, _BN_REQUIRED, _BN_BASE_DEFAULTS, source, "bottleneck adapter")
    scaling = cfg.get("scaling", 1.0)
    if not _is_number(scaling):
        raise AdapterFormatError(f"{source}: scaling {scaling!r} is not supported (only a constant number)")
    inv, inv_rf = cfg.get("inv_adapter"), cfg.get("inv_adapter_reduction_factor")
    nested = cfg.get("invertible_adapter")
    if nested:  # adapter-transformers v1: {"block_type": "nice", "non_linearity": ..., "reduction_factor": 2}
        if not isinstance(nested, Mapping):
            raise AdapterFormatError(f"{source}: 'invertible_adapter' must be an object or null, got {nested!r}")
        inv, inv_rf = nested.get("block_type"), nested.get("reduction_factor")
    if not (inv is None or isinstance(inv, str)):
        raise AdapterFormatError(f"{source}: 'inv_adapter' must be null or 'nice', got {inv!r}")
    if not (inv_rf is None or _is_number(inv_rf) and inv_rf >= _MIN_REDUCTION):
        raise AdapterFormatError(f"{source}: the invertible adapter's reduction factor must be a number >= "
                                 f"{_MIN_REDUCTION} or null, got {inv_rf!r}")
    act = _field(cfg, "non_linearity", "relu", lambda v: isinstance(v, str), "an activation name", source)
    if legacy:
        act = LEGACY_ACTIVATIONS.get(act, act)
    missing = [k for k in ("reduction_factor",) if k not in cfg]
    if missing:
        raise AdapterFormatError(f"{source}: bottleneck adapter config lacks {missing}")
    rf = cfg["reduction_factor"]
    positive = lambda v: _is_number(v) and v >= _MIN_REDUCTION  # noqa: E731
    if not (positive(rf) or isinstance(rf, Mapping) and rf and all(isinstance(k, str) and positive(v)
                                                                    for k, v in rf.items())):
        raise AdapterFormatError(f"{source}: 'reduction_factor' must be a number >= {_MIN_REDUCTION} or an object "
                                 f"of them by layer (e.g. {{\"0\": 8, \"default\": 16}}), got {rf!r}")
    return _build(BottleneckConfig, source, reduction_factor=rf, non_linearity=act, inv_adapter=inv,
                  inv_adapter_reduction_factor=inv_rf, leave_out=_leave_out(cfg, source),
                  dropout=_dropout(cfg, source), scaling=float(scaling))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _field(cfg: Mapping[str, Any], key: str, default: Any, ok: Any, expected: str, source: str) -> Any:
    value = cfg.get(key, default)
    if not ok(value):
        raise AdapterFormatError(f"{source}: {key!r} must be {expected}, got {value!r}")
    return value


def _dropout(cfg: Mapping[str, Any], source: str) -> float:
    return float(_field(cfg, "dropout", 0.0, lambda v: _is_number(v) and 0 <= v <= 1, "a number from 0 to 1",
                        source))


def _leave_out(cfg: Mapping[str, Any], source: str) -> tuple[int, ...]:
    value = cfg.get("leave_out") or []
    if not isinstance(value, (list, tuple)) or not all(_is_int(i) and i >= 0 for i in value):
        raise AdapterFormatError(f"{source}: 'leave_out' must be a list of layer numbers (0, 1, ...), got {value!r}")
    return tuple(value)


def _build(cls: type, source: str, **fields: Any) -> BottleneckConfig | LoRAConfig:
    """The config dataclass; its own checks (an unknown activation, a rank < 1, ...) name `source`."""
    try:
        return cls(**fields)
    except ValueError as e:
        raise AdapterFormatError(f"{source}: {e}") from e


def config_to_adapterhub(config: BottleneckConfig | LoRAConfig) -> dict[str, Any]:
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


__all__ = ["config_from_adapterhub", "config_to_adapterhub", "AdapterFormatError", "LEGACY_ACTIVATIONS", "PRESETS"]
