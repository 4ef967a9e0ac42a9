"""Summaries of repeated measurements."""

from __future__ import annotations

import math

from bench.stats import Summary, percentile, ratios


def test_summary_shows_median_and_spread():
    summary = Summary.of([3.0, 1.0, 2.0])
    assert (summary.median, summary.low, summary.high) == (2.0, 1.0, 3.0)
    assert summary.fmt(1, "/s") == "2.0 /s (1.0–3.0, n=3)"


def test_ratios_pair_repetitions():
    assert ratios([2.0, 9.0], [1.0, 3.0]).values == (2.0, 3.0)


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (50, 95, 99)
    assert math.isnan(percentile([], 50))
