"""Files and folders that hold personal data or secrets are the owner's alone: folders 0700,
files 0600, whatever the umask (the outbox, the codec key, the policy store, the dev server's
SQLite file and log). Other users of a shared machine then read nothing of a case.

Permissions are best effort on systems without POSIX modes (Windows): there, `os.chmod` can only
toggle read-only, and the folder's ACL is what protects the files.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["DIR_MODE", "FILE_MODE", "private_dir", "private_file"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create `path` (and missing parents) and make it the owner's alone.

    Only `path` itself is tightened: parents that already existed (a home folder, /tmp) are not
    ours to change.

    Args:
        path: The folder.

    Returns:
        The folder, as a `Path`.
    """
    folder = Path(path)
    folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):  # a folder someone else owns: theirs to guard
        folder.chmod(DIR_MODE)
    return folder


def private_file(path: str | os.PathLike[str]) -> Path:
    """Create `path` empty if missing, and make it readable and writable by the owner only.

    Created with mode 0600 from the start (never a moment of 0644), so a database or a log
    opened afterwards inherits it.

    Args:
        path: The file; its folder must exist.

    Returns:
        The file, as a `Path`.
    """
    file = Path(path)
    # Never open a file that exists: closing any descriptor on a file releases every POSIX lock
    # this process holds on it, and SQLite's locks are POSIX locks. A second data plane opened in
    # a process that already had one (`overdue dev`: worker and console) dropped the first one's
    # locks, so the next command's SQLite thought it was alone, checkpointed and deleted the
    # write-ahead log under the running process, whose writes went on into the deleted file.
    if not file.exists():
        with contextlib.suppress(FileExistsError):  # created meanwhile: nobody's locks yet
            os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    with contextlib.suppress(PermissionError):
        file.chmod(FILE_MODE)
    return file
