"""Every run configuration under configs/: it parses, names only things that exist, the CPU configs'
data is really there, and the paper configs carry the paper's hyperparameters.

Paper: Liu, Pfeiffer, Vulic, Gurevych, "FUN with Fisher" (NAACL 2024, arXiv 2301.05487). The
expected values below are copied from its Appendix B, Table 3 (MAD-X bottleneck task adapters) and
Appendix G.4, Table 15 (LoRA), with the data of Table 5; each paper config's header comment says the
same and marks what could not be verified.
"""
from __future__ import annotations

import importlib.util
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from funfisher.data import DATASETS, load_dataset, remove_xquad_paragraphs
from funfisher.data.registry import dataset_files
from funfisher.runconfig import load_config
from funfisher.schedules import SCHEDULES, make_schedule
from funfisher.schedules.simulate import simulate, unfreeze_steps

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
ALL = sorted(CONFIGS.rglob("*.toml"))
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


@pytest.mark.parametrize("path", ALL, ids=rel)
def test_config_parses_with_no_unknown_keys(path):
    # load_config rejects unknown keys and wrong types; also read the raw TOML to be sure every
    # table the file writes is one the schema has (a misspelt table would be an unknown key too).
    cfg = load_config(path)
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    assert set(raw) <= {"name", "seed", "model", "adapters", "task", "train", "schedule", "fisher"}
    assert cfg.name == raw["name"]


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
# Appendix G.4, Table 15 (LoRA; no LPFT there). Keys: (training data, model).
TABLE3 = {
    ("mnli", "mbert"): dict(epochs=(15, 15), lr=(5e-4, 5e-4), batch=128, lr_schedule="linear", k=dict(lpft=25, gu=800, fun=50)),
    ("mnli", "xlmr"): dict(epochs=(15, 15), lr=(5e-4, 5e-4), batch=128, lr_schedule="linear", k=dict(lpft=800, gu=800, fun=800)),
    ("squad", "mbert"): dict(epochs=(5, 5), lr=(5e-4, 5e-4), batch=32, lr_schedule="linear", k=dict(lpft=800, gu=800, fun=800)),
    ("squad", "xlmr"): dict(epochs=(15, 15), lr=(2e-4, 5e-4), batch=32, lr_schedule="linear", k=dict(lpft=800, gu=800, fun=100)),
    # COPA: the k cells are merged in the extracted table text; read column-wise (see the configs)
    ("copa", "mbert"): dict(epochs=(500, 5000), lr=(1e-4, 1e-5), batch=64, lr_schedule="constant", k=dict(lpft=800, gu=50, fun=1000)),
    ("copa", "xlmr"): dict(epochs=(500, 5000), lr=(1e-4, 1e-5), batch=64, lr_schedule="constant", k=dict(lpft=800, gu=50, fun=1000)),
}
TABLE15 = {
    ("mnli", "mbert"): dict(epochs=(15, 15), lr=(5e-4, 5e-4), batch=128, lr_schedule="linear", k=dict(gu=50, fun=50)),
    ("mnli", "xlmr"): dict(epochs=(15, 15), lr=(5e-4, 5e-4), batch=128, lr_schedule="linear", k=dict(gu=800, fun=800)),
    ("squad", "mbert"): dict(epochs=(5, 5), lr=(5e-4, 8e-4), batch=32, lr_schedule="linear", k=dict(gu=800, fun=800)),
    ("squad", "xlmr"): dict(epochs=(15, 15), lr=(5e-4, 5e-4), batch=32, lr_schedule="linear", k=dict(gu=800, fun=800)),
    ("copa", "mbert"): dict(epochs=(500, 5000), lr=(1e-4, 1e-4), batch=64, lr_schedule="constant", k=dict(gu=50, fun=100)),
    ("copa", "xlmr"): dict(epochs=(500, 5000), lr=(1e-4, 1e-4), batch=64, lr_schedule="constant", k=dict(gu=100, fun=200)),
}
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


def paper_key(path: Path) -> tuple[bool, str, str]:
    stem = path.stem
    lora = stem.startswith("lora_")
    model, task = stem.removeprefix("lora_").split("_")
    return lora, model, task


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


@pytest.mark.parametrize("path", PAPER, ids=rel)
def test_paper_config_has_the_papers_hyperparameters(path):
    lora, model, task = paper_key(path)
    train_data, train_split, val_split, eval_split = TASKS[task]
    table = (TABLE15 if lora else TABLE3)[(train_data, model)]
    cfg = load_config(path)
    assert cfg.model.name == MODEL_IDS[model]
    assert cfg.schedule.name == "standard"  # the schedule comes from --schedule
    # the file itself holds the standard-training values ("x" of "x/y") and k-GU
    assert cfg.train.epochs == table["epochs"][0] and cfg.train.max_steps is None
    assert cfg.train.lr == pytest.approx(table["lr"][0])
    assert cfg.train.batch_size == table["batch"]
    assert cfg.train.lr_schedule == table["lr_schedule"]
    assert cfg.train.max_grad_norm == 1.0 and cfg.train.weight_decay == 0.0  # Appendix B: AdamW, clip 1
    assert cfg.schedule.k == table["k"]["gu"]
    if lora:  # Appendix G.4: AdapterHub's default LoRA, r = 8, alpha = 8
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
    # Figure 3: tr(F) every 100 steps (XCOPA: 50)
    assert cfg.fisher.track_every == (50 if train_data == "copa" else 100)


@pytest.mark.parametrize("path", PAPER, ids=rel)
def test_paper_config_language_adapters(path):
    _, model, _ = paper_key(path)
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


@pytest.mark.parametrize("path", PAPER, ids=rel)
def test_paper_config_header_commands_give_each_schedule_its_table_values(path):
    """The per-schedule commands in the header parse with train.py's own CLI and yield the paper's
    k, epochs and learning rate for that schedule (the "y" of Table 3's "x/y" for scheduled runs)."""
    lora, model, task = paper_key(path)
    table = (TABLE15 if lora else TABLE3)[(TASKS[task][0], model)]
    cli = load_train_cli()
    commands = header_commands(path)
    schedules_seen = set()
    for argv in commands:
        args = cli.parse_args(argv)
        assert args.config == Path(rel(path))
        overrides = list(args.overrides) + ([f"schedule.name={args.schedule}"] if args.schedule else [])
        cfg = load_config(REPO / args.config, overrides)
        name = cfg.schedule.name
        schedules_seen.add(name)
        make_schedule(name, n_units=N_UNITS, k=cfg.schedule.k, **schedule_options(cfg))
        scheduled = name != "standard"
        assert cfg.train.epochs == table["epochs"][scheduled]
        assert cfg.train.lr == pytest.approx(table["lr"][scheduled])
        if name in table["k"]:
            assert cfg.schedule.k == table["k"][name], name
        elif name == "random":  # no k for +Rand in the tables: the configs use k-FUN (marked unverified)
            assert cfg.schedule.k == table["k"]["fun"]
    expected = {"standard", "gu", "fun", "random"} | (set() if lora else {"lpft"})
    assert schedules_seen == expected


def test_paper_configs_mark_what_is_unverified():
    for path in PAPER:
        assert "unverified" in path.read_text(encoding="utf-8"), rel(path)
