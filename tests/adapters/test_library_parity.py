"""Live comparison with AdapterHub `adapters` 1.3.0 on tiny random BERT and XLM-R models.

Files saved by `adapters` load in funfisher with identical outputs and gradients; files saved by
funfisher load in `adapters` with identical outputs (both prefix styles, pickle and safetensors);
heads go both ways too. Skipped when the test extras `adapters` / `transformers` are missing.
"""
from __future__ import annotations

import pytest
import torch

from funfisher.adapters import (activate, add_adapter, delete_adapter, freeze_for_task_training, get_adapter,
                                load_adapter, save_adapter)
from funfisher.io.adapterhub import load_head, ours_to_adapterhub

ATOL = 1e-5
HIDDEN, VOCAB = 32, 40


@pytest.fixture(scope="module", params=["bert", "xlm-roberta"])
def world(request, reflib, tmp_path_factory, load_tiny):
    """A tiny HF MLM model with the library's adapters, the same checkpoint in funfisher, and the saved adapters."""
    arch = request.param
    tmp = tmp_path_factory.mktemp(arch)
    seed = {"bert": 101, "xlm-roberta": 202}[arch]
    model = reflib.build_hf_mlm_model(arch, seed, hidden=HIDDEN, vocab=VOCAB)
    reflib.save_hf_folder(model, tmp / "model")
    reflib.add_library_adapters(model, seed)
    paths = reflib.save_library_adapters(model, tmp)
    pm = load_tiny(tmp / "model")
    for name, path in paths.items():
        load_adapter(pm.model, path)
    ids, mask = reflib.inputs(arch, VOCAB, seed, batch=4, length=11)
    return {"arch": arch, "lib": model, "pm": pm, "paths": paths, "ids": ids, "mask": mask, "tmp": tmp, "seed": seed}


def _ours(pm, setup, ids, mask):
    activate(pm.model, *setup)
    with torch.no_grad():
        return pm.model(ids, mask)


def _close(a, b, mask, what=""):
    keep = mask.bool()
    torch.testing.assert_close(a[keep], b[keep], atol=ATOL, rtol=0, msg=lambda m: f"{what}: {m}")


@pytest.mark.parametrize("scenario", ["task", "stack", "leave_out", "lora", "lang_lora"])
def test_library_files_give_identical_hidden_states_and_gradients(world, reflib, scenario):
    setup, trained = reflib.SCENARIOS[scenario], reflib.TRAINED[scenario]
    pm, ids, mask = world["pm"], world["ids"], world["mask"]
    plain = _ours(pm, (), ids, mask)
    expected = reflib.hidden_states(world["lib"], setup, ids, mask)
    ours = _ours(pm, setup, ids, mask)
    assert (expected - plain)[mask.bool()].abs().max() > 1e-2
    _close(ours, expected, mask, scenario)

    weight = torch.randn(ids.shape + (HIDDEN,), generator=torch.Generator().manual_seed(5))
    theirs = reflib.adapter_grads(world["lib"], setup, trained, ids, mask, weight)
    adapter = get_adapter(pm.model, trained)
    freeze_for_task_training(pm.model, trained, "all")
    adapter.zero_grad(set_to_none=True)
    activate(pm.model, *setup)
    (pm.model(ids, mask) * weight).sum().backward()
    ours_grads = {ours_to_adapterhub(k, trained): p.grad for k, p in adapter.named_parameters()}
    assert sorted(ours_grads) == sorted(theirs)
    for key in theirs:
        torch.testing.assert_close(ours_grads[key], theirs[key], atol=ATOL, rtol=0, msg=lambda m: f"{key}: {m}")
    activate(pm.model)


def test_mlm_logits_with_invertible_adapter(world, reflib):
    setup = reflib.SCENARIOS["stack"]
    expected = reflib.mlm_logits(world["lib"], world["paths"], setup, world["ids"], world["mask"])
    activate(world["pm"].model, *setup)
    tm = world["pm"].task_model("mlm").eval()
    with torch.no_grad():
        ours = tm(world["ids"], world["mask"])
    _close(ours, expected, world["mask"], "mlm logits")
    activate(world["pm"].model)


def test_load_time_leave_out_matches_library(world, reflib):
    import adapters

    lib = reflib.build_hf_mlm_model(world["arch"], world["seed"], hidden=HIDDEN, vocab=VOCAB)
    adapters.init(lib)
    reflib.library_load(lib, world["paths"]["task"], leave_out=[1], load_as="t1")
    expected = reflib.hidden_states(lib, ("t1",), world["ids"], world["mask"])
    load_adapter(world["pm"].model, world["paths"]["task"], name="t1", leave_out=[1])
    assert sorted(get_adapter(world["pm"].model, "t1").layers) == ["0"]
    _close(_ours(world["pm"], ("t1",), world["ids"], world["mask"]), expected, world["mask"], "leave_out")
    activate(world["pm"].model)


@pytest.mark.parametrize("prefix,safetensors", [(False, False), (True, True), (True, False)])
def test_our_files_load_in_library(world, reflib, prefix, safetensors):
    import adapters

    pm = world["pm"]
    gen = torch.Generator().manual_seed(7)
    names = {"de": dict(config="seq_bn_inv", reduction_factor=2), "nli": dict(config="seq_bn", leave_out=[0]),
             "lo": dict(config="lora", r=4, alpha=8)}
    for name, kw in names.items():
        adapter = add_adapter(pm.model, name, **kw)
        with torch.no_grad():
            for p in adapter.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
        folder = world["tmp"] / f"ours-{name}-{prefix}-{safetensors}"
        save_adapter(pm.model, name, folder, prefix=prefix, safetensors=safetensors)
    lib = reflib.build_hf_mlm_model(world["arch"], world["seed"], hidden=HIDDEN, vocab=VOCAB)
    adapters.init(lib)
    for name in names:
        assert reflib.library_load(lib, world["tmp"] / f"ours-{name}-{prefix}-{safetensors}") == name
    for setup in [("de", "nli"), ("de", "lo"), ("nli",)]:
        expected = reflib.hidden_states(lib, setup, world["ids"], world["mask"])
        _close(_ours(pm, setup, world["ids"], world["mask"]), expected, world["mask"], str(setup))
    activate(pm.model)
    for name in names:
        delete_adapter(pm.model, name)


def test_classification_heads_both_ways(reflib, tmp_path, load_tiny):
    """A library-saved adapter + static head loads into our TaskModel, and ours into the library."""
    import adapters
    from transformers import BertForSequenceClassification, XLMRobertaForSequenceClassification

    for arch in ("bert", "xlm-roberta"):
        cfg = reflib.tiny_hf_config(arch, hidden=HIDDEN, vocab=VOCAB)
        cfg.num_labels = 3
        cls = BertForSequenceClassification if arch == "bert" else XLMRobertaForSequenceClassification
        torch.manual_seed(3)
        lib = cls(cfg).eval()
        reflib.save_hf_folder(lib, tmp_path / arch / "model")
        torch.manual_seed(4)
        lib.classifier.apply(lib._init_weights)  # a "trained" head that differs from the checkpoint's
        adapters.init(lib)
        lib.add_adapter("nli", config="seq_bn")
        lib.save_adapter(str(tmp_path / arch / "nli"), "nli")  # with_head=True is the default
        ids, mask = reflib.inputs(arch, VOCAB, 9)
        lib.set_active_adapters("nli")
        with torch.no_grad():
            expected = lib(input_ids=ids, attention_mask=mask).logits

        pm = load_tiny(tmp_path / arch / "model")
        tm = pm.task_model("classification", num_labels=3).eval()
        load_adapter(tm, tmp_path / arch / "nli", with_head=True)
        activate(tm, "nli")
        with torch.no_grad():
            torch.testing.assert_close(tm(ids, mask), expected, atol=ATOL, rtol=0)

        # ours -> library: perturb our head, save adapter + head, load into a fresh library model
        with torch.no_grad():
            for p in tm.head.parameters():
                p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) * 0.1)
            ours = tm(ids, mask)
        save_adapter(tm, "nli", tmp_path / arch / "ours", with_head=True, prefix=True)
        fresh = cls.from_pretrained(str(tmp_path / arch / "model")).eval()  # the checkpoint's head, not ours
        adapters.init(fresh)
        fresh.load_adapter(str(tmp_path / arch / "ours"))  # with_head=True by default
        fresh.set_active_adapters("nli")
        with torch.no_grad():
            torch.testing.assert_close(fresh(input_ids=ids, attention_mask=mask).logits, ours, atol=ATOL, rtol=0)
        # and our own head files load back into our model
        tm2 = pm.task_model("classification", num_labels=3)
        load_head(tm2, tmp_path / arch / "ours")
        for (k, a), b in zip(tm.head.state_dict().items(), tm2.head.state_dict().values()):
            assert torch.equal(a, b), k


@pytest.mark.parametrize("arch", ["bert", "xlm-roberta"])
@pytest.mark.parametrize("kind", ["classification", "multiple_choice", "qa"])
def test_flex_heads_load_with_identical_outputs(arch, kind, reflib, tmp_path, load_tiny):
    """A head saved from AutoAdapterModel (AdapterHub's flex heads: heads.<name>.<i>) loads into
    our TaskModel's head and gives the library's outputs (eval mode, no adapter active)."""
    from pathlib import Path

    from adapters import AutoAdapterModel

    folder = Path(__file__).resolve().parents[1] / "fixtures" / f"tiny-{arch}" / kind
    torch.manual_seed(7)
    lib = AutoAdapterModel.from_pretrained(folder).eval()
    if kind == "classification":
        lib.add_classification_head("task", num_labels=3)
    elif kind == "multiple_choice":
        lib.add_multiple_choice_head("task", num_choices=2)
    else:
        lib.add_qa_head("task")
    lib.save_head(str(tmp_path), "task")
    ids, mask = reflib.inputs(arch, VOCAB, 9)
    if kind == "multiple_choice":
        ids, mask = (t[:, None].expand(-1, 2, -1).contiguous() for t in (ids, mask))
    with torch.no_grad():
        theirs = lib(input_ids=ids, attention_mask=mask, head="task")
    pm = load_tiny(folder)
    tm = pm.task_model(kind, num_labels=3 if kind == "classification" else None).eval()
    before = {k: v.clone() for k, v in tm.head.state_dict().items()}
    load_head(tm, tmp_path)
    assert any(not torch.equal(before[k], v) for k, v in tm.head.state_dict().items())  # the file's weights
    with torch.no_grad():
        ours = tm(ids, mask)
    if kind == "qa":
        keep = mask.bool()
        torch.testing.assert_close(ours[0][keep], theirs.start_logits[keep], atol=ATOL, rtol=0)
        torch.testing.assert_close(ours[1][keep], theirs.end_logits[keep], atol=ATOL, rtol=0)
    else:
        torch.testing.assert_close(ours, theirs.logits, atol=ATOL, rtol=0)


def test_flex_heads_of_another_shape_are_refused(tmp_path, load_tiny):
    import json
    from pathlib import Path

    from adapters import AutoAdapterModel
    from funfisher.errors import UserError

    folder = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-bert" / "classification"
    lib = AutoAdapterModel.from_pretrained(folder)
    lib.add_classification_head("task", num_labels=3, layers=3, activation_function="relu")
    lib.save_head(str(tmp_path), "task")
    tm = load_tiny(folder).task_model("classification", num_labels=3)
    with pytest.raises(UserError) as err:
        load_head(tm, tmp_path)
    assert "a flex head with {'head_type': 'classification', 'layers': 3, 'activation_function': 'relu'}" in str(err.value)
    config = json.loads((tmp_path / "head_config.json").read_text())
    config["config"].update(layers=2, activation_function="tanh", head_type="tagging")
    (tmp_path / "head_config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match="'head_type': 'tagging'"):
        load_head(tm, tmp_path)
