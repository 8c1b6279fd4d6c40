"""The one place policies are compiled and kept: by hash, and by file until the file changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.policy import registry
from engine.policy.files import POLICY_DIR, load_policy

SHIPPED = POLICY_DIR / "instalment-loan.yaml"


def test_a_policy_is_compiled_once_per_content() -> None:
    policy = load_policy(SHIPPED)
    first = registry.register(policy)
    again = registry.register(load_policy(SHIPPED))
    assert again is first
    assert registry.get(first.hash) is first


def test_load_by_name_and_by_path_give_the_same_policy() -> None:
    by_name = registry.load("instalment-loan")
    assert registry.load(str(SHIPPED)) is by_name
    assert registry.load("instalment-loan.yaml", base=Path("/nonexistent")) is by_name
    assert by_name is registry.register(load_policy(SHIPPED))


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    text = SHIPPED.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    before = registry.load(str(path))
    assert "\ngrace_days: 5\n" in text
    path.write_text(text.replace("\ngrace_days: 5\n", "\ngrace_days: 6\n"), encoding="utf-8")
    st = path.stat()
    os.utime(
        path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000)
    )  # a distinct mtime, whatever the clock
    after = registry.load(str(path))
    assert after.hash != before.hash
    assert after.policy.grace_days != before.policy.grace_days


def test_an_unknown_hash_is_not_found() -> None:
    with pytest.raises(registry.PolicyNotFound, match="not known"):
        registry.get("0" * 64)


def test_a_fetched_policy_must_hash_to_its_pin() -> None:
    other = load_policy(POLICY_DIR / "consumer-credit-line.yaml")
    registry.set_fetcher(lambda _h: other)
    try:
        with pytest.raises(registry.PolicyNotFound, match="hashing to"):
            registry.get("f" * 64)
    finally:
        registry.set_fetcher(None)


def test_a_missing_file_says_so() -> None:
    with pytest.raises(FileNotFoundError, match="no policy 'no-such-policy'"):
        registry.load("no-such-policy")
