"""Every user-fixable problem when loading an adapter, a head or a run's weights is a `UserError` naming the file.

The adapters are saved by `funfisher.adapters.save_adapter` from the tiny BERT fixture
(tests/fixtures/tiny-bert, hidden 32, 2 layers) and then broken in tmp_path: adapter_config.json
that does not parse or holds wrong "config" contents, truncated or corrupt weights, weights for
another model size, broken head files; a full fine-tuning run's truncated model.safetensors; a
language adapter that cannot be loaded; and `eval.py run` arguments that cannot be used.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import random
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from funfisher import load_pretrained
from funfisher.adapters import AdapterFormatError, add_adapter, list_adapters, load_adapter, load_head, save_adapter
from funfisher.data.errors import UnknownDatasetError
from funfisher.errors import ModelFileError, ModelNotFoundError, UserError
from funfisher.model.config import EncoderConfig
from funfisher.model.convert import CheckpointMismatchError
from funfisher.model.encoder import Encoder
from funfisher.model.heads import TaskModel

TINY_BERT = Path(__file__).resolve().parents[1] / "fixtures" / "tiny-bert" / "classification"


def user_error(expected: type, call, *args, **kwargs) -> UserError:
    """Run `call`; it must raise `expected`, which must be a UserError with a one-line message."""
    with pytest.raises(expected) as err:
        call(*args, **kwargs)
    assert isinstance(err.value, UserError), f"{type(err.value).__mro__} is not a UserError"
    assert "\n" not in str(err.value), "a UserError is printed as one line"
    return err.value


def fresh_model() -> TaskModel:
    return load_pretrained(TINY_BERT).task_model("classification", num_labels=3)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    """Adapter folders saved by funfisher from the tiny model: a task adapter with its head (.bin and
    safetensors), a MAD-X language adapter, a LoRA adapter, and a task adapter of a hidden-16 model."""
    root = tmp_path_factory.mktemp("saved")
    model = fresh_model()
    torch.manual_seed(0)
    add_adapter(model, "task", "seq_bn", reduction_factor=4)
    add_adapter(model, "lang", "seq_bn_inv", reduction_factor=2)
    add_adapter(model, "lora", "lora", r=2)
    for p in model.parameters():  # not the zero init: a wrong load must not look like a right one
        p.data.add_(torch.randn_like(p) * 0.01)
    out = {
        "task": save_adapter(model, "task", root / "task", with_head=True),
        "task_safe": save_adapter(model, "task", root / "task_safe", with_head=True, safetensors=True),
        "lang": save_adapter(model, "lang", root / "lang"),
        "lora": save_adapter(model, "lora", root / "lora", safetensors=True),
    }
    small = Encoder(EncoderConfig(arch="bert", vocab_size=40, hidden_size=16, num_hidden_layers=2,
                                  num_attention_heads=2, intermediate_size=24, max_position_embeddings=24,
                                  type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0))
    add_adapter(small, "task", "seq_bn", reduction_factor=4)
    out["small"] = save_adapter(small, "task", root / "small")
    deep = Encoder(dataclasses.replace(fresh_model().encoder.config, num_hidden_layers=3))
    add_adapter(deep, "task", "seq_bn", reduction_factor=4)
    out["deep"] = save_adapter(deep, "task", root / "deep")
    return out


def broken(saved: dict[str, Path], tmp_path: Path, which: str = "task") -> Path:
    return Path(shutil.copytree(saved[which], tmp_path / which))


def edit_json(path: Path, edit) -> None:
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))


def test_the_saved_adapters_load(saved):
    model = fresh_model()
    assert load_adapter(model, saved["task"], with_head=True) == "task"
    assert load_adapter(model, saved["lang"]) == "lang"
    assert load_adapter(model, saved["lora"]) == "lora"
    assert load_adapter(fresh_model(), saved["task_safe"], with_head=True) == "task"


# --- adapter_config.json -------------------------------------------------------------------------


@pytest.mark.parametrize("content,message", [
    (b"\xff\xfe{\x00}\x00", "not UTF-8 text"),
    (b"{not json", "not valid JSON (line 1"),
    (b"", "not valid JSON (line 1"),
    (b"[]", "expected a JSON object {...}, found an array"),
    (b'{"name": "task"}', "expected an object with 'config' and 'name'"),
])
def test_adapter_config_that_does_not_parse(saved, tmp_path, content, message):
    folder = broken(saved, tmp_path)
    (folder / "adapter_config.json").write_bytes(content)
    model = fresh_model()
    e = user_error(AdapterFormatError, load_adapter, model, folder)
    assert isinstance(e, ModelFileError) and isinstance(e, ValueError)
    assert str(folder / "adapter_config.json") in str(e) and message in str(e)
    assert list_adapters(model) == {}


def test_folder_without_adapter_config(saved, tmp_path):
    folder = broken(saved, tmp_path)
    (folder / "adapter_config.json").unlink()
    e = user_error(ModelNotFoundError, load_adapter, fresh_model(), folder)
    assert isinstance(e, FileNotFoundError) and str(folder) in str(e) and "no adapter_config.json" in str(e)


@pytest.mark.parametrize("target", ["./no/such/adapter", "no-owner-name", "~nobody-here/adapter"])
def test_adapter_that_is_nowhere(target):
    e = user_error(ModelNotFoundError, load_adapter, fresh_model(), target)
    assert repr(target) in str(e)


def test_adapter_path_that_is_a_file(saved):
    e = user_error(ModelNotFoundError, load_adapter, fresh_model(), saved["task"] / "pytorch_adapter.bin")
    assert "is a file, not a folder" in str(e)


@pytest.mark.parametrize("field,value,message", [
    ("name", 5, "'name' must be a string, got 5"),
    ("name", "", "'name' must be the adapter's saved name"),
    ("name", "my.adapter", "the saved name 'my.adapter' cannot name an adapter here"),
    ("hidden_size", "abc", "'hidden_size' must be an integer, got 'abc'"),
    ("version", 3, "'version' must be a string"),
    ("type", ["text_task"], "'type' must be a string"),
])
def test_adapter_config_top_level_fields(saved, tmp_path, field, value, message):
    folder = broken(saved, tmp_path)
    edit_json(folder / "adapter_config.json", lambda meta: meta.update({field: value}))
    e = user_error(AdapterFormatError, load_adapter, fresh_model(), folder)
    assert str(folder / "adapter_config.json") in str(e) and message in str(e)


@pytest.mark.parametrize("which,change,message", [
    ("task", 5, "'config' must be an adapter config name or an object, got 5"),
    ("task", "houlsby", "unknown adapter config name 'houlsby'"),
    ("task", {"reduction_factor": "abc"}, "'reduction_factor' must be a number >= 0.00390625"),
    ("task", {"reduction_factor": 0}, "'reduction_factor' must be a number >= 0.00390625"),
    ("task", {"reduction_factor": {"0": "x"}}, "'reduction_factor' must be a number >= 0.00390625 or an object"),
    ("task", {"reduction_factor": 1e-300}, "'reduction_factor' must be a number >= 0.00390625"),
    ("task", {"reduction_factor": {"0": 4}}, "reduction_factor mapping {'0': 4} has no entry for layer 1"),
    ("task", {"non_linearity": 3}, "'non_linearity' must be an activation name, got 3"),
    ("task", {"non_linearity": "mystery"}, "adapter non_linearity 'mystery' is not supported"),
    ("task", {"leave_out": "0"}, "'leave_out' must be a list of layer numbers"),
    ("task", {"leave_out": [7]}, "leave_out [7] is outside the model's layers 0..1"),
    ("task", {"dropout": 5}, "'dropout' must be a number from 0 to 1"),
    ("task", {"scaling": "learned"}, "scaling 'learned' is not supported"),
    ("task", {"invertible_adapter": 3}, "'invertible_adapter' must be an object or null"),
    ("task", {"inv_adapter": "glow", "inv_adapter_reduction_factor": 2}, "inv_adapter 'glow' is not supported"),
    ("task", {"inv_adapter": "nice", "inv_adapter_reduction_factor": "two"}, "must be a number >= 0.00390625 or null"),
    ("task", {"mh_adapter": True}, "options funfisher does not implement"),
    ("lora", {"r": "abc"}, "'r' must be an integer from 1 to 16777216, got 'abc'"),
    ("lora", {"r": 10**18}, "'r' must be an integer from 1 to 16777216"),
    ("lora", {"r": 0}, "LoRA rank r must be >= 1"),
    ("lora", {"alpha": None}, "'alpha' must be a number"),
    ("lora", {"attn_matrices": 3}, "'attn_matrices' must be a list of 'q', 'k', 'v'"),
    ("lora", {"attn_matrices": ["z"]}, "must be a non-empty subset"),
    ("lora", {"dtype": "float16"}, "LoRA dtype 'float16' is not supported"),
])
def test_wrong_config_contents(saved, tmp_path, which, change, message):
    folder = broken(saved, tmp_path, which)

    def edit(meta):
        if isinstance(change, dict):
            meta["config"].update(change)
        else:
            meta["config"] = change

    edit_json(folder / "adapter_config.json", edit)
    model = fresh_model()
    e = user_error(AdapterFormatError, load_adapter, model, folder)
    assert str(folder / "adapter_config.json") in str(e) and message in str(e)
    assert list_adapters(model) == {}


@pytest.mark.parametrize("which,change", [("task", {"reduction_factor": 0.01}), ("lora", {"r": 2**24}),
                                          ("lang", {"inv_adapter_reduction_factor": 0.01})])
def test_config_sizes_that_disagree_with_the_weights_fail_before_allocating(saved, tmp_path, which, change):
    """A bottleneck of 3200 or a rank of 16M do not fit the saved weights: caught on the meta device."""
    folder = broken(saved, tmp_path, which)
    edit_json(folder / "adapter_config.json", lambda meta: meta["config"].update(change))
    model = fresh_model()
    e = user_error(CheckpointMismatchError, load_adapter, model, folder)
    assert "(with the sizes in adapter_config.json)" in str(e) and "mis-shaped" in str(e)
    assert list_adapters(model) == {}


def test_language_adapter_loaded_as_a_task_adapter(saved, tmp_path):
    folder = broken(saved, tmp_path, "lang")
    edit_json(folder / "adapter_config.json", lambda meta: meta.update(type="text_task"))
    e = user_error(AdapterFormatError, load_adapter, fresh_model(), folder)
    assert "pytorch_adapter.bin" in str(e) and "only a language adapter can have" in str(e)
    assert load_adapter(fresh_model(), folder, role="language") == "lang"


# --- adapter weights -----------------------------------------------------------------------------


def test_folder_without_weights(saved, tmp_path):
    folder = broken(saved, tmp_path)
    (folder / "pytorch_adapter.bin").unlink()
    e = user_error(ModelNotFoundError, load_adapter, fresh_model(), folder)
    assert str(folder) in str(e) and "expected adapter.safetensors or pytorch_adapter.bin" in str(e)


@pytest.mark.parametrize("which,file", [("task_safe", "adapter.safetensors"), ("task", "pytorch_adapter.bin"),
                                        ("task_safe", "model_head.safetensors"), ("task", "pytorch_model_head.bin")])
@pytest.mark.parametrize("damage", ["cut-0", "cut-9", "cut-half", "cut-1", "random"])
def test_truncated_or_corrupt_weights(saved, tmp_path, which, file, damage):
    folder = broken(saved, tmp_path, which)
    data = (folder / file).read_bytes()
    if damage == "random":
        data = random.Random(0).randbytes(len(data))
    else:
        data = data[: {"cut-0": 0, "cut-9": 9, "cut-half": len(data) // 2, "cut-1": len(data) - 1}[damage]]
    (folder / file).write_bytes(data)
    model = fresh_model()
    e = user_error(AdapterFormatError, load_adapter, model, folder, with_head=True)
    assert str(folder / file) in str(e) and "weights_only=False" not in str(e)
    assert list_adapters(model) == {}  # nothing half-attached


def test_adapter_weights_holding_code(saved, tmp_path):
    folder = broken(saved, tmp_path)
    marker = tmp_path / "code-ran"

    class RunsCode:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    state = torch.load(folder / "pytorch_adapter.bin", weights_only=True)
    state[next(iter(state))] = RunsCode()
    torch.save(state, folder / "pytorch_adapter.bin")
    e = user_error(AdapterFormatError, load_adapter, fresh_model(), folder)
    assert not marker.exists()
    assert "pytorch_adapter.bin" in str(e) and "weights_only=True" in str(e) and "weights_only=False" not in str(e)


def test_weights_for_another_model_size(saved, tmp_path):
    e = user_error(AdapterFormatError, load_adapter, fresh_model(), saved["small"])
    assert "adapter_config.json" in str(e) and "made for hidden size 16, but the model has hidden size 32" in str(e)
    folder = broken(saved, tmp_path, "small")  # without the hidden_size field: the shapes say it
    edit_json(folder / "adapter_config.json", lambda meta: meta.pop("hidden_size"))
    model = fresh_model()
    e = user_error(CheckpointMismatchError, load_adapter, model, folder)
    assert str(folder / "pytorch_adapter.bin") in str(e) and "mis-shaped" in str(e)
    assert list_adapters(model) == {}
    e = user_error(AdapterFormatError, load_adapter, fresh_model(), saved["deep"])
    assert "layer(s) [2], but the model has 2 layers" in str(e)


def test_weights_with_unknown_or_missing_keys(saved, tmp_path):
    folder = broken(saved, tmp_path)
    state = torch.load(folder / "pytorch_adapter.bin", weights_only=True)
    key = next(k for k in state if k.endswith("adapter_up.bias"))
    state.pop(key)
    torch.save(state, folder / "pytorch_adapter.bin")
    e = user_error(CheckpointMismatchError, load_adapter, fresh_model(), folder)
    assert "missing (1)" in str(e) and "up.bias" in str(e)
    state["encoder.layer.0.output.adapters.task.adapter_norm.weight"] = torch.ones(2)
    torch.save(state, folder / "pytorch_adapter.bin")
    e = user_error(AdapterFormatError, load_adapter, fresh_model(), folder)
    assert "adapter_norm.weight" in str(e)


# --- heads ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("content,message", [
    (b"\xff\xfe", "not UTF-8 text"),
    (b'{"model_class": ', "not valid JSON"),
    (b"[]", "expected a JSON object"),
    (b'{"model_class": "BertForQuestionAnswering"}', "'BertForQuestionAnswering' head"),
])
def test_broken_head_config(saved, tmp_path, content, message):
    folder = broken(saved, tmp_path)
    (folder / "head_config.json").write_bytes(content)
    model = fresh_model()
    e = user_error(AdapterFormatError, load_adapter, model, folder, with_head=True)
    assert str(folder / "head_config.json") in str(e) and message in str(e)
    assert list_adapters(model) == {}
    user_error(AdapterFormatError, load_head, model, folder)


def test_head_weights_missing_or_for_another_head(saved, tmp_path):
    folder = broken(saved, tmp_path)
    (folder / "pytorch_model_head.bin").unlink()
    e = user_error(ModelNotFoundError, load_head, fresh_model(), folder)
    assert str(folder) in str(e) and "pytorch_model_head.bin" in str(e)
    two_labels = load_pretrained(TINY_BERT.parent / "qa").task_model("classification", num_labels=2)
    e = user_error(CheckpointMismatchError, load_head, two_labels, saved["task"])
    assert "pytorch_model_head.bin" in str(e) and "out.weight: checkpoint (3, 32) vs model (2, 32)" in str(e)


# --- a run's weights -----------------------------------------------------------------------------


def test_full_fine_tuning_restore(tmp_path):
    from funfisher.train.trainable import FULL_MODEL_FILE, FullFineTuning

    trained = fresh_model()
    with torch.no_grad():
        trained.head.out.bias.fill_(0.5)
    save_file({k: v.contiguous() for k, v in trained.state_dict().items()}, str(tmp_path / FULL_MODEL_FILE))
    model = fresh_model()
    FullFineTuning.restore(model, tmp_path, config=None)
    assert torch.equal(model.head.out.bias, trained.head.out.bias)

    path = tmp_path / FULL_MODEL_FILE
    data = path.read_bytes()
    for cut in (0, 100, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:cut])
        e = user_error(ModelFileError, FullFineTuning.restore, fresh_model(), tmp_path, None)
        assert str(path) in str(e) and "not a readable safetensors file" in str(e)
    path.write_bytes(data)
    two_labels = load_pretrained(TINY_BERT.parent / "qa").task_model("classification", num_labels=2)
    e = user_error(CheckpointMismatchError, FullFineTuning.restore, two_labels, tmp_path, None)
    assert str(path) in str(e) and "head.out.weight: checkpoint (3, 32) vs model (2, 32)" in str(e)
    path.unlink()
    e = user_error(ModelNotFoundError, FullFineTuning.restore, fresh_model(), tmp_path, None)
    assert str(path) in str(e)


def test_language_adapter_errors_name_the_language(saved, tmp_path):
    from funfisher.runconfig import AdapterConfig
    from funfisher.train.trainable import load_language_adapters

    model = fresh_model()
    e = user_error(ModelNotFoundError, load_language_adapters, model.encoder,
                   AdapterConfig(language_adapters={"de": "/no/such/adapter"}))
    assert str(e).startswith("adapters.language_adapters.de: ") and "/no/such/adapter" in str(e)
    folder = broken(saved, tmp_path, "lang")
    (folder / "adapter_config.json").write_text("{")
    e = user_error(AdapterFormatError, load_language_adapters, model.encoder,
                   AdapterConfig(language_adapters={"sw": str(folder)}))
    assert str(e).startswith("adapters.language_adapters.sw: ") and str(folder / "adapter_config.json") in str(e)


# --- eval.py run arguments -----------------------------------------------------------------------


def _args(path: Path, **kw) -> argparse.Namespace:
    values = dict(path=path, model=str(TINY_BERT), arch=None, dataset="xnli", split=None, languages=None,
                  data_dir=None, language_adapter=[], max_length=None, n=None, batch_size=None, device=None,
                  threads=None, precision=None, source=None)
    return argparse.Namespace(**{**values, **kw})


def test_config_from_args_errors(saved, tmp_path):
    from funfisher.evaluate_saved import UsageError, config_from_args

    e = user_error(ModelNotFoundError, config_from_args, _args(tmp_path))
    assert str(tmp_path) in str(e) and "neither a run folder (config.toml) nor an adapter folder" in str(e)
    e = user_error(ModelNotFoundError, config_from_args, _args(tmp_path / "nothing"))
    assert str(tmp_path / "nothing") in str(e) and "no such folder" in str(e)
    for item in ("de", "=path", "de="):
        e = user_error(UsageError, config_from_args, _args(saved["task"], language_adapter=[item]))
        assert f"--language-adapter {item!r}: expected LANG=PATH_OR_HUB_ID" in str(e)
    e = user_error(UnknownDatasetError, config_from_args, _args(saved["task"], dataset="xnli2"))
    assert "--dataset 'xnli2': unknown dataset" in str(e)
    e = user_error(UsageError, config_from_args, _args(saved["task"], model=None))
    assert str(saved["task"]) in str(e) and "needs --model and --dataset" in str(e)
    e = user_error(UsageError, config_from_args, _args(saved["task"], source="not a source"))
    assert "--source 'not a source': expected \"local\", \"hub\" or a Hugging Face dataset repo id" in str(e)
    assert config_from_args(_args(saved["task"], source="hub"))[0].task.evaluate.source == "hub"
    config, weights = config_from_args(_args(saved["task"], language_adapter=["de=some/adapter"]))
    assert weights == saved["task"] and config.adapters.language_adapters == {"de": "some/adapter"}
