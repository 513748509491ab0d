"""Where uploaded bytes live: a content-addressed folder (``KASIR_MEDIA_DIR``).

A blob's key is the SHA-256 of its bytes, so the same file uploaded twice is stored once and a
key never points at other bytes than the ones it was made for. Writes go to a temporary file that
is fsynced and renamed into place: a crash leaves either the whole blob or nothing. Blobs are what
merchants sell, so they are private to Kasir's user: files 0600 (``mkstemp`` makes them so, and
the rename keeps it), folders 0700. Several API nodes need this folder on shared storage
(docs/deploy.md).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from kasir.errors import InvalidRequest, PayloadTooLarge
from kasir.private_files import make_private_dir, write_private_file

_KEY = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoredBlob:
    key: str
    size: int
    head: bytes  # the first bytes, for sniffing the type


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        if not _KEY.fullmatch(key):  # keys come from our own rows, but never build paths blindly
            raise ValueError(f"not a blob key: {key!r}")
        return self.root / key[:2] / key

    def put_bytes(self, data: bytes) -> StoredBlob:
        key = hashlib.sha256(data).hexdigest()
        self._write(key, [data])
        return StoredBlob(key, len(data), data[:64])

    def put_stream(self, source: BinaryIO, *, max_bytes: int) -> StoredBlob:
        """Copy ``source`` in, hashing as it goes; an empty source or more than ``max_bytes`` is
        refused (400 / 413) and leaves nothing behind."""
        make_private_dir(self.root)
        digest = hashlib.sha256()
        size = 0
        head = b""
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as tmp:
                while chunk := source.read(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise PayloadTooLarge(f"the file is larger than {max_bytes} bytes", code="file_too_large")
                    if len(head) < 64:
                        head += chunk[: 64 - len(head)]
                    digest.update(chunk)
                    tmp.write(chunk)
                tmp.flush()
                os.fsync(tmp.fileno())
            if size == 0:
                raise InvalidRequest("the file is empty", field="file", code="file_empty")
            key = digest.hexdigest()
            target = self.path(key)
            make_private_dir(target.parent)
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return StoredBlob(key, size, head)

    def _write(self, key: str, chunks: list[bytes]) -> None:
        target = self.path(key)
        if target.exists():
            return
        write_private_file(target, chunks)
