"""Diffs computed by the harness from blob contents alone.

git's own diff reads `.gitattributes` and config from the repository, both of which the self
can write (a deployed `.gitattributes` with `* binary` or `*.py -diff` turns every later diff
into "Binary files differ" while the code changes underneath). Here a diff depends only on
the two trees' bytes: difflib on the texts, and a file is binary only if its content says so
(a NUL byte in the first 8000 bytes, git's own heuristic, minus anything the self can plant).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

BINARY_SNIFF = 8000
NO_NEWLINE = "\\ No newline at end of file"
_LINE = re.compile(r"[^\n]*\n|[^\n]+\Z")  # lines end at \n only: a \r stays inside its line, visible

Origin = Literal[" ", "-", "+"]


@dataclass(frozen=True)
class DiffLine:
    origin: Origin
    old_lineno: int | None
    new_lineno: int | None
    content: str  # with its "\n", unless the file's last line has none


@dataclass(frozen=True)
class DiffHunk:
    header: str
    lines: tuple[DiffLine, ...]


@dataclass(frozen=True)
class FileChange:
    path: str
    status: Literal["A", "D", "M"]
    binary: bool
    hunks: tuple[DiffHunk, ...]

    @property
    def old_path(self) -> str:
        return self.path

    @property
    def new_path(self) -> str:
        return self.path


def is_binary(data: bytes) -> bool:
    return b"\x00" in data[:BINARY_SNIFF]


def file_changes(old: Mapping[str, bytes], new: Mapping[str, bytes], context: int = 3) -> list[FileChange]:
    """Every file that differs between two trees (path → bytes), in path order."""
    changes = []
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path), new.get(path)
        if before == after:
            continue
        status: Literal["A", "D", "M"] = "A" if before is None else "D" if after is None else "M"
        before, after = before or b"", after or b""
        if is_binary(before) or is_binary(after):
            changes.append(FileChange(path, status, True, ()))
        else:
            changes.append(FileChange(path, status, False, _hunks(_lines(before), _lines(after), context)))
    return changes


def patch_text(changes: list[FileChange]) -> str:
    """The changes as a unified diff, for a terminal (the caller makes control characters visible)."""
    out: list[str] = []
    for change in changes:
        old = "/dev/null" if change.status == "A" else f"a/{change.path}"
        new = "/dev/null" if change.status == "D" else f"b/{change.path}"
        out.append(f"diff a/{change.path} b/{change.path}\n")
        if change.status == "A":
            out.append("new file\n")
        elif change.status == "D":
            out.append("deleted file\n")
        if change.binary:
            out.append(f"Binary files {old} and {new} differ (a NUL byte in the content)\n")
            continue
        out += [f"--- {old}\n", f"+++ {new}\n"]
        for hunk in change.hunks:
            out.append(f"{hunk.header}\n")
            for line in hunk.lines:
                out.append(f"{line.origin}{line.content}")
                if not line.content.endswith("\n"):
                    out.append(f"\n{NO_NEWLINE}\n")
    return "".join(out)


def _lines(data: bytes) -> list[str]:
    # Bytes that are not UTF-8 are shown as \xNN, never dropped or replaced by one same-looking mark.
    return _LINE.findall(data.decode("utf-8", errors="backslashreplace"))


def _hunks(before: list[str], after: list[str], context: int) -> tuple[DiffHunk, ...]:
    hunks = []
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        lines: list[DiffLine] = []
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                lines += [DiffLine(" ", a1 + k + 1, b1 + k + 1, before[a1 + k]) for k in range(a2 - a1)]
                continue
            lines += [DiffLine("-", a + 1, None, before[a]) for a in range(a1, a2)]
            lines += [DiffLine("+", None, b + 1, after[b]) for b in range(b1, b2)]
        hunks.append(DiffHunk(f"@@ -{_range(i1, i2)} +{_range(j1, j2)} @@", tuple(lines)))
    return tuple(hunks)


def _range(start: int, stop: int) -> str:
    length = stop - start
    first = start + 1 if length else start  # an empty range names the line before it, as diff does
    return f"{first}" if length == 1 else f"{first},{length}"
