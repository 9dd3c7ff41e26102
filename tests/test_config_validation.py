"""Every config value is checked when the config loads (funfisher/runconfig.py, RULES and
_check_together): a bad value is one ConfigError naming where it was set (file and line, a
[schedules.<name>] section, --set), the key, the value and what is allowed.

The first group are inputs that used to get through: some crashed once training started, some
silently did the wrong thing (max_grad_norm -1 ran gradient ascent, max_steps 0 trained a full
epoch). Every config under configs/ must still load for every schedule.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from funfisher.data.registry import DATASETS
from funfisher.errors import UserError
from funfisher.runconfig import (RULES, ConfigError, DataSplit, RunConfig, diff_configs, from_dict, load_config,
                                 to_dict, to_toml)
from funfisher.schedules import SCHEDULES

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
ALL = sorted(p for p in CONFIGS.rglob("*.toml") if p.parent.name != "language_adapter")  # run configs only
DEMO = CONFIGS / "demo.toml"  # classification on xnli, every split
QA = CONFIGS / "cpu" / "qa_e5.toml"  # qa: squad -> xquad
PAPER = CONFIGS / "paper" / "xlmr_xcopa.toml"  # sections for lpft, gu, fun, random
ROLES = ("train", "validation", "evaluate")


def error(*overrides: str, path: Path | None = DEMO) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, list(overrides))
    return str(info.value)


def write(tmp_path: Path, text: str, name: str = "run.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_config_error_is_a_user_error_and_a_value_error():
    assert issubclass(ConfigError, UserError) and issubclass(ConfigError, ValueError)


# --------------------------------------------------------------------------------------------------
# known bad inputs: each rejected at load, the message naming the source, key, value and range
# --------------------------------------------------------------------------------------------------
def test_negative_max_grad_norm(tmp_path):
    """Clipping to a negative norm flips the gradient: the run did gradient ascent."""
    text = DEMO.read_text(encoding="utf-8").replace("[train]\n", "[train]\nmax_grad_norm = -1.0\n")
    path = write(tmp_path, text)
    line = text.splitlines().index("max_grad_norm = -1.0") + 1
    assert error(path=path) == f"{path} line {line}: train.max_grad_norm = -1.0: must be > 0"
    assert error("train.max_grad_norm=-1") == "--set: train.max_grad_norm = -1.0: must be > 0"


def test_max_steps_zero():
    """max_steps 0 meant "unset" to the trainer (`max_steps or epochs`): a full epoch trained."""
    assert error("train.max_steps=0") == '--set: train.max_steps = 0: must be >= 1 or unset ("")'
    assert load_config(DEMO, ['train.max_steps=""']).train.max_steps is None


def test_negative_max_steps():
    assert "train.max_steps = -5: must be >= 1" in error("train.max_steps=-5")


@pytest.mark.parametrize("epochs", ["0", "-1", "0.0"])
def test_epochs_not_positive(epochs):
    assert f"train.epochs = {float(epochs)!r}: must be > 0" in error(f"train.epochs={epochs}")


def test_batch_size_zero():
    assert "train.batch_size = 0: must be >= 1" in error("train.batch_size=0")


def test_train_n_zero():
    assert 'task.train.n = 0: must be >= 1 or unset ("")' in error("task.train.n=0")


def test_reduction_factor_zero():
    assert "adapters.reduction_factor = 0: must be >= 1" in error("adapters.reduction_factor=0")


def test_eval_every_zero():
    assert "train.eval_every = 0: must be >= 1" in error("train.eval_every=0")


def test_checkpoint_every_zero():
    assert "train.checkpoint_every = 0: must be >= 1" in error("train.checkpoint_every=0")


@pytest.mark.parametrize("role", ROLES)
def test_empty_languages(role):
    message = error(f"task.{role}.languages=[]")
    assert f"task.{role}.languages = []: must be a non-empty list of languages, each listed once" in message


@pytest.mark.parametrize("role", ROLES)
def test_task_kind_against_each_dataset(role):
    # a qa config with one split on XNLI, and a classification config run as qa
    message = error(f"task.{role}.dataset=xnli", f"task.{role}.split=dev", f"task.{role}.languages=['en']", path=QA)
    assert (f'--set: task.{role}.dataset = "xnli": is a classification dataset, but task.kind = "qa" '
            f"(from {QA}), whose datasets are squad, xquad, mlqa") in message
    message = error("task.kind=qa")  # demo: every split is XNLI; the first one is named
    assert 'task.train.dataset = "xnli": is a classification dataset, but task.kind = "qa" (from --set)' in message
    assert message.startswith(f"{DEMO} line ")


def test_eval_n_zero():
    assert 'task.eval_n = 0: must be >= 1 or unset ("")' in error("task.eval_n=0")


# --------------------------------------------------------------------------------------------------
# the other rules
# --------------------------------------------------------------------------------------------------
BAD = [  # (override, what the message says after the source), on configs/demo.toml
    ("name=''", 'name = "": must be a folder name'),
    ("name='a/b'", 'name = "a/b": must be a folder name'),
    ('name="a\\\\b"', 'name = "a\\\\b": must be a folder name'),
    ("name='..'", 'name = "..": must be a folder name'),
    ('name="a\\nb"', 'name = "a\\nb": must be a folder name'),
    ("seed=-1", "seed = -1: must be >= 0"),
    ("seed=99999999999999999999", "seed = 99999999999999999999: must be an integer in TOML's 64-bit range"),
    ("model.name=''", 'model.name = "": must be a non-empty string'),
    ("model.arch=roberta", 'model.arch = "roberta": must be one of "bert", "xlm-roberta" or unset ("")'),
    ("adapters.kind=lorra", 'adapters.kind = "lorra": must be one of "bottleneck", "lora", "full" '
                            '(did you mean "lora"?)'),
    ("adapters.lora_r=0", "adapters.lora_r = 0: must be >= 1"),
    ("adapters.lora_alpha=0", "adapters.lora_alpha = 0.0: must be > 0"),
    ("adapters.lora_alpha=inf", "adapters.lora_alpha = inf: must be a finite number > 0"),
    ("adapters.language_adapters={de = ''}", 'adapters.language_adapters = {de = ""}: must be a table of language'),
    ("adapters.language_adapters={de = 'x'}", 'adapters.source_language = "en" (the default): must have an entry in '
                                              "adapters.language_adapters (has de)"),
    ("adapters.source_language=' '", 'adapters.source_language = " ": must be a non-empty string'),
    ("task.kind=regression", 'task.kind = "regression": must be one of "classification", "multiple_choice", "qa"'),
    ("task.num_labels=0", "task.num_labels = 0: must be >= 1"),
    ("task.num_labels=2", "task.num_labels = 2: must be 3, the number of labels of xnli (the dataset of task.train)"),
    ("task.max_length=7", "task.max_length = 7: must be >= 8"),
    ("task.doc_stride=0", "task.doc_stride = 0: must be >= 1"),
    ("task.data_dir=' '", 'task.data_dir = " ": must be a non-empty string or unset ("")'),
    ("task.train.dataset=xnlii", 'task.train.dataset = "xnlii": must be one of "xnli", "mnli", "squad", "xquad", '
                                 '"mlqa", "xcopa", "copa" (did you mean "xnli"?)'),
    ("task.validation.split=devv", 'task.validation.split = "devv": must be one of "dev", "test", the splits of xnli '
                                   '(did you mean "dev"?)'),
    ("task.evaluate.languages=['en', 'dee']", 'task.evaluate.languages = ["en", "dee"]: "dee" is not a language of '
                                              'xnli (did you mean "de"?); it has en, ar, bg, de, el, es, fr, hi, ru, '
                                              "sw, th, tr, ur, vi, zh"),
    ("task.evaluate.languages=['en', 'de', 'en']", "must be a non-empty list of languages, each listed once"),
    ("task.train.exclude_xquad=true", 'task.train.exclude_xquad = true: is only for dataset "squad"'),
    ("train.eval_batch_size=0", "train.eval_batch_size = 0: must be >= 1"),
    ("train.lr=0", "train.lr = 0.0: must be > 0"),
    ("train.lr=-1e-4", "train.lr = -0.0001: must be > 0"),
    ("train.lr=nan", "train.lr = nan: must be a finite number > 0"),
    ("train.lr=inf", "train.lr = inf: must be a finite number > 0"),
    ("train.weight_decay=-0.1", "train.weight_decay = -0.1: must be >= 0"),
    ("train.weight_decay=inf", "train.weight_decay = inf: must be a finite number >= 0"),
    ("train.max_grad_norm=inf", "train.max_grad_norm = inf: must be a finite number > 0"),
    ("train.epochs=nan", "train.epochs = nan: must be a finite number > 0"),
    ("train.lr_schedule=cosine", 'train.lr_schedule = "cosine": must be one of "linear", "constant"'),
    ("train.lr_schedule=lineer", '(did you mean "linear"?)'),
    ("train.threads=0", "train.threads = 0: must be >= 1"),
    ("train.device=gpu", 'train.device = "gpu": must be cpu, cuda, cuda:N, mps or auto'),
    ("train.device=cuda:", 'train.device = "cuda:": must be cpu, cuda, cuda:N, mps or auto'),
    ("train.device=CPU", 'train.device = "CPU": must be cpu, cuda, cuda:N, mps or auto'),
    ("schedule.name=gradual", 'schedule.name = "gradual": must be one of "standard", "lpft", "gu", "revgu", '
                              '"random", "fixed", "surgical", "fun"'),
    ("schedule.name=revgu2", '(did you mean "revgu"?)'),
    ("schedule.k=0", "schedule.k = 0: must be >= 1"),
    ("schedule.m=2", 'schedule.m = 2: is not used by schedule "standard" (it takes no options)'),
    ("schedule.first=top", 'schedule.first = "top": is not used by schedule "standard"'),
    ("schedule.name=random", 'schedule.seed is not set: is required by schedule "random"'),
    ("schedule.name=fixed", 'schedule.order is not set: is required by schedule "fixed"'),
    ("schedule.name=surgical", 'schedule.units is not set: is required by schedule "surgical"'),
    ("schedule.name=fun;schedule.seed=1", 'schedule.seed = 1: is not used by schedule "fun" (it takes schedule.m, '
                                          "schedule.first)"),
    ("schedule.name=fun;schedule.m=0", 'schedule.m = 0: must be >= 1 or unset ("")'),
    ("schedule.name=fun;schedule.first=random", 'schedule.first = "random": must be one of "top", "fisher" for '
                                                'schedule "fun"'),
    ("schedule.name=random;schedule.seed=1;schedule.first=fisher", 'schedule.first = "fisher": must be one of '
                                                                   '"top", "random" for schedule "random"'),
    ("schedule.name=fixed;schedule.order=[1, 0, 1]", "schedule.order = [1, 0, 1]: must be a list of distinct unit ids"),
    ("schedule.name=surgical;schedule.units=[-1]", "schedule.units = [-1]: must be a list of distinct unit ids >= 0"),
    ("fisher.labels=true_fisher", 'fisher.labels = "true_fisher": must be one of "sample", "argmax", "gold"'),
    ("fisher.method=hook", 'fisher.method = "hook": must be one of "hooks", "vmap", "loop", "batch" '
                           '(did you mean "hooks"?)'),
    ("fisher.min_batches=0", "fisher.min_batches = 0: must be >= 1"),
    ("fisher.max_batches=0", "fisher.max_batches = 0: must be >= 1"),
    ("fisher.min_batches=9", f"fisher.min_batches = 9: must be <= fisher.max_batches = 8 (from {DEMO})"),
    ("fisher.confidence=0.5", "fisher.confidence = 0.5: must be > 0.5 and < 1"),
    ("fisher.confidence=1", "fisher.confidence = 1.0: must be > 0.5 and < 1"),
    ("fisher.confidence=nan", "fisher.confidence = nan: must be a finite number > 0.5 and < 1"),
    ("fisher.tolerance=1", "fisher.tolerance = 1.0: must be >= 0 and < 1"),
    ("fisher.tolerance=-0.1", "fisher.tolerance = -0.1: must be >= 0 and < 1"),
    ("fisher.batch_size=0", "fisher.batch_size = 0: must be >= 1"),
    ("fisher.track_every=-1", "fisher.track_every = -1: must be >= 0"),
    # types (checked before the ranges)
    ("train.lr=fast", 'train.lr = "fast": must be a number'),
    ("train.batch_size=8.0", "train.batch_size = 8.0: must be an integer"),
    ("train.batch_size=true", "train.batch_size = true: must be an integer"),
    ("task.train.languages=en", 'task.train.languages = "en": must be a list'),
    ("task.train.languages=[1]", "task.train.languages[0] = 1: must be a string"),
]


@pytest.mark.parametrize(("overrides", "expected"), BAD, ids=[o for o, _ in BAD])
def test_bad_value_is_rejected_naming_key_value_and_rule(overrides, expected):
    message = error(*overrides.split(";"))
    assert expected in message
    assert message.startswith(("--set: ", f"{DEMO}"))


GOOD = [  # values at the edges of their ranges, on configs/demo.toml
    "seed=0", "train.max_steps=1", "train.epochs=0.01", "train.weight_decay=0", "train.lr_schedule=constant",
    "train.device=cuda", "train.device=cuda:1", "train.device=mps", "train.device=auto", "train.threads=1",
    "task.max_length=8", "task.train.n=1", "task.eval_n=1", "fisher.track_every=0", "fisher.tolerance=0",
    "fisher.confidence=0.999", "fisher.min_batches=8", "fisher.labels=gold", "fisher.method=batch",
    "adapters.kind=full", "adapters.kind=lora", "model.arch=bert", "schedule.k=1", "task.train.languages=['de']",
    "schedule.name=fun;schedule.m=3;schedule.first=fisher",
    "schedule.name=random;schedule.seed=-3;schedule.first=random",
    "schedule.name=fixed;schedule.order=[3, 1, 2, 0]", "schedule.name=surgical;schedule.units=[0, 11]",
    "adapters.language_adapters={en = 'a', de = 'b'}",
]


@pytest.mark.parametrize("overrides", GOOD)
def test_value_inside_its_range_loads(overrides):
    assert isinstance(load_config(DEMO, overrides.split(";")), RunConfig)


def test_doc_stride_is_checked_against_max_length_for_qa_only():
    message = error("task.max_length=128", path=QA)
    assert message.startswith(f"{QA} line ")
    assert "task.doc_stride = 128: must be < task.max_length = 128 (from --set)" in message
    assert load_config(QA, ["task.max_length=129"]).task.doc_stride == 128
    assert load_config(DEMO).task.max_length < load_config(DEMO).task.doc_stride  # classification: unused


def test_num_labels_is_free_where_the_dataset_does_not_fix_it():
    assert load_config(QA, ["task.num_labels=1"]).task.num_labels == 1
    assert load_config(CONFIGS / "cpu" / "xcopa_e5.toml", ["task.num_labels=7"]).task.num_labels == 7


def test_every_dataset_split_and_language_is_accepted():
    kinds = {"classification": DEMO, "qa": QA, "multiple_choice": CONFIGS / "cpu" / "xcopa_e5.toml"}
    for name, spec in DATASETS.items():
        for split in spec.splits:
            cfg = load_config(kinds[spec.task], [f"task.evaluate.dataset={name}", f"task.evaluate.split={split}",
                                                 f"task.evaluate.languages={list(spec.languages)}"])
            assert cfg.task.evaluate.languages == list(spec.languages)


def test_every_key_of_every_config_dataclass_has_a_rule():
    seen = set()

    def walk(cls):
        seen.add(cls)
        values = set()
        for f in dataclasses.fields(cls):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if dataclasses.is_dataclass(default):
                walk(type(default))
            else:
                values.add(f.name)
        assert set(RULES[cls]) == values, cls.__name__

    walk(RunConfig)
    assert seen == set(RULES) and DataSplit in seen


# --------------------------------------------------------------------------------------------------
# where: file and line, section, --set, defaults
# --------------------------------------------------------------------------------------------------
def test_the_message_names_the_line_in_the_file(tmp_path):
    path = write(tmp_path, 'name = "x"\n\n[train]\nlr = 1e-4\nbatch_size = 0  # oops\n\n'
                           '[task.train]\nlanguages = ["en", "dee"]\n\n[fisher]\ntolerance = 2.0\n')
    assert error(path=path) == f"{path} line 5: train.batch_size = 0: must be >= 1"
    path = write(tmp_path, 'train = {lr = 1e-4, batch_size = 0}\n')  # an inline table: its line
    assert error(path=path) == f"{path} line 1: train.batch_size = 0: must be >= 1"
    path = write(tmp_path, 'name = "x"\ntrain.batch_size = 0\n')  # a dotted key
    assert error(path=path) == f"{path} line 2: train.batch_size = 0: must be >= 1"


def test_a_bad_section_value_fails_every_run(tmp_path):
    path = write(tmp_path, '[train]\nlr = 1e-4\n\n[schedules.fun]\nschedule = {k = 5}\ntrain = {lr = -1}\n')
    for schedule in ("standard", "gu", "fun"):
        assert error(f"schedule.name={schedule}", path=path) == (
            f"{path} line 6: [schedules.fun]: train.lr = -1.0: must be > 0")
    path = write(tmp_path, '[schedules.gu.train]\nbatch_size = 0\n')
    assert error(path=path) == f"{path} line 2: [schedules.gu]: train.batch_size = 0: must be >= 1"


def test_section_values_are_checked_in_the_merged_config(tmp_path):
    # the section's min_batches against the file's max_batches
    path = write(tmp_path, '[fisher]\nmax_batches = 4\n\n[schedules.fun]\nfisher = {min_batches = 5}\n')
    assert f"{path} line 5: [schedules.fun]: fisher.min_batches = 5: must be <= fisher.max_batches = 4 (from {path})" \
        in error(path=path)
    # --set overrides a section's value like any file value
    assert load_config(path, ["fisher.max_batches=5"]).fisher.max_batches == 5


def test_section_schedule_options_are_checked_for_their_own_schedule(tmp_path):
    path = write(tmp_path, '[schedules.gu]\nschedule = {k = 5, m = 2}\n')
    assert error(path=path) == (f'{path} line 2: [schedules.gu]: schedule.m = 2: is not used by schedule "gu" '
                                f'(it takes no options); remove it or set it to ""')
    path = write(tmp_path, '[schedules.random]\nschedule = {seed = 1, first = "fisher"}\n')
    assert 'schedule.first = "fisher": must be one of "top", "random" for schedule "random"' in error(path=path)
    # options for the schedule that runs, from --set, do not fail the other schedules' sections
    cfg = load_config(PAPER, ["schedule.name=random", "schedule.seed=3"])
    assert (cfg.schedule.name, cfg.schedule.seed) == ("random", 3)
    assert load_config(PAPER, ["schedule.name=fun", "schedule.m=2", "schedule.first=fisher"]).schedule.m == 2
    # a section without an option its schedule requires fails that schedule's run only
    path = write(tmp_path, '[schedules.random]\nschedule = {k = 5}\n')
    assert load_config(path).schedule.name == "standard"
    assert 'schedule.seed is not set: is required by schedule "random"' in error("schedule.name=random", path=path)
    assert load_config(path, ["schedule.name=random", "schedule.seed=1"]).schedule.k == 5


def test_set_names_itself_and_defaults_name_themselves():
    assert error("train.lr=-1", path=None) == "--set: train.lr = -1.0: must be > 0"
    assert error("task.kind=qa", path=None).startswith('defaults: task.train.dataset = "xnli" (the default): '
                                                       'is a classification dataset, but task.kind = "qa" (from --set)')
    assert error("train.lrr=1", path=None) == "--set: train.lrr: unknown key 'lrr' (did you mean 'lr'?)"
    assert "--set schedules.fun.train.lr: --set cannot change a [schedules.<name>] section" in error(
        "schedules.fun.train.lr=1", path=PAPER)


def test_an_unknown_key_names_file_line_and_key(tmp_path):
    path = write(tmp_path, '[train]\nlr = 1e-4\nlrr = 1\n')
    assert error(path=path) == f"{path} line 3: train.lrr: unknown key 'lrr' (did you mean 'lr'?)"


# --------------------------------------------------------------------------------------------------
# files that cannot be read
# --------------------------------------------------------------------------------------------------
def test_a_directory_is_a_config_error(tmp_path):
    assert error(path=tmp_path) == f"{tmp_path}: is a directory, not a config file"


def test_a_missing_file_is_a_config_error(tmp_path):
    assert error(path=tmp_path / "nope.toml") == f"{tmp_path / 'nope.toml'}: config file not found"


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "x"\n\n[model]\nname = "caf\xe9"\n'.encode("latin-1"))
    assert error(path=path) == f"{path} line 4: not UTF-8 text (byte 0xe9); a TOML file must be UTF-8"


def test_invalid_toml_is_a_config_error(tmp_path):
    path = write(tmp_path, "[train\nlr = 1\n")
    message = error(path=path)
    assert message.startswith(f"{path}: not valid TOML: ") and "line 1" in message


def test_an_unreadable_file_is_a_config_error(tmp_path, monkeypatch):
    path = write(tmp_path, 'name = "x"\n')

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)  # chmod 0 would not stop root
    assert error(path=path) == f"{path}: cannot read the config file (Permission denied)"


def test_a_byte_order_mark_is_fine(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbfname = 'bom'\n")
    assert load_config(path).name == "bom"


# --------------------------------------------------------------------------------------------------
# from_dict, to_toml
# --------------------------------------------------------------------------------------------------
def test_from_dict_checks_values_and_names_where():
    tree = to_dict(load_config(DEMO))
    assert from_dict(tree) == load_config(DEMO)
    tree["train"]["max_steps"] = 0
    with pytest.raises(ConfigError, match=r'^runs/x/results.json: config: train.max_steps = 0: must be >= 1'):
        from_dict(tree, "runs/x/results.json: config")


def test_to_toml_writes_strings_and_keys_that_read_back(tmp_path):
    cfg = load_config(DEMO, ['model.name="a \\"b\\" \\\\ c\\td\\u007f\\ne"',
                             "adapters.language_adapters={'en us' = 'x', en = 'y'}"])
    assert cfg.model.name == 'a "b" \\ c\td\x7f\ne' and cfg.adapters.language_adapters == {"en us": "x", "en": "y"}
    path = write(tmp_path, to_toml(to_dict(cfg)))
    assert load_config(path) == cfg


# --------------------------------------------------------------------------------------------------
# diff_configs (resume: the message names the keys that differ)
# --------------------------------------------------------------------------------------------------
def test_diff_configs_lists_the_differing_keys_in_order():
    saved = to_dict(load_config(DEMO))
    assert diff_configs(saved, to_dict(load_config(DEMO))) == []
    now = to_dict(load_config(DEMO, ["train.lr=0.05", "task.evaluate.languages=['en']", "train.max_steps=''",
                                     "adapters.language_adapters={en = 'x'}"]))
    assert diff_configs(saved, now) == [
        "adapters.language_adapters.en: absent (saved) -> \"x\" (now)",
        'task.evaluate.languages: ["' + '", "'.join(saved["task"]["evaluate"]["languages"]) + '"] (saved) '
        '-> ["en"] (now)',
        "train.max_steps: 150 (saved) -> unset (now)",
        "train.lr: 0.001 (saved) -> 0.05 (now)",
    ]


def test_diff_configs_keys_on_one_side_only():
    saved = {"train": {"lr": 0.0005, "old": 1}, "name": "a"}
    current = {"train": {"lr": 0.05}, "name": "a", "extra": {"k": [1]}}
    assert diff_configs(saved, current) == [
        "train.lr: 0.0005 (saved) -> 0.05 (now)",
        "train.old: 1 (saved) -> absent (now)",
        "extra: absent (saved) -> {k = [1]} (now)",
    ]
    assert diff_configs({"a": 1}, {"a": 1.0}) == []  # the same number, as JSON may write it


# --------------------------------------------------------------------------------------------------
# every config still loads, for every schedule
# --------------------------------------------------------------------------------------------------
#: what the schedules that require options need (a 12-layer model; unit ids are checked later)
REQUIRED = {"random": ["schedule.seed=1"], "fixed": [f"schedule.order={list(range(11, -1, -1))}"],
            "surgical": ["schedule.units=[11]"]}


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.relative_to(REPO).as_posix())
def test_config_loads_for_every_schedule(path):
    """tests/test_configs.py loads each file with the schedules it has sections for; here every
    schedule, the required options given with --set (a file's sections hold its own seed)."""
    for schedule in SCHEDULES:
        has_own = schedule == "random" and "[schedules.random]" in path.read_text(encoding="utf-8")
        options = [] if has_own else REQUIRED.get(schedule, [])
        cfg = load_config(path, [f"schedule.name={schedule}", *options])
        assert cfg.schedule.name == schedule
