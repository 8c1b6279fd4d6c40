"""The benchmark: Overdue's case workflow measured against a bare Temporal workflow in one run.

It exercises the whole product (core, workflow, worker, dev server) but is not part of it: no
production package imports `bench`. `overdue bench` only parses its arguments and calls
`run_bench`; BENCHMARKS.md explains every figure.
"""

from __future__ import annotations

from bench.run import SCENARIOS, BenchConfig, render, run_bench

__all__ = ["SCENARIOS", "BenchConfig", "render", "run_bench"]
