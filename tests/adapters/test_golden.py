"""funfisher against golden outputs of AdapterHub `adapters` 1.3.0 (tests/adapters/fixtures/, made by
make_fixtures.py). Runs without the library: the files are the reference."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from funfisher.adapters import activate, freeze_for_task_training, get_adapter, load_adapter
from funfisher.io.adapterhub import ours_to_adapterhub

SCENARIOS = {"task": ("task",), "stack": ("lang", "task"), "leave_out": ("lang", "task_lo"), "lora": ("lora",),
             "lang_lora": ("lang", "lora")}
TRAINED = {"task": "task", "stack": "task", "leave_out": "task_lo", "lora": "lora", "lang_lora": "lora"}
ATOL = 1e-5


@pytest.fixture(scope="module", params=["bert", "xlm-roberta"])
def golden(request, fixtures_dir, load_tiny):
    folder = fixtures_dir / request.param
    pm = load_tiny(folder / "model")
    for name in ("lang", "task", "task_lo", "lora"):
        assert load_adapter(pm.model, folder / name) == name
    return pm, load_file(str(folder / "reference.safetensors")), folder


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_hidden_states_match_library(golden, scenario):
    pm, ref, _ = golden
    ids, mask = ref["input_ids"], ref["attention_mask"]
    activate(pm.model)
    with torch.no_grad():
        plain = pm.model(ids, mask)
        activate(pm.model, *SCENARIOS[scenario])
        ours = pm.model(ids, mask)
    keep = mask.bool()
    expected = ref[f"hidden.{scenario}"]
    assert (expected - plain)[keep].abs().max() > 1e-2, "the adapters should change the hidden states"
    torch.testing.assert_close(ours[keep], expected[keep], atol=ATOL, rtol=0)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_gradients_match_library(golden, scenario):
    pm, ref, _ = golden
    trained = TRAINED[scenario]
    activate(pm.model, *SCENARIOS[scenario])
    adapter = get_adapter(pm.model, trained)
    freeze_for_task_training(pm.model, trained, "all")
    adapter.zero_grad(set_to_none=True)
    (pm.model(ref["input_ids"], ref["attention_mask"]) * ref["loss_weight"]).sum().backward()
    ours = {ours_to_adapterhub(k, trained): p.grad for k, p in adapter.named_parameters()}
    theirs = {k[len(f"grad.{scenario}."):]: v for k, v in ref.items() if k.startswith(f"grad.{scenario}.")}
    assert sorted(ours) == sorted(theirs)
    for key, grad in theirs.items():
        torch.testing.assert_close(ours[key], grad, atol=ATOL, rtol=0, msg=lambda m: f"{key}: {m}")
    activate(pm.model)


def test_mlm_logits_with_invertible_adapter_match_library(golden):
    pm, ref, _ = golden
    activate(pm.model, "lang", "task")
    tm = pm.task_model("mlm").eval()
    with torch.no_grad():
        logits = tm(ref["input_ids"], ref["attention_mask"])
    keep = ref["attention_mask"].bool()
    torch.testing.assert_close(logits[keep], ref["logits.stack"][keep], atol=ATOL, rtol=0)
    activate(pm.model)


def test_legacy_adapter_transformers_files_match_library(fixtures_dir, load_tiny):
    """Old module names, `bert.` prefix, no "version" ("gelu" = tanh GELU), nested invertible_adapter,
    a text_task adapter whose config names an invertible adapter its file does not have."""
    folder = fixtures_dir / "bert"
    pm = load_tiny(folder / "model")
    assert load_adapter(pm.model, folder / "legacy_lang") == "old_lang"
    assert load_adapter(pm.model, folder / "legacy_task", name="sentiment") == "sentiment"
    lang, task = get_adapter(pm.model, "old_lang"), get_adapter(pm.model, "sentiment")
    assert (lang.role, task.role) == ("language", "task")
    assert lang.config.non_linearity == "gelu_new" and lang.invertible is not None
    assert task.invertible is None and task.config.inv_adapter is None
    ref = load_file(str(folder / "reference.safetensors"))
    activate(pm.model, "old_lang", "sentiment")
    with torch.no_grad():
        ours = pm.model(ref["input_ids"], ref["attention_mask"])
    keep = ref["attention_mask"].bool()
    torch.testing.assert_close(ours[keep], ref["hidden.legacy"][keep], atol=ATOL, rtol=0)
