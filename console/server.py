"""Running the console: build its state from the data folder and serve it with uvicorn.

`overdue serve` runs `serve` in the foreground; `overdue dev` (and the browser test) run it as a
task next to the worker with `start`, and stop it by setting `should_exit`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import uvicorn
from temporalio.client import Client

from console.app import create_app
from console.roles import Role
from console.service import ConsoleState
from console.user_import import import_legacy
from console.users import DataPlaneUserStore, UserStore, generate_password
from engine.errors import OverdueError
from workers.converter import EncryptionCodec
from workers.dataplane import DataPlane, database_url
from workers.settings import Settings, load_settings

__all__ = ["FIRST_USER", "RunningConsole", "first_user", "start", "state_for", "user_store"]

#: The user `overdue dev` creates when the console has none, and whose password it keeps (0600)
#: in the data folder so `make run` can print it every time.
FIRST_USER = "admin"
_FIRST_PASSWORD_FILE = "console-admin.password"


def user_store(
    folder: Path,
    settings: Settings | None = None,
    *,
    upgrade: bool = False,
    plane: DataPlane | None = None,
) -> DataPlaneUserStore:
    """The console's users in the data plane (`OVERDUE_DATABASE_URL`, else the data folder's
    SQLite file), after importing a ``console.db`` an earlier version left in `folder`.

    Args:
        folder: The data folder.
        settings: The settings naming the data plane (read from the environment if omitted).
        upgrade: Upgrade the schema (`overdue dev`); otherwise a fresh database is created and
            one that is behind refused, with the command that fixes it.
        plane: An open data plane to use instead (left open on the store's `close`).
    """
    owns = plane is None
    if plane is None:
        plane = DataPlane(database_url(folder, settings), upgrade=upgrade, create=True)
    store = DataPlaneUserStore(plane, owns_plane=owns)
    try:
        import_legacy(folder, plane)
        store.purge_expired()
    except Exception:
        store.close()
        raise
    return store


def state_for(
    client: Client,
    folder: Path,
    *,
    ui_url: str | None = None,
    users: UserStore | None = None,
    session_ttl: timedelta = timedelta(hours=8),
    dataplane: DataPlane | None = None,
    settings: Settings | None = None,
) -> ConsoleState:
    """The console's state on `client` (and the codec its converter carries), with the users of
    `folder` and the data plane (`dataplane`, else the users' own, else the one `settings` name,
    opened for the console and closed with it)."""
    codec = client.data_converter.payload_codec
    if not isinstance(codec, EncryptionCodec):
        raise OverdueError("the console needs the project's encrypting data converter")
    settings = settings if settings is not None else load_settings()
    users = users or user_store(folder, settings)
    if dataplane is None and isinstance(users, DataPlaneUserStore):
        dataplane = users.plane  # one pool for users and snapshots
    owns = dataplane is None
    if dataplane is None:
        dataplane = DataPlane(database_url(folder, settings), upgrade=False, create=True)
    origins: tuple[str, ...] = ()
    if ui_url:
        origins = (ui_url, ui_url.replace("127.0.0.1", "localhost"))
    return ConsoleState(
        client=client,
        users=users,
        codec=codec,
        session_ttl=session_ttl,
        ui_origins=origins,
        ui_url=ui_url,
        dataplane=dataplane,
        portfolio_refresh=settings.portfolio_refresh,
        owns_dataplane=owns,
    )


def first_user(folder: Path, users: UserStore) -> tuple[str, str] | None:
    """Create `admin` with a generated password if there are no users; the credentials to print
    (None when users exist that `overdue dev` did not create, or its `admin` no longer signs in
    with the password kept in the data folder)."""
    path = folder / _FIRST_PASSWORD_FILE
    if users.count() == 0:
        password = generate_password()
        users.add(FIRST_USER, Role.ADMIN, password)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(password + "\n")
        return FIRST_USER, password
    if path.exists():
        kept = path.read_text(encoding="utf-8").strip()
        # Never print credentials that are refused: `admin` removed, or made again by someone.
        if users.verify(FIRST_USER, kept) is not None:
            return FIRST_USER, kept
    return None


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the embedding process owns Ctrl-C and stops the
    console, the worker and the Temporal server in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class RunningConsole:
    """A console serving in the background."""

    server: uvicorn.Server
    task: asyncio.Task[None]
    url: str
    state: ConsoleState | None = None

    async def stop(self) -> None:
        """Stop serving, wait for open requests to finish, release what the console opened."""
        self.server.should_exit = True
        await self.task
        if self.state is not None:
            self.state.close()


def reserve_port(host: str = "127.0.0.1", port: int = 8080) -> socket.socket:
    """Bind the console's address now and keep it, so nothing started later (the Temporal dev
    server picks random free ports for its own services) can take it; `start` serves on it.

    Raises:
        OverdueError: the port is taken.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Connections accepted on it inherit this: without it a response written in two parts
    # waits for the client's delayed ACK (about 40 ms a request; uvicorn's own sockets have it).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise OverdueError(
            f"the console's port {host}:{port} is already in use "
            "(pick another with --console-port / --port)"
        ) from None
    return sock


async def start(
    state: ConsoleState,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    sock: socket.socket | None = None,
) -> RunningConsole:
    """Serve the console as a task; returns once it accepts connections.

    Args:
        sock: An address already held by `reserve_port` (`host` and `port` are then its own).

    Raises:
        OverdueError: the port is taken (uvicorn itself would exit the process).
    """
    if sock is None:
        sock = reserve_port(host, port)
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        create_app(state),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",  # starts and stops the portfolio's refresher
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # re-raises why it could not start
            raise OSError(f"the console could not listen on {host}:{port}")
        await asyncio.sleep(0.05)
    return RunningConsole(server, task, f"http://{host}:{port}", state)
