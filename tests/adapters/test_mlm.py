"""MAD-X step 1 on a tiny model: masked-LM training of a language adapter (funfisher/train/language_adapter.py,
and its command train_language_adapter.py)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from funfisher.adapters import activate, get_adapter, load_adapter
from funfisher.model.config import EncoderConfig
from funfisher.model.encoder import Encoder
from funfisher.io.hub import PretrainedModel
from funfisher.train.language_adapter import (MissingMLMHeadError, mask_tokens, mlm_loss,
                                              train_language_adapter)

# The example is a script, not part of the package: run its definitions (not its main) into a dict.
REPO = Path(__file__).resolve().parents[2]

WORDS = "the a cat dog bird sat ran flew on under over mat log tree red big small".split()


def tiny_pm(seed: int = 0) -> PretrainedModel:
    """A tiny BERT with a word-level tokenizer ([CLS] text [SEP]) and a checkpoint MLM head."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {t: i for i, t in enumerate(specials + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(specials)
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    cfg = EncoderConfig(arch="bert", vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=48, max_position_embeddings=32, type_vocab_size=2, layer_norm_eps=1e-12,
                        pad_token_id=0)
    torch.manual_seed(seed)
    model = Encoder(cfg).eval()
    with torch.no_grad():  # larger word embeddings (the tied decoder): logits far from uniform, as in a real model
        model.embed.tokens.weight.normal_(0.0, 1.0)
    g = torch.Generator().manual_seed(seed)
    head = {"cls.predictions.transform.dense.weight": torch.randn(32, 32, generator=g) * 0.1,
            "cls.predictions.transform.dense.bias": torch.zeros(32),
            "cls.predictions.transform.LayerNorm.weight": torch.ones(32),
            "cls.predictions.transform.LayerNorm.bias": torch.zeros(32),
            "cls.predictions.bias": torch.zeros(len(vocab))}
    return PretrainedModel(model=model, tokenizer=tok, config=cfg, source={"kind": "test", "path": "tiny"},
                           head_weights=head)


def corpus(n: int = 48) -> list[str]:
    g = torch.Generator().manual_seed(1)
    pick = lambda options: options[int(torch.randint(len(options), (1,), generator=g))]  # noqa: E731
    return [f"the {pick(['red', 'big', 'small'])} {pick(['cat', 'dog'])} sat on the {pick(['mat', 'log'])}"
            if i % 2 else f"a bird flew over the {pick(['tree', 'log'])}" for i in range(n)]


def test_masking_is_80_10_10_and_skips_special_tokens():
    ids = torch.randint(5, 1000, (64, 128))
    maskable = torch.ones_like(ids, dtype=torch.bool)
    maskable[:, 0] = False
    masked, labels = mask_tokens(ids, maskable, mask_id=4, vocab_size=1000, generator=torch.Generator().manual_seed(0))
    selected = labels != -100
    assert abs(selected.float().mean().item() - 0.15) < 0.01
    assert not selected[:, 0].any() and torch.equal(labels[selected], ids[selected])
    frac_mask = (masked[selected] == 4).float().mean().item()
    frac_same = (masked[selected] == ids[selected]).float().mean().item()
    assert abs(frac_mask - 0.8) < 0.02 and 0.09 < frac_same < 0.13  # 10% kept (+ random hits of the same id)
    assert torch.equal(masked[~selected], ids[~selected])


def test_training_lowers_the_mlm_loss_changes_only_the_adapter_and_round_trips(tmp_path):
    pm = tiny_pm()
    lines = corpus()
    base_before = {k: v.clone() for k, v in pm.model.state_dict().items()}
    head_before = {k: v.clone() for k, v in pm.task_model("mlm").head.state_dict().items()}
    before = mlm_loss(pm, lines, seed=7)

    result = train_language_adapter(pm, lines, "xx", tmp_path / "xx", steps=40, batch_size=16, lr=1e-2, seed=0)
    assert len(result["losses"]) == 40
    after = mlm_loss(pm, lines, seed=7)
    assert after < before - 0.3, (before, after)

    adapter = get_adapter(pm.model, "xx")
    assert adapter.role == "language" and adapter.invertible is not None
    base_after = {k: v for k, v in pm.model.state_dict().items() if not k.startswith("adapters.")}
    assert base_after.keys() == base_before.keys()
    assert all(torch.equal(base_before[k], v) for k, v in base_after.items())
    tm = pm.task_model("mlm").eval()
    assert all(torch.equal(head_before[k], v) for k, v in tm.head.state_dict().items())
    assert not any(p.requires_grad for p in adapter.parameters())

    # the saved folder loads back (ours) with identical outputs
    pm2 = tiny_pm()
    assert load_adapter(pm2.model, result["path"]) == "xx"
    activate(pm2.model, "xx")
    ids = torch.randint(5, 22, (3, 8), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(pm2.model(ids), pm.model(ids), atol=0, rtol=0)
        torch.testing.assert_close(pm2.task_model("mlm").eval()(ids), tm(ids), atol=0, rtol=0)


def test_a_checkpoint_without_its_mlm_head_is_refused(tmp_path):
    """Never a silent random head: against a random frozen MLM head the adapter would learn nothing useful."""
    import pytest

    pm = tiny_pm()
    pm.head_weights = {}
    with pytest.raises(MissingMLMHeadError, match="no masked-LM head"):
        train_language_adapter(pm, corpus(), "xx", tmp_path / "xx", steps=2)
    assert not (tmp_path / "xx").exists()


def command(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "train_language_adapter.py"), *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


def test_the_command_on_a_real_corpus(tmp_path):
    """configs/language_adapter/mbert_sw_cpu.toml on the tiny MLM fixture and the Swahili sentences of
    data/demo's XNLI sample: the adapter loads back, and the held-out masked-LM loss went down."""
    fixture = REPO / "tests" / "fixtures" / "tiny-bert" / "mlm"
    done = command("--config", "configs/language_adapter/mbert_sw_cpu.toml", "--set", f"model.name={fixture}",
                   "--set", "data.split=dev", "--set", f"data.data_dir={REPO / 'data' / 'demo'}",
                   "--set", "train.steps=30", "--set", "train.lr=1e-2", "--set", "data.heldout=50",
                   "--set", "train.log_every=0", "--output", tmp_path / "sw")
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((tmp_path / "sw" / "language_adapter.json").read_text())
    assert len(record["losses"]) == 30 and record["lines"]["heldout"] == 50
    loss = record["heldout_mlm_loss"]
    assert loss["after"] < loss["before"], loss
    assert record["config"]["adapter"]["name"] == "sw" and record["config"]["data"]["dataset"] == "xnli"
    from funfisher import load_pretrained

    pm = load_pretrained(fixture)
    assert load_adapter(pm.model, tmp_path / "sw") == "sw" and get_adapter(pm.model, "sw").role == "language"
    again = command("--config", "configs/language_adapter/mbert_sw_cpu.toml", "--set", f"model.name={fixture}",
                    "--output", tmp_path / "sw")
    assert again.returncode == 2 and "exists and is not empty" in again.stderr


def test_command_errors_are_one_line():
    cases = {("--set", "train.stepz=3"): "train.stepz: unknown key 'stepz' (did you mean 'steps'?)",
             ("--set", "data.text=x.txt"): "set exactly one of data.text",
             ("--set", "train.mask_prob=1.5"): "train.mask_prob: must be > 0 and < 1"}
    for args, message in cases.items():
        done = command("--config", "configs/language_adapter/mbert_sw_cpu.toml", *args)
        assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr
    done = command("--config", "configs/language_adapter/mbert_wiki.toml", "--output", "/tmp/never-written")
    assert done.returncode == 2 and "data.text = 'wiki.txt': cannot read it" in done.stderr
