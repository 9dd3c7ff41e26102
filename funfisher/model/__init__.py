"""Hand-written BERT / XLM-R encoders that load Hugging Face checkpoints (no transformers)."""
from .config import EncoderConfig
from .encoder import Encoder
from .heads import HEAD_KINDS, TaskModel, build_head
from .sources import PretrainedModel, load_pretrained
from .tokenizer import encode, load_tokenizer

__all__ = ["EncoderConfig", "Encoder", "TaskModel", "build_head", "HEAD_KINDS", "PretrainedModel",
           "load_pretrained", "encode", "load_tokenizer"]
