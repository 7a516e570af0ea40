"""Paths an edit may name: relative, inside the project, never into `.git/`."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rsilab.errors import EditError
from rsilab.records import Edit

_DRIVE_RE = re.compile(r"^[A-Za-z]:(/|$)")
# Bounds well inside every filesystem's and git's (NAME_MAX is 255 bytes, PATH_MAX 4096).
MAX_COMPONENT_BYTES = 200
MAX_PATH_BYTES = 1000
MAX_PATH_DEPTH = 16


def normalize_path(path: str) -> str:
    """Return `path` as a clean relative posix path, or raise EditError saying why not.

    Strips surrounding whitespace, quotes and backticks and leading ``./``; collapses
    ``//`` and ``/./``. Rejects empty paths, NUL and other control characters,
    backslashes, absolute paths (and drive letters), a leading ``~``, any ``..``
    component (even one that would resolve inside) and any ``.git`` component, and
    paths over the bounds: MAX_COMPONENT_BYTES per component, MAX_PATH_BYTES in all
    and MAX_PATH_DEPTH components (UTF-8 bytes; a lone surrogate is refused).
    """
    clean = _normalize_once(path)
    while (again := _normalize_once(clean)) != clean:  # `a`/.` strips to a` and then to a: the same path both times
        clean = again
    return clean


def _normalize_once(path: str) -> str:
    if not isinstance(path, str):
        raise EditError(f"file path must be a string, not {type(path).__name__}")
    if len(path) > 2 * MAX_PATH_BYTES:  # before stripping: alternating quotes and spaces cost a pass each
        raise EditError(f"file path {_short(path)} is {len(path)} characters long, over the limit of {MAX_PATH_BYTES} bytes")
    p = path
    while True:
        stripped = p.strip().strip("`'\"")
        if stripped == p:
            break
        p = stripped
    if not p:
        raise EditError("empty file path")
    try:
        size = len(p.encode("utf-8"))
    except UnicodeEncodeError:
        raise EditError(f"file path {_short(path)} is not valid UTF-8") from None
    if size > MAX_PATH_BYTES:
        raise EditError(f"file path {_short(path)} is {size} bytes long, over the limit of {MAX_PATH_BYTES}")
    if "\x00" in p:
        raise EditError(f"file path {_short(path)} contains a NUL byte")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in p):
        raise EditError(f"file path {_short(path)} contains control characters")
    if "\\" in p:
        raise EditError(f"file path {_short(path)} contains a backslash; use `/` between directories")
    if p.startswith("~"):
        raise EditError(f"file path {_short(path)} starts with `~`; give a path relative to the project root")
    if p.startswith("/") or _DRIVE_RE.match(p):
        raise EditError(f"file path {_short(path)} is absolute; give a path relative to the project root")
    if p.endswith("/"):
        raise EditError(f"file path {_short(path)} names a directory, not a file")
    parts = [part for part in p.split("/") if part not in ("", ".")]
    if not parts:
        raise EditError(f"file path {_short(path)} is empty once `./` is removed")
    if ".." in parts:
        raise EditError(f"file path {_short(path)} contains `..`; paths must stay inside the project")
    if any(part.lower() == ".git" for part in parts):
        raise EditError(f"file path {_short(path)} points into `.git/`, which edits may not touch")
    if len(parts) > MAX_PATH_DEPTH:
        raise EditError(f"file path {_short(path)} has {len(parts)} components, over the limit of {MAX_PATH_DEPTH}")
    for part in parts:
        if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
            raise EditError(f"file path {_short(path)} has a name of {len(part.encode('utf-8'))} bytes, "
                            f"over the limit of {MAX_COMPONENT_BYTES}")
    return "/".join(parts)


def _short(path: str) -> str:
    """A path for a message: a self-written path may be megabytes long."""
    return repr(path) if len(path) <= 80 else repr(path[:60]) + f"... ({len(path)} characters)"


def touched_paths(edits: Sequence[Edit]) -> set[str]:
    """The normalized paths `edits` would change or create; raises EditError for an invalid path."""
    out: set[str] = set()
    for n, edit in enumerate(edits, 1):
        try:
            out.add(normalize_path(edit.path))
        except EditError as e:
            raise EditError(f"block {n}: {e}") from None
    return out
