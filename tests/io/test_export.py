"""export.py / funfisher.io.export: funfisher models as Hugging Face folders that transformers
(a test extra) loads as they are, with the right special tokens, computing what funfisher computes.

Models: the tiny BERT and XLM-R fixtures (tests/fixtures), with their heads; a full fine-tuning
run trained here for 3 steps. atol 1e-5 as in test_hf_parity.py: the two stacks run the same
fp32 math with different kernels (observed differences are about 1e-6 at these sizes).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from funfisher import load_pretrained
from funfisher.io.export import ExportError, export_base, export_task_model
from funfisher.model.tokenizer import encode, mask_token_id, pad_token_id

transformers = pytest.importorskip("transformers", reason="transformers is a test extra (pip install -e .[test])")

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
ARCHS = ["bert", "xlm-roberta"]
ATOL = 1e-5
PAIRS = (["the cat sat", "a dog"], ["on the mat today", "ran"])


def batch(pm) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    enc = encode(pm.tokenizer, *PAIRS, max_length=24)
    return enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]


@pytest.mark.parametrize("arch", ARCHS)
def test_base_model_loads_in_transformers_with_its_special_tokens(arch, tmp_path):
    pm = load_pretrained(FIXTURES / f"tiny-{arch}" / "classification")
    out = export_base(pm, tmp_path / "hf")
    theirs = transformers.AutoModel.from_pretrained(out).eval()
    assert type(theirs).__name__ == {"bert": "BertModel", "xlm-roberta": "XLMRobertaModel"}[arch]
    tok = transformers.AutoTokenizer.from_pretrained(out)
    # the ids of the special tokens are the vocabulary's, as funfisher's tokenizer has them
    assert tok.pad_token_id == pad_token_id(pm.tokenizer) == theirs.config.pad_token_id
    assert tok.mask_token_id == mask_token_id(pm.tokenizer)
    spelled = {"bert": ("[CLS]", "[SEP]", "[UNK]"), "xlm-roberta": ("<s>", "</s>", "<unk>")}[arch]
    assert (tok.cls_token, tok.sep_token, tok.unk_token) == spelled
    ids, mask, types = batch(pm)
    theirs_ids = tok(*PAIRS, padding=True, return_tensors="pt")
    assert torch.equal(theirs_ids["input_ids"], ids) and torch.equal(theirs_ids["attention_mask"], mask)
    with torch.no_grad():
        ours = pm.model(ids, mask, types)
        hf = theirs(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
    real = mask.bool()
    torch.testing.assert_close(hf[real], ours[real], atol=ATOL, rtol=0)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("kind", ["classification", "multiple_choice", "qa"])
def test_task_model_loads_as_the_hf_class_of_its_task(arch, kind, tmp_path):
    """Encoder + head in HF naming: a changed encoder (as after fine-tuning) and the head agree."""
    pm = load_pretrained(FIXTURES / f"tiny-{arch}" / kind)
    model = pm.task_model(kind, num_labels=3 if kind == "classification" else None).eval()
    with torch.no_grad():  # stand-in for fine-tuning: every encoder weight moves
        g = torch.Generator().manual_seed(0)
        for p in model.encoder.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.01)
    out = export_task_model(model, pm, tmp_path / "hf")
    auto = {"classification": transformers.AutoModelForSequenceClassification,
            "multiple_choice": transformers.AutoModelForMultipleChoice,
            "qa": transformers.AutoModelForQuestionAnswering}[kind]
    theirs = auto.from_pretrained(out).eval()
    ids, mask, types = batch(pm)
    if kind == "multiple_choice":  # two choices per example: [B, C, T]
        ids, mask, types = (t[:, None].expand(-1, 2, -1).contiguous() for t in (ids, mask, types))
    with torch.no_grad():
        ours = model(input_ids=ids, attention_mask=mask, token_type_ids=types)
        hf = theirs(input_ids=ids, attention_mask=mask, token_type_ids=types)
    if kind == "qa":
        real = mask.bool()
        torch.testing.assert_close(hf.start_logits[real], ours[0][real], atol=ATOL, rtol=0)
        torch.testing.assert_close(hf.end_logits[real], ours[1][real], atol=ATOL, rtol=0)
    else:
        torch.testing.assert_close(hf.logits, ours, atol=ATOL, rtol=0)
    if kind == "classification":
        assert theirs.config.num_labels == 3


def test_e5_small_exports_with_xlmr_special_tokens_on_a_bert_model(tmp_path):
    """The offline e5-small is a BERT model with XLM-R's vocabulary: <s> </s> <pad> <mask> spellings."""
    try:
        pm = load_pretrained("multilingual-e5-small")
    except Exception as e:  # noqa: BLE001  (the offline package is an optional install)
        pytest.skip(f"multilingual-e5-small not installed here: {e}")
    out = export_base(pm, tmp_path / "e5")
    tok = transformers.AutoTokenizer.from_pretrained(out)
    assert (tok.pad_token, tok.mask_token, tok.cls_token) == ("<pad>", "<mask>", "<s>")
    assert tok.pad_token_id == pad_token_id(pm.tokenizer) == 1 and tok.mask_token_id == mask_token_id(pm.tokenizer)
    config = transformers.AutoConfig.from_pretrained(out)
    assert config.model_type == "bert" and config.pad_token_id == 1


def test_nothing_is_overwritten(tmp_path):
    pm = load_pretrained(FIXTURES / "tiny-bert" / "classification")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="exists and is not an empty folder"):
        export_base(pm, tmp_path / "taken")
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    export_base(pm, tmp_path / "empty")  # a new folder is fine; an empty one too
    (tmp_path / "empty2").mkdir()
    export_base(pm, tmp_path / "empty2")


def run_export(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "export.py"), *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


def test_export_run_of_a_full_fine_tuning_run(tmp_path):
    from funfisher.io.runs import CONFIG, WEIGHTS
    from funfisher.runconfig import load_config
    from funfisher.train import run_one
    from funfisher.train.trainable import restore

    overrides = [f"model.name={FIXTURES / 'tiny-bert' / 'classification'}", f"task.data_dir={REPO / 'data/demo'}",
                 "task.max_length=32", "task.eval_n=8", "task.train.n=24", "task.evaluate.languages=['en']",
                 "train.max_steps=3", "train.batch_size=8", "fisher.track_every=0", "train.threads=1"]
    full = run_one(load_config(None, ["adapters.kind=full", *overrides]), tmp_path / "full")
    assert full.steps == 3
    done = run_export("run", tmp_path / "full", "--output", tmp_path / "hf")
    assert done.returncode == 0, done.stderr[-2000:]
    config = load_config(tmp_path / "full" / CONFIG)
    pm = load_pretrained(config.model.name)
    model = pm.task_model("classification", num_labels=3).eval()
    restore(model, tmp_path / "full" / WEIGHTS, config)
    theirs = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path / "hf").eval()
    ids, mask, types = batch(pm)
    with torch.no_grad():
        torch.testing.assert_close(theirs(input_ids=ids, attention_mask=mask, token_type_ids=types).logits,
                                   model(ids, mask, types), atol=ATOL, rtol=0)
    # an adapter run is refused (its adapter/ is AdapterHub format already), before anything is written
    run_one(load_config(None, overrides), tmp_path / "adapter")
    done = run_export("run", tmp_path / "adapter", "--output", tmp_path / "hf2")
    assert done.returncode == 2 and done.stderr.startswith("error: ") and "only full fine-tuning" in done.stderr
    assert done.stderr.count("\n") == 1 and not (tmp_path / "hf2").exists()
    done = run_export("run", tmp_path / "full", "--output", tmp_path / "hf")  # taken
    assert done.returncode == 2 and "exists and is not an empty folder" in done.stderr
