"""The policies that ship with Overdue, installed as the package data `overdue.policies`.

The folder stays at the top of the repository where operations staff find it; the wheel maps it
to `overdue.policies` so a policy name (`consumer-credit-line`) works from any installation,
read through `importlib.resources` (`engine.policy.files.POLICY_DIR`).
"""
