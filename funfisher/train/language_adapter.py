"""MAD-X step 1: train a language adapter (+ its invertible adapter) with masked LM on plain text.

    python train_language_adapter.py --config configs/language_adapter/mbert_sw_cpu.toml
    python train_language_adapter.py --config configs/language_adapter/mbert_wiki.toml --set data.text=sw.txt

MAD-X (Pfeiffer et al. 2020) transfers a task across languages in three steps:

1. one *language adapter* per language, trained with the masked-LM objective on unlabeled text of
   that language (this module; the paper's Appendix B: Wikipedia text, lr 1e-4, batch 64, length 512);
2. a *task adapter* trained on labelled source-language data, stacked on top of the source
   language's adapter, Stack(en, task) (train.py: FUN with Fisher schedules this step);
3. zero-shot evaluation: the target language's adapter replaces the source language's one under
   the same task adapter, Stack(sw, task) (train.py and eval.py).

The paper's configs use MAD-X language adapters published on the hub by AdapterHub; this trains
one for a language that has none there. Every pretrained weight stays frozen, the MLM head and
the word embeddings too (the decoder is tied to them): only the adapter's bottleneck layers and
its NICE invertible adapter learn (MAD-X Sec. 2.2-2.3). The checkpoint must have its masked-LM
head (`MissingMLMHeadError` otherwise: against a random frozen head the adapter would learn
nothing useful). The result is saved in the AdapterHub format, which
`funfisher.adapters.load_adapter` and AdapterHub `adapters` both read.

Masking is BERT's (Devlin et al. 2019): each non-special token is selected with probability 0.15;
a selected token becomes the mask token 80% of the time, a random token 10%, and stays itself
10%; the loss is cross-entropy on the selected positions only.

The text: a plain file (`data.text`, one sentence or paragraph a line), or the sentences of a
dataset split in the language (`data.dataset`, e.g. XNLI's test sentences: a small real corpus).
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from .. import data as D
from ..adapters import activate, add_adapter, get_adapter, list_adapters, save_adapter
from ..data.examples import ChoiceExample, PairExample, QAExample
from ..data.hub_datasets import SOURCE_RULE, is_source
from ..errors import UserError
from ..io.progress import Progress
from ..io.runs import atomic_write_json
from ..model.convert import head_state_from_hf
from ..model.tokenizer import encode, mask_token_id
from ..runconfig import ConfigError, load_dataclass
from .optim import AdamW

IGNORE_INDEX = -100
RESULT = "language_adapter.json"  # next to the saved adapter: the config, losses, held-out loss


class MissingMLMHeadError(UserError, ValueError):
    """The checkpoint has no masked-LM head, so there is nothing to train a language adapter against."""


# --------------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------------
@dataclass
class LAModel:
    name: str = "bert-base-multilingual-cased"  # with its MLM head (the hub's checkpoints have it)
    arch: str | None = None


@dataclass
class LAAdapter:
    name: str = "sw"  # the adapter's name: the language code
    reduction_factor: float = 2.0  # MAD-X language adapters: 2
    non_linearity: str = "relu"


@dataclass
class LAData:
    text: str | None = None  # a UTF-8 text file, one sentence or paragraph a line
    dataset: str | None = None  # or: the sentences of a dataset split in `language`
    split: str | None = None
    language: str | None = None
    data_dir: str | None = None
    source: str = "local"  # the dataset's files: "local" (data_dir), "hub" or an owner/name repo (data.load_dataset)
    heldout: int = 200  # lines kept out of training, for the masked-LM loss before / after


@dataclass
class LATrain:
    steps: int = 1000
    batch_size: int = 64  # Appendix B
    max_length: int = 512  # Appendix B
    lr: float = 1e-4  # Appendix B
    mask_prob: float = 0.15
    seed: int = 0
    log_every: int = 100
    threads: int = 2


@dataclass
class LanguageAdapterConfig:
    output: str = ""  # the adapter folder ("" = runs/language_adapters/<adapter.name>)
    model: LAModel = field(default_factory=LAModel)
    adapter: LAAdapter = field(default_factory=LAAdapter)
    data: LAData = field(default_factory=LAData)
    train: LATrain = field(default_factory=LATrain)


def load_language_adapter_config(path: str | Path | None, overrides: list[str] = ()) -> LanguageAdapterConfig:
    """A checked configuration: types as any config, then the ranges and the text source."""
    config, sources = load_dataclass(LanguageAdapterConfig, path, overrides)

    def fail(key: str, why: str):
        raise ConfigError(f"{sources(key)}: {key}: {why}")

    t, d = config.train, config.data
    for key in ("steps", "batch_size", "max_length", "threads"):
        if getattr(t, key) < 1:
            fail(f"train.{key}", "must be >= 1")
    if not t.lr > 0:
        fail("train.lr", "must be > 0")
    if not 0 < t.mask_prob < 1:
        fail("train.mask_prob", "must be > 0 and < 1")
    if not config.adapter.reduction_factor > 0:
        fail("adapter.reduction_factor", "must be > 0")
    if d.heldout < 0:
        fail("data.heldout", "must be >= 0")
    if (d.text is None) == (d.dataset is None):
        fail("data.text", "set exactly one of data.text (a text file) and data.dataset (a dataset's sentences)")
    if d.dataset is not None:
        if d.dataset not in D.DATASETS:
            fail("data.dataset", f"unknown dataset {d.dataset!r}; expected one of {sorted(D.DATASETS)}")
        spec = D.DATASETS[d.dataset]
        if d.language not in spec.languages:
            fail("data.language", f"{d.language!r} is not a language of {d.dataset} ({', '.join(spec.languages)})")
        if d.split not in spec.splits:
            fail("data.split", f"{d.split!r} is not a split of {d.dataset} ({', '.join(spec.splits)})")
        if not is_source(d.source):
            fail("data.source", f"{d.source!r}: expected {SOURCE_RULE}")
    return config


# --------------------------------------------------------------------------------------------------
# the text
# --------------------------------------------------------------------------------------------------
def read_lines(text_file: str | Path) -> list[str]:
    """The non-empty lines of a UTF-8 text file; an unreadable or empty file is a ConfigError."""
    path = Path(text_file)
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"data.text = {str(path)!r}: cannot read it as UTF-8 text ({e})") from None
    lines = [line for line in lines if line]
    if not lines:
        raise ConfigError(f"data.text = {str(path)!r}: no non-empty lines to train on")
    return lines


_TEXT_FIELDS = {PairExample: ("text_a", "text_b"), ChoiceExample: ("premise", "choices"),
                QAExample: ("context", "question")}


def dataset_sentences(dataset: str, split: str, language: str, data_dir: str | None,
                      source: str = "local") -> list[str]:
    """Every distinct text of a dataset split (pairs' sentences, COPA premises and choices, QA
    contexts and questions), in file order."""
    texts: dict[str, None] = {}
    for example in D.load_dataset(dataset, split, lang=language, data_dir=data_dir, source=source):
        for name in _TEXT_FIELDS[type(example)]:
            value = getattr(example, name)
            for text in (value if isinstance(value, tuple) else (value,)):
                if text.strip():
                    texts[text.strip()] = None
    return list(texts)


def corpus(config: LanguageAdapterConfig) -> list[str]:
    d = config.data
    if d.text is not None:
        return read_lines(d.text)
    return dataset_sentences(d.dataset, d.split, d.language, d.data_dir, d.source)


# --------------------------------------------------------------------------------------------------
# masked LM
# --------------------------------------------------------------------------------------------------
def special_token_ids(tok: Tokenizer) -> set[int]:
    """Ids of the tokenizer's special tokens ([CLS], [SEP], [PAD], <s>, </s>, <pad>, ...): never masked."""
    return {i for i, t in tok.get_added_tokens_decoder().items() if t.special}


def mask_tokens(
    input_ids: torch.Tensor,
    maskable: torch.Tensor,
    mask_id: int,
    vocab_size: int,
    generator: torch.Generator,
    mask_prob: float = 0.15,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking. input_ids [B, T] long, maskable [B, T] bool -> (masked inputs, labels with -100
    where nothing is predicted). At least one position is selected so the loss is defined."""
    selected = (torch.rand(input_ids.shape, generator=generator) < mask_prob) & maskable
    if not selected.any():
        candidates = maskable.nonzero()
        if len(candidates) == 0:
            raise ValueError("no maskable token in the batch (only special tokens / padding)")
        pick = candidates[torch.randint(len(candidates), (1,), generator=generator)]
        selected[pick[0, 0], pick[0, 1]] = True
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    roll = torch.rand(input_ids.shape, generator=generator)
    to_mask = selected & (roll < 0.8)
    to_random = selected & (roll >= 0.8) & (roll < 0.9)
    masked = input_ids.clone()
    masked[to_mask] = mask_id
    masked[to_random] = torch.randint(vocab_size, (int(to_random.sum()),), generator=generator)
    return masked, labels


def _batch(pm: Any, texts: list[str], max_length: int, generator: torch.Generator, mask_prob: float):
    tok = pm.tokenizer
    batch = encode(tok, texts, max_length=max_length)
    specials = torch.tensor(sorted(special_token_ids(tok)), dtype=torch.long)
    maskable = batch["attention_mask"].bool() & ~torch.isin(batch["input_ids"], specials)
    vocab = min(tok.get_vocab_size(), pm.config.vocab_size)
    inputs, labels = mask_tokens(batch["input_ids"], maskable, mask_token_id(tok), vocab, generator, mask_prob)
    return inputs, batch["attention_mask"], batch["token_type_ids"], labels


def _mlm_loss(task_model, inputs, attention_mask, token_type_ids, labels, pack: bool = False) -> torch.Tensor:
    """pack: for the eval-only `mlm_loss` (see Encoder.forward); training runs padded."""
    device = next(task_model.parameters()).device
    logits = task_model(inputs.to(device), attention_mask.to(device), token_type_ids.to(device), pack=pack)
    return F.cross_entropy(logits.flatten(0, 1), labels.to(device).flatten(), ignore_index=IGNORE_INDEX)


@torch.no_grad()
def mlm_loss(pm: Any, texts: list[str], task_model=None, *, max_length: int = 128, batch_size: int = 16,
             seed: int = 0, mask_prob: float = 0.15) -> float:
    """Mean masked-LM loss on `texts` with a fixed masking (seed), in eval mode: for before/after checks."""
    tm = task_model or pm.task_model("mlm")
    was_training = tm.training
    tm.eval()
    gen = torch.Generator().manual_seed(seed)
    total, count = 0.0, 0
    for start in range(0, len(texts), batch_size):
        inputs, att, types, labels = _batch(pm, texts[start:start + batch_size], max_length, gen, mask_prob)
        n = int((labels != IGNORE_INDEX).sum())
        total += float(_mlm_loss(tm, inputs, att, types, labels, pack=True)) * n
        count += n
    tm.train(was_training)
    return total / count


def check_mlm_head(pm: Any) -> None:
    """The checkpoint's masked-LM head must be there (module docstring)."""
    if not head_state_from_hf(getattr(pm, "head_weights", {}), pm.config.arch, "mlm"):
        where = pm.source.get("path", pm.source) if isinstance(pm.source, dict) else pm.source
        raise MissingMLMHeadError(
            f"{where}: the checkpoint has no masked-LM head (e.g. a sentence-embedding model such as "
            f"multilingual-e5-small); a language adapter learns against the frozen MLM head, which a random "
            f"one is not: use a checkpoint with its MLM head (bert-base-multilingual-cased, xlm-roberta-base)")


def train_language_adapter(
    pm: Any,
    lines: list[str],
    name: str,
    out_dir: str | Path,
    steps: int,
    *,
    batch_size: int = 16,
    max_length: int = 128,
    lr: float = 1e-4,
    reduction_factor: float = 2,
    non_linearity: str = "relu",
    mask_prob: float = 0.15,
    seed: int = 0,
    log_every: int = 0,
) -> dict[str, Any]:
    """Train language adapter `name` (seq_bn_inv, MAD-X: reduction factor 2) on `lines` for `steps`
    AdamW steps (batches drawn with replacement), everything else frozen; save it to `out_dir`.

    pm: what `load_pretrained` returns (encoder, tokenizer, config, and the checkpoint's MLM head,
    which must be there: `check_mlm_head`). If `name` is already attached (e.g. loaded to continue
    training) it is trained as is. Returns {"losses": per-step training losses, "path": out_dir}.
    The encoder is left with `name` active and in eval mode.
    """
    check_mlm_head(pm)
    enc = pm.model
    if name not in list_adapters(enc):
        add_adapter(enc, name, "seq_bn_inv", role="language", reduction_factor=reduction_factor,
                    non_linearity=non_linearity)
    elif get_adapter(enc, name).role != "language":
        raise ValueError(f"adapter {name!r} is a {get_adapter(enc, name).role!r} adapter, not a language adapter")
    activate(enc, name)
    tm = pm.task_model("mlm")
    tm.to(next(enc.parameters()).device)
    for p in tm.parameters():
        p.requires_grad_(False)
    params = list(get_adapter(enc, name).parameters())
    for p in params:
        p.requires_grad_(True)
    opt = AdamW(params, lr=lr)

    order = random.Random(seed)  # data order
    gen = torch.Generator().manual_seed(seed)  # masking
    losses: list[float] = []
    progress = Progress(steps, f"language adapter [{name}]") if log_every else None
    tm.train()
    for step in range(steps):
        texts = [lines[order.randrange(len(lines))] for _ in range(batch_size)]
        loss = _mlm_loss(tm, *_batch(pm, texts, max_length, gen, mask_prob))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.detach().item())
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"masked-LM loss became {losses[-1]} at step {step}")
        if progress is not None:
            progress.update(postfix=f"mlm loss {sum(losses[-log_every:]) / len(losses[-log_every:]):.3f}")
    if progress is not None:
        progress.close()
    tm.eval()
    for p in params:
        p.requires_grad_(False)
    save_adapter(enc, name, out_dir)
    return {"losses": losses, "path": Path(out_dir)}


def run(config: LanguageAdapterConfig, output: str | Path | None = None) -> dict[str, Any]:
    """The command: load the model (its MLM head checked first), read the text, hold out
    `data.heldout` lines, train, save the adapter and `language_adapter.json` (config, per-step
    losses, held-out masked-LM loss before and after) into the output folder."""
    from ..model import load_pretrained

    out = Path(output or config.output or Path("runs") / "language_adapters" / config.adapter.name)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out}: exists and is not empty; pick another output (--output) for the adapter")
    lines = corpus(config)  # a bad text source fails before the model loads
    t = config.train
    torch.set_num_threads(t.threads)
    shuffled = lines[:]
    random.Random(t.seed).shuffle(shuffled)
    heldout, train_lines = shuffled[:config.data.heldout], shuffled[config.data.heldout:]
    if not train_lines:
        raise ConfigError(f"data: {len(lines)} lines, all held out (data.heldout = {config.data.heldout})")
    pm = load_pretrained(config.model.name, arch=config.model.arch)
    check_mlm_head(pm)
    before = mlm_loss(pm, heldout, max_length=t.max_length, seed=t.seed) if heldout else None
    result = train_language_adapter(pm, train_lines, config.adapter.name, out, t.steps, batch_size=t.batch_size,
                                    max_length=t.max_length, lr=t.lr, reduction_factor=config.adapter.reduction_factor,
                                    non_linearity=config.adapter.non_linearity, mask_prob=t.mask_prob, seed=t.seed,
                                    log_every=t.log_every)
    after = mlm_loss(pm, heldout, max_length=t.max_length, seed=t.seed) if heldout else None
    record = {"config": asdict(config), "model": pm.source, "lines": {"train": len(train_lines), "heldout": len(heldout)},
              "heldout_mlm_loss": {"before": before, "after": after}, "losses": result["losses"]}
    atomic_write_json(out / RESULT, record)
    return record


def result_text(record: dict[str, Any]) -> str:
    loss = record["heldout_mlm_loss"]
    shown = "" if loss["before"] is None else f"; held-out masked-LM loss {loss['before']:.3f} -> {loss['after']:.3f}"
    return json.dumps(record["lines"]) + shown
