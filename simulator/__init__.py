"""The policy simulator: a policy's own core run over a synthetic portfolio or a case file, with a
debtor model, an independent guardrail audit, and reports (JSON, trace, terminal, HTML).

    from simulator import SimConfig, simulate
    result = simulate(SimConfig(policy="consumer-credit-line", cases=1000, days=180, seed=7))

Modules: `portfolio` (who owes what), `behaviour` (how debtors react), `run` (the event-driven
loop and the worker processes), `tally` (what is counted), `report` and `html` (what is shown).
"""

from __future__ import annotations

from simulator.behaviour import BehaviourSpec, DebtorModel
from simulator.portfolio import PortfolioSpec, SimCase, synthetic_case
from simulator.run import PolicyRun, SimConfig, SimResult, run_case, simulate
from simulator.tally import Tally

__all__ = [
    "BehaviourSpec",
    "DebtorModel",
    "PolicyRun",
    "PortfolioSpec",
    "SimCase",
    "SimConfig",
    "SimResult",
    "Tally",
    "run_case",
    "simulate",
    "synthetic_case",
]
