"""A small progress bar with ETA for long loops (training steps, evaluation batches), on stderr.

On a terminal it redraws one line; in a log file (CI, nohup) it prints a line every
`every_seconds` so logs stay short. No dependency: a teaching codebase should not need tqdm.
Under torchrun only rank 0 draws (the ranks go in step).
"""
from __future__ import annotations

import sys
import time

from ..parallel import world


def _fmt(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    def __init__(self, total: int, desc: str, every_seconds: float = 10.0, stream=None, start: int = 0):
        self.total, self.desc, self.n = total, desc, start
        self.first = start
        self.stream = stream or sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self.every = 0.2 if self.tty else every_seconds
        self.t0 = self.last = time.perf_counter()
        self.postfix = ""

    def update(self, n: int = 1, postfix: str | None = None) -> None:
        self.n += n
        if postfix is not None:
            self.postfix = postfix
        now = time.perf_counter()
        if not world().is_main:
            return
        if now - self.last >= self.every or self.n >= self.total:
            self.last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        done = self.n - self.first
        elapsed = now - self.t0
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.n) / rate if rate > 0 else 0.0
        pct = 100.0 * self.n / self.total if self.total else 100.0
        line = f"{self.desc}: {self.n}/{self.total} ({pct:3.0f}%) {_fmt(elapsed)} elapsed, ETA {_fmt(eta)}"
        if self.postfix:
            line += f" | {self.postfix}"
        if self.tty:
            self.stream.write("\r\033[K" + line)
            if self.n >= self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.n < self.total and world().is_main:
            self.stream.write("\n")
            self.stream.flush()
