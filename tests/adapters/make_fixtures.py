"""Generate the golden files in tests/adapters/fixtures/ with AdapterHub `adapters` 1.3.0.

    /work/venv/bin/python tests/adapters/make_fixtures.py

For each architecture (bert, xlm-roberta) it writes
- model/: a tiny random MLM checkpoint (hidden 16, 2 layers, vocab 40) in HF format;
- lang/, task/, task_lo/, lora/: adapters saved by the library, in varied forms (with and without
  the `bert.`/`roberta.` prefix, pickle and safetensors); see reference_lib.py;
- reference.safetensors: inputs, hidden states for every scenario, gradients of the trained
  adapter, and MLM logits through the library's flex MLM head (invertible adapter inverted);
and for bert also legacy_lang/, legacy_task/: the same kind of adapters rewritten the way
adapter-transformers v1 saved them, with the hidden states the library computes from them.
The always-run test tests/adapters/test_golden.py checks funfisher against these files.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference_lib as R  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEEDS = {"bert": 11, "xlm-roberta": 23}
HIDDEN, VOCAB = 16, 40


def make_arch(arch: str) -> None:
    seed = SEEDS[arch]
    out = FIXTURES / arch
    if out.exists():
        shutil.rmtree(out)
    model = R.build_hf_mlm_model(arch, seed, hidden=HIDDEN, vocab=VOCAB)
    R.save_hf_folder(model, out / "model")
    R.add_library_adapters(model, seed)
    paths = R.save_library_adapters(model, out)
    ids, mask = R.inputs(arch, VOCAB, seed)
    weight = torch.randn(ids.shape + (HIDDEN,), generator=torch.Generator().manual_seed(seed))
    ref: dict[str, torch.Tensor] = {"input_ids": ids, "attention_mask": mask, "loss_weight": weight}
    for scenario, setup in R.SCENARIOS.items():
        ref[f"hidden.{scenario}"] = R.hidden_states(model, setup, ids, mask)
        for key, grad in R.adapter_grads(model, setup, R.TRAINED[scenario], ids, mask, weight).items():
            ref[f"grad.{scenario}.{key}"] = grad
    ref["logits.stack"] = R.mlm_logits(model, paths, R.SCENARIOS["stack"], ids, mask)
    if arch == "bert":
        ref["hidden.legacy"] = make_legacy(arch, seed, out, ids, mask)
    save_file({k: v.contiguous() for k, v in ref.items()}, str(out / "reference.safetensors"))


def make_legacy(arch: str, seed: int, out: Path, ids, mask) -> torch.Tensor:
    """adapter-transformers-style files; the reference is what the library computes after loading them."""
    import adapters
    from adapters import SeqBnConfig, SeqBnInvConfig

    model = R.build_hf_mlm_model(arch, seed, hidden=HIDDEN, vocab=VOCAB)
    adapters.init(model)
    model.add_adapter("old_lang", config=SeqBnInvConfig(reduction_factor=2, non_linearity="gelu_new"))
    model.add_adapter("old_task", config=SeqBnConfig(reduction_factor=16))
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for key, p in model.named_parameters():
            if ".adapters." in key or "invertible_adapters." in key:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    direct = R.hidden_states(model, ("old_lang", "old_task"), ids, mask)
    tmp = out / "_tmp"
    tmp.mkdir()
    model.save_adapter(str(tmp / "old_lang"), "old_lang", with_head=False)
    model.save_adapter(str(tmp / "old_task"), "old_task", with_head=False)
    # v1 wrote "gelu" for what is now "gelu_new"
    R.make_legacy_copy(tmp / "old_lang", out / "legacy_lang", "language", activation_in_file="gelu")
    R.make_legacy_copy(tmp / "old_task", out / "legacy_task", "task")
    shutil.rmtree(tmp)
    fresh = R.build_hf_mlm_model(arch, seed, hidden=HIDDEN, vocab=VOCAB)
    adapters.init(fresh)
    R.library_load(fresh, out / "legacy_lang")
    R.library_load(fresh, out / "legacy_task")
    via_library = R.hidden_states(fresh, ("old_lang", "old_task"), ids, mask)
    assert torch.allclose(direct, via_library, atol=1e-6), "the library's legacy loading changed the outputs"
    assert "old_task" not in fresh.bert.invertible_adapters, "legacy task adapter kept an invertible adapter"
    return via_library


def main() -> None:
    import adapters
    import transformers

    FIXTURES.mkdir(exist_ok=True)
    for arch in SEEDS:
        make_arch(arch)
    versions = {"adapters": adapters.__version__, "transformers": transformers.__version__, "torch": torch.__version__}
    (FIXTURES / "VERSIONS.json").write_text(json.dumps(versions, indent=2, sort_keys=True) + "\n")
    size = sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file())
    print(f"wrote {FIXTURES} ({size / 1024:.0f} KB) with {versions}")


if __name__ == "__main__":
    main()
