"""Hand-written BERT / XLM-R encoders that load Hugging Face checkpoints (no transformers).

- config.py: `EncoderConfig`, read from a checkpoint's config.json
- encoder.py: the one Transformer encoder of both architectures, and where adapters plug in
- heads.py: task heads and `TaskModel` = encoder + head
- convert.py: checkpoint keys -> our module names (the key tables), strict loading
- tokenizer.py: tokenization straight from tokenizer.json

`load_pretrained` (where checkpoints come from: a folder, an offline package, the hub) is
funfisher/io/hub.py; this package re-exports it.
"""
from ..io.hub import PretrainedModel, load_pretrained
from .config import EncoderConfig
from .encoder import Encoder
from .heads import HEAD_KINDS, TaskModel, build_head
from .tokenizer import encode, load_tokenizer

__all__ = ["EncoderConfig", "Encoder", "TaskModel", "build_head", "HEAD_KINDS", "PretrainedModel",
           "load_pretrained", "encode", "load_tokenizer"]
