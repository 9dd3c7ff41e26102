"""Checkpoint loading: prefixes, legacy names, .bin files, and clear errors on bad input."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from funfisher import load_pretrained
from funfisher.model.convert import CheckpointMismatchError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SAMPLE = torch.tensor([[2, 5, 6, 7, 3, 0]]), torch.tensor([[1, 1, 1, 1, 1, 0]])


def copy_fixture(tmp_path: Path, kind: str = "classification", arch: str = "bert") -> Path:
    dst = tmp_path / f"{arch}-{kind}"
    shutil.copytree(FIXTURES / f"tiny-{arch}" / kind, dst)
    return dst


def rewrite_weights(folder: Path, edit) -> None:
    state = load_file(str(folder / "model.safetensors"))
    save_file(edit(dict(state)), str(folder / "model.safetensors"))


def hidden(folder: Path) -> torch.Tensor:
    with torch.no_grad():
        return load_pretrained(folder).model(*SAMPLE)


def test_prefixless_and_legacy_layernorm_names_load_identically(tmp_path):
    original = hidden(FIXTURES / "tiny-bert" / "classification")
    folder = copy_fixture(tmp_path)

    def legacy(state):
        out = {}
        for k, v in state.items():
            k = k.removeprefix("bert.")
            k = k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
            out[k] = v
        out["embeddings.position_ids"] = torch.arange(64)[None]  # an old buffer, to be ignored
        return out

    rewrite_weights(folder, legacy)
    assert "embeddings.LayerNorm.gamma" in load_file(str(folder / "model.safetensors"))
    torch.testing.assert_close(hidden(folder), original, atol=0, rtol=0)


def test_pytorch_model_bin_is_read_with_weights_only(tmp_path):
    original = hidden(FIXTURES / "tiny-bert" / "classification")
    folder = copy_fixture(tmp_path)
    torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    pm = load_pretrained(folder)
    assert pm.source["weights"].endswith("pytorch_model.bin")
    torch.testing.assert_close(hidden(folder), original, atol=0, rtol=0)


def test_pickled_bin_with_code_is_refused(tmp_path):
    folder = copy_fixture(tmp_path)
    (folder / "model.safetensors").unlink()
    torch.save({"weights": object()}, folder / "pytorch_model.bin")  # not loadable with weights_only
    with pytest.raises(ValueError, match=r"pytorch_model\.bin.*weights_only=True"):
        load_pretrained(folder)


def test_missing_key_is_named(tmp_path):
    folder = copy_fixture(tmp_path)
    rewrite_weights(folder, lambda s: {k: v for k, v in s.items() if "layer.1.attention.self.key.weight" not in k})
    with pytest.raises(CheckpointMismatchError, match=r"missing \(1\): layers\.1\.attn\.key\.weight"):
        load_pretrained(folder)


def test_misshaped_key_is_named_with_both_shapes(tmp_path):
    folder = copy_fixture(tmp_path)

    def shrink(state):
        state["bert.encoder.layer.0.intermediate.dense.weight"] = torch.zeros(63, 32)
        return state

    rewrite_weights(folder, shrink)
    with pytest.raises(CheckpointMismatchError, match=r"mis-shaped \(1\): layers\.0\.ffn\.up\.weight: checkpoint \(63, 32\) vs model \(64, 32\)"):
        load_pretrained(folder)


def test_unexpected_key_is_named_and_all_problems_come_in_one_error(tmp_path):
    folder = copy_fixture(tmp_path)

    def edit(state):
        state["bert.encoder.layer.0.output.adapters.x.weight"] = torch.zeros(2)
        del state["bert.embeddings.LayerNorm.bias"]
        return state

    rewrite_weights(folder, edit)
    with pytest.raises(CheckpointMismatchError) as err:
        load_pretrained(folder)
    message = str(err.value)
    assert "model.safetensors" in message
    assert "missing (1): embed.norm.bias" in message
    assert "unexpected (1): bert.encoder.layer.0.output.adapters.x.weight" in message


def test_head_of_the_wrong_size_is_an_error(tmp_path):
    pm = load_pretrained(FIXTURES / "tiny-bert" / "classification")  # its classifier has 3 labels
    with pytest.raises(CheckpointMismatchError, match=r"out\.weight: checkpoint \(3, 32\) vs model \(2, 32\)"):
        pm.task_model("classification", num_labels=2)


def test_truncated_safetensors_file(tmp_path):
    folder = copy_fixture(tmp_path)
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"model\.safetensors: not a readable safetensors file \(truncated or corrupt\?\)"):
        load_pretrained(folder)


def test_bad_config(tmp_path):
    folder = copy_fixture(tmp_path)
    (folder / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(ValueError, match=r"config\.json: model_type 'gpt2' is not supported"):
        load_pretrained(folder)
    (folder / "config.json").write_text('{"model_type": "bert",\n "hidden_size": }')
    with pytest.raises(ValueError, match=r"config\.json: not valid JSON \(line 2"):
        load_pretrained(folder)


def test_arch_must_agree_with_the_checkpoint():
    with pytest.raises(ValueError, match=r"is a bert checkpoint, but arch='xlm-roberta'"):
        load_pretrained(FIXTURES / "tiny-bert" / "classification", arch="xlm-roberta")
    assert load_pretrained(FIXTURES / "tiny-bert" / "classification", arch="bert").config.arch == "bert"


def test_unknown_model_name_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match=r"model 'no-such-org/no-such-model': not a local folder, not an offline packaged model"):
        load_pretrained("no-such-org/no-such-model")


def test_missing_local_folder():
    with pytest.raises(FileNotFoundError, match=r"model './does/not/exist': no such local folder"):
        load_pretrained("./does/not/exist")


def test_hub_download_records_repo_and_revision(tmp_path, monkeypatch):
    """With a hub id, the snapshot folder is loaded and its commit recorded (hub mocked: no network here)."""
    import huggingface_hub

    snapshot = tmp_path / "models--org--tiny" / "snapshots" / "0123abcd"
    shutil.copytree(FIXTURES / "tiny-bert" / "classification", snapshot)
    calls = []

    def fake_snapshot_download(repo_id, revision=None, allow_patterns=None, **kw):
        calls.append((repo_id, revision, tuple(allow_patterns)))
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    pm = load_pretrained("org/tiny")
    assert pm.source["kind"] == "hub" and pm.source["repo_id"] == "org/tiny" and pm.source["revision"] == "0123abcd"
    assert calls == [("org/tiny", None, ("config.json", "tokenizer.json", "model.safetensors"))]
