"""Samples/s of a training loop on a machine that other work may interrupt.

A loop calls `tick(samples)` after every step. The first `warmup` steps are not timed; after them
the steps are grouped into windows of at least `window` seconds, and the rate is the median over
the windows: a neighbour's burst stalls a few windows and leaves the median alone, where it would
drag a single overall mean down.
"""

from __future__ import annotations

import statistics
import time


class Throughput:
    """Counts the steps of one timed loop; `samples_per_s` once `tick` has returned True."""

    def __init__(self, seconds: float, warmup: int = 10, window: float = 0.5) -> None:
        self.seconds, self.warmup, self.window = seconds, warmup, window
        self.steps, self.rates = 0, []
        self.start = self.window_start = 0.0
        self.window_samples = 0

    def tick(self, samples: int) -> bool:
        """Count one step of `samples` images; True once `seconds` (and at least one window) have been timed."""
        self.steps += 1
        now = time.perf_counter()
        if self.steps == self.warmup:
            self.start = self.window_start = now
            return False
        if self.steps < self.warmup:
            return False
        self.window_samples += samples
        if now - self.window_start >= self.window:
            self.rates.append(self.window_samples / (now - self.window_start))
            self.window_start, self.window_samples = now, 0
        return now - self.start >= self.seconds and bool(self.rates)

    @property
    def samples_per_s(self) -> float:
        """Median of the windows' samples/s."""
        return statistics.median(self.rates)
