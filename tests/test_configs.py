"""Every run configuration under configs/: it parses, names only things that exist, the CPU configs'
data is really there, and the paper configs carry the paper's hyperparameters.

Paper: Liu, Pfeiffer, Vulic, Gurevych, "FUN with Fisher" (NAACL 2024, arXiv 2301.05487). The
expected values below are copied from its Appendix B, Table 3 (MAD-X bottleneck task adapters) and
Table 4 (reduced training data, with the FUN k's of Appendix G.3's text), and Appendix G.4, Table 15
(LoRA), with the data of Table 5; each paper config's header comment says the same and marks what
could not be verified. Every paper config is resolved for every schedule it names (its
`[schedules.<name>]` sections) with `load_config`, through train.py's `main` (the header's commands,
--compare included) and, for a subset, through `python train.py ... --print-config` in a fresh process.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from funfisher.data import DATASETS, load_dataset, remove_xquad_paragraphs
from funfisher.data.registry import dataset_files
from funfisher.runconfig import load_config, to_dict, train_sizes_of
from funfisher.schedules import SCHEDULES, make_schedule, simulate, unfreeze_steps

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
LANGUAGE_ADAPTER = sorted((CONFIGS / "language_adapter").glob("*.toml"))  # train_language_adapter.py's, not runs
ALL = sorted(set(CONFIGS.rglob("*.toml")) - set(LANGUAGE_ADAPTER))
PAPER = sorted((CONFIGS / "paper").glob("*.toml"))
CPU = sorted((CONFIGS / "cpu").glob("*.toml"))
N_UNITS = 12  # every model here (mBERT, XLM-R base, multilingual-e5-small) has 12 layers

ADAPTER_KINDS = {"bottleneck", "lora", "full"}
TASK_KINDS = {"classification", "multiple_choice", "qa"}


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def splits(cfg):
    t = cfg.task
    return {"train": t.train, "validation": t.validation, "evaluate": t.evaluate}


def schedule_options(cfg) -> dict:
    s = cfg.schedule
    return {"seed": s.seed, "order": s.order, "units": s.units, "m": s.m}


# --------------------------------------------------------------------------------------------------
# every config
# --------------------------------------------------------------------------------------------------
def test_the_expected_configs_exist():
    names = {rel(p) for p in ALL}
    assert "configs/demo.toml" in names
    for model in ("mbert", "xlmr"):
        for task in ("xnli", "xquad", "mlqa", "xcopa"):
            assert f"configs/paper/{model}_{task}.toml" in names
            assert f"configs/paper/lora_{model}_{task}.toml" in names
    for name in ("xnli_e5", "xcopa_e5", "qa_e5", "qa_mlqa_e5"):
        assert f"configs/cpu/{name}.toml" in names
    for name in ("xnli", "xcopa"):
        assert f"configs/study/{name}.toml" in names
    # Table 4: bottleneck adapters, {mBERT, XLM-R} x {SQuAD -> XQuAD, MNLI -> XNLI} x {1k, 5k, 10k}
    lowdata = {n for n in names if n.startswith("configs/paper/lowdata/")}
    assert lowdata == {f"configs/paper/lowdata/{model}_{task}_{size}.toml"
                       for model in ("mbert", "xlmr") for task in ("xquad", "xnli") for size in ("1k", "5k", "10k")} | {
        f"configs/paper/lowdata/{model}_{task}.toml" for model in ("mbert", "xlmr") for task in ("xquad", "xnli")}


@pytest.mark.parametrize("path", ALL, ids=rel)
def test_config_parses_with_no_unknown_keys(path):
    # load_config rejects unknown keys and wrong types; also read the raw TOML to be sure every
    # table the file writes is one the schema has (a misspelt table would be an unknown key too).
    cfg = load_config(path)
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    assert set(raw) <= {"name", "seed", "model", "adapters", "task", "train", "schedule", "fisher", "schedules",
                        "train_sizes"}
    assert cfg.name == raw["name"]
    for name, section in raw.get("schedules", {}).items():  # [schedules.<name>]: known schedules, known tables
        assert name in SCHEDULES and set(section) <= {"train", "schedule", "fisher"}, name
        load_config(path, [f"schedule.name={name}"])


def test_run_names_are_unique():
    names = [load_config(p).name for p in ALL]
    assert len(names) == len(set(names)), names


@pytest.mark.parametrize("path", ALL, ids=rel)
def test_config_names_only_things_that_exist(path):
    cfg = load_config(path)
    assert cfg.schedule.name in SCHEDULES
    schedule = make_schedule(cfg.schedule.name, n_units=N_UNITS, k=cfg.schedule.k, **schedule_options(cfg))
    assert schedule.name == cfg.schedule.name
    assert cfg.adapters.kind in ADAPTER_KINDS
    assert cfg.task.kind in TASK_KINDS
    assert cfg.train.lr_schedule in {"linear", "constant"}
    assert cfg.train.lr > 0 and cfg.train.batch_size > 0 and cfg.schedule.k > 0
    for role, split in splits(cfg).items():
        assert split.dataset in DATASETS, f"{role}: unknown dataset {split.dataset!r}"
        spec = DATASETS[split.dataset]
        assert split.split in spec.splits, f"{role}: {split.dataset} has no split {split.split!r}"
        assert split.languages and set(split.languages) <= set(spec.languages), f"{role}: {split.languages}"
        assert len(set(split.languages)) == len(split.languages), f"{role}: a language is listed twice"
        assert spec.task == cfg.task.kind, f"{role}: {split.dataset} is a {spec.task} dataset, the task is {cfg.task.kind}"
        if cfg.task.kind == "classification":
            assert spec.num_labels == cfg.task.num_labels
        if split.exclude_xquad:
            assert split.dataset == "squad", "exclude_xquad only means something for SQuAD"
    # training and validation are English (zero-shot transfer from English)
    assert cfg.task.train.languages == ["en"] and cfg.task.validation.languages == ["en"]
    ad = cfg.adapters
    if ad.language_adapters:
        assert ad.source_language in ad.language_adapters
        assert set(ad.language_adapters) <= set(cfg.task.evaluate.languages) | {ad.source_language}


@pytest.mark.parametrize("path", [p for p in ALL if p.parent != CONFIGS], ids=rel)
def test_config_starts_with_a_comment_block_saying_how_to_run_it(path):
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# "), "the file should start with a comment block"
    lines = text.splitlines()
    first_code = next(i for i, line in enumerate(lines) if line.strip() and not line.startswith("#"))
    header = "\n".join(lines[:first_code])
    assert f"python train.py --config {rel(path)}" in header
    assert "Table" in header  # where the setting comes from


# --------------------------------------------------------------------------------------------------
# CPU configs: offline model, real data in ../shared/data, sized for 2 cores
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", CPU, ids=rel)
def test_cpu_config_is_offline_and_small(path):
    cfg = load_config(path)
    assert cfg.model.name == "multilingual-e5-small"
    assert cfg.adapters.kind == "bottleneck" and cfg.adapters.language_adapters == {}  # none exist for e5
    assert cfg.task.data_dir == "../shared/data"
    assert (REPO / cfg.task.data_dir).resolve() == (REPO.parent / "shared" / "data").resolve()
    assert 16 <= cfg.train.batch_size <= 32
    assert cfg.train.max_steps is not None and cfg.train.max_steps <= 1000
    assert cfg.train.threads == 2
    # the schedule has room to happen: GU releases all 12 units well before the last step
    records = simulate(make_schedule("gu", N_UNITS, cfg.schedule.k), cfg.train.max_steps)
    steps = unfreeze_steps(records)
    assert len(steps) == N_UNITS and max(steps.values()) < cfg.train.max_steps
    assert cfg.fisher.track_every > 0 and cfg.train.eval_every <= cfg.train.max_steps


def test_cpu_configs_follow_the_brief():
    xnli, xcopa = load_config(CONFIGS / "cpu/xnli_e5.toml"), load_config(CONFIGS / "cpu/xcopa_e5.toml")
    qa, mlqa = load_config(CONFIGS / "cpu/qa_e5.toml"), load_config(CONFIGS / "cpu/qa_mlqa_e5.toml")
    assert (xnli.task.train.dataset, xnli.task.train.split, xnli.task.train.n) == ("xnli", "test", 2000)
    assert (xnli.task.validation.dataset, xnli.task.validation.split) == ("xnli", "dev")
    assert (xnli.task.evaluate.dataset, xnli.task.evaluate.split) == ("xnli", "dev")
    assert set(xnli.task.evaluate.languages) == set(DATASETS["xnli"].languages)  # en + the other 14
    assert xnli.task.eval_n is not None and xnli.task.max_length == 128
    assert (xcopa.task.train.dataset, xcopa.task.train.split, xcopa.task.train.n) == ("copa", "train", None)
    assert (xcopa.task.validation.dataset, xcopa.task.validation.split) == ("copa", "val")
    assert (xcopa.task.evaluate.dataset, xcopa.task.evaluate.split) == ("xcopa", "test")
    assert set(xcopa.task.evaluate.languages) == set(DATASETS["xcopa"].languages)
    assert xcopa.fisher.track_every == 50 and xcopa.task.max_length == 128
    for cfg in (qa, mlqa):
        train = cfg.task.train
        assert (train.dataset, train.split, train.n, train.exclude_xquad) == ("squad", "dev", 2000, True)
        assert cfg.task.max_length in (256, 384) and cfg.task.doc_stride == 128
    assert (qa.task.evaluate.dataset, qa.task.evaluate.split) == ("xquad", "test")
    assert set(qa.task.evaluate.languages) == set(DATASETS["xquad"].languages)
    assert (mlqa.task.evaluate.dataset, mlqa.task.evaluate.split) == ("mlqa", "dev")
    assert set(mlqa.task.evaluate.languages) == set(DATASETS["mlqa"].languages)


@pytest.mark.parametrize("path", CPU, ids=rel)
def test_cpu_config_data_files_exist(path, shared_data):
    """Every split and language a CPU config reads is in ../shared/data and loads."""
    cfg = load_config(path)
    for role, split in splits(cfg).items():
        for lang in split.languages:
            relpaths = dataset_files(split.dataset, [split.split], [lang])
            missing = [r for r in relpaths if not (shared_data / r).is_file()]
            # SQuAD dev: the registry falls back to the reconstructed copy when the official file is absent
            if split.dataset == "squad" and split.split == "dev":
                missing = [r for r in missing if r != "squad/dev-v1.1.json"]
                assert (shared_data / "squad/dev-v1.1.reconstructed.json").is_file() or not missing
            assert not missing, f"{role} {split.dataset}/{split.split}/{lang}: missing {missing}"
            examples = load_dataset(split.dataset, split.split, lang=lang, data_dir=shared_data)
            assert len(examples) > 0
            if split.exclude_xquad:
                xquad_en = load_dataset("xquad", "test", lang="en", data_dir=shared_data)
                kept, _ = remove_xquad_paragraphs(examples, xquad_en)
                assert 0 < len(kept) < len(examples)
                examples = kept
            if role == "train" and split.n is not None:
                assert split.n < len(examples), f"train.n={split.n} but only {len(examples)} examples"
            if role != "train" and cfg.task.eval_n is not None:
                assert cfg.task.eval_n <= len(examples)


# --------------------------------------------------------------------------------------------------
# paper configs: the paper's hyperparameters
# --------------------------------------------------------------------------------------------------
# Appendix B, Table 3 ("x/y": x for standard training, y for every scheduled unfreezing method) and
# Appendix G.4, Table 15 (LoRA; no LPFT there). Keys: (training data, model). Transcribed in
# ../shared/paper/hyperparameters.md (checked against two extractions of the PDF).
TABLE3 = {
    ("mnli", "mbert"): dict(epochs=(15, 15), lr=(5e-4, 5e-4), batch=128, lr_schedule="linear", k=dict(lpft=25, gu=800, fun=50)),
    ("mnli", "xlmr"): dict(epochs=(15, 15), lr=(5e-4, 5e-4), batch=128, lr_schedule="linear", k=dict(lpft=800, gu=800, fun=800)),
    ("squad", "mbert"): dict(epochs=(5, 5), lr=(5e-4, 5e-4), batch=32, lr_schedule="linear", k=dict(lpft=800, gu=800, fun=800)),
    ("squad", "xlmr"): dict(epochs=(15, 15), lr=(2e-4, 5e-4), batch=32, lr_schedule="linear", k=dict(lpft=800, gu=800, fun=100)),
    ("copa", "mbert"): dict(epochs=(500, 5000), lr=(1e-4, 1e-5), batch=64, lr_schedule="constant", k=dict(lpft=800, gu=50, fun=50)),
    ("copa", "xlmr"): dict(epochs=(500, 5000), lr=(1e-4, 1e-5), batch=64, lr_schedule="constant", k=dict(lpft=800, gu=1000, fun=1000)),
}
TABLE15 = {
    ("mnli", "mbert"): dict(epochs=(15, 15), lr=(5e-4, 5e-4), batch=128, lr_schedule="linear", k=dict(gu=50, fun=50)),
    ("mnli", "xlmr"): dict(epochs=(15, 15), lr=(5e-4, 5e-4), batch=128, lr_schedule="linear", k=dict(gu=800, fun=800)),
    ("squad", "mbert"): dict(epochs=(5, 5), lr=(5e-4, 8e-4), batch=32, lr_schedule="linear", k=dict(gu=800, fun=800)),
    ("squad", "xlmr"): dict(epochs=(15, 15), lr=(5e-4, 5e-4), batch=32, lr_schedule="linear", k=dict(gu=800, fun=800)),
    ("copa", "mbert"): dict(epochs=(500, 5000), lr=(1e-4, 1e-4), batch=64, lr_schedule="constant", k=dict(gu=50, fun=100)),
    ("copa", "xlmr"): dict(epochs=(500, 5000), lr=(1e-4, 1e-4), batch=64, lr_schedule="constant", k=dict(gu=100, fun=200)),
}
# Appendix B, Table 4 (reduced task training data; one value per cell, no "x/y"): k per training-set
# size is GU's (Table 11 compares GU with standard training, Appendix G.1). The LR schedule is not
# stated: Table 3's (linear for SQuAD and MNLI), marked unverified in the configs.
SIZES = {"1k": 1000, "5k": 5000, "10k": 10000}
TABLE4 = {
    ("squad", "mbert"): dict(epochs=20, lr=5e-4, batch=32, k={"1k": 10, "5k": 50, "10k": 50}),
    ("squad", "xlmr"): dict(epochs=20, lr=5e-4, batch=32, k={"1k": 10, "5k": 50, "10k": 50}),
    ("mnli", "mbert"): dict(epochs=50, lr=5e-4, batch=128, k={"1k": 1, "5k": 25, "10k": 25}),
    ("mnli", "xlmr"): dict(epochs=50, lr=5e-4, batch=128, k={"1k": 1, "5k": 25, "10k": 10}),
}
# Appendix G.3's text: "The k used in our experiment for FUN are (for 1k/5k/10k correspondingly):
# mBERT-XQuAD = [10,50,50], XLM-R-XQuAD = [10,50,25], mBERT-XNLI = [10,50,25], XLM-R-XNLI = [1,25,10]."
G3_FUN_K = {
    ("squad", "mbert"): {"1k": 10, "5k": 50, "10k": 50},
    ("squad", "xlmr"): {"1k": 10, "5k": 50, "10k": 25},
    ("mnli", "mbert"): {"1k": 10, "5k": 50, "10k": 25},
    ("mnli", "xlmr"): {"1k": 1, "5k": 25, "10k": 10},
}
# Footnote 12: FUN's tr(F) "on 40 batches (maximum) of training data", in training-size batches;
# fixed at 40 in paper configs until bench/fun_agreement.py vindicates the early-stopping rule.
FISHER_BATCHES = 40
MODEL_IDS = {"mbert": "bert-base-multilingual-cased", "xlmr": "xlm-roberta-base"}
# evaluation -> (training data, (dataset, split) of training / validation (Table 5) / evaluation)
TASKS = {
    "xnli": ("mnli", ("mnli", "train"), ("xnli", "dev"), ("xnli", "test")),
    "xquad": ("squad", ("squad", "train"), ("squad", "dev"), ("xquad", "test")),
    "mlqa": ("squad", ("squad", "train"), ("squad", "dev"), ("mlqa", "test")),
    "xcopa": ("copa", ("copa", "train"), ("copa", "val"), ("xcopa", "test")),
}
# Languages with no published AdapterHub language adapter (the paper trained mBERT it/ta/th itself,
# Appendix B): they must not be mapped to a hub id; the evaluator reports them as skipped.
NO_HUB_ADAPTER = {"mbert": {"it", "ta", "th", "bg", "ur"}, "xlmr": {"bg", "fr", "ur"}}
ADAPTER_ID = re.compile(r"^AdapterHub/(bert-base-multilingual-cased|xlm-roberta-base)[-_][A-Za-z_-]+_pfeiffer$")
LOWDATA_DIR = CONFIGS / "paper" / "lowdata"
LOWDATA = sorted(LOWDATA_DIR.glob("*_*k.toml"))  # one file per size
LOWDATA_SWEEPS = sorted(set(LOWDATA_DIR.glob("*.toml")) - set(LOWDATA))  # all sizes: [train_sizes.<n>] sections
ALL_PAPER = PAPER + LOWDATA


@dataclasses.dataclass(frozen=True)
class PaperKey:
    lora: bool
    model: str  # mbert | xlmr
    task: str  # the evaluation: xnli | xquad | mlqa | xcopa
    size: str | None  # lowdata: 1k | 5k | 10k

    @property
    def train_data(self) -> str:
        return TASKS[self.task][0]

    @property
    def schedules(self) -> set[str]:
        """The schedules the paper ran for this setting (each has a [schedules.<name>] section)."""
        if self.size is not None:  # Tables 4, 11, 13: standard, GU, FUN only
            return {"gu", "fun"}
        return {"gu", "fun", "random"} | (set() if self.lora else {"lpft"})


def paper_key(path: Path) -> PaperKey:
    parts = path.stem.split("_")
    lora = parts[0] == "lora"
    parts = parts[1:] if lora else parts
    size = parts[2] if path.parent == LOWDATA_DIR else None
    return PaperKey(lora, parts[0], parts[1], size)


def expected(path: Path, schedule: str) -> dict:
    """The values a run of `schedule` with the config at `path` must use, from the paper's tables."""
    key = paper_key(path)
    scheduled = schedule != "standard"
    if key.size is not None:
        t4 = TABLE4[(key.train_data, key.model)]
        k = {"standard": t4["k"][key.size], "gu": t4["k"][key.size],
             "fun": G3_FUN_K[(key.train_data, key.model)][key.size]}[schedule]
        values = dict(epochs=t4["epochs"], lr=t4["lr"], batch_size=t4["batch"], lr_schedule="linear", k=k)
    else:
        table = (TABLE15 if key.lora else TABLE3)[(key.train_data, key.model)]
        # standard ignores k: the file's own k is k-GU. +Rand has no k in the tables: k-FUN (unverified).
        k = table["k"]["gu" if schedule == "standard" else "fun" if schedule == "random" else schedule]
        values = dict(epochs=table["epochs"][scheduled], lr=table["lr"][scheduled], batch_size=table["batch"],
                      lr_schedule=table["lr_schedule"], k=k)
    return {
        "train.epochs": values["epochs"], "train.lr": values["lr"], "train.batch_size": values["batch_size"],
        "train.lr_schedule": values["lr_schedule"], "schedule.name": schedule, "schedule.k": values["k"],
        "fisher.batch_size": values["batch_size"],
        "fisher.max_batches": FISHER_BATCHES, "fisher.min_batches": FISHER_BATCHES,
    }


COMPARED = ("train.epochs", "train.lr", "train.batch_size", "train.lr_schedule", "schedule.name", "schedule.k",
            "fisher.batch_size", "fisher.max_batches", "fisher.min_batches")


def resolved_values(tree: dict) -> dict:
    """The compared keys of a resolved configuration (a dict as printed by --print-config)."""
    return {key: tree[key.split(".")[0]][key.split(".")[1]] for key in COMPARED}


def config_values(cfg) -> dict:
    return resolved_values(to_dict(cfg))


def assert_matches(got: dict, want: dict, where: str) -> None:
    for key, value in want.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value), f"{where}: {key} = {got[key]!r}, the paper's is {value!r}"
        else:
            assert got[key] == value, f"{where}: {key} = {got[key]!r}, the paper's is {value!r}"


def sections(path: Path) -> set[str]:
    return set(tomllib.loads(path.read_text(encoding="utf-8")).get("schedules", {}))


#: every (paper config, schedule it names), standard included
PAPER_RUNS = [(p, s) for p in ALL_PAPER for s in ["standard", *sorted(paper_key(p).schedules)]]


def header_commands(path: Path) -> list[list[str]]:
    """The `python train.py ...` commands of a config's header comment, as argument lists."""
    lines = [line[1:].strip() for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    text = "\n".join(lines).replace("\\\n", " ")
    return [shlex.split(m.group(0))[2:] for m in re.finditer(r"python train\.py [^\n]*", text)]


def load_train_cli():
    spec = importlib.util.spec_from_file_location("funfisher_train_cli", REPO / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_printed(stdout: str) -> dict[str | None, dict]:
    """--print-config output -> {schedule: resolved tree} (--compare: one block per schedule, each
    after a '# --- schedule NAME ---' line; a single run: {None: tree})."""
    marker = re.compile(r"^# --- schedule (\S+) ---$", re.M)
    names = marker.findall(stdout)
    if not names:
        return {None: tomllib.loads(stdout)}
    blocks = marker.split(stdout)[1:]  # name, text, name, text, ...
    return {name: tomllib.loads(text) for name, text in zip(blocks[::2], blocks[1::2])}


def print_config_in_process(capsys, cli, argv: list[str]) -> dict[str | None, dict]:
    capsys.readouterr()
    assert cli.main([*argv, "--print-config"]) == 0
    return parse_printed(capsys.readouterr().out)


def test_the_paper_tables_are_as_transcribed():
    """Guards the expected values themselves against edits (the COPA k's were once read wrongly)."""
    assert TABLE3[("copa", "mbert")]["k"] == dict(lpft=800, gu=50, fun=50)
    assert TABLE3[("copa", "xlmr")]["k"] == dict(lpft=800, gu=1000, fun=1000)
    assert TABLE15[("copa", "mbert")]["k"] == dict(gu=50, fun=100)
    assert TABLE15[("copa", "xlmr")]["k"] == dict(gu=100, fun=200)
    text = (REPO.parent / "shared" / "paper" / "fun-with-fisher.txt")
    if text.is_file():  # the extracted paper text, where it is available
        paper = text.read_text(encoding="utf-8")
        assert "mBERT-XQuAD = [10,50,50], XLM-R-XQuAD = [10,50,25], mBERT-XNLI = [10,50,25], XLM-R-XNLI = [1,25,10]" in paper
        for (data, model), ks in G3_FUN_K.items():
            name = {"mbert": "mBERT", "xlmr": "XLM-R"}[model] + "-" + {"squad": "XQuAD", "mnli": "XNLI"}[data]
            assert f"{name} = [{','.join(str(ks[s]) for s in SIZES)}]" in paper


@pytest.mark.parametrize("path", ALL_PAPER, ids=rel)
def test_paper_config_has_a_section_for_each_schedule_the_paper_ran(path):
    assert sections(path) == paper_key(path).schedules


@pytest.mark.parametrize(("path", "schedule"), PAPER_RUNS, ids=lambda v: rel(v) if isinstance(v, Path) else v)
def test_paper_config_resolves_to_the_table_for_each_schedule(path, schedule):
    """load_config with the run's schedule applies its [schedules.<name>] section: the result is the
    table's row (the "y" of "x/y" for scheduled runs), and FUN's estimator uses 40 training batches."""
    cfg = load_config(path, [f"schedule.name={schedule}"])
    assert_matches(config_values(cfg), expected(path, schedule), f"{rel(path)} --schedule {schedule}")
    assert cfg.train.max_steps is None
    assert (cfg.fisher.labels, cfg.fisher.method) == ("sample", "hooks")  # Eq. 1 (the released code: argmax)
    assert cfg.fisher.track_every == (50 if paper_key(path).train_data == "copa" else 100)  # Figure 3
    make_schedule(schedule, n_units=N_UNITS, k=cfg.schedule.k, **schedule_options(cfg))


# The real CLI in a fresh interpreter, as an independent acceptance check would run it (a subset:
# each start imports torch). Chosen to cover every kind of per-schedule value: x/y epochs and lr
# (COPA), x/y lr (XLM-R SQuAD, LoRA mBERT SQuAD), k-LPFT != k-GU (mBERT MNLI), +Rand, the COPA k's,
# and Table 4 / G.3 (FUN's k != GU's k).
CLI_RUNS = [
    ("configs/paper/xlmr_xcopa.toml", "standard"),
    ("configs/paper/xlmr_xcopa.toml", "lpft"),
    ("configs/paper/xlmr_xcopa.toml", "gu"),
    ("configs/paper/xlmr_xcopa.toml", "fun"),
    ("configs/paper/xlmr_xcopa.toml", "random"),
    ("configs/paper/mbert_xcopa.toml", "fun"),
    ("configs/paper/mbert_xnli.toml", "lpft"),
    ("configs/paper/xlmr_xquad.toml", "fun"),
    ("configs/paper/lora_mbert_xquad.toml", "gu"),
    ("configs/paper/lora_xlmr_xcopa.toml", "random"),
    ("configs/paper/lowdata/mbert_xnli_1k.toml", "fun"),
    ("configs/paper/lowdata/xlmr_xquad_10k.toml", "fun"),
    ("configs/paper/lowdata/xlmr_xnli_10k.toml", "gu"),
]


@pytest.mark.parametrize(("path", "schedule"), CLI_RUNS)
def test_train_cli_prints_the_table_values(path, schedule):
    proc = subprocess.run([sys.executable, "train.py", "--config", path, "--schedule", schedule, "--print-config"],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    tree = tomllib.loads(proc.stdout)
    assert_matches(resolved_values(tree), expected(REPO / path, schedule), f"{path} --schedule {schedule}")


def test_train_cli_compare_gives_each_schedule_its_own_values():
    path = "configs/paper/xlmr_xcopa.toml"
    names = ["standard", "lpft", "gu", "fun", "random"]
    proc = subprocess.run([sys.executable, "train.py", "--config", path, "--compare", *names, "--print-config"],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    printed = parse_printed(proc.stdout)
    assert list(printed) == names
    for name, tree in printed.items():
        assert_matches(resolved_values(tree), expected(REPO / path, name), f"{path} --compare: {name}")


@pytest.mark.parametrize("path", ALL_PAPER, ids=rel)
def test_paper_config_header_commands_give_each_schedule_its_table_values(path, capsys, monkeypatch):
    """The header's commands parse with train.py's own CLI and, run with --print-config through
    train.py's main, give every schedule (each alone, and each within --compare) the table's values."""
    key = paper_key(path)
    cli = load_train_cli()
    monkeypatch.chdir(REPO)  # the commands name the config relative to the repository
    single, compared = set(), None
    for argv in header_commands(path):
        args = cli.parse_args(argv)
        assert args.config == Path(rel(path))
        assert not args.overrides, "paper settings belong in the file's sections, not in --set"
        printed = print_config_in_process(capsys, cli, argv)
        if args.compare:
            assert compared is None, "one --compare command"
            compared = list(printed)
        else:
            name = args.schedule or "standard"
            assert name not in single, f"two commands for {name}"
            single.add(name)
            printed = {name: printed[None]}
        for name, tree in printed.items():
            assert_matches(resolved_values(tree), expected(path, name), f"{rel(path)} ({' '.join(argv)}): {name}")
    assert single == {"standard"} | key.schedules
    assert compared is not None and compared[0] == "standard" and set(compared) == {"standard"} | key.schedules


@pytest.mark.parametrize("path", PAPER, ids=rel)
def test_paper_config_has_the_papers_setting(path):
    key = paper_key(path)
    train_data, train_split, val_split, eval_split = TASKS[key.task]
    cfg = load_config(path)
    assert cfg.model.name == MODEL_IDS[key.model]
    assert cfg.schedule.name == "standard"  # the schedule comes from --schedule
    assert cfg.train.max_grad_norm == 1.0 and cfg.train.weight_decay == 0.0  # Appendix B: AdamW, clip 1
    if key.lora:  # Appendix G.4: AdapterHub's default LoRA, r = 8, alpha = 8
        assert (cfg.adapters.kind, cfg.adapters.lora_r, cfg.adapters.lora_alpha) == ("lora", 8, 8.0)
    else:  # Appendix B: task adapters with reduction factor 16, as in MAD-X
        assert (cfg.adapters.kind, cfg.adapters.reduction_factor) == ("bottleneck", 16)
    t = cfg.task
    assert (t.train.dataset, t.train.split, t.train.n) == (*train_split, None)  # the full training set
    assert (t.validation.dataset, t.validation.split) == val_split
    assert (t.evaluate.dataset, t.evaluate.split) == eval_split
    if train_data == "squad":  # the authors' README: --max_seq_length 384 --doc_stride 128
        assert (t.kind, t.max_length, t.doc_stride) == ("qa", 384, 128)
    elif train_data == "mnli":  # the authors' run_xnli.py default
        assert (t.kind, t.max_length) == ("classification", 128)
    else:
        assert t.kind == "multiple_choice"
    assert t.eval_n is None  # full evaluation sets


@pytest.mark.parametrize("path", LOWDATA, ids=rel)
def test_lowdata_config_is_its_main_config_on_a_subsample(path):
    """Table 4's runs: a seeded 1k / 5k / 10k subsample of the training set (G.1), bottleneck
    adapters, and otherwise the matching main config's setting (model, language adapters, data)."""
    key = paper_key(path)
    assert key.task in {"xquad", "xnli"} and not key.lora
    cfg = load_config(path)
    main = load_config(CONFIGS / "paper" / f"{key.model}_{key.task}.toml")
    assert cfg.task.train.n == SIZES[key.size]
    assert (cfg.task.train.dataset, cfg.task.train.split) == TASKS[key.task][1]
    assert cfg.name == f"paper_lowdata_{key.model}_{key.task}_{key.size}"
    assert (cfg.adapters.kind, cfg.adapters.reduction_factor) == ("bottleneck", 16)
    same = lambda c: (c.model, c.adapters, c.task.validation, c.task.evaluate, c.task.kind, c.task.num_labels,
                      c.task.max_length, c.task.doc_stride, c.task.eval_n, c.seed,
                      c.train.eval_every, c.train.eval_batch_size, c.train.weight_decay, c.train.max_grad_norm,
                      c.fisher.labels, c.fisher.method, c.fisher.track_every)
    assert same(cfg) == same(main)
    assert dataclasses.replace(cfg.task.train, n=None) == main.task.train


def test_lowdata_configs_are_what_the_generator_writes():
    spec = importlib.util.spec_from_file_location("make_lowdata_configs", LOWDATA_DIR / "make_configs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.configs()
    assert set(written) == set(LOWDATA) | set(LOWDATA_SWEEPS)
    for path, text in written.items():
        assert path.read_text(encoding="utf-8") == text, f"{rel(path)}: run configs/paper/lowdata/make_configs.py"



@pytest.mark.parametrize("path", LOWDATA_SWEEPS, ids=rel)
def test_lowdata_sweep_config_is_the_single_size_files(path):
    """`--train-sizes 1000 5000 10000` on the sweep file runs, for every size and schedule, exactly
    the configuration of that size's own file (Table 4's k for GU, Appendix G.3's for FUN), and
    without --train-sizes the 1k file's; only the name differs."""
    assert train_sizes_of(path) == [1000, 5000, 10000]
    for schedule in ("standard", "gu", "fun"):
        for n, size in [(None, "1k"), *((SIZES[s], s) for s in ("1k", "5k", "10k"))]:
            sweep = to_dict(load_config(path, [f"schedule.name={schedule}"], train_size=n))
            single = to_dict(load_config(LOWDATA_DIR / f"{path.stem}_{size}.toml", [f"schedule.name={schedule}"]))
            assert sweep.pop("name") == f"paper_lowdata_{path.stem}"
            single.pop("name")
            assert sweep == single, (schedule, size)

@pytest.mark.parametrize("path", ALL_PAPER, ids=rel)
def test_paper_config_language_adapters(path):
    model = paper_key(path).model
    cfg = load_config(path)
    mapped = cfg.adapters.language_adapters
    assert cfg.adapters.source_language == "en" and "en" in mapped
    for lang, hub_id in mapped.items():
        assert ADAPTER_ID.match(hub_id), hub_id
        assert MODEL_IDS[model] in hub_id, f"{lang}: {hub_id} is not an adapter for {MODEL_IDS[model]}"
        assert re.search(rf"[-_]{lang}[-_]|_wiki_{lang}_", hub_id), f"{lang}: {hub_id}"
    evaluated = set(cfg.task.evaluate.languages) | {"en"}
    # every evaluated language has its adapter, unless none is published (then skipped, never mapped)
    assert evaluated - set(mapped) <= NO_HUB_ADAPTER[model]
    assert not set(mapped) & NO_HUB_ADAPTER[model]
    header = path.read_text(encoding="utf-8")
    for lang in sorted(evaluated - set(mapped)):
        assert re.search(rf"No published adapter for: [a-z, ]*\b{lang}\b", header), lang


@pytest.mark.parametrize("path", ALL_PAPER, ids=rel)
def test_paper_config_marks_what_is_unverified(path):
    text = path.read_text(encoding="utf-8")
    assert "unverified" in text
    raw = tomllib.loads(text)
    # +Rand's k is not in the tables: its section must say so
    if "random" in raw.get("schedules", {}):
        assert re.search(r"\+Rand: the tables give no k for it; k-FUN used \(unverified\)", text)
    if paper_key(path).size is not None:  # Table 4 states no LR schedule
        assert re.search(r'lr_schedule = "linear"  # unverified', text)
    # the fixed 40-batch estimate says why and where the decision will be made
    assert "bench/fun_agreement.py" in text and "docs/fidelity.md" in text


# --------------------------------------------------------------------------------------------------
# the study's configs (docs/results.md, issue #15)
# --------------------------------------------------------------------------------------------------
STUDY = sorted((CONFIGS / "study").glob("*.toml"))


@pytest.mark.parametrize("path", STUDY, ids=rel)
@pytest.mark.parametrize("size", [None, 2000, 5000])
def test_study_configs_follow_the_pilots_lessons(path, size):
    """Unfreezing ends early (k * L at most a quarter of the updates), every evaluation row is
    scored (no eval_n, no evaluate.n), validation is a fixed-size sample, bf16 (measured cost-free)."""
    if size is not None and "xnli" not in path.name:
        pytest.skip("train sizes are the XNLI study's")
    for schedule in ("standard", "lpft", "gu", "fun", "random"):
        config = load_config(path, [f"schedule.name={schedule}"], train_size=size)
        assert config.schedule.k * 12 <= config.train.max_steps / 4, (schedule, config.schedule.k)
        assert config.task.eval_n is None and config.task.evaluate.n is None
        assert config.train.precision == "bf16" and config.train.lr == 1e-3
        assert config.schedule.name != "random" or config.schedule.seed == 1
        if size is not None:
            assert config.task.train.n == size
            assert config.train.max_steps == {2000: 800, 5000: 1250}[size]


@pytest.mark.parametrize("path", STUDY, ids=rel)
def test_study_config_header_commands_run(path, capsys, monkeypatch):
    """docs/results.md's sweeps are the headers' commands: each parses with train.py's CLI and,
    with --print-config through train.py's main, resolves every cell it names."""
    cli = load_train_cli()
    monkeypatch.chdir(REPO)
    commands = header_commands(path)
    assert commands and all("--seeds" in argv and "--output" in argv for argv in commands)
    for argv in commands:
        args = cli.parse_args(argv)
        assert args.config == Path(rel(path)) and str(args.output).startswith("results/study/")
        capsys.readouterr()
        assert cli.main([*argv, "--print-config"]) == 0
        blocks = re.split(r"^# --- cell (\S+) ---$", capsys.readouterr().out, flags=re.M)[1:]
        cells = {name: tomllib.loads(text) for name, text in zip(blocks[::2], blocks[1::2])}
        size = f"n{args.train_sizes[0]}/" if args.train_sizes else ""
        assert list(cells) == [f"{name}/{size}seed{seed}" for seed in args.seeds for name in args.compare], argv
        for tree in cells.values():
            for override in args.overrides:  # C4's estimator settings reach every cell
                key, value = override.split("=", 1)
                section, name = key.split(".")
                assert str(tree[section][name]) == value, (argv, key)


def test_the_study_script_runs_exactly_the_headers_commands():
    """results/study/run.sh (the background driver) runs the same sweeps as the headers say."""
    text = (REPO / "results" / "study" / "run.sh").read_text(encoding="utf-8").replace("\\\n", " ")
    script = set()
    for line in text.splitlines():
        if line.startswith("sweep results/"):
            _, output, *args = shlex.split(line)
            script.add(tuple(args + ["--output", output]))
    headers = {tuple(argv) for path in STUDY for argv in header_commands(path)}
    assert script == headers



@pytest.mark.parametrize("path", LANGUAGE_ADAPTER, ids=rel)
def test_language_adapter_configs_load_and_say_how_to_run_them(path):
    """MAD-X step 1's configs (train_language_adapter.py): they load and check, the header names
    the command, and the paper-scale one has Appendix B's settings."""
    from funfisher.train.language_adapter import load_language_adapter_config

    config = load_language_adapter_config(path)
    text = path.read_text(encoding="utf-8")
    assert f"python train_language_adapter.py --config {rel(path)}" in text and "Appendix B" in text
    assert config.adapter.reduction_factor == 2.0 and config.train.lr == 1e-4  # MAD-X, Appendix B
    if "wiki" in path.name:
        assert (config.train.batch_size, config.train.max_length) == (64, 512)
