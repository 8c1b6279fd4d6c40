"""`overdue bench`: the benchmark of the case workflow against a bare Temporal workflow (CLI.md).

Prints a table, then, as the last line of stdout, one JSON object with every figure, ratio and
goal. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from overdue.argtypes import positive_int

__all__ = ["register"]


def _scenarios(text: str) -> tuple[str, ...]:
    from bench import SCENARIOS

    names = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"scenarios are {', '.join(SCENARIOS)}; got {text!r}")
    return names


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `bench`."""
    p = sub.add_parser(
        "bench",
        help="benchmark: ratios of the case workflow against a bare Temporal workflow",
        description="Runs every scenario of BENCHMARKS.md on a fresh embedded Temporal dev "
        "server; prints a table and, last, one JSON line.",
    )
    p.add_argument(
        "--quick", action="store_true", help="every scenario, small enough for CI (no goals judged)"
    )
    p.add_argument("--cases", type=positive_int, help="throughput: cases per run (default 500)")
    p.add_argument("--contacts", type=positive_int, help="contacts per case (default 5)")
    p.add_argument(
        "--capacity", type=positive_int, help="capacity: open sleeping cases (default 10000)"
    )
    p.add_argument(
        "--pairs",
        type=positive_int,
        help="ours/bare pairs of runs for throughput and intake (default 4)",
    )
    p.add_argument("--only", type=_scenarios, help="a comma-separated subset of the scenarios")
    p.add_argument("--json-out", metavar="PATH", help="also write the JSON figures to PATH")
    p.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    from rich.console import Console

    from bench import SCENARIOS, BenchConfig, render, run_bench
    from workers.devserver import DevServerError

    cfg = BenchConfig(
        quick=args.quick,
        cases=args.cases,
        contacts=args.contacts,
        capacity=args.capacity,
        pairs=args.pairs,
        only=args.only or SCENARIOS,
    )
    try:
        out = run_bench(cfg)
    except (DevServerError, TimeoutError) as e:
        print(f"error: the benchmark could not finish: {e or type(e).__name__}", file=sys.stderr)
        return 1
    Console(width=max(140, Console().width), soft_wrap=False).print(render(out))
    line = json.dumps(out, ensure_ascii=False, default=str)
    if args.json_out:
        Path(args.json_out).write_text(line + "\n", encoding="utf-8")
    sys.stdout.flush()
    print(line, flush=True)
    return 0
