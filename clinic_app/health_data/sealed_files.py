"""A health-data file waiting for its import job, kept on disk encrypted.

The request streams the upload into ``HEALTH_UPLOAD_DIR/<upload id>.sealed`` in 1 MiB chunks, each
sealed with AES-GCM under a fresh random key of its own (nonce = chunk number; the associated data
binds the chunk number and whether it is the last, so chunks cannot be reordered, dropped or the
file cut short unnoticed). The key is stored on the upload row, wrapped by the organization's data
key, and the file is deleted when the import ends. ``SealedReader`` gives the job a seekable,
read-only file (a zip archive needs to seek) that decrypts a chunk at a time, so neither side ever
holds the whole file in memory.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CHUNK = 1 << 20
TAG = 16


class TooLarge(Exception):
    """The file is larger than the limit it was given."""


class Damaged(Exception):
    """The sealed file was changed, cut short or sealed with another key."""


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


def _aad(index: int, last: bool) -> bytes:
    return struct.pack(">Q?", index, last)


def seal(source: IO[bytes], path: Path, key: bytes, *, max_bytes: int) -> int:
    """Write ``source`` to ``path`` sealed with ``key``; returns the plaintext size. Raises TooLarge
    (and leaves no file) when the source is longer than ``max_bytes``."""
    cipher = AESGCM(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    total = 0
    try:
        with open(path, "wb") as out:
            index = 0
            current = source.read(CHUNK)
            while True:
                following = source.read(CHUNK) if len(current) == CHUNK else b""
                last = not following
                total += len(current)
                if total > max_bytes:
                    raise TooLarge(f"larger than {max_bytes} bytes")
                out.write(cipher.encrypt(_nonce(index), current, _aad(index, last)))
                if last:
                    break
                current, index = following, index + 1
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return total


class SealedReader(io.RawIOBase):
    """A sealed file read back as a seekable binary file."""

    def __init__(self, path: Path, key: bytes) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._cipher = AESGCM(key)
        stored = os.fstat(self._file.fileno()).st_size
        full, rest = divmod(stored, CHUNK + TAG)
        if rest and rest < TAG:
            raise Damaged("the sealed file is cut short")
        self._chunks = full + (1 if rest else 0)
        self.size = full * CHUNK + (rest - TAG if rest else 0)
        self._position = 0
        self._cached: tuple[int, bytes] | None = None

    def _chunk(self, index: int) -> bytes:
        if self._cached and self._cached[0] == index:
            return self._cached[1]
        self._file.seek(index * (CHUNK + TAG))
        sealed = self._file.read(CHUNK + TAG)
        try:
            plain = self._cipher.decrypt(_nonce(index), sealed, _aad(index, index == self._chunks - 1))
        except InvalidTag:
            raise Damaged("the sealed file does not open with its key") from None
        self._cached = (index, plain)
        return plain

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        if self._position >= self.size:
            return 0
        index, within = divmod(self._position, CHUNK)
        piece = self._chunk(index)[within : within + len(buffer)]
        buffer[: len(piece)] = piece
        self._position += len(piece)
        return len(piece)

    def close(self) -> None:
        self._file.close()
        super().close()


def open_sealed(path: Path, key: bytes) -> io.BufferedReader:
    """The sealed file as a buffered, seekable binary file."""
    return io.BufferedReader(SealedReader(path, key), buffer_size=CHUNK)
