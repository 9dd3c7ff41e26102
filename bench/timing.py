"""Timing shared by the benchmarks: on a shared 2-core machine, speed drifts over minutes, so the
settings being compared take turns within each repeat and a slow phase hits all of them alike."""
from __future__ import annotations

import statistics
import time
from typing import Callable


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, object]]:
    """name -> (median seconds over `repeats`, output of the last call); the fns take turns."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    outs: dict[str, object] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            outs[name] = fn()
            times[name].append(time.perf_counter() - t0)
    return {name: (statistics.median(times[name]), outs[name]) for name in fns}
