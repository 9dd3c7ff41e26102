"""tr(F), the trace of the Fisher information per unit (paper Eq. 1, Algorithm 2), for FUN.

- `trace.py`: `trace_fisher` (the estimate over batches), `batch_trace`, `example_traces`,
  `FisherEstimate`, and `fisher_mode` (why the estimators change nothing in the model).
- `labels.py`: the label modes ("sample" = Eq. 1, "argmax", "gold"); log p(y|x) per head kind
  is the kind's `log_likelihood` in `funfisher.tasks`.
- `per_example.py`: the readable exact estimators ("loop", "vmap") and the paper's Algorithm 2
  exactly ("batch": ||sum_i g_i||^2 / |b|^3 per batch, E = tr(F) / |b|^2, so not on Eq. 1's
  scale); `hooks.py`: the fast exact one ("hooks", one backward pass).
- `stopping.py`: `estimate_until_separated`, add batches until the top unit is separated.
- `tracking.py`: `tracking_values` for tr(F) curves through training (Figures 3, 4).
"""
from .labels import LABEL_MODES, LabelMode
from .stopping import Separation, StoppingResult, estimate_until_separated, separation
from .trace import (METHODS, FisherEstimate, Method, batch_trace, example_traces, fisher_mode,
                    trace_fisher)
from .tracking import mean_trace, tracking_record, tracking_values

__all__ = ["trace_fisher", "batch_trace", "example_traces", "FisherEstimate", "fisher_mode", "METHODS", "Method",
           "LABEL_MODES", "LabelMode", "estimate_until_separated", "separation", "Separation", "StoppingResult",
           "tracking_values", "mean_trace", "tracking_record"]
