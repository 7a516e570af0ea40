"""A diff laid out side by side: old lines on the left, new lines on the right.

The changes come from the version store's blob diff (store/blobdiff.py), never from git's
diff, which reads attributes and config the self can write. Every text here is the self's:
the templates autoescape it and make its control characters visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import zip_longest
from typing import Literal

from rsilab.store.blobdiff import DiffLine, FileChange

CellKind = Literal["context", "removed", "added", "empty"]


@dataclass(frozen=True)
class Cell:
    number: int | None
    text: str
    kind: CellKind


@dataclass(frozen=True)
class Row:
    left: Cell
    right: Cell


@dataclass(frozen=True)
class Hunk:
    header: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class FileDiff:
    old_path: str
    new_path: str
    status: str  # A added, D deleted, M modified
    hunks: tuple[Hunk, ...]
    binary: bool = False  # a NUL byte in the content: no lines to show

    @property
    def added(self) -> int:
        return sum(row.right.kind == "added" for hunk in self.hunks for row in hunk.rows)

    @property
    def removed(self) -> int:
        return sum(row.left.kind == "removed" for hunk in self.hunks for row in hunk.rows)


_EMPTY = Cell(None, "", "empty")


def side_by_side(changes: list[FileChange]) -> list[FileDiff]:
    """Each file's hunks as rows; a run of removed lines is paired with the added run after it."""
    return [
        FileDiff(c.old_path, c.new_path, c.status, tuple(Hunk(h.header, tuple(_rows(h.lines))) for h in c.hunks), c.binary)
        for c in changes
    ]


def _rows(lines: tuple[DiffLine, ...]) -> list[Row]:
    rows: list[Row] = []
    removed: list[Cell] = []
    added: list[Cell] = []

    def flush() -> None:
        for left, right in zip_longest(removed, added, fillvalue=_EMPTY):
            rows.append(Row(left, right))
        removed.clear()
        added.clear()

    for line in lines:
        text = line.content.rstrip("\n")
        if line.origin == "-":
            if added:  # a removal after additions starts a new change block
                flush()
            removed.append(Cell(line.old_lineno, text, "removed"))
        elif line.origin == "+":
            added.append(Cell(line.new_lineno, text, "added"))
        elif line.origin == " ":
            flush()
            rows.append(Row(Cell(line.old_lineno, text, "context"), Cell(line.new_lineno, text, "context")))
    flush()
    return rows
