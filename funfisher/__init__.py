"""funfisher: scheduled unfreezing of task adapters (FUN with Fisher, NAACL 2024) in plain PyTorch.

Subpackages: `model` (encoders, heads, checkpoint keys), `adapters` (MAD-X bottleneck,
invertible, LoRA), `io` (where checkpoints and adapters come from, file formats, run folders),
`schedules` (Algorithm 1 SELECT functions), `fisher` (tr(F) estimators), `data` (readers,
features, metrics). Scripts that use the package but are not part of it (MAD-X step 1, a
cross-lingual similarity demo) are in the repository's examples/ folder.
"""
# adapters first: its __init__ re-exports io/adapterhub.py, which builds on adapters' modules, so
# loading adapters before anything asks for io.adapterhub keeps every import order working.
from . import adapters  # noqa: F401
from .model import load_pretrained
from .version import __version__

__all__ = ["load_pretrained", "__version__"]
