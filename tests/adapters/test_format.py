"""The AdapterHub file format without the library: round trips, renaming, leave_out, legacy configs,
and the errors for files that do not fit (tested messages say what and where)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from funfisher.adapters import (AdapterFormatError, activate, add_adapter, get_adapter, list_adapters, load_adapter,
                                save_adapter, task_units)
from funfisher.io.adapterhub import KEY_TABLE, adapterhub_to_ours, normalize_adapterhub_key, ours_to_adapterhub
from funfisher.io.adapterhub_config import config_from_adapterhub, config_to_adapterhub
from funfisher.adapters.bottleneck import BottleneckConfig
from funfisher.adapters.lora import LoRAConfig
from funfisher.model.config import EncoderConfig
from funfisher.model.encoder import Encoder

REPO = Path(__file__).resolve().parents[2]


def _encoder(hidden: int = 16, layers: int = 2) -> Encoder:
    cfg = EncoderConfig(arch="bert", vocab_size=40, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=24, max_position_embeddings=24, type_vocab_size=2, layer_norm_eps=1e-12,
                        pad_token_id=0)
    return Encoder(cfg).eval()


@pytest.fixture
def bert(fixtures_dir, load_tiny):
    return load_tiny(fixtures_dir / "bert" / "model"), fixtures_dir / "bert"


def _hidden(pm, *names):
    ids = torch.randint(5, 40, (2, 6), generator=torch.Generator().manual_seed(0))
    activate(pm.model, *names)
    with torch.no_grad():
        return pm.model(ids)


def test_key_table_round_trips():
    for theirs, ours in KEY_TABLE:
        fields = {"layer": "3", "param": "bias", "proj": "value", "name": "de"}
        key_theirs, key_ours = theirs.format(**fields), ours.format(**fields)
        assert adapterhub_to_ours(key_theirs, "de") == key_ours
        assert ours_to_adapterhub(key_ours, "de") == key_theirs
    assert normalize_adapterhub_key("bert.encoder.layer.0.output.layer_text_lang_adapters.en.adapter_up.weight") == \
        "encoder.layer.0.output.adapters.en.adapter_up.weight"
    assert normalize_adapterhub_key("roberta.invertible_lang_adapters.en.F.0.bias") == "invertible_adapters.en.F.0.bias"
    assert adapterhub_to_ours("invertible_adapters.other.F.0.bias", "en") is None  # another adapter's weight


@pytest.mark.parametrize("prefix,safetensors", [(False, False), (True, True)])
def test_save_and_load_round_trip_with_rename(bert, load_tiny, tmp_path, prefix, safetensors):
    pm, folder = bert
    assert load_adapter(pm.model, folder / "lang") == "lang"
    assert load_adapter(pm.model, folder / "lora", name="my_lora") == "my_lora"
    expected = {s: _hidden(pm, *s) for s in [("lang",), ("lang", "my_lora")]}
    save_adapter(pm.model, "lang", tmp_path / "lang", prefix=prefix, safetensors=safetensors)
    save_adapter(pm.model, "my_lora", tmp_path / "lora", prefix=prefix, safetensors=safetensors)
    meta = json.loads((tmp_path / "lang" / "adapter_config.json").read_text())
    assert meta["name"] == "lang" and meta["type"] == "text_lang" and meta["hidden_size"] == 16
    assert meta["config"]["inv_adapter"] == "nice" and meta["config"]["reduction_factor"] == 2
    weights = tmp_path / "lora" / ("adapter.safetensors" if safetensors else "pytorch_adapter.bin")
    keys = list(load_file(str(weights)) if safetensors else torch.load(weights, weights_only=True))
    assert all(k.startswith("bert.encoder.layer.") == prefix and ".loras.my_lora.lora_" in k for k in keys)

    fresh = load_tiny(folder / "model")
    assert load_adapter(fresh.model, tmp_path / "lang", name="de") == "de"  # the saved name segment is renamed
    assert load_adapter(fresh.model, tmp_path / "lora") == "my_lora"
    assert get_adapter(fresh.model, "de").source["saved_name"] == "lang"
    torch.testing.assert_close(_hidden(fresh, "de"), expected[("lang",)], atol=0, rtol=0)
    torch.testing.assert_close(_hidden(fresh, "de", "my_lora"), expected[("lang", "my_lora")], atol=0, rtol=0)


def test_leave_out_from_config_and_at_load_time(bert):
    pm, folder = bert
    load_adapter(pm.model, folder / "task_lo")
    assert get_adapter(pm.model, "task_lo").config.leave_out == (0,) and sorted(task_units(pm.model, "task_lo")) == [1]
    load_adapter(pm.model, folder / "task", name="t_top", leave_out=[0])
    assert sorted(task_units(pm.model, "t_top")) == [1]
    activate(pm.model, "t_top")
    assert pm.model.layers[0].ffn.adapter is None and pm.model.layers[1].ffn.adapter is not None


def test_legacy_config_translation():
    legacy = {"non_linearity": "gelu", "reduction_factor": 2, "original_ln_before": True, "original_ln_after": True,
              "residual_before_ln": True, "mh_adapter": False, "output_adapter": True, "ln_before": False,
              "ln_after": False,
              "invertible_adapter": {"block_type": "nice", "non_linearity": "relu", "reduction_factor": 2}}
    cfg = config_from_adapterhub(legacy, legacy=True)
    assert cfg == BottleneckConfig(reduction_factor=2, non_linearity="gelu_new", inv_adapter="nice",
                                   inv_adapter_reduction_factor=2)
    assert config_from_adapterhub({**legacy, "non_linearity": "gelu_orig"}, legacy=True).non_linearity == "gelu"
    assert config_from_adapterhub(legacy, legacy=False).non_linearity == "gelu"  # versioned files: names as is
    assert config_from_adapterhub("pfeiffer") == BottleneckConfig()
    assert config_from_adapterhub("seq_bn_inv").inv_adapter == "nice"
    no_ln_before = {k: v for k, v in legacy.items() if k != "original_ln_before"}  # BnConfig default: False
    with pytest.raises(AdapterFormatError, match="original_ln_before"):
        config_from_adapterhub(no_ln_before)
    with pytest.raises(AdapterFormatError, match="lacks the required field"):
        config_from_adapterhub({k: v for k, v in legacy.items() if k != "mh_adapter"})
    lora = {"architecture": "lora", "r": 8, "alpha": 16, "selfattn_lora": True}
    assert config_from_adapterhub(lora, version="adapters.1.0.1").alpha == 8  # the faulty-scaling fix
    assert config_from_adapterhub(lora, version="adapters.1.1.0").alpha == 16
    for cfg in [BottleneckConfig(reduction_factor={"0": 4, "default": 16}, leave_out=(1,)), LoRAConfig(r=4, alpha=8)]:
        assert config_from_adapterhub(config_to_adapterhub(cfg)) == cfg


@pytest.mark.parametrize("change,message", [
    ({"mh_adapter": True}, "mh_adapter"),  # Houlsby
    ({"is_parallel": True}, "is_parallel"),
    ({"ln_after": True}, "ln_after"),
    ({"architecture": "prefix_tuning"}, "prefix_tuning"),
    ({"non_linearity": "mystery"}, "mystery"),
])
def test_unsupported_configs_are_clear_errors(bert, tmp_path, change, message):
    pm, folder = bert
    bad = shutil.copytree(folder / "task", tmp_path / "bad")
    meta = json.loads((bad / "adapter_config.json").read_text())
    meta["config"].update(change)
    (bad / "adapter_config.json").write_text(json.dumps(meta))
    with pytest.raises(AdapterFormatError, match=message) as err:
        load_adapter(pm.model, bad)
    assert "adapter_config.json" in str(err.value)
    assert list_adapters(pm.model) == {}


def test_hidden_size_that_does_not_fit(fixtures_dir):
    with pytest.raises(AdapterFormatError, match="hidden size 16.*hidden size 32"):
        load_adapter(_encoder(hidden=32), fixtures_dir / "bert" / "task")


def test_hidden_size_mismatch_without_config_field_is_caught_by_shapes(fixtures_dir, tmp_path):
    bad = shutil.copytree(fixtures_dir / "bert" / "lang", tmp_path / "bad")
    meta = json.loads((bad / "adapter_config.json").read_text())
    del meta["hidden_size"]
    (bad / "adapter_config.json").write_text(json.dumps(meta))
    model = _encoder(hidden=32)
    with pytest.raises(ValueError, match="mis-shaped"):
        load_adapter(model, bad)
    assert list_adapters(model) == {}  # nothing half-attached


def test_layer_count_that_does_not_fit(fixtures_dir):
    with pytest.raises(AdapterFormatError, match=r"layer\(s\) \[1\], but the model has 1 layers"):
        load_adapter(_encoder(layers=1), fixtures_dir / "bert" / "lang")
    with pytest.raises(AdapterFormatError, match=r"model has 3 layers.*no weights for layer\(s\) \[2\]"):
        load_adapter(_encoder(layers=3), fixtures_dir / "bert" / "lang")
    model = _encoder(layers=3)  # ... unless the missing layer is left out
    load_adapter(model, fixtures_dir / "bert" / "lang", leave_out=[2])
    assert sorted(task_units(model, "lang")) == [0, 1]


def test_unknown_keys_are_listed(bert, tmp_path):
    pm, folder = bert
    bad = shutil.copytree(folder / "lang", tmp_path / "bad")
    state = torch.load(bad / "pytorch_adapter.bin", weights_only=True)
    state["bert.encoder.layer.0.output.adapters.lang.adapter_norm_before.weight"] = torch.ones(16)
    state["bert.encoder.layer.0.output.adapters.other.adapter_up.bias"] = torch.ones(16)
    torch.save(state, bad / "pytorch_adapter.bin")
    with pytest.raises(AdapterFormatError, match="2 key") as err:
        load_adapter(pm.model, bad)
    assert "adapter_norm_before" in str(err.value) and "adapters.other.adapter_up" in str(err.value)
    assert "pytorch_adapter.bin" in str(err.value)


def test_missing_weights_and_broken_files(bert, tmp_path):
    pm, folder = bert
    partial = shutil.copytree(folder / "lang", tmp_path / "partial")
    state = torch.load(partial / "pytorch_adapter.bin", weights_only=True)
    del state["bert.invertible_adapters.lang.G.2.bias"]
    torch.save(state, partial / "pytorch_adapter.bin")
    with pytest.raises(ValueError, match=r"missing.*invertible\.G\.up\.bias"):
        load_adapter(pm.model, partial)
    broken = shutil.copytree(folder / "lang", tmp_path / "broken")
    (broken / "adapter_config.json").write_text("{not json")
    with pytest.raises(AdapterFormatError, match="not valid JSON"):
        load_adapter(pm.model, broken)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        load_adapter(pm.model, empty)
    with pytest.raises(FileNotFoundError, match="not a Hugging Face hub id"):
        load_adapter(pm.model, "./no/such/folder")
    with pytest.raises(ValueError, match="already attached"):
        load_adapter(pm.model, folder / "task")
        load_adapter(pm.model, folder / "task")


def test_hub_id_offline_is_a_clear_error_and_does_not_hang(tmp_path):
    """With HF_HUB_OFFLINE=1 and an empty cache, a hub id fails at once with a message that says why."""
    code = textwrap.dedent("""
        from funfisher.adapters import load_adapter
        from funfisher.model.config import EncoderConfig
        from funfisher.model.encoder import Encoder
        cfg = EncoderConfig(arch="bert", vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                            intermediate_size=8, max_position_embeddings=8, type_vocab_size=2, layer_norm_eps=1e-12,
                            pad_token_id=0)
        try:
            load_adapter(Encoder(cfg), "AdapterHub/bert-base-multilingual-cased-en-wiki_pfeiffer")
        except FileNotFoundError as e:
            print("ERROR:", e)
    """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert "ERROR:" in out.stdout, out.stderr[-2000:]
    assert "could not be downloaded" in out.stdout and "HF_HUB_OFFLINE=1" in out.stdout


def test_hub_source_is_recorded(monkeypatch, fixtures_dir, tmp_path):
    """A hub id resolves through huggingface_hub.snapshot_download; the repo id and commit are recorded."""
    import huggingface_hub

    snapshot = shutil.copytree(fixtures_dir / "bert" / "task", tmp_path / "snapshots" / ("a" * 40))
    calls = {}

    def fake_snapshot_download(repo_id, revision=None, allow_patterns=None, **kw):
        calls.update(repo_id=repo_id, revision=revision, allow_patterns=allow_patterns)
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    model = _encoder()
    assert load_adapter(model, "SomeOrg/tiny-task-adapter", revision="main") == "task"
    assert calls["repo_id"] == "SomeOrg/tiny-task-adapter" and "adapter_config.json" in calls["allow_patterns"]
    source = get_adapter(model, "task").source
    assert source["kind"] == "hub" and source["repo_id"] == "SomeOrg/tiny-task-adapter"
    assert source["revision"] == "a" * 40 and source["requested_revision"] == "main"


def test_add_adapter_from_adapterhub_dict_and_presets():
    model = _encoder()
    meta = json.loads((Path(__file__).parent / "fixtures" / "bert" / "lang" / "adapter_config.json").read_text())
    a = add_adapter(model, "x", meta["config"])
    assert a.role == "language" and a.config.inv_adapter == "nice" and a.config.reduction_factor == 2
    b = add_adapter(model, "y", "lora", r=4)
    assert b.config == LoRAConfig(r=4)
    with pytest.raises(ValueError, match="unknown adapter kind"):
        add_adapter(model, "z", "houlsby")
    with pytest.raises(ValueError, match="adapter name"):
        add_adapter(model, "a.b", "seq_bn")
