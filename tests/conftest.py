"""Fixtures shared by every test package: the shipped policies, compiled once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.policy.compiled import CompiledPolicy, compile_policy
from engine.policy.files import load_policy

POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"
SHIPPED = sorted(p.stem for p in POLICY_DIR.glob("*.yaml"))


def load_shipped(name: str) -> CompiledPolicy:
    """A shipped policy, compiled through the full checking loader."""
    return compile_policy(load_policy(POLICY_DIR / f"{name}.yaml"))


@pytest.fixture(scope="session")
def cn_policy() -> CompiledPolicy:
    """The consumer credit line under the CN preset."""
    return load_shipped("consumer-credit-line")


@pytest.fixture(scope="session")
def us_policy() -> CompiledPolicy:
    """The instalment loan under the US preset."""
    return load_shipped("instalment-loan")
