"""Paths an edit may name: relative, inside the project, never into `.git/`."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rsilab.errors import EditError
from rsilab.records import Edit

_DRIVE_RE = re.compile(r"^[A-Za-z]:(/|$)")


def normalize_path(path: str) -> str:
    """Return `path` as a clean relative posix path, or raise EditError saying why not.

    Strips surrounding whitespace, quotes and backticks and leading ``./``; collapses
    ``//`` and ``/./``. Rejects empty paths, NUL and other control characters,
    backslashes, absolute paths (and drive letters), a leading ``~``, any ``..``
    component (even one that would resolve inside) and any ``.git`` component.
    """
    if not isinstance(path, str):
        raise EditError(f"file path must be a string, not {type(path).__name__}")
    p = path
    while True:
        stripped = p.strip().strip("`'\"")
        if stripped == p:
            break
        p = stripped
    if not p:
        raise EditError("empty file path")
    if "\x00" in p:
        raise EditError(f"file path {path!r} contains a NUL byte")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in p):
        raise EditError(f"file path {path!r} contains control characters")
    if "\\" in p:
        raise EditError(f"file path {path!r} contains a backslash; use `/` between directories")
    if p.startswith("~"):
        raise EditError(f"file path {path!r} starts with `~`; give a path relative to the project root")
    if p.startswith("/") or _DRIVE_RE.match(p):
        raise EditError(f"file path {path!r} is absolute; give a path relative to the project root")
    if p.endswith("/"):
        raise EditError(f"file path {path!r} names a directory, not a file")
    parts = [part for part in p.split("/") if part not in ("", ".")]
    if not parts:
        raise EditError(f"file path {path!r} is empty once `./` is removed")
    if ".." in parts:
        raise EditError(f"file path {path!r} contains `..`; paths must stay inside the project")
    if any(part.lower() == ".git" for part in parts):
        raise EditError(f"file path {path!r} points into `.git/`, which edits may not touch")
    return "/".join(parts)


def touched_paths(edits: Sequence[Edit]) -> set[str]:
    """The normalized paths `edits` would change or create; raises EditError for an invalid path."""
    out: set[str] = set()
    for n, edit in enumerate(edits, 1):
        try:
            out.add(normalize_path(edit.path))
        except EditError as e:
            raise EditError(f"block {n}: {e}") from None
    return out
