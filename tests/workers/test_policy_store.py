"""The policy store in the data plane: versions immutable, first use kept, an edit without a new
version refused, every version reachable by every worker sharing the database (SQLite and a real
PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.policy import registry
from engine.policy.compiled import policy_hash
from engine.policy.files import POLICY_DIR, load_policy
from engine.policy.model import Policy
from overdue.cli import main
from workers.dataplane import DATABASE_URL_ENV, DataPlane, database_url
from workers.dataplane.schema import policy_versions
from workers.policy_store import PolicyStore, PolicyVersionChanged, canonical_json

SHIPPED = POLICY_DIR / "consumer-credit-line.yaml"
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def edited(tmp_path: Path, old: str = "grace_days: 3", new: str = "grace_days: 4") -> Path:
    """The shipped policy with one edit (and, unless the edit says otherwise, the same version)."""
    text = SHIPPED.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "edited.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def _variant(base: Policy, **changes: object) -> Policy:
    return Policy.model_validate({**base.model_dump(mode="json"), **changes})


@pytest.fixture
def plane(database_url: str) -> Iterator[DataPlane]:
    """A fresh data plane on each database."""
    with DataPlane(database_url) as p:
        yield p


@pytest.fixture
def ccl() -> Policy:
    """The shipped consumer credit line."""
    return load_policy(SHIPPED)


class TestStore:
    """What is stored, and what `overdue policy versions` reads."""

    def test_put_then_get_is_the_same_content(self, plane: DataPlane, ccl: Policy) -> None:
        """A snapshot reads back with the same hash; an unknown hash is None."""
        store = PolicyStore(plane)
        cp = store.put(ccl, now=T0)
        assert store.put(ccl).hash == cp.hash
        got = store.get(cp.hash)
        assert (
            got == ccl
            and policy_hash(got) == cp.hash
            and canonical_json(got) == canonical_json(ccl)
        )
        assert store.get("0" * 64) is None

    def test_first_use_is_kept(self, plane: DataPlane, ccl: Policy) -> None:
        """Putting a stored version again (every case opened under it) keeps its first use."""
        store = PolicyStore(plane)
        store.put(ccl, now=T0)
        store.put(ccl, now=T0 + timedelta(days=3))
        (v,) = store.versions(ccl.name)
        assert (v.version, v.hash, v.first_used) == (ccl.version, policy_hash(ccl), T0)

    def test_versions_of_one_policy(self, plane: DataPlane, ccl: Policy) -> None:
        """Every version of one policy, by number; other policies are not listed."""
        store = PolicyStore(plane)
        n = ccl.version
        v3 = _variant(ccl, version=n + 2, grace_days=6)
        v2 = _variant(ccl, version=n + 1, grace_days=5)
        for p, at in ((v3, T0 + timedelta(days=20)), (ccl, T0), (v2, T0 + timedelta(days=10))):
            store.put(p, now=at)
        store.put(load_policy(POLICY_DIR / "instalment-loan.yaml"), now=T0)
        assert [(r.version, r.hash, r.first_used) for r in store.versions(ccl.name)] == [
            (n, policy_hash(ccl), T0),
            (n + 1, policy_hash(v2), T0 + timedelta(days=10)),
            (n + 2, policy_hash(v3), T0 + timedelta(days=20)),
        ]
        assert store.versions("no-such-policy") == []
        # what a rollback goes back to: the content stored for a name and version
        assert store.version(ccl.name, n + 1) == v2 and store.version(ccl.name, n + 7) is None


class TestVersionPins:
    """A name and version stand for one content, forever, on every machine."""

    def test_an_edit_without_a_new_version_names_both_hashes(
        self, database_url: str, ccl: Policy, tmp_path: Path
    ) -> None:
        """Refused through another handle on the same database (another machine); nothing stored."""
        with DataPlane(database_url) as one, DataPlane(database_url) as other:
            first = PolicyStore(one).put(ccl)
            changed = load_policy(edited(tmp_path))
            with pytest.raises(PolicyVersionChanged) as info:
                PolicyStore(other).put(changed)
            message = str(info.value)
            n = ccl.version
            assert (
                "\n" not in message
                and f"consumer-credit-line v{n} changed without a new version" in message
            )
            new_hash = policy_hash(changed)
            assert (
                first.hash[:12] in message
                and new_hash[:12] in message
                and f"give it version {n + 1}" in message
            )
            with one.engine.connect() as conn:  # nothing of it was stored
                assert (
                    conn.execute(sa.select(sa.func.count()).select_from(policy_versions)).scalar()
                    == 1
                )
            assert PolicyStore(one).get(new_hash) is None

    def test_a_new_version_is_a_new_pin(
        self, plane: DataPlane, ccl: Policy, tmp_path: Path
    ) -> None:
        """Bumping the version is all an edit needs."""
        store = PolicyStore(plane)
        store.put(ccl)
        n = ccl.version
        bumped = load_policy(edited(tmp_path, f"version: {n}\n", f"version: {n + 1}\n"))
        assert store.put(bumped).ref.version == n + 1

    def test_worker_start_refuses_a_shipped_policy_changed_in_place(
        self, plane: DataPlane, ccl: Policy, tmp_path: Path
    ) -> None:
        """`install` (worker start) stores the shipped policies: a pin of another content stops it."""
        PolicyStore(plane).put(
            load_policy(edited(tmp_path))
        )  # an earlier edit of the shipped version was used
        with pytest.raises(
            PolicyVersionChanged,
            match=f"consumer-credit-line v{ccl.version} changed without a new version",
        ):
            PolicyStore(plane).install()
        registry.set_fetcher(None)

    def test_case_open_refuses_it_before_connecting(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """One line, exit 1, and no Temporal needed to say so."""
        monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
        data = tmp_path / "data"
        with DataPlane(database_url(data)) as plane:
            PolicyStore(plane).put(load_policy(SHIPPED))
        policy = edited(tmp_path)
        case = {
            "case_id": "C-1",
            "product": "credit_line",
            "amount_due": "100.00",
            "currency": "CNY",
            "due_date": "2026-01-01",
            "policy": str(policy),
            "debtor": {"id": "D-1", "name": "Lee", "timezone": "Asia/Shanghai", "locale": "zh-CN"},
        }
        f = tmp_path / "case.json"
        f.write_text(json.dumps(case), encoding="utf-8")
        assert main(["case", "--data", str(data), "open", str(f)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "changed without a new version" in err


class TestSharedAcrossWorkers:
    """Two workers (two data-plane handles, as on two machines) see one store."""

    def test_a_version_stored_by_one_is_found_by_the_other(
        self, database_url: str, ccl: Policy
    ) -> None:
        """The registry of a worker that never saw the policy fetches it by hash from the store."""
        other = _variant(ccl, version=7, grace_days=2)
        with DataPlane(database_url) as opener_plane, DataPlane(database_url) as worker_plane:
            cp = PolicyStore(opener_plane).put(other)
            registry._BY_HASH.pop(cp.hash, None)  # this "worker" has not compiled it yet
            PolicyStore(worker_plane).install()
            try:
                found = registry.get(cp.hash)
            finally:
                registry.set_fetcher(None)
            assert found.hash == cp.hash and found.policy.version == 7

    def test_install_stores_the_shipped_policies(self, plane: DataPlane, ccl: Policy) -> None:
        """A worker start pins the shipped files' versions (and refuses an edited one)."""
        store = PolicyStore(plane)
        store.install()
        try:
            assert [v.hash for v in store.versions(ccl.name)] == [policy_hash(ccl)]
            changed = _variant(ccl, grace_days=9)
            with pytest.raises(PolicyVersionChanged):
                store.put(changed)
        finally:
            registry.set_fetcher(None)
