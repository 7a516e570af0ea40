"""Bounded, total readers for bytes the self produced.

Everything the self writes (answers, proposals, progress lines, weights, its own files)
is read here or through here. Each reader either returns a value inside stated bounds
or raises :class:`UntrustedInput` naming what was read and why it was refused; no other
exception escapes, nothing blocks (a FIFO, a device, a link) and nothing is read past
its cap. A JSON value that comes back is finite, shallow and serialises again as UTF-8.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from rsilab.errors import UntrustedInput

MiB = 1024 * 1024
MAX_JSON_BYTES = 16 * MiB
MAX_JSON_DEPTH = 64
MAX_NUMBER_CHARS = 64
_READ_CHUNK = 1 << 20


def open_regular(path: Path, *, what: str, root: Path | None = None) -> int:
    """A read descriptor for a regular file, never blocking and never following a link.

    With `root`, `path` is relative to it and every directory on the way is opened without
    following links too, so a link the self planted higher up cannot lead out of its tree.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        if root is None:
            fd = os.open(path, flags)
        else:
            fd = _open_beneath(root, Path(path), flags)
    except OSError as exc:
        raise UntrustedInput(f"{what}: cannot open {path}: {_why(exc)}") from None
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        os.close(fd)
        raise UntrustedInput(f"{what}: cannot stat {path}: {_why(exc)}") from None
    if not stat.S_ISREG(mode):  # opened without blocking, so a FIFO got this far without a writer
        os.close(fd)
        raise UntrustedInput(f"{what}: {path} is not a regular file (it is {_kind(mode)})")
    return fd


def read_regular_file(path: Path, max_bytes: int, *, what: str = "file", root: Path | None = None) -> bytes:
    """At most `max_bytes` of a regular file; UntrustedInput when missing, not regular, or longer."""
    fd = open_regular(path, what=what, root=root)
    try:
        return read_capped(fd, max_bytes, what=what)
    finally:
        os.close(fd)


def read_capped(fd: int, max_bytes: int, *, what: str) -> bytes:
    """Read `fd` to its end, refusing once more than `max_bytes` arrive (reads max_bytes + 1 at most)."""
    chunks: list[bytes] = []
    left = max_bytes + 1
    try:
        while left > 0:
            chunk = os.read(fd, min(left, _READ_CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise UntrustedInput(f"{what}: read failed: {_why(exc)}") from None
    if left <= 0:
        raise UntrustedInput(f"{what}: more than {max_bytes} bytes (the limit)")
    return b"".join(chunks)


def decode_utf8(data: bytes, *, what: str) -> str:
    """Strict UTF-8 (no lone surrogates, no invalid bytes)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UntrustedInput(f"{what}: not valid UTF-8 at byte {exc.start}") from None


def read_json(
    source: Path | bytes,
    *,
    what: str = "JSON",
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
    max_number_chars: int = MAX_NUMBER_CHARS,
) -> Any:
    """A JSON value from a file or bytes: UTF-8, at most `max_bytes`, nested at most `max_depth`,
    numbers of at most `max_number_chars` characters and finite, strings that encode as UTF-8."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > max_bytes:
            raise UntrustedInput(f"{what}: {len(data)} bytes, more than the limit of {max_bytes}")
    else:
        data = read_regular_file(Path(source), max_bytes, what=what)
    text = decode_utf8(data, what=what).removeprefix("\ufeff")

    def number(kind: type) -> Any:
        def parse(s: str) -> Any:
            if len(s) > max_number_chars:
                raise UntrustedInput(f"{what}: a number of {len(s)} characters (the limit is {max_number_chars})")
            value = kind(s)
            if isinstance(value, float) and not math.isfinite(value):
                raise UntrustedInput(f"{what}: the number {s[:20]} does not fit a finite float")
            return value
        return parse

    def constant(name: str) -> Any:
        raise UntrustedInput(f"{what}: {name} is not JSON (only finite numbers are accepted)")

    try:
        value = json.loads(text, parse_int=number(int), parse_float=number(float), parse_constant=constant)
    except UntrustedInput:
        raise
    except RecursionError:
        raise UntrustedInput(f"{what}: nested deeper than {max_depth} levels") from None
    except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
        raise UntrustedInput(f"{what}: not JSON: {str(exc)[:200]}") from None
    check_value(value, what=what, max_depth=max_depth)
    return value


def check_value(value: Any, *, what: str, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Walk a parsed value without recursion: depth within bounds, every string encodable."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _encodable(item, what)
        elif isinstance(item, (list, dict)):
            if depth >= max_depth:
                raise UntrustedInput(f"{what}: nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key, inner in item.items():
                    _encodable(key, what)
                    stack.append((inner, depth + 1))
            else:
                stack.extend((inner, depth + 1) for inner in item)


def _encodable(s: str, what: str) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UntrustedInput(f"{what}: a string holds a lone surrogate (\\u{ord(s[exc.start]):04x})") from None


def _open_beneath(root: Path, rel: Path, flags: int) -> int:
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise OSError(errno.EINVAL, "not a plain relative path")
    dir_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in rel.parts[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            os.close(dir_fd)
            dir_fd = inner
        return os.open(rel.parts[-1], flags, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "it does not exist"
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return "a symbolic link or a non-directory is on the way (links are never followed)"
    return exc.strerror or str(exc)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"
