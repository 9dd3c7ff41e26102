"""The training speed paths, on the tiny BERT fixture and data/demo:
- train.precision (funfisher/model/precision.py): bf16 autocast with fp32 weights, optimizer state,
  tr(F) and outputs; fp16 only on CUDA; checks before any work;
- the frozen prefix (Encoder.forward frozen_below): no autograd below the lowest trainable unit."""
from __future__ import annotations

import json

import pytest
import torch

from funfisher.evaluation import predict
from funfisher.model.precision import autocast, to_float
from funfisher.runconfig import ConfigError
from funfisher.tasks import get_task
from funfisher.train import collate, prepare, train
from funfisher.train.recipe import epoch_batches, train_step


def steps(run, tmp_path, n: int = 3) -> list[float]:
    run.trainable_set.apply(set(run.units))  # every unit: the whole step in the chosen precision
    order = epoch_batches(run, 0)
    return [train_step(run, collate(run, order[i]), tmp_path)[0] for i in range(n)]


def test_precision_values_are_checked_when_the_config_loads(tiny_config):
    with pytest.raises(ConfigError, match=r'train.precision = "bf32": must be one of "fp32", "bf16", "fp16"'):
        tiny_config("train.precision=bf32")
    with pytest.raises(ConfigError, match=r'train.precision.*"fp16" runs on CUDA only.*train.device = "cpu"'):
        tiny_config("train.precision=fp16")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this check is for machines without CUDA")
def test_fp16_on_auto_without_cuda_fails_before_the_model_loads(tiny_config, monkeypatch):
    import funfisher.train.recipe as recipe

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the precision check")

    monkeypatch.setattr(recipe, "load_pretrained", no_model)
    with pytest.raises(ConfigError, match=r'"fp16" runs on CUDA only.*on cpu use "bf16"'):
        prepare(tiny_config("train.precision=fp16", "train.device=auto"))


def test_bf16_trains_with_fp32_weights_and_optimizer_state(tmp_path, tiny_config):
    fp32 = prepare(tiny_config())
    losses32 = steps(fp32, tmp_path)
    bf16 = prepare(tiny_config("train.precision=bf16"))
    losses16 = steps(bf16, tmp_path)
    # The same weights and batches: the losses agree to bf16's precision. bf16 keeps 8 bits of
    # mantissa (relative rounding 2^-9 per op); through 2 layers of width 32 the loss (about ln 3)
    # moves by ~1e-3. 2e-2 is generous, yet far below a wrong computation (a broken forward pass
    # changes the loss by ~0.1 or more), and the losses must not be bit-identical (autocast ran).
    assert max(abs(a - b) for a, b in zip(losses32, losses16)) < 2e-2
    assert losses32 != losses16
    params = [p for group in bf16.optimizer.param_groups for p in group["params"]]
    assert params and all(p.dtype == torch.float32 for p in params)
    moments = [s[key] for s in bf16.optimizer.state.values() for key in ("exp_avg", "exp_avg_sq")]
    assert moments and all(m.dtype == torch.float32 for m in moments)
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())


def test_bf16_run_resumes_bit_identically_and_estimates_tr_f_in_fp32(tmp_path, tiny_config):
    # schedule.first = "fisher": FUN's first decision (step 0, before any update) uses tr(F)
    cfg = tiny_config("schedule.name=fun", "schedule.first=fisher", "train.precision=bf16")
    straight = prepare(cfg)
    train(straight, tmp_path / "a")
    (tmp_path / "b").mkdir()
    killed = prepare(cfg)
    train(killed, tmp_path / "b", stop_after=6)
    resumed = prepare(cfg)
    train(resumed, tmp_path / "b", resume=True)
    assert [json.loads(x)["loss"] for x in (tmp_path / "a" / "train_log.jsonl").read_text().splitlines()] == \
           [json.loads(x)["loss"] for x in (tmp_path / "b" / "train_log.jsonl").read_text().splitlines()]
    assert resumed.schedule_log == straight.schedule_log
    # FUN's first decision comes before any training step, from the same initial weights: in fp32
    # whatever train.precision is, its tr(F) values are exactly those of an fp32 run.
    reference = prepare(tiny_config("schedule.name=fun", "schedule.first=fisher"))
    train(reference, tmp_path / "c", stop_after=1)
    assert straight.fisher_log[0]["purpose"] == reference.fisher_log[0]["purpose"] == "select"
    assert straight.fisher_log[0]["values"] == reference.fisher_log[0]["values"]


def test_bf16_evaluation_returns_fp32_outputs_and_the_same_predictions(tiny_config):
    run = prepare(tiny_config())
    batch = collate(run, list(range(8)))
    task = get_task(run.model.kind)
    run.model.eval()
    with torch.inference_mode():
        with autocast("bf16", run.device):
            raw = run.model(**task.inputs(batch))
        exact = run.model(**task.inputs(batch))
    assert raw.dtype == torch.bfloat16 and to_float(raw).dtype == torch.float32
    # bf16 rounds each logit to 3 significant digits (relative 2^-9): on logits of order 1, 2e-2
    # bounds the accumulated rounding of 2 layers; a wrong forward pass misses by far more.
    assert torch.allclose(to_float(raw), exact, atol=2e-2)
    pad = run.pm.tokenizer.token_to_id("[PAD]")
    p32 = predict(run.model, run.val_features, pad, batch_size=8)
    p16 = predict(run.model, run.val_features, pad, batch_size=8, precision="bf16")
    # Argmax flips only where two logits are within bf16's rounding: at most a few of 24.
    agree = sum(a == b for a, b in zip(p32.labels, p16.labels))
    assert len(p32.labels) == 24 and agree >= 20


def test_layers_below_the_lowest_trainable_unit_run_without_autograd(tiny_config):
    """Encoder.forward(frozen_below=k): embeddings and layers < k build no graph; the loss and every
    gradient are bit-identical to the full-autograd pass (same ops, same dropout draws)."""
    run = prepare(tiny_config())
    run.trainable_set.apply({1})  # the tiny model has 2 layers: GU's first phase
    task = get_task(run.model.kind)
    batch = collate(run, list(range(8)))
    outputs = {}
    hook = run.model.encoder.layers[0].register_forward_hook(lambda m, i, out: outputs.__setitem__("layer0", out))
    results = []
    for frozen_below in (0, 1):
        torch.manual_seed(0)  # the same dropout masks
        run.model.train()
        loss = task.loss(run.model(**task.inputs(batch), frozen_below=frozen_below), batch)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in run.model.named_parameters() if p.grad is not None}
        run.model.zero_grad(set_to_none=True)
        results.append((loss.detach(), grads, outputs["layer0"].grad_fn))
    hook.remove()
    (loss0, grads0, _), (loss1, grads1, fn1) = results
    assert torch.equal(loss0, loss1)
    assert grads0.keys() == grads1.keys() and any(".layers.1." in n for n in grads0)
    assert all(torch.equal(grads0[n], grads1[n]) for n in grads0)
    assert fn1 is None  # no graph below layer 1
    # The promise is enforced, not assumed: a trainable embedding below k gets no gradient.
    run.model.encoder.embed.norm.weight.requires_grad_(True)
    torch.manual_seed(0)
    task.loss(run.model(**task.inputs(batch), frozen_below=1), batch).backward()
    assert run.model.encoder.embed.norm.weight.grad is None
