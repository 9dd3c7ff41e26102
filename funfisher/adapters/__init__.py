"""Adapters for frozen multilingual encoders, numerically identical to AdapterHub `adapters` 1.3.0.

- bottleneck.py: Pfeiffer (`seq_bn`) adapters at each layer's FFN output, and how a stack runs
- invertible.py: the NICE invertible adapter of MAD-X language adapters (`seq_bn_inv`)
- lora.py: LoRA on the attention query/value projections, merge/unmerge
- registry.py: adapters attached to an encoder, roles (language/task), the active stack, and the
  per-layer units that FUN's schedules unfreeze

Files are not made here: the AdapterHub folder format (`load_adapter`, `save_adapter`, heads) is
funfisher/io/adapterhub.py and AdapterHub's config dialect funfisher/io/adapterhub_config.py; this
package re-exports their functions. MAD-X step 1, training a language adapter with masked LM, is
funfisher/train/language_adapter.py (the command: train_language_adapter.py).

Typical MAD-X use (names are free; roles say what an adapter is):

    pm = load_pretrained("bert-base-multilingual-cased")
    load_adapter(pm.model, "path/or/hub-id-of-en-adapter", name="en")     # a language adapter
    load_adapter(pm.model, "path/or/hub-id-of-sw-adapter", name="sw")
    add_adapter(pm.model, "task", "seq_bn")                               # a task adapter, rf 16
    activate(pm.model, "en", "task")      # train (freeze_for_task_training + set_trainable_units)
    activate(pm.model, "sw", "task")      # zero-shot evaluation on Swahili
"""
from ..io.adapterhub import load_adapter, load_head, save_adapter, save_head
from ..io.adapterhub_config import AdapterFormatError
from .bottleneck import BottleneckConfig
from .lora import LoRAConfig, merge_lora, unmerge_lora
from .registry import (activate, active_adapters, add_adapter, delete_adapter, freeze_for_task_training,
                       get_adapter, list_adapters, set_trainable_units, swap_language_adapter, task_units)

__all__ = ["load_adapter", "save_adapter", "activate", "add_adapter", "task_units", "set_trainable_units",
           "freeze_for_task_training", "delete_adapter", "active_adapters", "list_adapters", "get_adapter",
           "swap_language_adapter", "merge_lora", "unmerge_lora", "save_head", "load_head", "BottleneckConfig",
           "LoRAConfig", "AdapterFormatError"]
