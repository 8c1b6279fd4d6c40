"""The policy language: what operations staff write, how it is read and checked, and what it
compiles to (effective guardrails, stage machine, contact plan, content hash)."""
