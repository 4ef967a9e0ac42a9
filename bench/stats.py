"""Summaries of repeated measurements: median with spread, percentiles, ratios."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    values: tuple[float, ...]

    @classmethod
    def of(cls, values) -> Summary:
        return cls(tuple(float(v) for v in values))

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def low(self) -> float:
        return min(self.values) if self.values else float("nan")

    @property
    def high(self) -> float:
        return max(self.values) if self.values else float("nan")

    def fmt(self, digits: int = 2, unit: str = "") -> str:
        """'12.3 (11.9–12.8, n=5)': median, then min–max of the repetitions."""
        if not self.values:
            return "n/a"
        unit = f" {unit}" if unit else ""
        return (
            f"{self.median:.{digits}f}{unit} ({self.low:.{digits}f}–{self.high:.{digits}f}, "
            f"n={len(self.values)})"
        )


def ratios(numerators, denominators) -> Summary:
    """Per-repetition ratios of paired measurements (same repetition, side by side)."""
    return Summary.of(n / d for n, d in zip(numerators, denominators, strict=True) if d)


def percentile(values, q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"
