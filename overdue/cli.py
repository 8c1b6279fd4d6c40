"""The `overdue` command: parses arguments and calls the packages that do the work.

Each command group lives in its own module with a `register(subparsers)` function; this module
only assembles them and turns user errors into one line on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import sys
from collections.abc import Sequence

from engine.errors import OverdueError, PolicyErrors
from overdue import (
    __version__,
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

#: The exit code when the reader of stdout left early (`| head`): the shell's code for a command
#: that SIGPIPE ended.
EXIT_BROKEN_PIPE = 128 + 13

#: Command modules, each with `register(subparsers)`, in the order `--help` lists them.
_GROUPS = (cli_policy, cli_run, cli_case, cli_debtor, cli_simulate, cli_bench, cli_console, cli_db)


def build_parser() -> argparse.ArgumentParser:
    """The whole argument parser."""
    parser = argparse.ArgumentParser(
        prog="overdue",
        description="Overdue: collection cases as durable workflows under YAML policies.",
    )
    parser.add_argument("--version", action="version", version=f"overdue {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _GROUPS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; exit 0 on success, 1 on a user error, 2 on a usage error."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "worker":
        # The Temporal core's retry warnings are for a worker's operators; a command that cannot
        # reach its server says so in one line instead (`workers.client.connect`).
        logging.getLogger("temporalio.core").setLevel(logging.ERROR)
    try:
        code = args.func(args)
    except PolicyErrors as e:
        for err in e.errors:
            print(str(err), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `overdue ... --json | head`: the reader left, having what it wanted. Quiet, as `cat` or
        # `git log` under `head`: exit 141 (128 + SIGPIPE) tells a script with pipefail.
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as e:
        if e.filename is None and e.errno is not None and e.errno == errno.ENOSPC:
            _silence_stdout()  # stdout on a full disk: what is still buffered cannot go either
        print(f"error: {_user_error(e)}", file=sys.stderr)
        return 1
    except Exception as e:
        message = _user_error(e)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1
    return int(code or 0)


def _user_error(e: Exception) -> str | None:
    """The one line for an expected failure, or None for a bug (which keeps its traceback)."""
    from temporalio.service import RPCError

    from workers.converter import CodecError
    from workers.devserver import DevServerError

    if isinstance(e, OverdueError | CodecError):
        return str(e)
    if isinstance(e, DevServerError):
        return str(e).splitlines()[0]
    if isinstance(e, RPCError):
        return f"Temporal refused the request: {e.message or e.status.name}"
    if isinstance(e, OSError):
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{e.strerror or e}"
    return None


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush raises nothing more."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def console() -> None:
    """The `overdue` executable: run `main`, then leave without interpreter finalisation.

    Temporal's client runs native threads that may call back into Python while the interpreter
    shuts down, which can abort the process after the work is done (exit -6). Every command has
    finished and flushed by then, so we exit directly.
    """
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        code = EXIT_BROKEN_PIPE
    except OSError as e:  # a full disk under `> file`
        _silence_stdout()
        print(f"error: cannot write the output: {e.strerror}", file=sys.stderr)
        code = 1
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    console()
