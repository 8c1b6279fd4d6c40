"""The `overdue` command: parses arguments and calls the packages that do the work.

Each command group lives in its own module with a `register(subparsers)` function; this module
only assembles them and turns user errors into one line on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from engine.errors import OverdueError, PolicyErrors
from overdue import (
    cli_bench,
    cli_case,
    cli_console,
    cli_db,
    cli_debtor,
    cli_policy,
    cli_run,
    cli_simulate,
)

__all__ = ["console", "main"]

#: Command modules, each with `register(subparsers)`, in the order `--help` lists them.
_GROUPS = (cli_policy, cli_run, cli_case, cli_debtor, cli_simulate, cli_bench, cli_console, cli_db)


def build_parser() -> argparse.ArgumentParser:
    """The whole argument parser."""
    parser = argparse.ArgumentParser(
        prog="overdue", description="Overdue: collection cases as durable workflows under YAML policies.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _GROUPS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; exit 0 on success, 1 on a user error, 2 on a usage error."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except PolicyErrors as e:
        for err in e.errors:
            print(str(err), file=sys.stderr)
        return 1
    except OverdueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except FileNotFoundError as e:
        print(f"error: {e.strerror or e}: {e.filename}" if e.filename else f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return int(code or 0)


def console() -> None:
    """The `overdue` executable: run `main`, then leave without interpreter finalisation.

    Temporal's client runs native threads that may call back into Python while the interpreter
    shuts down, which can abort the process after the work is done (exit -6). Every command has
    finished and flushed by then, so we exit directly.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    console()
