"""The training recipe: scheduled unfreezing of task adapters (paper Algorithm 1), read top to bottom.

    run = prepare(config)                  # model + adapters + data + schedule + optimizer
    train(run, run_dir)                    # the loop; resumable from run_dir/checkpoint.pt
    result = finish(run, run_dir)          # best checkpoint -> zero-shot evaluation -> results.json
    result = run_one(config, run_dir)      # the three, in a run folder (what train.py runs)

One training step (`train_step`): forward (in `train.precision`), loss, backward, clip (1.0), AdamW,
LR schedule. Around it:
- at steps 0, k, 2k, ... the schedule's SELECT adds units (layers) to the trainable set; FUN first
  asks `fisher.estimate_until_separated` for tr(F) of the frozen units (fresh training batches);
- every `fisher.track_every` steps, tr(F) per unit on the current batch (Figures 3/4 of the paper);
- every `train.eval_every` steps, English validation; the best adapters AND head are kept;
- every `train.checkpoint_every` steps, an atomic checkpoint with everything needed to continue
  exactly: weights, optimizer, LR schedule, every RNG stream, schedule state, data position.

Randomness has one stream per purpose (docs/architecture.md): data order (derived from seed and epoch), the
global torch RNG (dropout), and three generators of its own: FUN's Fisher batches, the labels
sampled for FUN's selection estimates, and the labels sampled for tr(F) tracking. A FUN run's
tr(F) estimates therefore never shift the data order or dropout of the run, and switching
tracking on or off never changes FUN's decisions.

What trains is the trainable set of `adapters.kind` (trainable.py: a task adapter per layer, or
the whole encoder) and the head; `results.json` records the counts.

Frozen parameters never change: AdamW skips parameters whose .grad is None (they have no state,
so no weight decay and no stale moments), and the optimizer zeroes grads to None every step. A
newly unfrozen parameter's Adam state starts fresh at its first update.
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Iterator

import torch

from ..version import __version__
from .. import data as D
from .. import fisher as FI
from .. import parallel
from ..data.hub_datasets import companion_source
from ..data.predictions import score_predictions
from ..evaluation import average_coverage, cross_lingual_average, evaluate_zero_shot, predict_records, predictions_path
from ..model import load_pretrained
from ..model.precision import autocast, grad_scaler, to_float, unsupported
from ..io.plots import plot_fisher, plot_schedule, plots_available
from ..io.progress import Progress
from ..io.tensorboard import TensorBoardLog, require_tensorboard
from ..errors import UserError
from ..runconfig import ConfigError, FisherConfig, RunConfig, to_dict
from ..io.runs import (FISHER_LOG, PREDICTIONS, RESULTS, SUMMARY, TRAIN_LOG, VALIDATION_PREDICTIONS, WEIGHTS, RunLock,
                       append_jsonl, atomic_write_jsonl, atomic_write_text)
from ..schedules import make_schedule
from ..tasks import get_task
from .checkpoint import load_checkpoint, open_run_dir, plan_run, restore, save_checkpoint
from .results import RunResult, fisher_summary
from .optim import AdamW, LRSchedule
from .run import Run
from .trainable import attach, kind_of


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
        raise ConfigError(f"train.device={name!r} is not a device name (cpu, cuda, cuda:N, mps or auto): {e}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"train.device={name!r}, but torch sees no CUDA device (torch {torch.__version__}; "
                             f"a CPU-only build?). Use train.device=cpu or auto.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"train.device={name!r}, but there are only {torch.cuda.device_count()} CUDA devices")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"train.device={name!r}, but the MPS backend is not available here")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"train.device={name!r}: only cpu, cuda, mps (or auto) are supported")
    return device


def run_device(config: RunConfig) -> torch.device:
    """`train.device` resolved on this machine, with `train.precision` checked against it (fp16
    needs CUDA): training and `eval.py run` alike, before any work."""
    device = resolve_device(config.train.device)
    if device.type == "cuda" and parallel.world().size > 1:  # torchrun: one GPU per process
        device = torch.device("cuda", parallel.world().local_rank)
    reason = unsupported(config.train.precision, device)
    if reason:
        raise ConfigError(reason)
    return device


def prepare(config: RunConfig, pm=None) -> Run:
    """Everything a run needs, in memory; writes nothing. The data (and every evaluation file) is
    read before the model loads, so a broken dataset fails in seconds, not after training."""
    # train.threads is the node's budget: torchrun's processes on one node share it (the config, and
    # so a checkpoint, does not depend on the number of processes).
    torch.set_num_threads(max(1, config.train.threads // parallel.world().local_size))
    device = run_device(config)
    if config.train.tensorboard:
        require_tensorboard()
    task = config.task
    train_examples, notes = load_split(task.train, task.data_dir, config.seed)
    val_examples, _ = load_split(task.validation, task.data_dir, config.seed, n=task.eval_n)
    check_evaluation_data(config)
    pm = pm or load_pretrained(config.model.name, arch=config.model.arch)
    # Seed after loading: building the encoder draws random init weights (then overwritten), and a
    # run must not depend on whether its model was loaded here or handed in (train.py --compare).
    torch.manual_seed(config.seed)
    task_type = get_task(task.kind)  # what the kind decides: features, head size (funfisher.tasks)
    model = pm.task_model(task.kind, num_labels=task_type.num_labels(task.num_labels))
    trainable_set = attach(model, config)  # base model frozen; the units wait for the schedule
    units = trainable_set.units
    notes = list(trainable_set.notes) + notes
    model.to(device)  # in place: the units' parameter objects stay the same
    schedule = build_schedule(config, n_units=len(units))

    train_features = task_type.encode(pm.tokenizer, train_examples, task.max_length, task.doc_stride)
    val_features = task_type.encode(pm.tokenizer, val_examples, task.max_length, task.doc_stride)
    batches_per_epoch = math.ceil(len(train_features) / config.train.batch_size)
    total = config.train.max_steps or math.ceil(config.train.epochs * batches_per_epoch)

    params = model.head.trainable_parameters() + [p for layer in sorted(units) for p in units[layer]]
    optimizer = AdamW(params, lr=config.train.lr, weight_decay=config.train.weight_decay)  # train/optim.py
    if config.train.lr_schedule == "linear":  # no warmup, decay to 0 at the last step (Table 3)
        factor = lambda s: max(0.0, 1.0 - s / total)  # noqa: E731
    elif config.train.lr_schedule == "constant":
        factor = lambda s: 1.0  # noqa: E731
    else:
        raise ConfigError(f"train.lr_schedule must be 'linear' or 'constant', got {config.train.lr_schedule!r}")
    return Run(config=config, pm=pm, model=model, device=device, trainable_set=trainable_set, schedule=schedule,
               optimizer=optimizer, lr_schedule=LRSchedule(optimizer, factor),
               train_features=train_features, val_examples=val_examples, val_features=val_features,
               total_steps=total, batches_per_epoch=batches_per_epoch,
               fisher_data_rng=torch.Generator().manual_seed(config.seed + 1),
               fisher_label_rng=torch.Generator().manual_seed(config.seed + 2),
               fisher_track_rng=torch.Generator().manual_seed(config.seed + 3), notes=notes,
               scaler=grad_scaler(config.train.precision, device))


def build_schedule(config: RunConfig, n_units: int):
    """The run's schedule for a model with `n_units` units; a bad option is a ConfigError."""
    options = {k: v for k, v in vars(config.schedule).items() if k not in ("name", "k")}
    try:
        return make_schedule(config.schedule.name, n_units=n_units, k=config.schedule.k, **options)
    except ValueError as e:
        raise ConfigError(f"schedule {config.schedule.name!r} on a model with {n_units} units: {e}") from None


def check_data(config: RunConfig) -> None:
    """Read every file the run will read (training, validation, each evaluation language)."""
    load_split(config.task.train, config.task.data_dir, config.seed)
    load_split(config.task.validation, config.task.data_dir, config.seed)
    check_evaluation_data(config)


def check_evaluation_data(config: RunConfig) -> None:
    """Read every evaluation language's file now (and drop it): a missing or malformed one is an
    error before training, not after it."""
    ev = config.task.evaluate
    for lang in ev.languages:
        D.load_dataset(ev.dataset, ev.split, lang=lang, data_dir=config.task.data_dir, source=ev.source)


def load_split(split, data_dir: str | None, seed: int, n: int | None = None) -> tuple[list, list[str]]:
    """Examples of a configured split (first language), from its `source` (data folder or hub),
    seeded-subsampled; notes on hygiene. XQuAD-en for `exclude_xquad` comes from the local data
    with a local split, else from the hub's XQuAD (`hub_datasets.companion_source`)."""
    notes = []
    examples = D.load_dataset(split.dataset, split.split, lang=split.languages[0], data_dir=data_dir,
                              source=split.source)
    notes += list(getattr(examples, "notes", []))
    if split.exclude_xquad:
        xquad_en = D.load_dataset("xquad", "test", lang="en", data_dir=data_dir,
                                  source=companion_source(split.source))
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
# Algorithm 1: selection, and tr(F) through training
# --------------------------------------------------------------------------------------------------
# Every tr(F) estimate becomes one record {"purpose", "step", "values" ({unit: tr(F)}), ...details}
# in run.fisher_log, and goes as it is to fisher.jsonl and results.json.
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


def select_units(run: Run, run_dir: Path) -> None:
    """SELECT at a selection step: (FUN) estimate tr(F) of the frozen units, then unfreeze."""
    fisher_values = None
    if run.schedule.needs_fisher_at(run.step):
        t0 = time.perf_counter()
        result = selection_estimate(run)
        run.seconds["fisher_select"] += time.perf_counter() - t0
        fisher_values = result.estimate.values
        for unit, value in fisher_values.items():
            check_finite(run, run_dir, f"tr(F) estimate of unit {unit}", value)
        run.fisher_log.append({"purpose": "select", "step": run.step, **result.to_record()})
    selection = run.schedule.select(run.step, frozenset(run.trainable), fisher_values)
    run.trainable |= set(selection.units)
    run.trainable_set.apply(run.trainable)
    run.schedule_log.append(selection.to_record())


def track_fisher(run: Run, run_dir: Path, batch: dict[str, torch.Tensor]) -> None:
    """tr(F) of every unit on the current training batch (the paper's Figures 3 and 4)."""
    t0 = time.perf_counter()
    values = FI.tracking_values(run.model, batch, run.units, run.fisher_track_rng,
                                labels=run.config.fisher.labels, method=run.config.fisher.method)
    run.seconds["fisher_track"] += time.perf_counter() - t0
    for unit, value in values.items():
        check_finite(run, run_dir, f"tracked tr(F) of unit {unit}", value)
    run.fisher_log.append({"purpose": "track", **FI.tracking_record(run.step, values, run.trainable)})


# --------------------------------------------------------------------------------------------------
# validation and best checkpoint
# --------------------------------------------------------------------------------------------------
def validate(run: Run, run_dir: Path | None = None) -> float:
    """The validation metric now (the task's primary one). A new best keeps the trainable weights
    and, in `run_dir`, its per-example predictions with the step (`VALIDATION_PREDICTIONS`): the
    file is written only when the best changes, so it always holds the validation the run keeps."""
    t0 = time.perf_counter()
    task, validation = run.config.task, run.config.task.validation
    lang = validation.languages[0]
    records = predict_records(run.model, run.pm.tokenizer, run.val_examples, task.max_length, task.doc_stride,
                              run.config.train.eval_batch_size, features=run.val_features,
                              precision=run.config.train.precision)
    metrics = score_predictions(records, D.DATASETS[validation.dataset].metric, lang)
    value = get_task(run.model.kind).primary_metric(metrics)
    if value > run.best_metric:
        run.best_metric, run.best_step, run.best_state = value, run.step, run.trainable_set.state()
        if run_dir is not None and parallel.world().is_main:
            path = predictions_path(run_dir / VALIDATION_PREDICTIONS, validation.dataset, validation.split, lang)
            atomic_write_jsonl(path, [{**record, "step": run.step} for record in records])
    run.seconds["validation"] += time.perf_counter() - t0
    return value


# --------------------------------------------------------------------------------------------------
# the loop
# --------------------------------------------------------------------------------------------------
class DivergedError(UserError):
    """A non-finite loss, gradient norm or tr(F): the run stops at that step (its last checkpoint stays)."""


def check_finite(run: Run, run_dir: Path, what: str, value: float) -> None:
    """Stop a run that diverged instead of training on (and evaluating, and reporting) NaN weights."""
    if math.isfinite(value):
        return
    saved = run.step - run.step % run.config.train.checkpoint_every
    kept = (f"the last checkpoint (step {saved}) is kept in {run_dir / 'checkpoint.pt'}" if saved
            else "no checkpoint was written yet")
    raise DivergedError(f"{run_dir}: step {run.step + 1}: the {what} is {value} (lr {run.lr_schedule.get_last_lr()[0]:g}): "
                        f"training diverged and stops here; {kept}. Try a smaller train.lr or train.max_grad_norm")


def train_step(run: Run, batch: dict[str, torch.Tensor], run_dir: Path) -> tuple[float, float | None]:
    """One optimizer step on `batch`: the forward pass under `train.precision` (model/precision.py:
    fp32, or bf16 / fp16 autocast with fp32 weights), the loss in fp32, backward, clipping to
    `train.max_grad_norm`, AdamW, the LR schedule. Returns (loss, gradient norm before clipping);
    the norm is None on an fp16 step the loss scaler skipped (an overflow: it lowers the scale)."""
    task = get_task(run.model.kind)  # the training loss and the model inputs
    scaler = run.scaler
    run.model.train()
    # Unit i lives in layer i: nothing below the lowest unit that trains now (read from the
    # parameters themselves) needs gradients, so those layers run without autograd. With no unit
    # trainable (LPFT's first phase) the whole encoder does.
    frozen_below = min((u for u, params in run.units.items() if any(p.requires_grad for p in params)),
                       default=len(run.units))
    # Under torchrun this rank computes its share of the batch, and the gradients (with the loss)
    # are summed over the ranks: the global batch's mean loss and its gradient (funfisher/parallel.py).
    mine = parallel.share(batch)
    loss = torch.zeros(())
    if mine.size:  # (a share is empty only when the batch has fewer examples than there are ranks)
        with autocast(run.config.train.precision, run.device), parallel.on_share(mine):
            out = run.model(**task.inputs(mine.batch), frozen_below=frozen_below)
        loss = task.loss(to_float(out), mine.batch)
        if mine.weight != 1:
            loss = loss * mine.weight
        (loss if scaler is None else scaler.scale(loss)).backward()
    trainable = [p for p in run.optimizer.param_groups[0]["params"] if p.requires_grad]
    loss_value = float(parallel.sum_gradients(trainable, loss.detach().reshape(1)))
    check_finite(run, run_dir, "loss", loss_value)
    if scaler is not None:
        scaler.unscale_(run.optimizer)  # clip the true gradients, not the scaled ones
    trainable = [p for p in trainable if p.grad is not None]
    norm = torch.nn.utils.clip_grad_norm_(trainable, run.config.train.max_grad_norm) if trainable else torch.tensor(0.0)
    grad_norm: float | None = float(norm)
    if scaler is None:
        check_finite(run, run_dir, "gradient norm", grad_norm)
        run.optimizer.step()
    else:  # fp16: an inf/NaN gradient means the loss scale overflowed; the scaler skips this update
        scaler.step(run.optimizer)
        scaler.update()
        grad_norm = grad_norm if math.isfinite(grad_norm) else None
    run.lr_schedule.step()
    run.optimizer.zero_grad(set_to_none=True)
    return loss_value, grad_norm


def train(run: Run, run_dir: Path, resume: bool = False, state: dict | None = None, stop_after: int | None = None) -> None:
    """Algorithm 1 (generalized scheduled unfreezing) around ordinary AdamW steps.

    `state`: a checkpoint to continue from (`checkpoint.plan_run` read and checked it); `resume`:
    read it from run_dir/checkpoint.pt. `stop_after`: return right after that step's checkpoint
    (benchmarks use it to look at the run mid-way)."""
    cfg = run.config
    writes = parallel.world().is_main  # under torchrun only rank 0 writes; every rank trains
    if writes:
        run_dir.mkdir(parents=True, exist_ok=True)
    if state is not None:
        restore(run, state, run_dir)
    elif resume:
        load_checkpoint(run, run_dir)
    parallel.broadcast_parameters(run.optimizer.param_groups[0]["params"])  # the head and every unit
    progress = Progress(run.total_steps, f"train [{cfg.schedule.name}]", start=run.step)
    logged = len(run.fisher_log)  # fisher records already in fisher.jsonl
    board = (TensorBoardLog(run_dir, get_task(run.model.kind).primary, run.step)
             if cfg.train.tensorboard and writes else None)
    boarded = len(run.schedule_log)  # selections already on the board
    epoch, position = divmod(run.step, run.batches_per_epoch)
    batches = epoch_batches(run, epoch)
    while run.step < run.total_steps:
        if run.schedule.is_selection_step(run.step):
            select_units(run, run_dir)
        if position == len(batches):
            epoch, position = epoch + 1, 0
            batches = epoch_batches(run, epoch)
        batch = collate(run, batches[position])
        position += 1

        t0 = time.perf_counter()
        loss_value, grad_norm = train_step(run, batch, run_dir)
        if len(batches[position - 1]) < parallel.world().size:  # some rank drew no dropout masks
            parallel.sync_rng(run.device)
        run.step += 1
        run.seconds["train"] += time.perf_counter() - t0

        record = {"step": run.step, "loss": loss_value, "grad_norm": grad_norm,
                  "lr": run.lr_schedule.get_last_lr()[0], "trainable": sorted(run.trainable)}
        if cfg.fisher.track_every and run.step % cfg.fisher.track_every == 0:
            track_fisher(run, run_dir, batch)
        if run.step % cfg.train.eval_every == 0 or run.step == run.total_steps:
            record["val"] = validate(run, run_dir)
        if writes:
            append_jsonl(run_dir / TRAIN_LOG, record)
            for fisher_record in run.fisher_log[logged:]:
                append_jsonl(run_dir / FISHER_LOG, fisher_record)
        if board is not None:
            board.step(record)
            for fisher_record in run.fisher_log[logged:]:
                board.fisher(fisher_record)
            for selection in run.schedule_log[boarded:]:
                board.selection(selection)
            boarded = len(run.schedule_log)
        logged = len(run.fisher_log)
        progress.update(postfix=f"loss {record['loss']:.3f}" + (f" val {record['val']:.1f}" if "val" in record else ""))
        if writes and (run.step % cfg.train.checkpoint_every == 0 or run.step == run.total_steps):
            save_checkpoint(run, run_dir)
        if stop_after is not None and run.step >= stop_after:
            break
    progress.close()
    if board is not None:
        board.close()


# --------------------------------------------------------------------------------------------------
# finish: best checkpoint, zero-shot evaluation, results
# --------------------------------------------------------------------------------------------------
def finish(run: Run, run_dir: Path) -> RunResult:
    """Restore the best adapters + head, evaluate zero-shot per language (per-example predictions
    in run_dir/predictions/), write every output. Under torchrun every rank evaluates its share of
    each language's examples, and rank 0 writes."""
    cfg = run.config
    if run.best_state is not None:
        run.trainable_set.load_state(run.best_state)
    if parallel.world().is_main:
        run.trainable_set.save(run_dir / WEIGHTS, cfg.model.name)
    t0 = time.perf_counter()
    language_adapters, task_adapter = run.trainable_set.evaluation_stack(cfg)
    metrics = evaluate_zero_shot(run.model, run.pm.tokenizer, cfg, language_adapters, task_adapter,
                                 batch_size=cfg.train.eval_batch_size, n=cfg.task.eval_n,
                                 predictions_dir=run_dir / PREDICTIONS)
    run.seconds["zero_shot"] = time.perf_counter() - t0
    source = cfg.adapters.source_language
    result = RunResult(
        name=cfg.name, schedule_name=cfg.schedule.name, schedule=list(run.schedule_log), fisher=list(run.fisher_log),
        fisher_summary=fisher_summary(run.fisher_log, cfg.fisher),
        trainable_parameters=run.trainable_set.trainable_parameters(),
        metrics=metrics, xling_avg=cross_lingual_average(metrics, source, run.model.kind),
        xling_avg_over=average_coverage(metrics, source), source_language=source,
        best={"step": run.best_step, "validation": run.best_metric}, steps=run.step, notes=run.notes,
        model=run.pm.source, timings_seconds={k: round(v, 2) for k, v in run.seconds.items()},
        versions={"funfisher": __version__, "torch": torch.__version__}, config=cfg)
    if parallel.world().is_main:
        write_outputs(result, run_dir)
    return result


PLOTS = ("fisher.png", "schedule.png")


def finished_outputs(config: RunConfig) -> list[str]:
    """What a finished run folder holds besides results.json: the trained weights' files, the
    summary, and the plots (with matplotlib)."""
    weights = [f"{WEIGHTS}/{name}" for name in kind_of(config).files]
    return weights + [SUMMARY] + (list(PLOTS) if plots_available() is None else [])


def write_outputs(result: RunResult, run_dir: Path, only_missing: bool = False) -> list[str]:
    """The plots and summary.md, then results.json LAST: results.json is what "finished" means, so
    a run killed before it is finished again by --resume, and one killed after it has everything.
    `only_missing`: write only files that are not there (a finished run's --resume). Returns the names written."""
    written = []
    plots_note = plots_available()
    if plots_note is None:
        n_units, name = len(result.trainable_parameters["units"]), result.config.schedule.name
        todo = {"fisher.png": lambda path: plot_fisher(result.fisher, result.schedule, n_units, path,
                                                       title=f"tr(F) per unit, schedule {name}"),
                "schedule.png": lambda path: plot_schedule(result.schedule, n_units, result.config.schedule.k, path,
                                                           title=f"schedule {name} vs top-down")}
        for file, plot in todo.items():
            if not (only_missing and (run_dir / file).exists()):
                plot(run_dir / file)
                written.append(file)
    if not (only_missing and (run_dir / SUMMARY).exists()):
        atomic_write_text(run_dir / SUMMARY, result.summary(plots_note))
        written.append(SUMMARY)
    if not (only_missing and (run_dir / RESULTS).exists()):
        result.write(run_dir)
        written.append(RESULTS)
    return written


# --------------------------------------------------------------------------------------------------
# one run in a folder: what train.py runs
# --------------------------------------------------------------------------------------------------
def run_one(config: RunConfig, output: Path, resume: bool = False, overwrite: bool = False, pm=None) -> RunResult:
    """Prepare, train (or resume), and evaluate one configuration in `output`.

    The folder gets config.toml, train_log.jsonl, fisher.jsonl, checkpoint.pt, PNG plots,
    summary.md, the trained adapter and, last, results.json. Everything is checked before anything
    is written (checkpoint.plan_run, prepare), and the folder is locked while the run works in it.
    `resume` continues from the checkpoint; a finished run is not run again, but what it misses
    is written (summary.md and plots from results.json; adapter/ from the final checkpoint)."""
    output = Path(output)
    if not parallel.world().is_main:
        return _run_rank(config, output, resume, overwrite, pm)
    with RunLock(output) as lock:
        plan = plan_run(config, output, resume, overwrite, finished_outputs(config))
        parallel.barrier()  # (torchrun) every rank has read the folder before this one changes it
        if plan.finished and plan.state is None:
            if note := plan.lost_note(output):
                print(note, file=sys.stderr)
            open_run_dir(config, output, lock, plan, resume=True)
            written = write_outputs(RunResult.read(output), output, only_missing=True)
            print(f"{output}: already finished (results.json exists); "
                  + (f"wrote the missing {', '.join(written)}" if written else "nothing to do"), file=sys.stderr)
            return RunResult.read(output)
        run = prepare(config, pm=pm)
        run_dir = open_run_dir(config, output, lock, plan, resume=resume, overwrite=overwrite)
        print(f"[{config.schedule.name}] run folder {run_dir}" + _ranks_note(), file=sys.stderr)
        train(run, run_dir, state=plan.state)
        result = finish(run, run_dir)
    print((run_dir / SUMMARY).read_text(encoding="utf-8"))
    return result


def _ranks_note() -> str:
    w = parallel.world()
    return f" ({w.size} ranks: each computes its share of every batch)" if w.size > 1 else ""


def _run_rank(config: RunConfig, output: Path, resume: bool, overwrite: bool, pm=None) -> None:
    """A torchrun rank other than 0: the same checks (they fail alike on every rank), the same
    training and evaluation on its shares; rank 0 holds the folder's lock and writes (funfisher/parallel.py)."""
    plan = plan_run(config, output, resume, overwrite, finished_outputs(config))
    parallel.barrier()
    if plan.finished and plan.state is None:
        return None
    run = prepare(config, pm=pm)
    train(run, output, state=plan.state)
    finish(run, output)
    return None


# --------------------------------------------------------------------------------------------------
# several runs (a comparison, a sweep): checked before the first one trains
# --------------------------------------------------------------------------------------------------
def check_before_training(configs: list[RunConfig]):
    """What `prepare` would find wrong in any of `configs`, found before the first run trains: the
    files of each distinct data setting (read once: seeds and training-set sizes only subsample),
    and each schedule on the model, which is loaded once and returned for the runs to share (one
    model: the caller checks that they name the same one)."""
    checked = []
    for config in configs:
        data = to_dict(config)["task"]
        data["train"].pop("n")
        if data not in checked:
            check_data(config)
            checked.append(data)
    first = configs[0]
    pm = load_pretrained(first.model.name, arch=first.model.arch)
    for config in configs:
        build_schedule(config, n_units=pm.config.num_hidden_layers)
    return pm

