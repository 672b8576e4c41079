"""Receiving image data: streamed to a hidden file beside its destination, hashed as it passes.

Never holds the image in memory. The md5 ``checksum`` and the sha512 ``os_hash_value`` are
computed on the way; hashes the client declared (the ``owner_specified.openstack.md5`` and
``.sha256`` properties openstacksdk sets, or a declared size) are checked before the file is
given its real name. Any failure, including the client going away, removes the partial file:
a caller sees either a complete, verified file or none.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from twinstack.core.errors import BadRequest, OverQuota

HASH_ALGO = "sha512"
MD5_PROPERTY = "owner_specified.openstack.md5"
SHA256_PROPERTY = "owner_specified.openstack.sha256"


@dataclass(frozen=True)
class Expected:
    """What the client said the data would be; None where it said nothing."""

    size: int | None = None
    md5: str | None = None
    sha256: str | None = None

    @classmethod
    def from_properties(cls, properties: Mapping[str, object], size: int | None = None) -> Expected:
        md5, sha256 = properties.get(MD5_PROPERTY), properties.get(SHA256_PROPERTY)
        return cls(size, str(md5) if md5 else None, str(sha256) if sha256 else None)


@dataclass(frozen=True)
class Received:
    path: Path
    size: int
    checksum: str
    os_hash_value: str
    os_hash_algo: str = HASH_ALGO


class Intake:
    """One file being received. Use as a context manager: leaving it without ``commit`` discards it."""

    def __init__(self, target: Path, cap: int, expected: Expected = Expected()) -> None:
        self.target = target
        self.cap = cap
        self.expected = expected
        target.parent.mkdir(parents=True, exist_ok=True)
        self.partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        self._out = self.partial.open("wb")
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha512 = hashlib.sha512()
        self._sha256 = hashlib.sha256() if expected.sha256 else None
        self.size = 0
        self._done = False

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.cap:
            raise OverQuota(f"Image exceeds the storage quota: the largest image accepted is {self.cap} bytes.")
        self._md5.update(chunk)
        self._sha512.update(chunk)
        if self._sha256 is not None:
            self._sha256.update(chunk)
        self._out.write(chunk)

    def commit(self) -> Received:
        """Verify against what was declared, then give the file its name (atomically)."""
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        checksum = self._md5.hexdigest()
        expected = self.expected
        if expected.size is not None and expected.size != self.size:
            raise BadRequest(f"Size of uploaded data ({self.size}) is different from the declared size "
                             f"({expected.size}).")
        if expected.md5 is not None and expected.md5.lower() != checksum:
            raise BadRequest(f"Checksum verification failed: md5 of the data is {checksum}, "
                             f"the image declared {expected.md5}.")
        if self._sha256 is not None and expected.sha256 is not None:
            sha256 = self._sha256.hexdigest()
            if expected.sha256.lower() != sha256:
                raise BadRequest(f"Checksum verification failed: sha256 of the data is {sha256}, "
                                 f"the image declared {expected.sha256}.")
        os.replace(self.partial, self.target)
        self._done = True
        return Received(self.target, self.size, checksum, self._sha512.hexdigest())

    def discard(self) -> None:
        if not self._out.closed:
            self._out.close()
        self.partial.unlink(missing_ok=True)

    def __enter__(self) -> Intake:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if not self._done:
            self.discard()


def receive(chunks: Iterable[bytes], target: Path, cap: int, expected: Expected = Expected()) -> Received:
    with Intake(target, cap, expected) as intake:
        for chunk in chunks:
            intake.write(chunk)
        return intake.commit()


async def receive_stream(chunks: AsyncIterator[bytes], target: Path, cap: int,
                         expected: Expected = Expected()) -> Received:
    """The same from an async body; a client that disconnects mid-way leaves nothing behind."""
    with Intake(target, cap, expected) as intake:
        async for chunk in chunks:
            intake.write(chunk)
        return intake.commit()
