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

Per-size sections. The reduced-data runs (Table 4, Appendix G.3) tune k per training-set size, so
one file may hold every size (`load_config(path, overrides, train_size=N)`, train.py --train-sizes):

    [train_sizes.1000]                  # applied when the run trains on 1000 examples
    schedule = {k = 1}
    [train_sizes.1000.schedules.fun]    # ... and its schedule is fun
    schedule = {k = 10}

A `[train_sizes.<n>]` section holds tables `train`, `schedule`, `fisher` (as a schedule section)
and `[train_sizes.<n>.schedules.<name>]` sections. With `train_size=N` the run's task.train.n is N
and, lowest to highest: defaults < the file < `[schedules.<name>]` < `[train_sizes.<N>]` <
`[train_sizes.<N>.schedules.<name>]` < `--set`. Without `train_size` the sections are not applied
(the file's own values and task.train.n). A size the file has no section for is allowed: it gets
the file's values (and task.train.n = N), exactly as a file without train_sizes sections would;
train.py --train-sizes says so in a note on stderr.

Checks. A configuration is checked whole when it is loaded (`load_config`, `from_dict`), before any
work starts: each value's type (`_coerce`), its range or choices (`RULES`, one line per key), and
the rules that tie keys together (`_check_together`: the datasets against task.kind, their splits
and languages (and, with a hub source, the splits the hub has), doc_stride < max_length,
min_batches <= max_batches, the schedule's options). A bad
value is one `ConfigError` naming where it was set (the file and line, a `[schedules.<name>]`
section, or --set), the key, the value and what is allowed:

    my_run.toml line 12: train.max_grad_norm = -1.0: must be > 0
    --set: train.max_steps = 0: must be >= 1 or unset ("")

Every `[schedules.<name>]` section is checked in its own schedule's configuration (defaults < file <
section < --set), used or not, so a bad value or a typo in `[schedules.fun]` fails a
`--schedule gu` run too; likewise every `[train_sizes.<n>]` section, at its size, for the run's
schedule and for every schedule with a section (its own or the file's). Only the schedule options
(seed, order, units, m, first) depend on which schedule runs: they are checked in full for the
run's schedule, and in another schedule's section only where that section sets them. What needs
the model or the machine (unit ids against the number of layers, whether a device exists, model
and data files) is checked when the run starts (`schedules.make_schedule`, `train.recipe`).
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import math
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple, NoReturn

from .data.hub_datasets import LAYOUTS, LOCAL, SOURCE_RULE, is_source
from .data.registry import DATASETS
from .errors import UserError
from .fisher import LABEL_MODES, METHODS
from .model.config import ARCHS
from .model.precision import PRECISIONS
from .schedules import FIRST, SCHEDULES, schedule_options
from .tasks import TASKS


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
    # where the files come from: "local" (task.data_dir), "hub" (the dataset's canonical Hugging Face
    # dataset repo, Parquet; data/hub_datasets.py) or an owner/name dataset repo in that layout
    source: str = LOCAL


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
    precision: str = "fp32"  # fp32 | bf16 (autocast; weights and optimizer fp32) | fp16 (CUDA, loss scaling)
    tensorboard: bool = False  # also write the run's records as TensorBoard scalars (io/tensorboard.py)


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


class ConfigError(UserError, ValueError):
    """A config file, key or value that cannot be used; the message says where (file and line,
    section, --set), which key, its value and what is allowed."""


#: The tables a `[schedules.<name>]` section may override.
SECTION_TABLES = ("train", "schedule", "fisher")
#: A `[train_sizes.<n>]` section's name: a training-set size (task.train.n), e.g. 1000.
TRAIN_SIZE = re.compile(r"[1-9][0-9]*")
#: The schedule options: what `train.recipe` passes to `schedules.make_schedule` besides name and k.
SCHEDULE_OPTIONS = tuple(f.name for f in dataclasses.fields(ScheduleConfig) if f.name not in ("name", "k"))


# ================================================================================================
# What each value may be
# ================================================================================================
# Choices kept here because no other module has them as a list: train/trainable.py (kind_of) and
# train/recipe.py (prepare) branch on these names and could import them from here. The other
# choices come from where they are defined: ARCHS (model.config), TASKS (tasks), DATASETS
# (data.registry), SCHEDULES and FIRST (schedules), LABEL_MODES and METHODS (fisher).
ADAPTER_KINDS = ("bottleneck", "lora", "full")
LR_SCHEDULES = ("linear", "constant")
DEVICE = re.compile(r"cpu|cuda(:[0-9]+)?|mps|auto")  # syntax only; train.recipe.resolve_device checks it exists
# The shortest input worth encoding: the special tokens alone take 3 positions with BERT ([CLS] a
# [SEP] b [SEP]) and 4 with XLM-R (<s> a </s></s> b </s>); the tokenizers library fails when they
# do not fit, and a sentence pair, a COPA choice or a QA window needs a few more for any text at all.
MIN_LENGTH = 8


class Rule(NamedTuple):
    """`ok(value)`: whether a value is allowed; `allowed`: what the error says it must be."""

    ok: Callable[[Any], bool]
    allowed: str
    choices: tuple[str, ...] = ()  # a choice rule: a typo gets the closest choice as a suggestion


def number(ok: Callable[[Any], bool], allowed: str) -> Rule:
    """A rule on a number; NaN and infinity never pass (TOML allows `nan` and `inf`)."""
    return Rule(lambda v: _finite(v) and ok(v), allowed)


def at_least(low: int) -> Rule:
    return number(lambda v: v >= low, f">= {low}")


def above(low: int) -> Rule:
    return number(lambda v: v > low, f"> {low}")


def one_of(choices) -> Rule:
    choices = tuple(choices)
    return Rule(lambda v: v in choices, f"one of {_quoted(choices)}", choices)


def _finite(value: Any) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


def _distinct(items: list) -> bool:
    return len(set(items)) == len(items)


def _did_you_mean(value: Any, choices) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1) if isinstance(value, str) and choices else []
    return f' (did you mean "{close[0]}"?)' if close else ""


def _quoted(choices) -> str:
    return ", ".join(f'"{c}"' for c in choices)


ANY = Rule(lambda v: True, "anything")  # the type says it all, or _check_together checks it
TEXT = Rule(lambda v: v.strip() != "", "a non-empty string")
RUN_NAME = Rule(lambda v: v.strip() != "" and v.isprintable() and not set(v) & set("/\\") and v not in (".", ".."),
                'a folder name (runs/<name>): not empty, printable, no "/" or "\\", not "." or ".."')
LANGUAGES = Rule(lambda v: len(v) > 0 and _distinct(v), "a non-empty list of languages, each listed once")
UNIT_IDS = Rule(lambda v: all(u >= 0 for u in v) and _distinct(v),  # the model's layer count: when the run starts
                "a list of distinct unit ids >= 0 (layer indices)")
LANGUAGE_ADAPTERS = Rule(lambda v: all(lang.strip() and where.strip() for lang, where in v.items()),
                         'a table of language = "adapter folder or hub id", nothing empty')

#: One rule per key of every config dataclass (a nested dataclass's keys have their own entry).
#: An optional key may also be unset (None; "" in TOML): the rule checks a value that is set.
RULES: dict[type, dict[str, Rule]] = {
    RunConfig: {"name": RUN_NAME, "seed": at_least(0)},
    ModelConfig: {"name": TEXT, "arch": one_of(ARCHS)},
    AdapterConfig: {
        "kind": one_of(ADAPTER_KINDS),
        "reduction_factor": at_least(1),
        "lora_r": at_least(1),
        "lora_alpha": above(0),
        "language_adapters": LANGUAGE_ADAPTERS,
        "source_language": TEXT,  # with language adapters: one of them (_check_together)
    },
    TaskConfig: {
        "kind": one_of(TASKS),  # every dataset's kind (_check_together)
        "num_labels": at_least(1),  # classification: the dataset's number of labels (_check_together)
        "max_length": at_least(MIN_LENGTH),
        "doc_stride": at_least(1),  # qa: < max_length (_check_together)
        "data_dir": TEXT,
        "eval_n": at_least(1),
    },
    DataSplit: {  # task.train, task.validation, task.evaluate
        "dataset": one_of(DATASETS),
        "split": ANY,  # one of the dataset's splits (_check_together)
        "languages": LANGUAGES,  # each one of the dataset's languages (_check_together)
        "n": at_least(1),
        "exclude_xquad": ANY,  # only for squad (_check_together)
        "source": Rule(is_source, SOURCE_RULE, ("local", "hub")),  # the split on the hub: _check_together
    },
    TrainConfig: {
        "epochs": above(0),
        "max_steps": at_least(1),  # unset: train.epochs decides
        "batch_size": at_least(1),
        "eval_batch_size": at_least(1),
        "lr": above(0),
        "lr_schedule": one_of(LR_SCHEDULES),
        "weight_decay": at_least(0),
        "max_grad_norm": above(0),
        "eval_every": at_least(1),
        "checkpoint_every": at_least(1),
        "threads": at_least(1),
        "device": Rule(lambda v: DEVICE.fullmatch(v) is not None, "cpu, cuda, cuda:N, mps or auto"),
        "precision": one_of(PRECISIONS),  # fp16 needs a CUDA device (_check_together; "auto": model/precision.py)
        "tensorboard": ANY,  # the package is checked when a run starts (train.recipe.prepare)
    },
    ScheduleConfig: {  # which options a schedule takes, and FIRST's choices: _check_schedule_options
        "name": one_of(SCHEDULES),
        "k": at_least(1),
        "seed": ANY,  # random's permutation seed: any integer (schedules.check_seed)
        "order": UNIT_IDS,
        "units": UNIT_IDS,
        "m": at_least(1),
        "first": ANY,  # one of FIRST[schedule.name] (_check_together)
    },
    FisherConfig: {
        "labels": one_of(LABEL_MODES),
        "method": one_of(METHODS),
        "max_batches": at_least(1),
        "min_batches": at_least(1),  # <= max_batches (_check_together)
        "confidence": number(lambda v: 0.5 < v < 1, "> 0.5 and < 1"),
        "tolerance": number(lambda v: 0 <= v < 1, ">= 0 and < 1"),
        "batch_size": at_least(1),
        "track_every": at_least(0),  # 0: no tracking
    },
}


def _check(config: RunConfig, sources: _Sources, options: set[str] | None = None) -> None:
    """Every rule on a built configuration; the first broken one is a ConfigError. `options`: the
    schedule options to check (None: all, for the run's own schedule; _check_schedule_options)."""
    report = _Report(config, sources)
    for key, cls, name, value in _values(config):
        rule = RULES[cls][name]
        if value is None or rule.ok(value):
            continue
        finite = "" if _finite(value) else "a finite number "
        unset = ' or unset ("")' if _optional(cls, name) else ""
        report.fail(key, f"must be {finite}{rule.allowed}{unset}{_did_you_mean(value, rule.choices)}")
    _check_together(report)
    _check_schedule_options(report, options)


def _check_together(report: _Report) -> None:
    """The rules that involve more than one key."""
    task = report.config.task
    for role in ("train", "validation", "evaluate"):
        split, key = getattr(task, role), f"task.{role}"
        spec = DATASETS[split.dataset]
        if spec.task != task.kind:
            same_kind = [name for name, other in DATASETS.items() if other.task == task.kind]
            kind = report.show("task.kind", f"{key}.dataset")
            report.fail(f"{key}.dataset", f"is a {spec.task} dataset, but {kind}, "
                                          f"whose datasets are {', '.join(same_kind)}")
        if split.split not in spec.splits:
            report.fail(f"{key}.split", f"must be one of {_quoted(spec.splits)}, the splits of {spec.name}"
                                        f"{_did_you_mean(split.split, spec.splits)}")
        for lang in split.languages:
            if lang not in spec.languages:
                suggestion = _did_you_mean(lang, spec.languages)
                report.fail(f"{key}.languages", f'"{lang}" is not a language of {spec.name}{suggestion}; '
                                                f"it has {', '.join(spec.languages)}")
        if task.kind == "classification" and spec.num_labels is not None and task.num_labels != spec.num_labels:
            report.fail("task.num_labels", f"must be {spec.num_labels}, the number of labels of {spec.name} "
                                           f"(the dataset of {key})")
        if split.exclude_xquad and split.dataset != "squad":
            report.fail(f"{key}.exclude_xquad", f'is only for dataset "squad" (XQuAD was translated from SQuAD '
                                                f"v1.1 dev), not {spec.name}")
        layout = LAYOUTS[spec.name]
        if split.source != LOCAL and layout.refused and split.split in layout.refused:
            report.fail(f"{key}.source", f"{spec.name} {split.split} is not available from the hub: "
                                         f"{layout.refused[split.split]}")
    if task.kind == "qa" and task.doc_stride >= task.max_length:  # the overlap of two windows
        report.fail("task.doc_stride", f"must be < {report.show('task.max_length', 'task.doc_stride')}")
    train = report.config.train
    if train.precision == "fp16" and not train.device.startswith(("cuda", "auto")):
        report.fail("train.precision", f'"fp16" runs on CUDA only (loss scaling, fast fp16 matmuls), but '
                                       f'{report.show("train.device", "train.precision")}; use "bf16" or "fp32"')
    fisher = report.config.fisher
    if fisher.min_batches > fisher.max_batches:
        report.fail("fisher.min_batches", f"must be <= {report.show('fisher.max_batches', 'fisher.min_batches')}")
    adapters = report.config.adapters
    if adapters.language_adapters and adapters.source_language not in adapters.language_adapters:
        report.fail("adapters.source_language", f"must have an entry in adapters.language_adapters "
                                                f"(has {', '.join(adapters.language_adapters)})")


def _check_schedule_options(report: _Report, options: set[str] | None) -> None:
    """`make_schedule`'s option checks, made when the config loads: an option the schedule does not
    take is unset, a required one set (both from `schedules.schedule_options`), and `first` is one
    of `schedules.FIRST[name]`. `options` None: check every option (the run's own schedule); else
    only these, and no required ones (another schedule's section: the options it sets itself and
    --set does not override, as --set and the file hold options for the schedule that runs)."""
    schedule = report.config.schedule
    accepted = schedule_options(schedule.name)
    takes = ", ".join(f"schedule.{option}" for option in accepted) or "no options"
    first = FIRST.get(schedule.name, ())
    for option in SCHEDULE_OPTIONS:
        if options is not None and option not in options:
            continue
        key, value = f"schedule.{option}", getattr(schedule, option)
        if value is None:
            if accepted.get(option) and options is None:
                report.fail(key, f'is required by schedule "{schedule.name}"')
        elif option not in accepted:
            report.fail(key, f'is not used by schedule "{schedule.name}" (it takes {takes}); remove it or set it to ""')
        elif option == "first" and value not in first:
            report.fail(key, f'must be one of {_quoted(first)} for schedule "{schedule.name}"'
                             f'{_did_you_mean(value, first)}, or unset ("": "top")')


class _Report:
    """Turns a broken rule into the ConfigError: where the key was set, the key, its value, the rule."""

    def __init__(self, config: RunConfig, sources: _Sources):
        self.config, self.sources = config, sources

    def value(self, key: str) -> Any:
        obj = self.config
        for part in key.split("."):
            obj = getattr(obj, part)
        return obj

    def show(self, key: str, near: str | None = None) -> str:
        """`key = value`; with where it was set if that is not where `near` was set."""
        value = self.value(key)
        if value is None:
            return f"{key} is not set"
        text = f"{key} = {_show(value)}"
        if self.sources.layer(key) is None:
            text += " (the default)"
        elif near is not None and self.sources.layer(key) != self.sources.layer(near):
            text += f" (from {self.sources.layer(key).label()})"
        return text

    def fail(self, key: str, problem: str) -> NoReturn:
        raise ConfigError(f"{self.sources(key)}: {self.show(key)}: {problem}")


def _values(obj: Any, prefix: str = ""):
    """(dotted key, dataclass, field name, value) for every value of a configuration, in order."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from _values(value, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", type(obj), f.name, value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _optional(cls: type, name: str) -> bool:
    return type(None) in typing.get_args(_hints(cls)[name])


# ================================================================================================
# Where each value was set
# ================================================================================================
class _Layer(NamedTuple):
    """One source of values: the file, one of its [schedules.<name>] or [train_sizes.<n>...]
    sections, a train size, --set, a dict."""

    name: str  # the file's name, "--set", or what from_dict was told
    table: tuple[str, ...] | None = None  # where its keys are in the file's text (None: not in the file)
    section: str | None = None  # the section's header, e.g. "schedules.gu" or "train_sizes.1000.schedules.fun"

    def label(self, line: int | None = None) -> str:
        text = self.name + (f" line {line}" if line else "")
        return f"{text}: [{self.section}]" if self.section else text


SET = _Layer("--set")


class _Sources:
    """Which layer set each key, applied in precedence order: `sources(key)` names the file (and the
    key's line, when it can be found), a section, --set, or `base` for a key left at its default."""

    def __init__(self, base: str, text: str = ""):
        self.base, self.text = base, text
        self.layers: dict[tuple[str, ...], _Layer] = {}

    def merge(self, tree: dict, layer: _Layer) -> None:
        """`tree` merged table by table over what is there (the file, a section)."""
        for path in _leaves(tree, ()):
            self._drop(path)
            self.layers[path] = layer

    def set(self, path: tuple[str, ...], value: Any, layer: _Layer) -> None:
        """`value` put at `path`, replacing what was there (--set)."""
        self._drop(path)
        for leaf in _leaves(value, path):
            self.layers[leaf] = layer

    def _drop(self, path: tuple[str, ...]) -> None:
        for old in [p for p in self.layers if p[:len(path)] == path or path[:len(p)] == p]:
            del self.layers[old]

    def layer(self, key: str) -> _Layer | None:
        path = _path(key)
        for i in range(len(path), 0, -1):  # the key itself, or the table value it is part of
            if path[:i] in self.layers:
                return self.layers[path[:i]]
        inside = [layer for p, layer in self.layers.items() if p[:len(path)] == path]  # a table key
        return inside[-1] if inside else None  # the latest layer that set a part of it

    def __call__(self, key: str) -> str:
        layer = self.layer(key)
        if layer is None:
            return self.base
        line = _line_of(self.text, (*layer.table, *_path(key))) if layer.table is not None else None
        return layer.label(line)


def _path(key: str) -> tuple[str, ...]:
    """"task.evaluate.languages[2]" -> ("task", "evaluate", "languages")."""
    return tuple(re.sub(r"\[\d+\]", "", key).split("."))


def _leaves(value: Any, at: tuple[str, ...]):
    """The paths of `value`'s non-table values (and empty tables), below `at`."""
    if isinstance(value, dict) and (value or not at):
        for key, item in value.items():
            yield from _leaves(item, (*at, str(key)))
    else:
        yield at


_HEADER = re.compile(r"\s*\[\[?([^\[\]]*)\]\]?\s*(#.*)?$")
_KEY = re.compile(r"\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")


def _line_of(text: str, path: tuple[str, ...]) -> int | None:
    """The line that sets `path` in a TOML text, found by scanning `[table]` headers and `key =`
    lines (best effort: else the line of the inline table or table holding it, else None)."""
    table: tuple[str, ...] = ()
    best, best_depth = None, 0
    for number, line in enumerate(text.split("\n"), 1):  # TOML's lines (splitlines knows more breaks)
        if match := _HEADER.match(line):
            table = full = tuple(part.strip().strip("\"'") for part in match.group(1).split("."))
        elif match := _KEY.match(line):
            full = (*table, *(part.strip().strip("\"'") for part in match.group(1).split(".")))
        else:
            continue
        if full == path:
            return number
        if best_depth < len(full) < len(path) and path[:len(full)] == full:
            best, best_depth = number, len(full)
    return best


# ================================================================================================
# Reading: files, --set, dicts
# ================================================================================================
def parse_override(text: str) -> tuple[list[str], Any]:
    """`train.lr=1e-4` -> (["train", "lr"], 1e-4). Values are TOML (numbers, true, [1, 2], "x");
    anything that is not valid TOML is taken as a plain string (so `model.name=xlm-roberta-base` works)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key=value")
    key, raw = text.split("=", 1)
    try:
        parsed = tomllib.loads(f"v = {raw}")
        value = parsed["v"] if list(parsed) == ["v"] else raw  # "1\nw = 2" is a string, not two keys
    except (tomllib.TOMLDecodeError, RecursionError):
        value = raw
    return key.strip().split("."), value


def _set(tree: dict, path: list[str], value: Any) -> None:
    for part in path[:-1]:
        tree = tree.setdefault(part, {})
        if not isinstance(tree, dict):
            raise ConfigError(f"--set {'.'.join(path)}: {part} is not a table")
    tree[path[-1]] = value


def _build(cls, values: dict, source: Callable[[str], str], prefix: str = ""):
    """Build dataclass `cls` from a dict, checking keys and types; `source(key)` names where a key
    was set, for errors."""
    hints = _hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for f in dataclasses.fields(cls):  # a partial sub-table overrides only the keys it names
        if dataclasses.is_dataclass(hints[f.name]) and isinstance(values.get(f.name), dict):
            values = {**values, f.name: {**dataclasses.asdict(f.default_factory()), **values[f.name]}}
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(known))})"
            raise ConfigError(f"{source(dotted)}: {dotted}: unknown key {key!r}{hint}")
        kwargs[key] = _coerce(hints[key], value, dotted, source)
    return cls(**kwargs)


_TYPES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _coerce(hint, value: Any, key: str, source: Callable[[str], str]) -> Any:
    def wrong(expected: str) -> NoReturn:
        raise ConfigError(f"{source(key)}: {key} = {_show(value)}: must be {expected}")

    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            wrong("a table")
        return _build(hint, value, source, f"{key}.")
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value == "" and type(None) in args):
            return None  # TOML has no null: "" means None for optional fields
        return _coerce(next(a for a in args if a is not type(None)), value, key, source)
    if origin is list:
        if not isinstance(value, list):
            wrong("a list")
        return [_coerce(args[0], v, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            wrong("a table")
        return {str(k): _coerce(args[1], v, f"{key}.{k}", source) for k, v in value.items()}
    if hint in (int, float) and isinstance(value, int) and not isinstance(value, bool):
        if not -2**63 <= value < 2**63:
            wrong("an integer in TOML's 64-bit range")
        return float(value) if hint is float else value
    if hint in _TYPES and (not isinstance(value, hint) or (hint is int and isinstance(value, bool))):
        wrong(_TYPES[hint])
    return value


def load_config(path: str | Path | None, overrides: list[str] = (), train_size: int | None = None) -> RunConfig:
    """Read a TOML config (or start from the defaults), apply the `[schedules.<name>]` section of
    the run's schedule, then the `key=value` overrides (module docstring: precedence, checks).
    `train_size`: train on that many examples (task.train.n), with the file's `[train_sizes.<n>]`
    sections for that size (module docstring: a size without a section gets the file's values)."""
    text, base, tree = _read_toml(path)
    sections = _check_sections(tree.pop("schedules", {}), base, text)
    sizes = _check_sizes(tree.pop("train_sizes", {}), base, text)
    if train_size is not None and (isinstance(train_size, bool) or not isinstance(train_size, int) or train_size < 1):
        raise ConfigError(f"train size {train_size!r}: must be a whole number of training examples >= 1 (task.train.n)")
    parsed = [parse_override(item) for item in overrides]
    for keys, _ in parsed:
        if keys[0] == "schedules":
            instead = ".".join(keys[2:]) or "train.lr"
            raise ConfigError(f"--set {'.'.join(keys)}: --set cannot change a [schedules.<name>] section; "
                              f"set the key itself (--set {instead}=...): it applies to the run")
        if keys[0] == "train_sizes":
            instead = ".".join(keys[4:] if keys[2:3] == ["schedules"] else keys[2:]) or "train.lr"
            raise ConfigError(f"--set {'.'.join(keys)}: --set cannot change a [train_sizes.<n>] section; "
                              f"set the key itself (--set {instead}=...): it applies to the run")
    with_overrides = copy.deepcopy(tree)
    for keys, value in parsed:
        _set(with_overrides, keys, value)
    schedule = with_overrides.get("schedule", {})
    name = schedule.get("name", ScheduleConfig.name) if isinstance(schedule, dict) else None
    config = _resolve(tree, sections, sizes, parsed, name, train_size, base, text)
    # Every other section, each in its own configuration: the other schedules' sections at the
    # run's size, then every configured size (and the file without one) for the run's schedule and
    # every schedule with a section there.
    def schedules_at(size: int | None) -> list[str]:
        return [*sections, *sizes.get(size, {}).get("schedules", {})]

    combos = [(train_size, other) for other in schedules_at(train_size)]
    own = [name] if isinstance(name, str) else []  # (a name that is not a string failed above)
    combos += [(size, other) for size in [None, *sizes] for other in [*own, *schedules_at(size)]]
    for size, other in dict.fromkeys(combos):
        if (size, other) != (train_size, name):
            _resolve(tree, sections, sizes, parsed, other, size, base, text, own_schedule=other == name)
    return config


def load_dataclass(cls: type, path: str | Path | None, overrides: list[str] = ()):
    """Another command's configuration dataclass `cls` (e.g. `train.language_adapter`'s) from a
    TOML file and `key=value` overrides, read and type-checked as a run config is: one ConfigError
    naming the file and line (or --set) and the key. Returns (the dataclass, its sources): value
    ranges are the caller's to check, and `sources(key)` names where a key was set, for its errors."""
    text, base, tree = _read_toml(path)
    sources = _Sources(base, text)
    sources.merge(tree, _Layer(base, ()))
    for keys, value in map(parse_override, overrides):
        _set(tree, keys, value)
        sources.set(tuple(keys), value, SET)
    return _build(cls, tree, sources), sources


def train_sizes_of(path: str | Path) -> list[int]:
    """The sizes a config file has `[train_sizes.<n>]` sections for, in file order (checked as
    `load_config` checks them)."""
    path = Path(path)
    text = _read(path)
    try:
        tree = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    return list(_check_sizes(tree.get("train_sizes", {}), str(path), text))


def _resolve(tree: dict, sections: dict, sizes: dict, parsed: list, name: Any, size: int | None, base: str,
             text: str, own_schedule: bool = True) -> RunConfig:
    """defaults < file < [schedules.<name>] < [train_sizes.<size>] < [train_sizes.<size>.schedules.<name>]
    < --set, built and checked. `own_schedule` False: the configuration of another schedule than
    the run's, schedule.name set to it (module docstring)."""
    sources = _Sources(base, text)
    sources.merge(tree, _Layer(base, ()))
    named = isinstance(name, str)
    own_layer = _Layer(base, ("schedules", name), f"schedules.{name}")  # the section's values
    layers = [(sections.get(name, {}) if named else {}, own_layer)]
    schedule_layers = [own_layer]  # the layers that hold options for this schedule only
    if size is not None:
        n = {"task": {"train": {"n": size}}}
        if size not in sizes:
            layers.append((n, _Layer(f"train_size={size}")))
        else:
            size_layer = _Layer(base, ("train_sizes", str(size)), f"train_sizes.{size}")
            section = {table: values for table, values in sizes[size].items() if table != "schedules"}
            layers += [(n, size_layer), (section, size_layer)]
            if named:
                size_own = _Layer(base, ("train_sizes", str(size), "schedules", name),
                                  f"train_sizes.{size}.schedules.{name}")
                layers.append((sizes[size].get("schedules", {}).get(name, {}), size_own))
                schedule_layers.append(size_own)
    merged = tree
    for values, layer in layers:
        sources.merge(values, layer)
        merged = _merge(merged, values)  # a copy: --set below never changes `tree`
    for keys, value in parsed:
        _set(merged, keys, value)
        sources.set(tuple(keys), value, SET)
    if not own_schedule:
        _set(merged, ["schedule", "name"], name)
        sources.set(("schedule", "name"), name, own_layer)
    config = _build(RunConfig, merged, sources)
    set_here = {option for option in SCHEDULE_OPTIONS if sources.layer(f"schedule.{option}") in schedule_layers}
    _check(config, sources, None if own_schedule else set_here)
    return config


def _read_toml(path: str | Path | None) -> tuple[str, str, dict]:
    """(text, its name for messages, the parsed tree) of a TOML file; None: the defaults (empty)."""
    if path is None:
        return "", "defaults", {}
    path = Path(path)
    text = _read(path)
    try:
        return text, str(path), tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e


def _read(path: Path) -> str:
    """A config file's text; whatever keeps it from being read is one ConfigError naming the file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: config file not found") from e
    except IsADirectoryError as e:
        raise ConfigError(f"{path}: is a directory, not a config file") from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file ({e.strerror or e})") from e
    try:
        return data.decode("utf-8-sig")  # -sig: a byte order mark some editors write is fine
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ConfigError(f"{path} line {line}: not UTF-8 text (byte {data[e.start]:#04x}); "
                          f"a TOML file must be UTF-8") from e


def _check_sections(sections: Any, where: str, text: str = "", prefix: tuple[str, ...] = ()) -> dict[str, dict]:
    """`[schedules.<name>]` tables (below `prefix`, e.g. [train_sizes.1000.schedules.<name>]):
    known schedule names, only train/schedule/fisher inside. Their values are checked in each
    schedule's configuration (`_resolve`)."""
    header = ".".join((*prefix, "schedules"))
    if not isinstance(sections, dict):
        raise ConfigError(f"{where}: '{header}' must hold tables [{header}.<name>], got {_show(sections)}")
    for name, section in sections.items():
        line = _line_of(text, (*prefix, "schedules", name))
        at = f"{where}{f' line {line}' if line else ''}: [{header}.{name}]"
        if name not in SCHEDULES:
            close = difflib.get_close_matches(name, SCHEDULES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (schedules: {', '.join(SCHEDULES)})"
            raise ConfigError(f"{at}: unknown schedule {name!r}{hint}")
        if not isinstance(section, dict):
            raise ConfigError(f"{at}: expected a table, got {_show(section)}")
        for table, values in section.items():
            if table not in SECTION_TABLES:
                raise ConfigError(f"{at}: a schedule section may set {', '.join(SECTION_TABLES)}, not {table!r}")
            if not isinstance(values, dict):
                raise ConfigError(f"{at}.{table}: expected a table, got {_show(values)}")
        if "name" in section.get("schedule", {}):
            raise ConfigError(f"{at}: schedule.name is the section's own name; remove it")
    return sections


def _check_sizes(sizes: Any, where: str, text: str = "") -> dict[int, dict]:
    """`[train_sizes.<n>]` tables: n a whole number >= 1; only train/schedule/fisher and
    [train_sizes.<n>.schedules.<name>] sections inside (`_check_sections`). Returns {n: section};
    the values are checked in each size's configurations (`load_config`)."""
    if not isinstance(sizes, dict):
        raise ConfigError(f"{where}: 'train_sizes' must hold tables [train_sizes.<n>], got {_show(sizes)}")
    checked = {}
    for key, section in sizes.items():
        line = _line_of(text, ("train_sizes", key))
        at = f"{where}{f' line {line}' if line else ''}: [train_sizes.{key}]"
        if not TRAIN_SIZE.fullmatch(key):
            raise ConfigError(f"{at}: a train size must be a whole number of training examples >= 1 "
                              f"(task.train.n), written without leading zeros, e.g. [train_sizes.1000]")
        if not isinstance(section, dict):
            raise ConfigError(f"{at}: expected a table, got {_show(section)}")
        for table, values in section.items():
            if table == "schedules":
                _check_sections(values, where, text, prefix=("train_sizes", key))
            elif table not in SECTION_TABLES:
                why = " (task.train.n is the size itself)" if table == "task" else ""
                raise ConfigError(f"{at}: a train-size section may set {', '.join(SECTION_TABLES)} and "
                                  f"[train_sizes.{key}.schedules.<name>] sections, not {table!r}{why}")
            elif not isinstance(values, dict):
                raise ConfigError(f"{at}.{table}: expected a table, got {_show(values)}")
        if isinstance(section.get("schedule"), dict) and "name" in section["schedule"]:
            raise ConfigError(f"{at}: schedule.name cannot be set per train size (the schedule comes from "
                              f"schedule.name, --schedule or --compare); remove it")
        checked[int(key)] = section
    return checked


def _merge(base: dict, top: dict) -> dict:
    """`base` with `top`'s values on top (tables merged key by key, recursively)."""
    out = copy.deepcopy(base)
    for key, value in top.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def to_dict(config: RunConfig) -> dict:
    return dataclasses.asdict(config)


def from_dict(tree: dict, where: str = "a configuration dict") -> RunConfig:
    """The inverse of `to_dict`, every key and value checked as in a file (e.g. the config in results.json)."""
    if not isinstance(tree, dict):
        raise ConfigError(f"{where}: expected a table of config keys, got {_show(tree)}")
    sources = _Sources(where)
    sources.merge(tree, _Layer(where))
    config = _build(RunConfig, tree, sources)
    _check(config, sources)
    return config


_ABSENT = object()


def diff_configs(saved: dict, current: dict) -> list[str]:
    """The keys whose values differ between two `to_dict` trees, one line each, dotted, in order
    (`saved`'s keys, then those only `current` has), e.g. "train.lr: 0.0005 (saved) -> 0.05 (now)"."""
    def shown(value: Any) -> str:
        return "absent" if value is _ABSENT else "unset" if value is None else _show(value)

    def diff(old: dict, new: dict, prefix: str) -> list[str]:
        lines = []
        for key in [*old, *(key for key in new if key not in old)]:
            a, b = old.get(key, _ABSENT), new.get(key, _ABSENT)
            if isinstance(a, dict) and isinstance(b, dict):
                lines += diff(a, b, f"{prefix}{key}.")
            elif a is _ABSENT or b is _ABSENT or a != b:
                lines.append(f"{prefix}{key}: {shown(a)} (saved) -> {shown(b)} (now)")
        return lines

    return diff(saved, current, "")


# ================================================================================================
# Writing
# ================================================================================================
def to_toml(value: dict, prefix: str = "") -> str:
    """Write a config dict back as TOML, every key included: None is written as "" (which
    `load_config` reads back as None), so the text is the complete resolved configuration."""
    scalars, tables = [], []
    for key, v in value.items():
        if isinstance(v, dict):
            tables.append((key, v))
        else:
            scalars.append(f"{_toml_key(key)} = {_toml_value(v)}")
    out = "\n".join(scalars)
    for key, v in tables:
        name = f"{prefix}{_toml_key(key)}"
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
        return _toml_string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {v!r} as TOML")


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    return '"' + "".join(_ESCAPES.get(c) or (f"\\u{ord(c):04x}" if c < " " or c == "\x7f" else c) for c in text) + '"'


def _toml_key(key: Any) -> str:
    key = str(key)
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def _show(value: Any, limit: int = 200) -> str:
    """A value as the TOML one would write (for messages; long values cut)."""
    try:
        text = _toml_value(value)
    except TypeError:  # e.g. a TOML date, which no key takes
        text = str(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
