"""Paper fidelity of the training recipe, on the tiny fixture models (no ../shared needed):

- the pretrained pooler is frozen base model, and the head that trains is what the reference
  trains (counts per head kind, with their arithmetic);
- LPFT's probe phase trains exactly the head;
- tr(F) tracking has its own random stream: switching it on or off never changes FUN's choices;
- full fine-tuning uses no language adapter, so it evaluates every language.

Sizes of the fixtures (tests/fixtures/make_model_fixtures.py): hidden H = 32, intermediate 64,
2 layers, vocabulary 40, 64 positions, 2 token types. A MAD-X bottleneck task adapter with
reduction factor 16 is 32 -> 2 -> 32: (32 * 2 + 2) + (2 * 32 + 32) = 66 + 96 = 162 parameters.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from funfisher import adapters as A
from funfisher.model import load_pretrained
from funfisher.runconfig import load_config
from funfisher.train import attach, finish, prepare, train

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
H = 32
UNIT = (H * 2 + 2) + (2 * H + H)  # 162: the bottleneck adapter of one layer
LINEAR_HH = H * H + H  # 1056: a dense H -> H layer (the pooler, XLM-R's classifier.dense)


# The tiny run of tests/conftest.py (TINY_RUN), shorter and without tr(F) tracking.
SHORT = ("train.max_steps=8", "train.eval_every=4", "train.checkpoint_every=4", "fisher.track_every=0")


def counts_for(model_dir: Path, kind: str, adapters: str = "bottleneck") -> dict:
    pm = load_pretrained(model_dir)
    model = pm.task_model(kind, num_labels=3 if kind == "classification" else None)
    trainable_set = attach(model, load_config(None, [f"adapters.kind={adapters}"]))
    return {**trainable_set.trainable_parameters(), "notes": trainable_set.notes}


# --------------------------------------------------------------------------------------------------
# the pooler and the trainable head
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("fixture", "kind", "head"), [
    # BERT classification: dropout + linear H -> 3 on the frozen pooler: 32 * 3 + 3
    ("tiny-bert/classification", "classification", H * 3 + 3),
    # XLM-R classification: its own classifier head, dense H -> H + tanh + out_proj H -> 3
    ("tiny-xlm-roberta/classification", "classification", LINEAR_HH + H * 3 + 3),
    # multiple choice, both archs: linear H -> 1 on the frozen pooler: 32 + 1
    ("tiny-bert/multiple_choice", "multiple_choice", H + 1),
    ("tiny-xlm-roberta/multiple_choice", "multiple_choice", H + 1),
    # QA: qa_outputs, linear H -> 2 on every token: 32 * 2 + 2
    ("tiny-bert/qa", "qa", H * 2 + 2),
    ("tiny-xlm-roberta/qa", "qa", H * 2 + 2),
])
def test_trainable_parameter_counts_per_head_kind(fixture, kind, head):
    counts = counts_for(FIXTURES / fixture, kind)
    assert counts["head"] == head
    assert counts["units"] == {"0": UNIT, "1": UNIT}


def test_lora_units_count_query_and_value():
    # LoRA r = 8 on query and value: A [8, H] + B [H, 8] per projection, two projections, no bias
    counts = counts_for(FIXTURES / "tiny-bert/classification", "classification", adapters="lora")
    assert counts["units"] == {"0": 2 * (8 * H + H * 8), "1": 2 * (8 * H + H * 8)}


def test_full_fine_tuning_trains_the_pooler_and_whole_layers():
    counts = counts_for(FIXTURES / "tiny-bert/classification", "classification", adapters="full")
    # the pooler trains with the head in full fine-tuning, as in Hugging Face: 1056 + 99
    assert counts["head"] == LINEAR_HH + H * 3 + 3
    # a layer: q, k, v, out (4 x 1056) + 2 LayerNorms (2 x 64) + up 32 -> 64 (2112) + down 64 -> 32 (2080)
    layer = 4 * LINEAR_HH + 2 * (2 * H) + (H * 64 + 64) + (64 * H + H)
    embeddings = 40 * H + 64 * H + 2 * H + 2 * H  # tokens, positions, token types, LayerNorm
    assert counts["units"] == {"0": embeddings + layer, "1": layer}


def test_a_checkpoint_without_a_pooler_gets_a_trainable_two_layer_head(tmp_path):
    src = FIXTURES / "tiny-bert/classification"
    for name in ("config.json", "tokenizer.json"):
        (tmp_path / name).write_bytes((src / name).read_bytes())
    state = {k: v for k, v in load_file(str(src / "model.safetensors")).items() if "pooler" not in k}
    save_file(state, str(tmp_path / "model.safetensors"))
    counts = counts_for(tmp_path, "classification")
    assert counts["head"] == LINEAR_HH + H * 3 + 3  # pooler dense + tanh + linear, all trainable
    assert any("no pooler weights" in n and "two-layer head" in n for n in counts["notes"])
    with_pooler = counts_for(src, "classification")
    assert any("pretrained pooler is frozen" in n for n in with_pooler["notes"])


@pytest.mark.parametrize("schedule", ["standard", "lpft"])
def test_pretrained_pooler_is_bit_identical_after_training(tmp_path, schedule, tiny_config):
    run = prepare(tiny_config(*SHORT, f"schedule.name={schedule}", "schedule.k=4"))
    pool = {n: p.detach().clone() for n, p in run.model.head.pool.named_parameters()}
    out = {n: p.detach().clone() for n, p in run.model.head.out.named_parameters()}
    in_optimizer = {id(p) for group in run.optimizer.param_groups for p in group["params"]}
    assert not in_optimizer & {id(p) for p in run.model.head.pool.parameters()}
    units = {u: [p.detach().clone() for p in ps] for u, ps in run.units.items()}
    train(run, tmp_path, stop_after=3)
    for n, p in run.model.head.pool.named_parameters():
        assert torch.equal(p, pool[n]), f"pooler {n} changed"
    for n, p in run.model.head.out.named_parameters():
        assert not torch.equal(p, out[n]), f"head {n} did not train"
    changed = {u: any(not torch.equal(a, b) for a, b in zip(run.units[u], units[u])) for u in run.units}
    # standard trains every unit from step 0; LPFT's probe phase (steps < k = 4) trains the head alone
    assert changed == ({0: True, 1: True} if schedule == "standard" else {0: False, 1: False})


# --------------------------------------------------------------------------------------------------
# random streams: tracking never changes FUN's choices
# --------------------------------------------------------------------------------------------------
def test_fisher_tracking_on_or_off_never_changes_funs_decisions(tmp_path, tiny_config):
    runs = {}
    for track_every in (0, 1):
        run = prepare(tiny_config(*SHORT, "schedule.name=fun", "schedule.first=fisher", f"fisher.track_every={track_every}"))
        train(run, tmp_path / str(track_every))
        runs[track_every] = run
    off, on = runs[0], runs[1]
    assert sum(r["purpose"] == "track" for r in on.fisher_log) == 8 and not any(
        r["purpose"] == "track" for r in off.fisher_log)
    select = lambda run: [r for r in run.fisher_log if r["purpose"] == "select"]  # noqa: E731
    assert len(select(on)) == 2  # steps 0 and 2 (2 units, first="fisher")
    assert select(on) == select(off)  # the same batches, sampled labels, values and stopping
    assert on.schedule_log == off.schedule_log
    for a, b in zip(on.model.parameters(), off.model.parameters()):
        assert torch.equal(a, b)


# --------------------------------------------------------------------------------------------------
# full fine-tuning evaluates every language
# --------------------------------------------------------------------------------------------------
def test_full_fine_tuning_evaluates_every_language_even_with_language_adapters_configured(tmp_path, tiny_config):
    # a MAD-X language adapter for en only: an adapter run would skip de and sw
    pm = load_pretrained(FIXTURES / "tiny-bert/classification")
    A.add_adapter(pm.model, "en", "seq_bn_inv")
    A.save_adapter(pm.model, "en", tmp_path / "en")
    cfg = tiny_config(*SHORT, "adapters.kind=full", "train.max_steps=2", f"adapters.language_adapters={{en = '{tmp_path / 'en'}'}}")
    run = prepare(cfg)
    train(run, tmp_path / "run")
    results = finish(run, tmp_path / "run")
    assert set(results.metrics) == {"en", "de", "sw"}
    assert not any("skipped" in m for m in results.metrics.values())
    assert {m["setup"] for m in results.metrics.values()} == {"fully fine-tuned encoder"}
    assert results.xling_avg_over["text"] == "all 2"
