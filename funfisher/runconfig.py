"""Run configuration: TOML files (stdlib tomllib) + `--set key=value` overrides, checked against dataclasses.

A config file has one table per dataclass below (`[model]`, `[adapters]`, `[task]`, `[train]`,
`[schedule]`, `[fisher]`) plus top-level `name` and `seed`. Every key is checked: a typo is an
error naming the file and the key (with a suggestion), never silently ignored.

Per-schedule sections. The paper tunes some settings per schedule (Tables 3, 4 and 15: k, and for
COPA and XLM-R SQuAD the epochs and learning rate of the scheduled runs). A file may therefore hold

    [schedules.gu]            # applied only when the run's schedule is gu
    schedule = {k = 50}
    train = {epochs = 5000, lr = 1e-5}

with tables `train`, `schedule` and `fisher` that override the file's own values for that
schedule. Precedence, lowest to highest: defaults < the file < `[schedules.<name>]` < `--set`.
Every section is checked when the file is read, used or not, so a typo in `[schedules.fun]`
fails a `--schedule gu` run too, before any work starts.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ModelConfig:
    name: str = "multilingual-e5-small"  # local folder, offline package name, or HF hub id
    arch: str | None = None  # None: from config.json; "bert" or "xlm-roberta"


@dataclass
class AdapterConfig:
    kind: str = "bottleneck"  # bottleneck (MAD-X task adapter) | lora | full (full fine-tuning baseline)
    reduction_factor: int = 16
    lora_r: int = 8
    lora_alpha: float = 8.0
    # language code -> local folder or hub id of a MAD-X language adapter. Empty: no language
    # adapters (e.g. the offline e5 model, for which none exist); the task adapter runs alone.
    language_adapters: dict[str, str] = field(default_factory=dict)
    source_language: str = "en"


@dataclass
class DataSplit:
    dataset: str = "xnli"
    split: str = "dev"
    languages: list[str] = field(default_factory=lambda: ["en"])
    n: int | None = None  # seeded subsample of N examples (the paper's 1k / 5k / 10k)
    exclude_xquad: bool = False  # SQuAD-dev training: drop the 240 paragraphs XQuAD was translated from


@dataclass
class TaskConfig:
    kind: str = "classification"  # classification | multiple_choice | qa
    num_labels: int = 3
    max_length: int = 128
    doc_stride: int = 128  # QA windows
    data_dir: str | None = None  # None: $FUNFISHER_DATA
    train: DataSplit = field(default_factory=lambda: DataSplit(split="test", n=1000))
    validation: DataSplit = field(default_factory=DataSplit)
    evaluate: DataSplit = field(default_factory=DataSplit)
    eval_n: int | None = None  # limit evaluation examples per language (for quick runs)


@dataclass
class TrainConfig:
    epochs: float = 1.0
    max_steps: int | None = None  # overrides epochs
    batch_size: int = 32
    eval_batch_size: int = 64
    lr: float = 5e-4
    lr_schedule: str = "linear"  # linear (decay to 0, no warmup) | constant
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    eval_every: int = 100  # English validation every N steps (best checkpoint selection)
    checkpoint_every: int = 100
    threads: int = 2
    device: str = "cpu"  # cpu | cuda | cuda:N | mps | auto (cuda if available, else cpu)


@dataclass
class ScheduleConfig:
    name: str = "standard"  # standard | lpft | gu | revgu | random | fun | surgical | fixed
    k: int = 50
    seed: int | None = None  # random
    order: list[int] | None = None  # fixed (every unit, in unfreezing order)
    units: list[int] | None = None  # surgical
    m: int | None = None  # fun: units per selection
    # random, fun: what is trainable at step 0. None = "top" (the top unit, as the paper's
    # Section 5.2 and the released code); "random" (random) or "fisher" (fun) choose it at step 0.
    first: str | None = None


@dataclass
class FisherConfig:
    labels: str = "sample"  # sample (true Fisher) | argmax | gold (empirical Fisher)
    method: str = "hooks"  # hooks | vmap | loop | batch (Algorithm 2)
    max_batches: int = 40
    min_batches: int = 1
    confidence: float = 0.95
    tolerance: float = 0.1  # FUN: gaps confidently below 10% of the leader's tr(F) count as ties
    batch_size: int = 32
    track_every: int = 100  # tr(F) tracking through training (0: off)


@dataclass
class RunConfig:
    name: str = "run"
    seed: int = 42
    model: ModelConfig = field(default_factory=ModelConfig)
    adapters: AdapterConfig = field(default_factory=AdapterConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    fisher: FisherConfig = field(default_factory=FisherConfig)


class ConfigError(ValueError):
    pass


#: The tables a `[schedules.<name>]` section may override.
SECTION_TABLES = ("train", "schedule", "fisher")


def parse_override(text: str) -> tuple[list[str], Any]:
    """`train.lr=1e-4` -> (["train", "lr"], 1e-4). Values are TOML (numbers, true, [1, 2], "x");
    anything that is not valid TOML is taken as a plain string (so `model.name=xlm-roberta-base` works)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key=value")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip().split("."), value


def _set(tree: dict, path: list[str], value: Any) -> None:
    for part in path[:-1]:
        tree = tree.setdefault(part, {})
        if not isinstance(tree, dict):
            raise ConfigError(f"--set {'.'.join(path)}: {part} is not a table")
    tree[path[-1]] = value


def _build(cls, values: dict, where: str):
    """Build dataclass `cls` from a dict, checking keys and types; `where` names the source for errors."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for f in dataclasses.fields(cls):  # a partial sub-table overrides only the keys it names
        if dataclasses.is_dataclass(hints[f.name]) and isinstance(values.get(f.name), dict):
            values = {**values, f.name: {**dataclasses.asdict(f.default_factory()), **values[f.name]}}
    for key, value in values.items():
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(known))})"
            raise ConfigError(f"{where}: unknown key {key!r}{hint}")
        kwargs[key] = _coerce(hints[key], value, f"{where}.{key}")
    return cls(**kwargs)


def _coerce(hint, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return _build(hint, value, where)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None or (isinstance(value, str) and value == "" and type(None) in args):
            return None  # TOML has no null: "" means None for optional fields
        return _coerce(next(a for a in args if a is not type(None)), value, where)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return {str(k): _coerce(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if hint in (int, float, str, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def load_config(path: str | Path | None, overrides: list[str] = ()) -> RunConfig:
    """Read a TOML config (or start from the defaults), apply the `[schedules.<name>]` section of
    the run's schedule, then the `key=value` overrides (module docstring: precedence)."""
    tree: dict = {}
    where = "defaults"
    if path is not None:
        path = Path(path)
        where = str(path)
        try:
            tree = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise ConfigError(f"{path}: config file not found") from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from e
    sections = _check_sections(tree.pop("schedules", {}), where)
    parsed = [parse_override(text) for text in overrides]
    with_overrides = copy.deepcopy(tree)
    for keys, value in parsed:
        _set(with_overrides, keys, value)
    name = with_overrides.get("schedule", {}).get("name", ScheduleConfig.name)
    merged = _merge(tree, sections.get(name, {}))
    for keys, value in parsed:
        _set(merged, keys, value)
    return _build(RunConfig, merged, where)


def _check_sections(sections: Any, where: str) -> dict[str, dict]:
    """`[schedules.<name>]` tables: known schedule names, only train/schedule/fisher inside, and
    every key valid (checked by building a config from each section alone)."""
    from .schedules import SCHEDULES

    if not isinstance(sections, dict):
        raise ConfigError(f"{where}: 'schedules' must hold tables [schedules.<name>], got {sections!r}")
    for name, section in sections.items():
        at = f"{where}: [schedules.{name}]"
        if name not in SCHEDULES:
            close = difflib.get_close_matches(name, SCHEDULES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (schedules: {', '.join(SCHEDULES)})"
            raise ConfigError(f"{at}: unknown schedule {name!r}{hint}")
        if not isinstance(section, dict):
            raise ConfigError(f"{at}: expected a table, got {section!r}")
        for table, values in section.items():
            if table not in SECTION_TABLES:
                raise ConfigError(f"{at}: a schedule section may set {', '.join(SECTION_TABLES)}, not {table!r}")
            if not isinstance(values, dict):
                raise ConfigError(f"{at}.{table}: expected a table, got {values!r}")
        if "name" in section.get("schedule", {}):
            raise ConfigError(f"{at}: schedule.name is the section's own name; remove it")
        _build(RunConfig, section, at)
    return sections


def _merge(base: dict, top: dict) -> dict:
    """`base` with `top`'s values on top (tables merged key by key, recursively)."""
    out = copy.deepcopy(base)
    for key, value in top.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def to_dict(config: RunConfig) -> dict:
    return dataclasses.asdict(config)


def from_dict(tree: dict, where: str = "a configuration dict") -> RunConfig:
    """The inverse of `to_dict`, every key checked as in a file (e.g. the config in results.json)."""
    return _build(RunConfig, tree, where)


def to_toml(value: dict, prefix: str = "") -> str:
    """Write a config dict back as TOML, every key included: None is written as "" (which
    `load_config` reads back as None), so the text is the complete resolved configuration."""
    scalars, tables = [], []
    for key, v in value.items():
        if isinstance(v, dict):
            tables.append((key, v))
        else:
            scalars.append(f"{key} = {_toml_value(v)}")
    out = "\n".join(scalars)
    for key, v in tables:
        name = f"{prefix}{key}"
        out += f"\n\n[{name}]\n" + to_toml(v, prefix=f"{name}.").strip()
    return out.strip() + "\n"


def _toml_value(v: Any) -> str:
    if v is None:
        return '""'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")
