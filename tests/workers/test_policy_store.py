"""The policy store: snapshots by hash, and a policy edited without a new version refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.policy import registry
from engine.policy.files import POLICY_DIR, load_policy
from overdue.cli import main
from workers.policy_store import PolicyStore, PolicyVersionChanged

SHIPPED = POLICY_DIR / "consumer-credit-line.yaml"


def edited(tmp_path: Path, old: str = "grace_days: 3", new: str = "grace_days: 4") -> Path:
    """The shipped policy with one edit and the same version."""
    text = SHIPPED.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "edited.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


class TestVersions:
    """A name and version stand for one content, forever."""

    def test_the_same_policy_twice_is_fine(self, tmp_path: Path) -> None:
        store = PolicyStore(tmp_path)
        assert store.put(load_policy(SHIPPED)).hash == store.put(load_policy(SHIPPED)).hash
        assert store.get(store.put(load_policy(SHIPPED)).hash) == load_policy(SHIPPED)

    def test_an_edit_without_a_new_version_names_both_hashes(self, tmp_path: Path) -> None:
        store = PolicyStore(tmp_path / "store")
        first = store.put(load_policy(SHIPPED))
        changed = load_policy(edited(tmp_path))
        with pytest.raises(PolicyVersionChanged) as info:
            PolicyStore(tmp_path / "store").put(changed)  # another process, the same folder
        message = str(info.value)
        assert "\n" not in message and "consumer-credit-line v2 changed without a new version" in message
        new_hash = registry.register(changed).hash
        assert first.hash[:12] in message and new_hash[:12] in message and "give it version 3" in message
        assert not (tmp_path / "store" / f"{new_hash}.json").exists()  # nothing of it was stored

    def test_a_new_version_is_a_new_pin(self, tmp_path: Path) -> None:
        store = PolicyStore(tmp_path / "store")
        store.put(load_policy(SHIPPED))
        bumped = load_policy(edited(tmp_path, "version: 2", "version: 3"))
        assert store.put(bumped).ref.version == 3

    def test_worker_start_refuses_a_shipped_policy_changed_in_place(self, tmp_path: Path) -> None:
        """`install` (worker start) stores the shipped policies: a pin of another content stops it."""
        store = PolicyStore(tmp_path / "store")
        store.put(load_policy(edited(tmp_path)))  # an earlier edit of the shipped v2 was used here
        with pytest.raises(PolicyVersionChanged, match="consumer-credit-line v2 changed without a new version"):
            PolicyStore(tmp_path / "store").install()

    def test_case_open_refuses_it_before_connecting(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """One line, exit 1, and no Temporal needed to say so."""
        data = tmp_path / "data"
        PolicyStore(data / "policy-store").put(load_policy(SHIPPED))
        policy = edited(tmp_path)
        case = {"case_id": "C-1", "product": "credit_line", "amount_due": "100.00", "currency": "CNY",
                "due_date": "2026-01-01", "policy": str(policy),
                "debtor": {"id": "D-1", "name": "Lee", "timezone": "Asia/Shanghai", "locale": "zh-CN"}}
        f = tmp_path / "case.json"
        f.write_text(json.dumps(case), encoding="utf-8")
        assert main(["case", "--data", str(data), "open", str(f)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "changed without a new version" in err
