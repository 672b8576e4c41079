"""An initramfs written in Python: a gzip'd cpio ("newc") archive, as the kernel unpacks it at boot.

Written here rather than with the ``cpio`` tool so that building the test image needs nothing but the
distribution's kernel and busybox, and so the archive is reproducible (fixed owners and times).
"""

from __future__ import annotations

import gzip
import io
import stat
from dataclasses import dataclass

TRAILER = "TRAILER!!!"


@dataclass(frozen=True)
class Entry:
    """One archive member: a directory, a regular file, a symlink (data = target) or a device node."""

    path: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def directory(path: str) -> Entry:
    return Entry(path, stat.S_IFDIR | 0o755)


def file(path: str, data: bytes, executable: bool = False) -> Entry:
    return Entry(path, stat.S_IFREG | (0o755 if executable else 0o644), data)


def symlink(path: str, target: str) -> Entry:
    return Entry(path, stat.S_IFLNK | 0o777, target.encode())


def char_device(path: str, major: int, minor: int) -> Entry:
    return Entry(path, stat.S_IFCHR | 0o600, rdev=(major, minor))


def _pad(out: io.BytesIO) -> None:
    out.write(b"\0" * (-out.tell() % 4))


def _member(out: io.BytesIO, ino: int, entry: Entry) -> None:
    name = entry.path.lstrip("/").encode() + b"\0"
    fields = (ino, entry.mode, 0, 0, 2 if stat.S_ISDIR(entry.mode) else 1, 0, len(entry.data), 0, 0,
              entry.rdev[0], entry.rdev[1], len(name), 0)
    out.write(b"070701" + "".join(f"{value:08x}" for value in fields).encode())
    out.write(name)
    _pad(out)
    out.write(entry.data)
    _pad(out)


def cpio_newc(entries: list[Entry]) -> bytes:
    """The uncompressed archive; parents must come before their children (the kernel creates in order)."""
    out = io.BytesIO()
    for ino, entry in enumerate(entries, start=1):
        _member(out, ino, entry)
    _member(out, 0, Entry(TRAILER, 0))
    _pad(out)
    return out.getvalue()


def initramfs(entries: list[Entry]) -> bytes:
    """The archive gzip'd (every distribution kernel reads gzip), with a fixed mtime so builds repeat."""
    return gzip.compress(cpio_newc(entries), compresslevel=6, mtime=0)
