"""What a fuzz target may end in, and a tally of outcomes across a run.

Every input must end in success or a clear error (`OverdueError`: `PolicyErrors`,
`EventRejected` and the rest of the family); anything else is a crash, and running past
`HANG_SECONDS` is a hang. The guard is a real-time alarm, so a loop in pure Python (a template
that renders a gigabyte, a file that never finishes parsing) is caught and named, not waited for.
"""

from __future__ import annotations

import os
import signal
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Literal, TypeAlias

from hypothesis import HealthCheck, Phase, settings

from engine.errors import OverdueError

__all__ = ["FUZZ", "HANG_SECONDS", "Hang", "Outcome", "Stuck", "Tally", "examples", "judge"]

Outcome: TypeAlias = Literal["ok", "clear", "crash", "hang", "stuck"]

#: An input that takes longer than this is a hang (a clean input takes milliseconds).
HANG_SECONDS = 10.0


def examples(default: int) -> int:
    """Examples per target: `default` (CI-sized), or `OVERDUE_FUZZ_EXAMPLES` for a deeper run."""
    return int(os.environ.get("OVERDUE_FUZZ_EXAMPLES", default))


#: Settings of every fuzz target: no deadline (the hang guard judges time), generation only
#: beyond the shrinking a failure needs, quiet about slow inputs on a loaded machine.
FUZZ = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    database=None,
)


class Stuck(Exception):
    """An open case with nothing to wait for: no wake-up, no hold, no approval pending."""


class Hang(BaseException):
    """Raised by the alarm inside an input that ran past `HANG_SECONDS`."""


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Raise `Hang` after `seconds`, then put back whatever alarm was set before (pytest-timeout)."""

    def fire(signum: int, frame: FrameType | None) -> None:
        raise Hang()

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, fire)
    before, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if before:
            signal.setitimer(signal.ITIMER_REAL, max(before - (time.monotonic() - started), 0.001))


@dataclass
class Tally:
    """Outcomes of one fuzz target, with the first crash of each kind kept for the report."""

    name: str
    counts: Counter[str] = field(default_factory=Counter)
    crashes: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        """`name: tried N, ok N, clear errors N, crashes N, hangs N, stuck cases N`."""
        c = self.counts
        return (
            f"{self.name}: tried {sum(c.values())}, ok {c['ok']}, clear errors {c['clear']}, "
            f"crashes {c['crash']}, hangs {c['hang']}, stuck cases {c['stuck']}"
        )


def judge(run: Callable[[], object], tally: Tally | None = None) -> tuple[Outcome, str]:
    """Run one input; its outcome and, for a crash or hang, what happened."""
    outcome: Outcome
    detail = ""
    try:
        with _alarm(HANG_SECONDS):
            run()
        outcome = "ok"
    except Hang:
        outcome, detail = "hang", f"no answer within {HANG_SECONDS:.0f} s"
    except OverdueError:
        outcome = "clear"
    except Stuck as e:
        outcome, detail = "stuck", str(e)
    except Exception as e:
        outcome = "crash"
        detail = (
            "".join(traceback.format_exception_only(e)).strip()
            + "\n"
            + "".join(traceback.format_tb(e.__traceback__)[-3:])
        )
    if tally is not None:
        tally.counts[outcome] += 1
        if detail:
            tally.crashes.setdefault(detail.splitlines()[0][:120], detail)
    return outcome, detail
