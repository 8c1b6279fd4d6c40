"""Folders 0700 and files 0600 whatever the umask: the policy store, the codec key's folder."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import load_shipped
from workers.converter import load_or_create_key
from workers.dataplane import DataPlane, database_url
from workers.policy_store import PolicyStore
from workers.private_files import private_dir, private_file
from workers.settings import Settings

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture(autouse=True)
def loose_umask() -> Iterator[None]:
    """The usual 022, under which plain creation gives 0755 folders and 0644 files."""
    old = os.umask(0o022)
    yield
    os.umask(old)


class TestPrivateFiles:
    """New and existing paths are tightened; parents that existed are left alone."""

    def test_new_and_existing(self, tmp_path: Path) -> None:
        (tmp_path / "old").mkdir()
        (tmp_path / "old" / "f").write_text("x")
        assert _mode(tmp_path / "old" / "f") == 0o644
        assert _mode(private_dir(tmp_path / "old")) == 0o700
        assert _mode(private_file(tmp_path / "old" / "f")) == 0o600
        assert (tmp_path / "old" / "f").read_text() == "x"  # tightened, not truncated
        assert _mode(private_dir(tmp_path / "a" / "b")) == 0o700
        assert _mode(private_file(tmp_path / "a" / "b" / "g")) == 0o600

    def test_data_plane_and_key(self, tmp_path: Path) -> None:
        old = os.umask(0o022)
        try:
            store = PolicyStore(
                DataPlane(database_url(tmp_path / "data", Settings(database_url=None)))
            )
            store.put(load_shipped("consumer-credit-line").policy)
            store.plane.close()
        finally:
            os.umask(old)
        for f in (tmp_path / "data").iterdir():  # the database, its WAL and lock files
            assert _mode(f) == 0o600, f.name
        load_or_create_key(tmp_path / "data")
        assert _mode(tmp_path / "data") == 0o700
        assert _mode(tmp_path / "data" / "codec.key") == 0o600
