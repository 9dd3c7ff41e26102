"""funfisher: scheduled unfreezing of task adapters (FUN with Fisher, NAACL 2024) in plain PyTorch.

Subpackages: `model` (encoders, heads, checkpoint loading), `adapters` (MAD-X bottleneck,
invertible, LoRA), `schedules` (Algorithm 1 SELECT functions), `fisher` (tr(F) estimators),
`data` (readers, features, metrics).
"""
from .model import load_pretrained

__version__ = "0.1.0"
__all__ = ["load_pretrained", "__version__"]
