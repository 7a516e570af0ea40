"""A unified diff laid out side by side: old lines on the left, new lines on the right.

libgit2 (through pygit2) parses the patch text the version store produces, so line numbers
and hunk boundaries are git's own, not a hand-written parser's.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import zip_longest
from typing import Literal

import pygit2

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
    status: str  # git's letter: A added, D deleted, M modified, R renamed
    hunks: tuple[Hunk, ...]

    @property
    def added(self) -> int:
        return sum(row.right.kind == "added" for hunk in self.hunks for row in hunk.rows)

    @property
    def removed(self) -> int:
        return sum(row.left.kind == "removed" for hunk in self.hunks for row in hunk.rows)


_EMPTY = Cell(None, "", "empty")


def side_by_side(patch_text: str) -> list[FileDiff]:
    """Each file's hunks as rows; a run of removed lines is paired with the added run after it."""
    if not patch_text.strip():
        return []
    files = []
    for patch in pygit2.Diff.parse_diff(patch_text):
        if patch is None:  # an entry libgit2 could make no text patch of: nothing to lay out
            continue
        hunks = tuple(Hunk(hunk.header.strip(), tuple(_rows(hunk.lines))) for hunk in patch.hunks)
        delta = patch.delta
        files.append(FileDiff(delta.old_file.path, delta.new_file.path, delta.status_char(), hunks))
    return files


def _rows(lines: list[pygit2.DiffLine]) -> list[Row]:
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
        # other origins ("\ No newline at end of file" markers) carry no line of code
    flush()
    return rows
