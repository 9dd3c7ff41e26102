"""The reference side of the adapter tests: tiny Hugging Face models with AdapterHub `adapters` 1.3.0.

Used by `make_fixtures.py` (golden files) and by the live parity tests (through conftest.py).
Needs the test extras `transformers` and `adapters`; funfisher itself never imports them.

Every scenario below is computed here by the library and, in the tests, by funfisher from the
files the library saved:

| scenario     | active setup                              |
|--------------|-------------------------------------------|
| task         | Stack("task")       (one seq_bn adapter)  |
| stack        | Stack("lang", "task")   (MAD-X)           |
| leave_out    | Stack("lang", "task_lo") (task_lo has no adapter in layer 0) |
| lora         | Stack("lora")                             |
| lang_lora    | Stack("lang", "lora")                     |
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import adapters
import torch
from adapters import LoRAConfig, SeqBnConfig, SeqBnInvConfig
from adapters.composition import Stack
from safetensors.torch import save_file
from transformers import BertConfig, BertForMaskedLM, XLMRobertaConfig, XLMRobertaForMaskedLM

SCENARIOS: dict[str, tuple[str, ...]] = {
    "task": ("task",),
    "stack": ("lang", "task"),
    "leave_out": ("lang", "task_lo"),
    "lora": ("lora",),
    "lang_lora": ("lang", "lora"),
}
# The adapters every reference model carries, and the AdapterHub config of each.
ADAPTER_CONFIGS = {
    "lang": lambda: SeqBnInvConfig(reduction_factor=2),  # MAD-X language adapter
    "task": lambda: SeqBnConfig(reduction_factor=16),  # task adapter
    "task_lo": lambda: SeqBnConfig(reduction_factor=16, leave_out=[0]),
    "lora": lambda: LoRAConfig(r=8, alpha=8),
}
# Which adapters a scenario trains (their gradients are compared).
TRAINED = {"task": "task", "stack": "task", "leave_out": "task_lo", "lora": "lora", "lang_lora": "lora"}


def tiny_hf_config(arch: str, hidden: int = 32, layers: int = 2, vocab: int = 40):
    common = dict(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                  intermediate_size=hidden + hidden // 2, max_position_embeddings=24)
    if arch == "bert":
        return BertConfig(**common)
    return XLMRobertaConfig(**common, pad_token_id=1, bos_token_id=0, eos_token_id=2, type_vocab_size=1,
                            layer_norm_eps=1e-5)


def build_hf_mlm_model(arch: str, seed: int, **config_kw):
    torch.manual_seed(seed)
    cfg = tiny_hf_config(arch, **config_kw)
    model = (BertForMaskedLM if arch == "bert" else XLMRobertaForMaskedLM)(cfg)
    return model.eval()


def base_of(model):
    """The bare BertModel / XLMRobertaModel inside a model with a head (or the model itself)."""
    for attr in ("bert", "roberta"):
        if hasattr(model, attr):
            return getattr(model, attr)
    return model


def write_tiny_tokenizer(path: Path, vocab_size: int) -> None:
    """A word-level tokenizer.json with `vocab_size` pieces (the model loader wants one; ids are random)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {t: i for i, t in enumerate(["[CLS]", "[PAD]", "[SEP]", "[UNK]", "[MASK]"])}
    vocab.update({f"w{i}": i for i in range(len(vocab), vocab_size)})
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(path))


def save_hf_folder(model, folder: Path) -> Path:
    """config.json + model.safetensors (+ tiny tokenizer.json): what funfisher's load_folder reads."""
    folder.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(folder)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()
             if ".decoder." not in k and "adapter" not in k and "lora" not in k}
    save_file(state, str(folder / "model.safetensors"))
    write_tiny_tokenizer(folder / "tokenizer.json", model.config.vocab_size)
    return folder


@torch.no_grad()
def add_library_adapters(model, seed: int, std: float = 0.2) -> None:
    """adapters.init + the four adapters, re-initialized with a larger std (and a non-zero LoRA B)
    so that each one changes the hidden states clearly more than the test tolerance."""
    adapters.init(model)
    for name, make in ADAPTER_CONFIGS.items():
        model.add_adapter(name, config=make())
    gen = torch.Generator().manual_seed(seed)
    for key, p in model.named_parameters():
        if ".adapters." in key or "invertible_adapters." in key or ".loras." in key:
            p.copy_(torch.randn(p.shape, generator=gen) * std)


def save_library_adapters(model, out: Path) -> dict[str, Path]:
    """Each adapter in its own folder, in varied forms: with the `bert.`/`roberta.` prefix (model with a
    head) or without (bare model), pickle or safetensors."""
    paths = {}
    base = base_of(model)
    forms = {"lang": (model, False), "task": (base, True), "task_lo": (model, True), "lora": (base, False)}
    for name, (owner, safetensors) in forms.items():
        paths[name] = out / name
        kwargs = {"with_head": False} if owner is model else {}
        owner.save_adapter(str(paths[name]), name, use_safetensors=safetensors, **kwargs)
    return paths


def inputs(arch: str, vocab: int, seed: int, batch: int = 3, length: int = 9):
    """Random ids with some padding (pad id: 0 for BERT, 1 for XLM-R) and a {0,1} attention mask."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (batch, length), generator=gen)
    mask = torch.ones_like(ids)
    mask[1, length - 3:] = 0
    mask[2, length - 5:] = 0
    ids[mask == 0] = 0 if arch == "bert" else 1
    return ids, mask


def hidden_states(model, setup: tuple[str, ...], ids, mask) -> torch.Tensor:
    base = base_of(model)
    base.set_active_adapters(Stack(*setup))
    with torch.no_grad():
        return base(input_ids=ids, attention_mask=mask).last_hidden_state


def adapter_grads(model, setup: tuple[str, ...], trained: str, ids, mask, weight) -> dict[str, torch.Tensor]:
    """Gradients of loss = sum(hidden * weight) w.r.t. adapter `trained`, under bare-model AdapterHub names."""
    base = base_of(model)
    base.set_active_adapters(Stack(*setup))
    marks = (f".adapters.{trained}.", f".loras.{trained}.")
    for k, p in base.named_parameters():  # only the trained adapter needs gradients (fast on big models)
        p.requires_grad_(any(m in k for m in marks))
    base.zero_grad(set_to_none=True)
    (base(input_ids=ids, attention_mask=mask).last_hidden_state * weight).sum().backward()
    return {k: p.grad.detach().clone() for k, p in base.named_parameters() if any(m in k for m in marks)}


def mlm_logits(model, adapter_paths: dict[str, Path], setup: tuple[str, ...], ids, mask) -> torch.Tensor:
    """MLM logits through AdapterHub's flex masked-LM head (BertAdapterModel / XLMRobertaAdapterModel),
    which applies the invertible adapter's inverse before the output embeddings (MAD-X). The head
    gets the HF MLM head's weights; the decoder is tied to the word embeddings."""
    from adapters import BertAdapterModel, XLMRobertaAdapterModel

    is_bert = hasattr(model, "bert")
    flex = (BertAdapterModel if is_bert else XLMRobertaAdapterModel)(model.config).eval()
    base_state = {k: v for k, v in base_of(model).state_dict().items() if "adapter" not in k and "lora" not in k}
    flex.base_model.load_state_dict(base_state, strict=False)
    flex.add_masked_lm_head("mlm")
    head = flex.heads["mlm"]
    with torch.no_grad():
        if is_bert:
            pred = model.cls.predictions
            t, ln, bias = pred.transform.dense, pred.transform.LayerNorm, pred.bias
        else:
            t, ln, bias = model.lm_head.dense, model.lm_head.layer_norm, model.lm_head.bias
        head[0].weight.copy_(t.weight), head[0].bias.copy_(t.bias)
        head[2].weight.copy_(ln.weight), head[2].bias.copy_(ln.bias)
        head[3].bias.copy_(bias)
        assert torch.equal(head[3].weight, flex.base_model.embeddings.word_embeddings.weight)
    for name in setup:
        library_load(flex, adapter_paths[name])
    flex.set_active_adapters(Stack(*setup))
    with torch.no_grad():
        return flex(input_ids=ids, attention_mask=mask).logits


def library_load(model, folder: Path, **kwargs) -> str:
    """model.load_adapter, reading safetensors when the folder has only those (the library's default is the pickle)."""
    folder = Path(folder)
    safetensors = (folder / "adapter.safetensors").is_file() and not (folder / "pytorch_adapter.bin").is_file()
    return model.load_adapter(str(folder), use_safetensors=safetensors, **kwargs)


def make_legacy_copy(src: Path, dst: Path, role: str, activation_in_file: str | None = None) -> Path:
    """Rewrite an AdapterHub 1.3.0 folder the way adapter-transformers v1 saved it: no "version",
    the nested "invertible_adapter" config, "type", legacy module names, the `bert.` prefix, and
    (optionally) the old activation name (v1's "gelu" is today's "gelu_new")."""
    dst.mkdir(parents=True, exist_ok=True)
    meta = json.loads((src / "adapter_config.json").read_text())
    cfg = meta["config"]
    old = {k: cfg[k] for k in ("adapter_residual_before_ln", "leave_out", "ln_after", "ln_before", "mh_adapter",
                               "non_linearity", "original_ln_after", "original_ln_before", "output_adapter",
                               "reduction_factor", "residual_before_ln")}
    # v1 default configs carried an invertible adapter spec even for task adapters.
    old["invertible_adapter"] = {"block_type": "nice", "non_linearity": "relu", "reduction_factor": 2}
    if activation_in_file:
        old["non_linearity"] = activation_in_file
    legacy_meta = {"config": old, "hidden_size": meta["hidden_size"], "model_class": "BertModelWithHeads",
                   "model_name": "tiny-bert", "model_type": meta["model_type"], "name": meta["name"],
                   "type": "text_lang" if role == "language" else "text_task"}
    (dst / "adapter_config.json").write_text(json.dumps(legacy_meta, indent=2, sort_keys=True))
    if (src / "pytorch_adapter.bin").is_file():
        state = torch.load(src / "pytorch_adapter.bin", weights_only=True)
    else:
        from safetensors.torch import load_file

        state = load_file(str(src / "adapter.safetensors"))
    module = "layer_text_lang_adapters" if role == "language" else "layer_text_task_adapters"
    renamed = {}
    for k, v in state.items():
        k = k if k.startswith("bert.") else "bert." + k
        k = k.replace(".output.adapters.", f".output.{module}.")
        k = k.replace("invertible_adapters.", "invertible_lang_adapters.")
        renamed[k] = v
    torch.save(renamed, dst / "pytorch_adapter.bin")
    return dst


def copy_tree(src: Path, dst: Path) -> Path:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    return dst
