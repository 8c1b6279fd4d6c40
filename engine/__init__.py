"""The pure core of Overdue: no clock, no network, no Temporal.

Three parts, each a sub-package:

- `engine.case`: the case's data: what arrives (case files), what it is (state), what can happen
  to it (events) and what the core asks the shell to do (actions, records), in `Decimal` money.
- `engine.policy`: the policy language: the YAML model and its loader, conditions, templates,
  jurisdiction floors and guardrails, and a policy compiled for fast decisions.
- `engine.decision`: deciding: `decide(policy, state, event | timer, now)` and the parts it is
  made of (the clock, the contact plan under its caps, stage moves, events).
"""
