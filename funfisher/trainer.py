"""The training recipe: scheduled unfreezing of task adapters (paper Algorithm 1), read top to bottom.

    run = prepare(config)                  # model + adapters + data + schedule + optimizer
    train(run, run_dir)                    # the loop; resumable from run_dir/checkpoint.pt
    results = finish(run, run_dir)         # best checkpoint -> zero-shot evaluation -> results.json

One training step: forward, loss, backward, clip (1.0), AdamW, LR schedule. Around it:
- at steps 0, k, 2k, ... the schedule's SELECT adds units (layers) to the trainable set; FUN first
  asks `fisher.estimate_until_separated` for tr(F) of the frozen units (fresh training batches);
- every `fisher.track_every` steps, tr(F) per unit on the current batch (Figures 3/4 of the paper);
- every `train.eval_every` steps, English validation; the best adapters AND head are kept;
- every `train.checkpoint_every` steps, an atomic checkpoint with everything needed to continue
  exactly: weights, optimizer, LR schedule, every RNG stream, schedule state, data position.

Randomness has one stream per purpose (DESIGN.md): data order (derived from seed and epoch), the
global torch RNG (dropout), and three generators of its own: FUN's Fisher batches, the labels
sampled for FUN's selection estimates, and the labels sampled for tr(F) tracking. A FUN run's
tr(F) estimates therefore never shift the data order or dropout of the run, and switching
tracking on or off never changes FUN's decisions.

What trains: the head's `trainable_parameters()` (the pretrained pooler is frozen base model,
see model/heads.py) and the units the schedule has released; `results.json` records the counts.

Frozen parameters never change: AdamW skips parameters whose .grad is None (they have no state,
so no weight decay and no stale moments), and the optimizer zeroes grads to None every step. A
newly unfrozen parameter's Adam state starts fresh at its first update.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn as nn

from . import adapters as A
from . import data as D
from . import fisher as FI
from .evaluation import evaluate_examples
from .model import load_pretrained
from .model.convert import uses_pretrained_pooler
from .model.heads import TaskModel
from .progress import Progress
from .runconfig import FisherConfig, RunConfig
from .runs import append_jsonl, atomic_torch_save, atomic_write_json, atomic_write_text, read_jsonl
from .schedules import Schedule, make_schedule
from .tasks import get_task

TASK = "task"  # the name of the task adapter inside the model (a role decides what it is, not this name)
CHECKPOINT = "checkpoint.pt"
FISHER_LOG = "fisher.jsonl"  # every tr(F) estimate, one JSON line each (also in results.json)


@dataclass
class Run:
    """Everything a training run holds. Built by `prepare`, advanced by `train`."""

    config: RunConfig
    pm: Any  # PretrainedModel
    model: TaskModel
    device: torch.device  # where the model and the training batches live (train.device)
    units: dict[int, list[nn.Parameter]]  # layer -> task-adapter parameters (Algorithm 1's units)
    schedule: Schedule
    optimizer: torch.optim.Optimizer
    lr_schedule: torch.optim.lr_scheduler.LambdaLR
    train_features: list
    val_examples: list
    val_features: list
    total_steps: int
    batches_per_epoch: int
    fisher_data_rng: torch.Generator  # which training examples FUN's estimates look at
    fisher_label_rng: torch.Generator  # y ~ p(y|x) in FUN's selection estimates
    fisher_track_rng: torch.Generator  # y ~ p(y|x) in tr(F) tracking (own stream: never shifts FUN's choices)
    notes: list[str] = field(default_factory=list)
    # progress (saved in checkpoints)
    step: int = 0
    trainable: set[int] = field(default_factory=set)
    best_metric: float = -math.inf
    best_step: int | None = None
    best_state: dict[str, torch.Tensor] | None = None
    schedule_log: list[dict] = field(default_factory=list)
    fisher_log: list[dict] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: {"train": 0.0, "fisher_select": 0.0,
                                                                "fisher_track": 0.0, "validation": 0.0})


# --------------------------------------------------------------------------------------------------
# prepare: model, adapters, data, schedule, optimizer
# --------------------------------------------------------------------------------------------------
def resolve_device(name: str) -> torch.device:
    """`train.device` -> a torch.device that this machine has (a clear error otherwise)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"train.device={name!r} is not a device name (cpu, cuda, cuda:N, mps or auto): {e}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"train.device={name!r}, but torch sees no CUDA device (torch {torch.__version__}; "
                             f"a CPU-only build?). Use train.device=cpu or auto.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"train.device={name!r}, but there are only {torch.cuda.device_count()} CUDA devices")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"train.device={name!r}, but the MPS backend is not available here")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"train.device={name!r}: only cpu, cuda, mps (or auto) are supported")
    return device


def prepare(config: RunConfig, pm=None) -> Run:
    torch.set_num_threads(config.train.threads)
    device = resolve_device(config.train.device)
    pm = pm or load_pretrained(config.model.name, arch=config.model.arch)
    # Seed after loading: building the encoder draws random init weights (then overwritten), and a
    # run must not depend on whether its model was loaded here or handed in (train.py --compare).
    torch.manual_seed(config.seed)
    task = config.task
    task_type = get_task(task.kind)  # what the kind decides: features, head size (funfisher.tasks)
    model = pm.task_model(task.kind, num_labels=task_type.num_labels(task.num_labels))
    units, notes = attach_task_adapter(model, config)
    model.to(device)  # in place: the units' parameter objects stay the same
    schedule = make_schedule(config.schedule.name, n_units=len(units), k=config.schedule.k,
                             **{k: v for k, v in vars(config.schedule).items() if k not in ("name", "k")})

    train_examples, train_notes = load_split(task.train, task.data_dir, config.seed)
    notes += train_notes
    val_examples, _ = load_split(task.validation, task.data_dir, config.seed, n=task.eval_n)
    train_features = task_type.encode(pm.tokenizer, train_examples, task.max_length, task.doc_stride)
    val_features = task_type.encode(pm.tokenizer, val_examples, task.max_length, task.doc_stride)
    batches_per_epoch = math.ceil(len(train_features) / config.train.batch_size)
    total = config.train.max_steps or math.ceil(config.train.epochs * batches_per_epoch)

    params = model.head.trainable_parameters() + [p for layer in sorted(units) for p in units[layer]]
    optimizer = torch.optim.AdamW(params, lr=config.train.lr, weight_decay=config.train.weight_decay)
    if config.train.lr_schedule == "linear":  # no warmup, decay to 0 at the last step (Table 3)
        factor = lambda s: max(0.0, 1.0 - s / total)  # noqa: E731
    elif config.train.lr_schedule == "constant":
        factor = lambda s: 1.0  # noqa: E731
    else:
        raise ValueError(f"train.lr_schedule must be 'linear' or 'constant', got {config.train.lr_schedule!r}")
    return Run(config=config, pm=pm, model=model, device=device, units=units, schedule=schedule,
               optimizer=optimizer, lr_schedule=torch.optim.lr_scheduler.LambdaLR(optimizer, factor),
               train_features=train_features, val_examples=val_examples, val_features=val_features,
               total_steps=total, batches_per_epoch=batches_per_epoch,
               fisher_data_rng=torch.Generator().manual_seed(config.seed + 1),
               fisher_label_rng=torch.Generator().manual_seed(config.seed + 2),
               fisher_track_rng=torch.Generator().manual_seed(config.seed + 3), notes=notes)


def attach_task_adapter(model: TaskModel, config: RunConfig) -> tuple[dict[int, list[nn.Parameter]], list[str]]:
    """Add the task adapter (or set up full fine-tuning), load language adapters, freeze the rest.

    Returns the units (layer -> parameters the schedule unfreezes) and notes for the results."""
    enc, ad = model.encoder, config.adapters
    notes: list[str] = []
    for p in enc.parameters():
        p.requires_grad_(False)
    pooler_frozen = getattr(model.head, "pooler_frozen", False)
    if ad.kind == "full":
        # Baseline: fine-tune the whole encoder; a unit is a whole layer (embeddings join unit 0).
        units = {j: list(layer.parameters()) for j, layer in enumerate(enc.layers)}
        units[0] = list(enc.embed.parameters()) + units[0]
        notes.append("full fine-tuning baseline: units are whole encoder layers (embeddings belong to unit 0)")
        if pooler_frozen:  # full fine-tuning trains the pretrained pooler too, as Hugging Face does
            model.head.freeze_pooler(False)
            notes.append("full fine-tuning: the pretrained pooler trains with the head")
        return units, notes
    if pooler_frozen:
        notes.append("head: the pretrained pooler is frozen base model (as AdapterHub's train_adapter and the "
                     "released code); the head trains its output layer only")
    elif uses_pretrained_pooler(enc.config.arch, model.kind):
        notes.append("head: the checkpoint has no pooler weights, so the head is a trainable two-layer head on the "
                     "first token (dense + tanh, then linear), not a frozen random layer")
    if ad.kind == "bottleneck":
        A.add_adapter(enc, TASK, "seq_bn", role="task", reduction_factor=ad.reduction_factor)
    elif ad.kind == "lora":
        A.add_adapter(enc, TASK, "lora", role="task", r=ad.lora_r, alpha=ad.lora_alpha)
    else:
        raise ValueError(f"adapters.kind must be bottleneck, lora or full, got {ad.kind!r}")
    for lang, source in ad.language_adapters.items():
        A.load_adapter(enc, source, name=lang)
    if ad.language_adapters:
        if ad.source_language not in ad.language_adapters:
            raise ValueError(f"adapters.language_adapters has no adapter for the source language "
                             f"{ad.source_language!r} (has: {sorted(ad.language_adapters)})")
        A.activate(enc, ad.source_language, TASK)
    else:
        A.activate(enc, TASK)
        notes.append("no MAD-X language adapters: the task adapter runs alone (training and every target language)")
    A.freeze_for_task_training(enc, TASK)  # base + language adapters frozen; units wait for the schedule
    return A.task_units(enc, TASK), notes


def load_split(split, data_dir: str | None, seed: int, n: int | None = None) -> tuple[list, list[str]]:
    """Examples of a configured split (first language), seeded-subsampled; notes on hygiene."""
    notes = []
    examples = D.load_dataset(split.dataset, split.split, lang=split.languages[0], data_dir=data_dir)
    notes += list(getattr(examples, "notes", []))
    if split.exclude_xquad:
        xquad_en = D.load_dataset("xquad", "test", lang="en", data_dir=data_dir)
        examples, note = D.remove_xquad_paragraphs(examples, xquad_en)
        notes.append(note)
    limit = n if n is not None else split.n
    if limit is not None and limit < len(examples):
        examples = D.subsample(examples, limit, seed)
        notes.append(f"{split.dataset}/{split.split}/{split.languages[0]}: seeded subsample of {limit} examples")
    return list(examples), notes


# --------------------------------------------------------------------------------------------------
# batches
# --------------------------------------------------------------------------------------------------
def epoch_batches(run: Run, epoch: int) -> list[list[int]]:
    """The batches (feature indices) of one epoch: length-bucketed, shuffled by a generator derived
    from (seed, epoch), so the data position is just (epoch, batch index) and resuming is exact."""
    rng = torch.Generator().manual_seed(run.config.seed * 100_003 + epoch)
    lengths = [D.feature_length(f) for f in run.train_features]
    return D.length_bucketed_batches(lengths, run.config.train.batch_size, generator=rng)


def collate(run: Run, indices: list[int]) -> dict[str, torch.Tensor]:
    """Training features -> a padded batch on the run's device."""
    batch = D.collate([run.train_features[i] for i in indices], D.pad_id_of(run.pm.tokenizer))
    return {k: v.to(run.device) for k, v in batch.items()}


def fisher_batches(run: Run) -> Iterator[dict[str, torch.Tensor]]:
    """Fresh random training batches for a tr(F) estimate (own generator, as in the reference code)."""
    n, size = len(run.train_features), run.config.fisher.batch_size
    while True:
        idx = torch.randperm(n, generator=run.fisher_data_rng)[:size].tolist()
        yield collate(run, idx)


# --------------------------------------------------------------------------------------------------
# Algorithm 1: selection
# --------------------------------------------------------------------------------------------------
def selection_estimate(run: Run, fisher: FisherConfig | None = None) -> FI.StoppingResult:
    """FUN's tr(F) estimate of the frozen units, on fresh training batches (the run's
    Fisher-batch and selection-label streams), with the stopping rule of `fisher` (default: the
    run's `[fisher]` settings). bench/fun_agreement.py calls this with other settings."""
    fc = fisher or run.config.fisher
    frozen = run.schedule.frozen_units(run.trainable)
    return FI.estimate_until_separated(
        run.model, fisher_batches(run), {u: run.units[u] for u in frozen},
        max_batches=fc.max_batches, min_batches=min(fc.min_batches, fc.max_batches), confidence=fc.confidence,
        tolerance=fc.tolerance, m=run.config.schedule.m or 1, labels=fc.labels, method=fc.method,
        generator=run.fisher_label_rng)


def select_units(run: Run) -> None:
    """SELECT at a selection step: (FUN) estimate tr(F) of the frozen units, then unfreeze."""
    fisher_values = None
    if run.schedule.needs_fisher_at(run.step):
        t0 = time.perf_counter()
        result = selection_estimate(run)
        run.seconds["fisher_select"] += time.perf_counter() - t0
        fisher_values = result.estimate.values
        record = {"step": run.step, "purpose": "select", **result.to_record()}
        run.fisher_log.append(record)
    selection = run.schedule.select(run.step, frozenset(run.trainable), fisher_values)
    run.trainable |= set(selection.units)
    apply_trainable(run)
    run.schedule_log.append(selection.to_record())


def apply_trainable(run: Run) -> None:
    """requires_grad=True exactly for the parameters of the trainable units (the head always is)."""
    if run.config.adapters.kind == "full":
        for unit, params in run.units.items():
            for p in params:
                p.requires_grad_(unit in run.trainable)
    else:
        A.set_trainable_units(run.model.encoder, TASK, run.trainable)


def track_fisher(run: Run, batch: dict[str, torch.Tensor]) -> None:
    """tr(F) of every unit on the current training batch (the paper's Figures 3 and 4)."""
    t0 = time.perf_counter()
    values = FI.tracking_values(run.model, batch, run.units, run.fisher_track_rng,
                                labels=run.config.fisher.labels, method=run.config.fisher.method)
    run.seconds["fisher_track"] += time.perf_counter() - t0
    record = {"purpose": "track", **FI.tracking_record(run.step, values, run.trainable)}
    record["values"] = record.pop("trace")
    run.fisher_log.append(record)


# --------------------------------------------------------------------------------------------------
# validation and best checkpoint
# --------------------------------------------------------------------------------------------------
def trained_state(run: Run) -> dict[str, torch.Tensor]:
    """The weights a run learns: every unit's parameters (trainable or not) and the head."""
    names = {id(p): n for n, p in run.model.named_parameters()}
    state = {names[id(p)]: p.detach().clone() for ps in run.units.values() for p in ps}
    state.update({f"head.{n}": p.detach().clone() for n, p in run.model.head.named_parameters()})
    return state


def load_trained_state(run: Run, state: dict[str, torch.Tensor]) -> None:
    params = dict(run.model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


def validate(run: Run) -> float:
    t0 = time.perf_counter()
    task = run.config.task
    metrics = evaluate_examples(run.model, run.pm.tokenizer, run.val_examples, task.validation.dataset,
                                task.validation.languages[0], task.max_length, task.doc_stride,
                                run.config.train.eval_batch_size, features=run.val_features)
    run.seconds["validation"] += time.perf_counter() - t0
    value = get_task(run.model.kind).primary_metric(metrics)
    if value > run.best_metric:
        run.best_metric, run.best_step, run.best_state = value, run.step, trained_state(run)
    return value


# --------------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------------
def save_checkpoint(run: Run, run_dir: Path) -> None:
    state = {
        "step": run.step,
        "trained": trained_state(run),
        "full_encoder": run.model.encoder.state_dict() if run.config.adapters.kind == "full" else None,
        "optimizer": run.optimizer.state_dict(),
        "lr_schedule": run.lr_schedule.state_dict(),
        "schedule": run.schedule.state_dict(),
        "trainable": sorted(run.trainable),
        "best": {"metric": run.best_metric, "step": run.best_step, "state": run.best_state},
        "rng": {"torch": torch.get_rng_state(), "fisher_data": run.fisher_data_rng.get_state(),
                # dropout on a GPU draws from that device's generator, not the CPU one
                "cuda": torch.cuda.get_rng_state(run.device) if run.device.type == "cuda" else None,
                "fisher_label": run.fisher_label_rng.get_state(),
                "fisher_track": run.fisher_track_rng.get_state()},
        "schedule_log": run.schedule_log,
        "fisher_log": run.fisher_log,
        "seconds": run.seconds,
    }
    atomic_torch_save(run_dir / CHECKPOINT, state)


def load_checkpoint(run: Run, run_dir: Path) -> None:
    path = run_dir / CHECKPOINT
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{path}: no checkpoint to resume from") from e
    run.step = state["step"]
    if state["full_encoder"] is not None:
        run.model.encoder.load_state_dict(state["full_encoder"])
    load_trained_state(run, state["trained"])
    run.schedule.load_state_dict(state["schedule"])
    run.trainable = set(state["trainable"])
    apply_trainable(run)
    run.optimizer.load_state_dict(state["optimizer"])
    run.lr_schedule.load_state_dict(state["lr_schedule"])
    run.best_metric, run.best_step, run.best_state = state["best"]["metric"], state["best"]["step"], state["best"]["state"]
    torch.set_rng_state(state["rng"]["torch"])
    if state["rng"].get("cuda") is not None and run.device.type == "cuda":
        torch.cuda.set_rng_state(state["rng"]["cuda"], run.device)
    run.fisher_data_rng.set_state(state["rng"]["fisher_data"])
    run.fisher_label_rng.set_state(state["rng"]["fisher_label"])
    run.fisher_track_rng.set_state(state["rng"]["fisher_track"])
    run.schedule_log, run.fisher_log, run.seconds = state["schedule_log"], state["fisher_log"], state["seconds"]
    # Logs written after this checkpoint belong to steps that will run again: drop them.
    kept = [r for r in read_jsonl(run_dir / "train_log.jsonl") if r["step"] <= run.step]
    atomic_write_text(run_dir / "train_log.jsonl", "".join(json.dumps(r) + "\n" for r in kept))
    atomic_write_text(run_dir / FISHER_LOG, "".join(json.dumps(r) + "\n" for r in run.fisher_log))


# --------------------------------------------------------------------------------------------------
# the loop
# --------------------------------------------------------------------------------------------------
def train(run: Run, run_dir: Path, resume: bool = False, stop_after: int | None = None) -> None:
    """Algorithm 1 (generalized scheduled unfreezing) around ordinary AdamW steps.

    `stop_after`: return right after that step's checkpoint (used by tests to simulate a kill)."""
    cfg = run.config
    task = get_task(run.model.kind)  # the training loss and the model inputs
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        load_checkpoint(run, run_dir)
    progress = Progress(run.total_steps, f"train [{cfg.schedule.name}]", start=run.step)
    logged = len(run.fisher_log)  # fisher records already in fisher.jsonl
    epoch, position = divmod(run.step, run.batches_per_epoch)
    batches = epoch_batches(run, epoch)
    while run.step < run.total_steps:
        if run.schedule.is_selection_step(run.step):
            select_units(run)
        if position == len(batches):
            epoch, position = epoch + 1, 0
            batches = epoch_batches(run, epoch)
        batch = collate(run, batches[position])
        position += 1

        t0 = time.perf_counter()
        run.model.train()
        loss = task.loss(run.model(**task.inputs(batch)), batch)
        loss.backward()
        trainable = [p for p in run.optimizer.param_groups[0]["params"] if p.grad is not None]
        grad_norm = torch.nn.utils.clip_grad_norm_(trainable, cfg.train.max_grad_norm) if trainable else torch.tensor(0.0)
        run.optimizer.step()
        run.lr_schedule.step()
        run.optimizer.zero_grad(set_to_none=True)
        run.step += 1
        run.seconds["train"] += time.perf_counter() - t0

        record = {"step": run.step, "loss": float(loss.detach()), "grad_norm": float(grad_norm),
                  "lr": run.lr_schedule.get_last_lr()[0], "trainable": sorted(run.trainable)}
        if cfg.fisher.track_every and run.step % cfg.fisher.track_every == 0:
            track_fisher(run, batch)
        if run.step % cfg.train.eval_every == 0 or run.step == run.total_steps:
            record["val"] = validate(run)
        append_jsonl(run_dir / "train_log.jsonl", record)
        for fisher_record in run.fisher_log[logged:]:
            append_jsonl(run_dir / FISHER_LOG, fisher_record)
        logged = len(run.fisher_log)
        progress.update(postfix=f"loss {record['loss']:.3f}" + (f" val {record['val']:.1f}" if "val" in record else ""))
        if run.step % cfg.train.checkpoint_every == 0 or run.step == run.total_steps:
            save_checkpoint(run, run_dir)
        if stop_after is not None and run.step >= stop_after:
            break
    progress.close()


# --------------------------------------------------------------------------------------------------
# finish: best checkpoint, zero-shot evaluation, results
# --------------------------------------------------------------------------------------------------
def finish(run: Run, run_dir: Path) -> dict[str, Any]:
    """Restore the best adapters + head, evaluate zero-shot per language, write every output."""
    from . import __version__
    from .evaluation import average_coverage, cross_lingual_average, results_table, zero_shot
    from .plots import plot_fisher, plot_schedule, plots_available
    from .runconfig import to_dict

    cfg, task = run.config, run.config.task
    if run.best_state is not None:
        load_trained_state(run, run.best_state)
    save_trained(run, run_dir / "adapter")
    t0 = time.perf_counter()
    full = cfg.adapters.kind == "full"  # no language adapters: every language runs (none is skipped)
    metrics = zero_shot(run.model, run.pm.tokenizer, task.evaluate.dataset, task.evaluate.split,
                        task.evaluate.languages, language_adapters=[] if full else list(cfg.adapters.language_adapters),
                        task_adapter=None if full else TASK, data_dir=task.data_dir,
                        max_length=task.max_length, doc_stride=task.doc_stride,
                        batch_size=cfg.train.eval_batch_size, n=task.eval_n, seed=cfg.seed)
    run.seconds["zero_shot"] = time.perf_counter() - t0
    select = [r for r in run.fisher_log if r.get("purpose") == "select"]
    results = {
        "name": cfg.name,
        "schedule_name": cfg.schedule.name,
        "schedule": [{"step": r["step"], "units": list(r["units"]), **({"ranking": r["ranking"]} if "ranking" in r else {})}
                     for r in run.schedule_log],
        "fisher": [{"step": r["step"], "values": {str(u): v for u, v in r["values"].items()},
                    **{k: v for k, v in r.items() if k not in ("step", "values")}} for r in run.fisher_log],
        "fisher_summary": {
            "select_estimates": len(select),
            "batches_per_decision": [r["n_batches"] for r in select],
            "stop_reasons": [r["reason"] for r in select],
            "max_batches": cfg.fisher.max_batches, "min_batches": cfg.fisher.min_batches,
            "confidence": cfg.fisher.confidence, "tolerance": cfg.fisher.tolerance,
            "labels": cfg.fisher.labels, "method": cfg.fisher.method,
        },
        "trainable_parameters": trainable_parameters(run.model, run.units),
        "metrics": metrics,
        "xling_avg": cross_lingual_average(metrics, cfg.adapters.source_language, run.model.kind),
        "xling_avg_over": average_coverage(metrics, cfg.adapters.source_language),
        "source_language": cfg.adapters.source_language,
        "best": {"step": run.best_step, "validation": run.best_metric},
        "steps": run.step,
        "notes": run.notes,
        "model": run.pm.source,
        "timings_seconds": {k: round(v, 2) for k, v in run.seconds.items()},
        "versions": {"funfisher": __version__, "torch": torch.__version__},
        "config": to_dict(cfg),
    }
    atomic_write_json(run_dir / "results.json", results)
    plots_note = plots_available()
    if plots_note is None:
        n_units = len(run.units)
        plot_fisher(run.fisher_log, run.schedule_log, n_units, run_dir / "fisher.png",
                    title=f"tr(F) per unit, schedule {cfg.schedule.name}")
        plot_schedule(run.schedule_log, n_units, cfg.schedule.k, run_dir / "schedule.png",
                      title=f"schedule {cfg.schedule.name} vs top-down")
    summary = [f"# {cfg.name}: schedule `{cfg.schedule.name}`", "",
               f"Model `{cfg.model.name}`, task adapter `{cfg.adapters.kind}`, {run.step} steps, "
               f"best English validation {run.best_metric:.2f} at step {run.best_step}.", "",
               results_table(metrics, cfg.adapters.source_language, run.model.kind), "",
               "Schedule (step: units): " + ", ".join(f"{r['step']}: {r['units']}" for r in run.schedule_log), ""]
    summary += [f"- {n}" for n in run.notes] + ([f"- {plots_note}"] if plots_note else [])
    atomic_write_text(run_dir / "summary.md", "\n".join(summary) + "\n")
    return results


def trainable_parameters(model: TaskModel, units: dict[int, list[nn.Parameter]]) -> dict[str, Any]:
    """What the optimizer updates, counted: the head's trainable parameters and each unit's
    (a unit trains from its release on; the schedule decides when)."""
    count = lambda params: sum(p.numel() for p in params)  # noqa: E731
    return {"head": count(model.head.trainable_parameters()),
            "units": {str(u): count(ps) for u, ps in sorted(units.items())}}


def save_trained(run: Run, folder: Path) -> None:
    """The learned weights in AdapterHub format (task adapter + head), or the whole encoder for full FT."""
    if run.config.adapters.kind == "full":
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.contiguous() for k, v in run.model.state_dict().items()}
        tmp = folder / ".model.safetensors.tmp"
        save_file(state, str(tmp))
        tmp.replace(folder / "model.safetensors")
        return
    A.save_adapter(run.model, TASK, folder, with_head=True, model_name=run.config.model.name)
