"""The demo portfolio `overdue dev --demo` (`make run`) opens.

The cases are the simulator's synthetic ones (`simulator.portfolio`), so the demo and a
simulation draw debtors, amounts, time zones and attitudes from one place. They alternate between
the given policies and fall due between 150 days ago and 5 days from now. Deterministic per seed:
a second `--demo` on the same folder finds every case already open.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time

from engine.case.state import CaseFile
from engine.policy.compiled import CompiledPolicy
from simulator.portfolio import PortfolioSpec, synthetic_case

__all__ = ["DEMO_SPEC", "demo_portfolio"]

#: Nearly every demo case already overdue (up to 150 days), the rest due within 5 days.
DEMO_SPEC = PortfolioSpec(backlog_share=0.97, backlog_max_dpd=150, arrival_days=5)


def demo_portfolio(
    policies: Sequence[CompiledPolicy], today: date, n: int = 300, seed: int = 2026
) -> list[CaseFile]:
    """`n` cases `DEMO-0001`..., case i on policy `i mod len(policies)`.

    Args:
        policies: The policies the cases name, in turn (at least one).
        today: The day the portfolio is drawn around.
        n: How many cases.
        seed: The simulator's portfolio seed.

    Returns:
        The case files, ready to open.
    """
    if not policies:
        raise ValueError("the demo portfolio needs at least one policy")
    start = datetime.combine(today, time(0), tzinfo=UTC)
    out: list[CaseFile] = []
    for i in range(n):
        cp = policies[i % len(policies)]
        case = synthetic_case(cp, seed, i, start, days=150, spec=DEMO_SPEC).case
        out.append(case.model_copy(update={"case_id": f"DEMO-{i + 1:04d}"}))
    return out
