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


def test_safetensors_reader_gives_aligned_copies_of_every_dtype(tmp_path):
    """read_safetensors reads each tensor into its own torch allocation: the same values, dtypes and
    shapes as safetensors' own load_file (which hands out views at unaligned addresses), every one
    64-byte aligned, so a loaded model computes bit for bit like its deep copy (see the docstring)."""
    from funfisher.model.convert import SAFETENSORS_DTYPES, read_safetensors

    g = torch.Generator().manual_seed(0)
    state = {f"t.{name}": (torch.randn(3, 5, generator=g) * 50).to(dtype)
             for name, dtype in SAFETENSORS_DTYPES.items()}
    state.update({"scalar": torch.tensor(2.5), "empty": torch.zeros(0, 4), "odd": torch.arange(7, dtype=torch.int8)})
    path = tmp_path / "all.safetensors"
    save_file(state, str(path), metadata={"format": "pt"})
    got, theirs = read_safetensors(path), load_file(str(path))
    assert got.keys() == theirs.keys() == state.keys()
    for key, tensor in got.items():
        assert tensor.dtype == theirs[key].dtype and tensor.shape == theirs[key].shape, key
        as_bytes = [t.reshape(-1).view(torch.uint8) for t in (tensor, theirs[key])]  # NaN-safe, bit for bit
        assert torch.equal(*as_bytes), key
        assert tensor.data_ptr() % 64 == 0, key
    assert any(t.data_ptr() % 64 for t in theirs.values())  # why the reader exists


def _mapped_files(tensor: torch.Tensor) -> list[str]:
    """The files whose map (/proc/self/maps) holds the tensor's first byte."""
    address, found = tensor.data_ptr(), []
    for line in Path("/proc/self/maps").read_text().splitlines():
        span, *rest = line.split()
        start, end = (int(x, 16) for x in span.split("-"))
        if start <= address < end and len(rest) >= 5:
            found.append(rest[4])
    return found


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux's /proc/self/maps")
def test_lookup_tables_stay_mapped_and_the_file_is_never_written(tmp_path):
    """The embedding tables stay in a copy-on-write map of model.safetensors (only looked-up rows
    are ever read); every other weight is its own aligned allocation. A model computes bit for bit
    like its deep copy (whose tables are allocations), and training the tables never writes the file."""
    import copy

    folder = copy_fixture(tmp_path)
    before = (folder / "model.safetensors").read_bytes()
    pm = load_pretrained(folder)
    weights = str((folder / "model.safetensors").resolve())
    assert _mapped_files(pm.model.embed.tokens.weight) == [weights]
    assert _mapped_files(pm.model.embed.positions.weight) == [weights]
    assert weights not in _mapped_files(pm.model.layers[0].attn.query.weight)
    assert pm.model.layers[0].attn.query.weight.data_ptr() % 64 == 0
    twin = copy.deepcopy(pm.model)
    assert _mapped_files(twin.embed.tokens.weight) != [weights]
    ids, mask = SAMPLE
    assert torch.equal(pm.model(ids, mask), twin(ids, mask))
    table = pm.model.embed.tokens.weight
    table.requires_grad_(True)
    optimizer = torch.optim.SGD([table], lr=1.0)
    pm.model(ids, mask).sum().backward()
    optimizer.step()
    assert not torch.equal(table.detach(), twin.embed.tokens.weight)  # the rows looked up moved
    assert (folder / "model.safetensors").read_bytes() == before


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
