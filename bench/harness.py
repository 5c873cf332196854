"""The `make bench` harness: each bench/bench_*.py module has `run() -> list[Figure]`.

Figures are printed as one table (figure, value, target, verdict). Benchmarks run against the
same services as the app (embedded or the URLs given) and clean up what they create.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    target: float | None = None
    # "max": value must be <= target (latencies); "min": value must be >= target (throughput).
    direction: str = "max"

    @property
    def verdict(self) -> str:
        if self.target is None:
            return "info"
        ok = self.value <= self.target if self.direction == "max" else self.value >= self.target
        return "ok" if ok else "MISS"

    @property
    def target_text(self) -> str:
        if self.target is None:
            return "-"
        sign = "<=" if self.direction == "max" else ">="
        return f"{sign} {self.target:g} {self.unit}"


def time_calls(fn: Callable[[], object], *, repeat: int, warmup: int = 3) -> list[float]:
    """Wall-clock milliseconds of each call, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def percentile(samples: list[float], pct: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def latency_figures(name: str, samples: list[float], *, p50_target: float | None = None) -> list[Figure]:
    return [
        Figure(f"{name} p50", statistics.median(samples), "ms", p50_target),
        Figure(f"{name} p99", percentile(samples, 99), "ms"),
        Figure(f"{name} req/s", 1000 / statistics.mean(samples), "req/s", direction="min"),
    ]


def print_table(figures: list[Figure]) -> None:
    rows = [(f.name, f"{f.value:,.2f} {f.unit}", f.target_text, f.verdict) for f in figures]
    headers = ("figure", "value", "target", "verdict")
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
