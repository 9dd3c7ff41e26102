"""Write the reduced-training-data configs of the paper (Table 4; results in Tables 11 and 13).

    python configs/paper/lowdata/make_configs.py           # (re)write the 16 files next to this script
    python configs/paper/lowdata/make_configs.py --check   # exit 1 if a file differs from what it would write

One file per {mbert, xlmr} x {xquad (trained on SQuAD), xnli (trained on MNLI)} x {1k, 5k, 10k}, and
one sweep file per {mbert, xlmr} x {xquad, xnli} holding all three sizes as [train_sizes.<n>]
sections (`train.py --train-sizes 1000 5000 10000`).
The numbers below are Table 4 (Appendix B) and the FUN k's of Appendix G.3's text; everything the
paper does not state for these runs is taken from the matching main config (configs/paper/<model>_<task>.toml:
model, language adapters, validation and evaluation data, max_length, eval_every, ...), whose header
paragraphs on data and language adapters are copied verbatim. The generated files are committed;
tests/test_configs.py checks that they are what this script writes and that they resolve to Table 4.
"""
from __future__ import annotations

import math
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAPER = HERE.parent
REPO = PAPER.parents[1]

SIZES = {"1k": 1000, "5k": 5000, "10k": 10000}
# Table 4: (training data, model) -> epochs, lr, batch size, k per size (the GU runs of Table 11)
TABLE4 = {
    ("squad", "mbert"): dict(epochs=20, lr="5e-4", batch=32, k={"1k": 10, "5k": 50, "10k": 50}),
    ("squad", "xlmr"): dict(epochs=20, lr="5e-4", batch=32, k={"1k": 10, "5k": 50, "10k": 50}),
    ("mnli", "mbert"): dict(epochs=50, lr="5e-4", batch=128, k={"1k": 1, "5k": 25, "10k": 25}),
    ("mnli", "xlmr"): dict(epochs=50, lr="5e-4", batch=128, k={"1k": 1, "5k": 25, "10k": 10}),
}
# Appendix G.3's text: "The k used in our experiment for FUN are (for 1k/5k/10k correspondingly):
# mBERT-XQuAD = [10,50,50], XLM-R-XQuAD = [10,50,25], mBERT-XNLI = [10,50,25], XLM-R-XNLI = [1,25,10]."
G3_FUN = {
    ("squad", "mbert"): {"1k": 10, "5k": 50, "10k": 50},
    ("squad", "xlmr"): {"1k": 10, "5k": 50, "10k": 25},
    ("mnli", "mbert"): {"1k": 10, "5k": 50, "10k": 25},
    ("mnli", "xlmr"): {"1k": 1, "5k": 25, "10k": 10},
}
TASKS = {"xquad": "squad", "xnli": "mnli"}
LR_SCHEDULE = "linear"  # not stated for Table 4: Table 3's (linear for SQuAD and MNLI); unverified
MODEL = {"mbert": "mBERT (bert-base-multilingual-cased)", "xlmr": "XLM-R (xlm-roberta-base)"}
SHORT = {"mbert": "mBERT", "xlmr": "XLM-R"}
DATA = {"squad": ("SQuAD v1.1", "SQuAD"), "mnli": ("MNLI", "MNLI")}
EVAL = {"xquad": "XQuAD", "xnli": "XNLI"}
G3_NAME = {"xquad": "XQuAD", "xnli": "XNLI"}


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def paragraph(header: list[str], start: str) -> list[str]:
    """The header paragraph starting with `start`, up to the next bare '#' line or the end."""
    i = next(i for i, line in enumerate(header) if line.startswith(start))
    out = []
    for line in header[i:]:
        if line == "#":
            break
        out.append(line)
    return out


def main_config_parts(main: Path) -> tuple[list[str], list[str], list[str], dict]:
    """(data paragraph, language-adapter paragraph, body from [model] up to [train], parsed TOML)."""
    lines = main.read_text(encoding="utf-8").splitlines()
    first_code = next(i for i, line in enumerate(lines) if line.strip() and not line.startswith("#"))
    header = lines[:first_code]
    start = lines.index("[model]")
    end = lines.index("[train]")
    body = lines[start:end]
    while body and not body[-1].strip():
        body.pop()
    return (paragraph(header, "# Data:"), paragraph(header, "# Language adapters:"), body,
            tomllib.loads("\n".join(lines)))


def render(model: str, task: str, size: str) -> str:
    data = TASKS[task]
    main = PAPER / f"{model}_{task}.toml"
    data_par, adapters_par, body, main_toml = main_config_parts(main)
    t4 = TABLE4[(data, model)]
    n, batch, epochs = SIZES[size], t4["batch"], t4["epochs"]
    k_gu, k_fun = t4["k"][size], G3_FUN[(data, model)][size]
    path = HERE / f"{model}_{task}_{size}.toml"
    cfg = rel(path)
    long_data, short_data = DATA[data]
    ks = " / ".join(str(t4["k"][s]) for s in SIZES)
    fun_ks = ",".join(str(G3_FUN[(data, model)][s]) for s in SIZES)
    main_train = main_toml["train"]
    if data == "mnli":
        steps = f"{math.ceil(n / batch)} steps per epoch, {math.ceil(n / batch) * epochs} steps in all"  # no drop_last
    else:  # QA: a few long paragraphs give more than one window (feature) per example
        steps = (f"At least {math.ceil(n / batch)} steps per epoch (a few long paragraphs give two windows), "
                 f"at least {math.ceil(n / batch) * epochs} steps in all")
    pass_batches = math.ceil(n / batch)
    if pass_batches < 40:
        fisher_note = [
            f"#   With {n} training examples one pass is {'at least ' if data == 'squad' else ''}{pass_batches} batches of "
            f"{batch}: each of the 40",
            "#   batches is a fresh random draw from the training set (funfisher/train/recipe.py fisher_batches),",
            "#   so examples recur; whether the released code stopped after one pass (\"maximum\") is unverified.",
        ]
    else:
        fisher_note = []
    eval_note = []
    if math.ceil(n / batch) * epochs < main_train["eval_every"]:
        eval_note = [f"#   With fewer than {main_train['eval_every']} steps, validation runs only after the last step."]
    header = [
        f"# Paper setting: {MODEL[model]}, MAD-X bottleneck task adapter, trained on a seeded",
        f"# {size} subsample ({n} examples) of {long_data} (English), zero-shot on {EVAL[task]}.",
        f"# Reproduces: Table 11 (standard and +GU) and Table 13 (+FUN), {EVAL[task]} column {size.upper()}, of",
        "# Liu, Pfeiffer, Vulic, Gurevych, \"FUN with Fisher\" (NAACL 2024, arXiv 2301.05487), Appendix G.1 /",
        "# G.3. For users with a GPU and Hugging Face hub access (the model and the language adapters are",
        "# downloaded from the hub).",
        f"# Generated by {rel(Path(__file__))} from {rel(main)}: change the",
        "# generator (or the main config) and re-run it rather than editing this file.",
        "#",
        "# One run per schedule; each schedule's k is in its [schedules.<name>] section at the end of this",
        "# file, applied to that schedule's run only (also within --compare); no --set needed:",
        "#   standard task-adapter training (the paper's plain Ada rows):",
        f"#     python train.py --config {cfg}",
        f"#   +GU: k = {k_gu} (Table 4):",
        f"#     python train.py --config {cfg} --schedule gu",
        f"#   +FUN: k = {k_fun} (Appendix G.3):",
        f"#     python train.py --config {cfg} --schedule fun",
        "#   all of them one after the other, side by side (each with its own section's values):",
        f"#     python train.py --config {cfg} --compare standard gu fun",
        "#   Add --print-config to any command to see the fully resolved configuration (loads nothing).",
        "#   Paper numbers are the mean of 4 runs (Section 4.2; seeds not given): add --seed 1 ... --seed 4.",
        "#   No +LPFT or +Rand: the reduced-data experiments (Tables 4, 11, 13) have none and give no k for",
        "#   them, so this file has no section for them.",
        "#",
        f"# Where the numbers come from: Table 4 (Appendix B) of the paper, row {short_data} / {SHORT[model]}:",
        f"#   epochs {epochs}; lr {t4['lr']}; batch {batch}; k {k_gu} for {size} (k-1k / k-5k / k-10k = {ks}).",
        "#   Table 4's k is GU's: Table 11 compares GU with standard training (Appendix G.1).",
        f"#   k-FUN {k_fun}: Appendix G.3's text, \"{SHORT[model]}-{G3_NAME[task]} = [{fun_ks}]\" for 1k/5k/10k.",
        "#   Table 4 has no 'x/y' cells: standard and scheduled runs share epochs and lr (G.3: \"The remaining",
        "#   hyperparameters are the same as in all other experiments\").",
        f"#   LR schedule {LR_SCHEDULE} (unverified): Table 4 does not state it; Table 3's for {short_data} is used.",
        f"#   Training data: task.train.n = {n}, a seeded subsample of the full {long_data} training set",
        "#   (G.1: \"we sample 1k, 5k, and 10k training examples\"), drawn with random.Random(seed)",
        "#   (funfisher/data/hygiene.py): --seed changes the subset as well; whether the paper's 4 runs",
        "#   shared one subset is not stated (unverified).",
        f"#   {steps}.",
        "#   Task adapter reduction factor 16; AdamW, no warmup, max grad norm 1 (Appendix B).",
        f"#   Everything else (max_length, eval_every {main_train['eval_every']} (unverified), validation, evaluation,",
        f"#   language adapters) as in {rel(main)}.",
        *eval_note,
        "#   fisher.track_every 100: Figure 3 plots tr(F) every 100 steps.",
        "#   FUN's tr(F) estimate (footnote 12): \"on 40 batches (maximum) of training data\", in batches of",
        f"#   the training batch size ({batch}); a fixed 40 batches here (see [fisher] below).",
        *fisher_note,
        "#",
        *data_par,
        f"#   Only the {n}-example subsample of the training set is used for training.",
        "#",
        *adapters_par,
    ]
    if task == "xnli":
        header.append("# Tables 11 / 13 report only the cross-lingual average; the languages are the main runs' (unverified).")
    else:
        header.append("# Tables 11 / 13 report only the cross-lingual average F1; the languages are the main runs' (unverified).")
    lines = [
        *header,
        *settings(model, task, size, f"paper_lowdata_{model}_{task}_{size}",
                  k_note="Table 4's k (GU); only for schedules without a [schedules.<name>] section below"),
        "",
        "# ------------------------------------------------------------------------------------------------",
        f"# Per-schedule values: k from Table 4 (GU) and Appendix G.3 (FUN), {short_data} / {SHORT[model]} / {size}.",
        "# Each section overrides the file's values for its own schedule's run only.",
        "",
        "[schedules.gu]",
        f"schedule = {{k = {k_gu}}}",
        "",
        "[schedules.fun]",
        f"schedule = {{k = {k_fun}}}",
    ]
    return "\n".join(lines) + "\n"


def settings(model: str, task: str, size: str, name: str, k_note: str) -> list[str]:
    """The settings of one size, from `name = ...` to the [fisher] table: the main config's body with
    task.train.n = the size, then Table 4's training values and the paper's estimator."""
    data = TASKS[task]
    main = PAPER / f"{model}_{task}.toml"
    _, _, body, main_toml = main_config_parts(main)
    t4 = TABLE4[(data, model)]
    n, batch, epochs, k_gu = SIZES[size], t4["batch"], t4["epochs"], t4["k"][size]
    main_train = main_toml["train"]
    train_n_line = "n = \"\"  # \"\" = none: the full training set (the schema's default for train is a 1000-example sample)"
    assert train_n_line in body, f"{main}: the [task.train] n line changed; update the generator"
    body = [f"n = {n}  # G.1: a seeded subsample of {n} training examples (seed = the run's seed)"
            if line == train_n_line else line for line in body]
    return [
        f'name = "{name}"',
        "seed = 42",
        "",
        *body,
        "",
        "[train]",
        f"epochs = {epochs}",
        f"batch_size = {batch}",
        f"eval_batch_size = {main_train['eval_batch_size']}",
        f"lr = {t4['lr']}",
        f'lr_schedule = "{LR_SCHEDULE}"  # unverified: not stated for Table 4; Table 3\'s',
        "weight_decay = 0.0",
        "max_grad_norm = 1.0",
        f"eval_every = {main_train['eval_every']}",
        f"checkpoint_every = {main_train['checkpoint_every']}",
        'device = "auto"  # a GPU when torch sees one',
        "",
        "[schedule]",
        'name = "standard"  # the schedule comes from --schedule / --compare',
        f"k = {k_gu}  # {k_note}",
        "",
        "[fisher]",
        "# FUN's tr(F) estimate at each selection step: footnote 12, \"on 40 batches (maximum) of training",
        "# data\", in batches of the training batch size (fisher.batch_size = train.batch_size): a FIXED 40",
        "# batches here (min_batches = max_batches = 40), the paper's own estimator. The project's",
        "# early-stopping rule with tolerance 0 picked the 40-batch decision's unit in 450 of 450 draws",
        "# (bench/fun_agreement.py, docs/fidelity.md): --set fisher.min_batches=1 turns it on.",
        'labels = "sample"  # Eq. 1: labels sampled from the model (true Fisher); the released code used argmax',
        'method = "hooks"',
        f"batch_size = {batch}  # = train.batch_size",
        "max_batches = 40",
        "min_batches = 40",
        "tolerance = 0.0  # the rule only: never stop on a tie (0.1 agreed 84% at a 1.7% near-tie)",
        "track_every = 100  # Figure 3: tr(F) every 100 steps",
    ]


def render_sweep(model: str, task: str) -> str:
    """One file for all three sizes (`--train-sizes 1000 5000 10000`): the 1k file's settings, and
    per size a [train_sizes.<n>] section with that size's k (GU) and a
    [train_sizes.<n>.schedules.fun] section with FUN's. Each size's run resolves to exactly the
    single-size file's configuration (but for the name): tests/test_configs.py checks it."""
    data = TASKS[task]
    main = PAPER / f"{model}_{task}.toml"
    t4, fun = TABLE4[(data, model)], G3_FUN[(data, model)]
    cfg = rel(HERE / f"{model}_{task}.toml")
    singles = ", ".join(f"{model}_{task}_{size}.toml" for size in SIZES)
    sizes = " ".join(str(n) for n in SIZES.values())
    header = [
        f"# Paper setting: {MODEL[model]}, MAD-X bottleneck task adapter, trained on seeded",
        f"# 1k, 5k and 10k subsamples of {DATA[data][0]} (English), zero-shot on {EVAL[task]}: the {EVAL[task]} columns of Table 11",
        "# (standard and +GU) and Table 13 (+FUN) as one sweep, of Liu, Pfeiffer, Vulic, Gurevych, \"FUN with",
        "# Fisher\" (NAACL 2024, arXiv 2301.05487), Appendix G.1 / G.3. For users with a GPU and Hugging Face",
        "# hub access (the model and the language adapters are downloaded from the hub).",
        f"# Generated by {rel(Path(__file__))} from {rel(main)}: change the",
        "# generator (or the main config) and re-run it rather than editing this file.",
        "#",
        "# One sweep: training-set size x schedule x seed, one run folder per cell (funfisher/train/sweep.py),",
        "# resumable cell by cell (--resume), then one report with a table per size:",
        f"#   python train.py --config {cfg} --compare standard gu fun \\",
        f"#       --train-sizes {sizes} --seeds 1 2 3 4 --output runs/lowdata_{model}_{task}",
        f"#   python eval.py report runs/lowdata_{model}_{task}",
        "# --train-sizes N trains on a seeded subsample of N examples (task.train.n = N) with the",
        "# [train_sizes.N] section below, and [train_sizes.N.schedules.<name>] for that schedule's run.",
        "# Without --train-sizes this file is the 1k setting.",
        "# Every size's runs are those of the single-size files next to this one, which say where each",
        f"# number comes from: {singles}.",
        "#",
        "# k per size: Table 4 (Appendix B) for GU (standard ignores k); Appendix G.3's text for FUN:",
        *[f"#   {size}: GU {t4['k'][size]}, FUN {fun[size]}" for size in SIZES],
        f"# Everything else as Table 4's row {DATA[data][1]} / {SHORT[model]}: epochs {t4['epochs']}, lr {t4['lr']}, "
        f"batch {t4['batch']}.",
    ]
    lines = [
        *header,
        *settings(model, task, "1k", f"paper_lowdata_{model}_{task}",
                  k_note="1k's k (GU, Table 4); --train-sizes takes each size's from [train_sizes.<n>] below"),
        "",
        "[schedules.fun]",
        f"schedule = {{k = {fun['1k']}}}  # 1k's (Appendix G.3), for a run without --train-sizes",
        "",
        "# ------------------------------------------------------------------------------------------------",
        f"# Per-size values, {DATA[data][1]} / {SHORT[model]}: k from Table 4 (GU) and Appendix G.3 (FUN).",
        "# [train_sizes.<n>] applies to every schedule's run at that size; its schedules.fun to FUN's.",
    ]
    for size, n in SIZES.items():
        lines += ["", f"[train_sizes.{n}]", f"schedule = {{k = {t4['k'][size]}}}  # Table 4, k-{size}",
                  "", f"[train_sizes.{n}.schedules.fun]", f"schedule = {{k = {fun[size]}}}  # Appendix G.3, {size}"]
    return "\n".join(lines) + "\n"


def configs() -> dict[Path, str]:
    """Every file this script writes: the 12 single-size files and the 4 sweep files."""
    single = {HERE / f"{model}_{task}_{size}.toml": render(model, task, size)
              for model in ("mbert", "xlmr") for task in TASKS for size in SIZES}
    sweeps = {HERE / f"{model}_{task}.toml": render_sweep(model, task) for model in ("mbert", "xlmr") for task in TASKS}
    return {**single, **sweeps}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path, text in configs().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not check:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {rel(path)}")
    if check and stale:
        print("out of date (run configs/paper/lowdata/make_configs.py):", *map(rel, stale), sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
