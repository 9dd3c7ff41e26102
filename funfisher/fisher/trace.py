"""tr(F) per unit: paper Eq. 1 (exact, per example) and the paper's Algorithm 2 (per batch).

For a unit u (a layer's task adapter, parameters theta_u) the trace of its block of the Fisher
information is

    tr(F_u) = E_x E_{y ~ p(y|x)} ||grad_{theta_u} log p(y|x)||^2          (Eq. 1)

estimated on batches of training inputs. FUN (Algorithm 1 with the tr(F) SELECT, see
`funfisher.schedules`) unfreezes next the frozen unit with the largest tr(F).

Public API (everything is *pure*: it reads the model and returns numbers; see `fisher_mode`):

- `trace_fisher(model, batches, units, labels=..., method=...) -> FisherEstimate`
- `batch_trace(...) -> {unit: float}` for one batch, `example_traces(...) -> {unit: [B] tensor}`

Label modes (`labels`): "sample" (Eq. 1, default), "argmax", "gold" (see `labels.py`).
Methods (`method`), with g_i = grad_{theta_u} log p(y_i|x_i) and v_b the value of batch b:

| method    | v_b                                                     | estimate over batches  | cost* |
|-----------|---------------------------------------------------------|------------------------|-------|
| "hooks"   | (1/|b|) sum_i ||g_i||^2, exact Eq. 1 (default)          | mean over all examples | ~1.0x |
| "vmap"    | the same, via torch.func                                | the same               | ~1.3x |
| "loop"    | the same, one example at a time (the definition)        | the same               | ~1.4x |
| "batch"   | ||sum_i g_i||^2 / |b|^3, Algorithm 2 (Appendix D)       | plain mean over batches| ~1.0x |

*cost x a plain forward + backward, as measured by bench/fisher_overhead.py (12 layers x 384,
batch 32 x 128, 2 CPU threads; "loop" costs more for small models).

"batch" is Algorithm 2 exactly: loss = NLL(LogSoftmax(outputs), labels) with PyTorch's default
mean over the batch, one backward, tr(F)_j = p_j.grad^2 / |b| summed over the unit's parameters
(AGGAVG: by task-adapter block), then averaged over the batches with equal weights. The
relation to Eq. 1: with sampled labels E_y[g_i] = 0, the cross terms <g_i, g_j> vanish in
expectation and E[v_b] = tr(F) / |b|^2. So its scale differs from the exact methods' by 1/|b|^2
(and with argmax / gold labels the cross terms add a bias); FUN's choice within one decision
(batches of one size) is unaffected, but "batch" numbers are not comparable with the exact
methods' numbers, nor across batch sizes (E[v_b] goes as 1/|b|^2, so a short last batch
weighs more in the plain mean over batches, as it does in Algorithm 2).
The released code matches it per batch (mean-reduced NLL, `p.grad ** 2 / train_batch_size`);
it sums 41 batches where we average (a constant factor), and uses argmax labels where we
default to sampled ones as Eq. 1 says. See `per_example.algorithm2_sq_norms` (also for QA).
"""
from __future__ import annotations

import operator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Callable, Iterable, Iterator, Literal, Mapping, Sequence

import torch
import torch.nn as nn

from .. import parallel
from ..schedules import rank_by_fisher
from ..tasks import TASKS, Task
from .hooks import sq_norms_hooks
from .labels import LabelMode, check_label_mode, default_generator, draw_uniforms
from .per_example import Inputs, algorithm2_sq_norms, sq_norms_loop, sq_norms_vmap

Method = Literal["hooks", "vmap", "loop", "batch"]
METHODS: tuple[Method, ...] = ("hooks", "vmap", "loop", "batch")
Units = Mapping[int, Sequence[nn.Parameter]]

_EXACT: dict[str, Callable[..., torch.Tensor]] = {
    "hooks": sq_norms_hooks,
    "vmap": sq_norms_vmap,
    "loop": sq_norms_loop,
}


@dataclass(frozen=True)
class FisherEstimate:
    """tr(F) per unit over some batches.

    Attributes:
        values: unit -> tr(F) estimate (plain float). Exact methods: the batch values averaged
            with weights |b|, i.e. the mean of ||g_i||^2 over all examples seen (Eq. 1).
            "batch": the plain (unweighted) mean of the batch values, Algorithm 2's AGGAVG, on
            Algorithm 2's scale (E = tr(F) / |b|^2 with sampled labels; module docstring).
        batch_values: unit -> one value per batch, in order.
        batch_sizes: examples per batch, in order.
        labels, method: how the estimate was made.
        example_values: unit -> ||g_i||^2 of every example seen, in order (exact methods only;
            empty for "batch"). The stopping rule's paired test works on these.
    """

    values: dict[int, float]
    batch_values: dict[int, list[float]]
    batch_sizes: list[int]
    labels: str
    method: str
    example_values: dict[int, list[float]] = field(default_factory=dict)

    @property
    def n_batches(self) -> int:
        return len(self.batch_sizes)

    @property
    def n_examples(self) -> int:
        return sum(self.batch_sizes)

    def ranking(self) -> list[tuple[int, float]]:
        """(unit, tr(F)) pairs, largest first; ties go to the higher unit (FUN's `rank_by_fisher`)."""
        return rank_by_fisher(self.values, self.values)

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready summary (unit keys as strings)."""
        return {"values": {str(u): v for u, v in self.values.items()}, "n_batches": self.n_batches,
                "n_examples": self.n_examples, "labels": self.labels, "method": self.method}

    @classmethod
    def from_batches(cls, batch_values: Sequence[Mapping[int, float]], batch_sizes: Sequence[int],
                     labels: str, method: str,
                     example_values: Sequence[Mapping[int, Sequence[float]]] = ()) -> "FisherEstimate":
        """Assemble an estimate from per-batch {unit: value} dicts (all with the same units), and
        optionally per-batch {unit: per-example values}.

        The batches are averaged weighted by `batch_sizes` (the example mean) for the exact
        methods, and with equal weights for method "batch" (Algorithm 2 averages per batch).
        """
        if not batch_values:
            raise ValueError("a tr(F) estimate needs at least one batch; got none")
        units = list(batch_values[0])
        per_unit = {u: [float(bv[u]) for bv in batch_values] for u in units}
        weights = [1.0] * len(batch_values) if method == "batch" else [float(b) for b in batch_sizes]
        total = sum(weights)
        values = {u: sum(v * w for v, w in zip(vs, weights)) / total for u, vs in per_unit.items()}
        examples = {u: [float(x) for ev in example_values for x in ev[u]] for u in units} if example_values else {}
        return cls(values, per_unit, list(batch_sizes), labels, method, examples)


# --------------------------------------------------------------------------- units and state
@dataclass(frozen=True)
class UnitIndex:
    """The distinct parameters of all units, and which of them make up each unit."""

    params: list[nn.Parameter]
    columns: dict[int, list[int]]  # unit -> indices into params


def index_units(model: nn.Module, units: Units) -> UnitIndex:
    """Check `units` ({layer: [parameters]}) against the model and list the distinct parameters."""
    if not isinstance(units, Mapping) or not units:
        raise ValueError(f"units must be a non-empty mapping {{unit: [parameters]}}, got {units!r}")
    in_model = {id(p) for p in model.parameters()}
    params: list[nn.Parameter] = []
    position: dict[int, int] = {}
    columns: dict[int, list[int]] = {}
    for unit, unit_params in units.items():
        try:
            unit_id = operator.index(unit)
        except TypeError:
            raise ValueError(f"unit ids are layer indices (int); got {unit!r}") from None
        unit_params = list(unit_params)
        if not unit_params:
            raise ValueError(f"unit {unit_id} has no parameters")
        cols = []
        for k, p in enumerate(unit_params):
            if not isinstance(p, nn.Parameter) or id(p) not in in_model:
                raise ValueError(f"unit {unit_id}, parameter #{k}: expected an nn.Parameter of the model, "
                                 f"got {type(p).__name__} of shape {tuple(getattr(p, 'shape', ()))}")
            if id(p) not in position:
                position[id(p)] = len(params)
                params.append(p)
            cols.append(position[id(p)])
        columns[unit_id] = cols
    return UnitIndex(params, columns)


@contextmanager
def fisher_mode(model: nn.Module, params: Sequence[nn.Parameter]) -> Iterator[None]:
    """Run tr(F) estimation on the current weights and leave the model exactly as it was.

    Inside: eval mode (Eq. 1 is about the model's predictive distribution, not a dropout
    sample), autograd enabled, and `requires_grad=True` on `params` (units are often frozen, and
    their layers' outputs must join the graph). Afterwards every module's training flag, every
    parameter's `requires_grad` and `.grad` are restored. Nothing here steps an optimizer or uses
    the global RNG (labels are sampled with the caller's generator).
    """
    if torch.is_inference_mode_enabled():
        raise RuntimeError("tr(F) needs gradients, but torch.inference_mode() is active; call it outside that context")
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in params]
    grads = [(p, p.grad) for p in model.parameters()]
    try:
        model.eval()
        for p in params:
            p.requires_grad_(True)
        with torch.enable_grad():
            yield
    finally:
        for m, training in modes:
            m.training = training
        for p, flag in flags:
            p.requires_grad_(flag)
        for p, g in grads:
            if p.grad is not g:
                p.grad = g


# --------------------------------------------------------------------------- one batch
def _task_of(model: nn.Module) -> Task:
    kind = getattr(model, "kind", "")
    if kind not in TASKS:
        raise ValueError(
            f"tr(F) is defined here for TaskModel kinds {tuple(TASKS)}; got kind {kind!r} "
            "(the MLM head of language adapters has no task label distribution to sample from)"
        )
    return TASKS[kind]


def _checked_gold(model: nn.Module, batch: Mapping[str, Any], inputs: Inputs, task: Task,
                  device: torch.device) -> torch.Tensor:
    """The gold labels, checked: [B] indices < n_classes / n_choices, or [B, 2] QA positions < T."""
    gold = task.gold(batch).to(device)
    ids = inputs["input_ids"]
    if gold.shape[0] != ids.shape[0]:
        raise ValueError(f"gold labels have {gold.shape[0]} rows, the batch has {ids.shape[0]} examples")
    upper, what = task.label_bound(model, ids)
    bad = gold < 0 if upper is None else (gold < 0) | (gold >= upper)
    if bad.any():
        rows = bad.any(dim=-1) if bad.dim() > 1 else bad
        raise ValueError(f"labels='gold': {what} (upper bound {upper}); got {gold[rows].tolist()}")
    return gold


def _unit_example_values(model: nn.Module, batch: Mapping[str, Any], index: UnitIndex, labels: LabelMode,
                         method: str, generator: torch.Generator | None) -> dict[int, torch.Tensor]:
    """Per unit: ||g_i||^2 per example ([B], exact methods) or the batch value ([1], "batch").

    Under torchrun (funfisher/parallel.py) each rank computes the rows of its share of the batch:
    the labels' uniforms are drawn for the whole batch (every rank's generator stays in step), the
    per-example values are gathered in the batch's order, and Algorithm 2's batch gradient is
    summed over the ranks, so every rank gets the values one process would."""
    task = _task_of(model)
    device = index.params[0].device
    inputs = task.inputs(batch, device)
    batch_size = inputs["input_ids"].shape[0]
    u = draw_uniforms(batch_size, task, generator).to(device) if labels == "sample" else None
    gold = _checked_gold(model, batch, inputs, task, device) if labels == "gold" else None
    mine = parallel.rows(batch_size)
    inputs = {key: value[mine] for key, value in inputs.items()}
    u, gold = (None if t is None else t[mine] for t in (u, gold))
    if method == "batch":
        per_param = algorithm2_sq_norms(model, inputs, task, labels, u, gold, index.params, batch_size)[None]  # [1, P]
    else:  # this share's rows [n_r, P] (none when the batch has fewer examples than ranks), gathered: [B, P]
        local = (_EXACT[method](model, inputs, task, labels, u, gold, index.params) if mine.stop > mine.start
                 else torch.zeros(0, len(index.params), dtype=torch.float64, device=device))
        per_param = parallel.gather_rows(local, batch_size)
    return {unit: per_param[:, cols].sum(dim=1).detach().cpu() for unit, cols in index.columns.items()}


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method


def example_traces(model: nn.Module, batch: Mapping[str, Any], units: Units, *, labels: LabelMode = "sample",
                   method: Literal["hooks", "vmap", "loop"] = "hooks",
                   generator: torch.Generator | None = None) -> dict[int, torch.Tensor]:
    """Per unit, ||grad_{theta_u} log p(y_i|x_i)||^2 for every example i of one batch ([B], float64, CPU)."""
    if _check_method(method) == "batch":
        raise ValueError("example_traces needs an exact method ('hooks', 'vmap', 'loop'); 'batch' has no per-example values")
    labels = check_label_mode(labels)
    generator = generator if generator is not None or labels != "sample" else default_generator()
    index = index_units(model, units)
    with fisher_mode(model, index.params):
        return _unit_example_values(model, batch, index, labels, method, generator)


def batch_trace(model: nn.Module, batch: Mapping[str, Any], units: Units, *, labels: LabelMode = "sample",
                method: Method = "hooks", generator: torch.Generator | None = None) -> dict[int, float]:
    """tr(F) per unit on one batch: {unit: float} (see the module docstring for the methods)."""
    estimate = trace_fisher(model, [batch], units, labels=labels, method=method, generator=generator)
    return estimate.values


class BatchEstimator:
    """tr(F) per unit of one batch at a time; call it inside `fisher_mode(model, estimator.index.params)`.

    The building block of `trace_fisher` and of the stopping rule (`stopping.py`).
    """

    def __init__(self, model: nn.Module, units: Units, labels: str, method: str,
                 generator: torch.Generator | None):
        self.model = model
        self.labels = check_label_mode(labels)
        self.method = _check_method(method)
        self.generator = generator if generator is not None or labels != "sample" else default_generator()
        self.index = index_units(model, units)

    def __call__(self, batch: Mapping[str, Any]) -> tuple[dict[int, float], int, dict[int, list[float]] | None]:
        """-> ({unit: batch value}, batch size, {unit: per-example values} or None for "batch")."""
        per_unit = _unit_example_values(self.model, batch, self.index, self.labels, self.method, self.generator)
        size = int(batch["input_ids"].shape[0])
        examples = None if self.method == "batch" else {unit: v.tolist() for unit, v in per_unit.items()}
        return {unit: float(v.mean()) for unit, v in per_unit.items()}, size, examples


def trace_fisher(model: nn.Module, batches: Iterable[Mapping[str, Any]], units: Units, *,
                 labels: LabelMode = "sample", method: Method = "hooks",
                 generator: torch.Generator | None = None, max_batches: int | None = None) -> FisherEstimate:
    """Estimate tr(F_u) (Eq. 1; Algorithm 2's value for method="batch") for every unit u on `batches`.

    Args:
        model: a `TaskModel` (kind classification, multiple_choice or qa) on its current weights.
        batches: dicts with `input_ids` ([B, T]; [B, n_choices, T] for multiple choice), optional
            `attention_mask` ({0,1}, 1 = real token) and `token_type_ids`, and the gold labels
            (`labels` [B], or `start_positions` / `end_positions` [B] for QA) when labels="gold".
        units: unit id (layer index) -> that unit's parameters (for method="hooks": weights /
            biases of nn.Linear, nn.LayerNorm or nn.Embedding modules, which covers adapters, LoRA
            and whole Transformer layers; any parameters for "vmap" / "loop" / "batch").
        labels: "sample" (y ~ p(y|x), Eq. 1), "argmax" (the reference code) or "gold".
        method: "hooks" (exact, fast), "vmap", "loop" (exact, slower), "batch" (Algorithm 2,
            on its own 1/|b|^2 scale: see the module docstring).
        generator: the Fisher-sampling stream for labels="sample" (never the global RNG);
            None means a fresh generator seeded with `labels.DEFAULT_SEED`.
        max_batches: stop after this many batches (None: use all).

    The model is left untouched: weights, `.grad`, `requires_grad`, train/eval flags (see
    `fisher_mode`), and the global RNG state.
    """
    estimator = BatchEstimator(model, units, labels, method, generator)
    values, sizes, examples = [], [], []
    with fisher_mode(model, estimator.index.params):
        for batch in islice(batches, max_batches):
            value, size, per_example = estimator(batch)
            values.append(value)
            sizes.append(size)
            if per_example is not None:
                examples.append(per_example)
    return FisherEstimate.from_batches(values, sizes, estimator.labels, estimator.method, examples)
