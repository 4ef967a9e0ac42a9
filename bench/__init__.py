"""Benchmarks (`make bench` → `python -m bench`): figures written to docs/benchmarks.md.

One module per figure; the shared machinery (processes, job staging, the open-loop load
generator, the local stack) lives in its own small modules. Benchmarks are not tests.
"""
