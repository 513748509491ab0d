"""What a file is, from its first bytes rather than from the name or the type a client claims.

The sniffed type is what a download is served as (with ``nosniff`` and as an attachment), so a
file named ``ebook.pdf`` that is really HTML is served as text, never rendered on our origin.
"""

from __future__ import annotations

OCTET_STREAM = "application/octet-stream"

# (offset, magic bytes, type), checked in order.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"%PDF-", "application/pdf"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"Rar!\x1a\x07", "application/vnd.rar"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"OggS", "audio/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"fLaC", "audio/flac"),
    (4, b"ftyp", "video/mp4"),
)


def sniff(head: bytes) -> str:
    """The media type of a file whose first bytes (at least 64 of them, when it has that many)
    are ``head``."""
    if head.startswith(b"PK\x03\x04"):
        # EPUB is a zip whose first entry is an uncompressed "mimetype" file.
        return "application/epub+zip" if head[30:58] == b"mimetypeapplication/epub+zip" else "application/zip"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    for offset, magic, media_type in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return media_type
    if head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    if _is_text(head):
        return "text/plain; charset=utf-8"
    return OCTET_STREAM


def _is_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The sample may end inside a multi-byte character; only an error before that counts.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True
