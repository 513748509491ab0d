"""Files and folders private to the user Kasir runs as.

Everything Kasir writes under ``KASIR_HOME`` (the SQLite database and its WAL, the secret key,
the demo merchant's key, uploaded media) is someone's secret or money, so it is created readable
by its owner only: folders 0700, files 0600, whatever the umask says.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def make_private_dir(path: Path) -> None:
    """``mkdir -p`` where every folder it creates is 0700. Existing folders are left as they are:
    the parent of a database may be a shared one (``/srv``, ``/tmp``) that is not ours to change."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # another process made it meanwhile
        os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask; this one is not


def create_private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 unless it exists; an existing one is tightened to 0600
    (at most: a read-only file stays read-only)."""
    make_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        tighten(path)
    else:
        os.close(fd)


def tighten(path: Path) -> None:
    """Take away the group's and others' access to an existing file (a database created 0644 by
    an older Kasir); leave the owner's bits alone."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # Another user's file (a database shared on purpose) is not ours to change.
        with contextlib.suppress(PermissionError):
            os.chmod(path, mode & 0o700)


def write_private_file(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Replace ``path`` with ``data`` (bytes, or chunks of them), atomically and durably: a crash
    leaves the old file or the new one, never half of either (the secret key must not be lost to
    a power cut, nor an uploaded file be served half written)."""
    make_private_dir(path.parent)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mkstemp makes it 0600
    try:
        with os.fdopen(fd, "wb") as tmp:
            for chunk in [data] if isinstance(data, bytes) else data:
                tmp.write(chunk)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    sync_dir(path.parent)


def sync_dir(path: Path) -> None:
    """fsync a folder, so that a rename in it survives a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
