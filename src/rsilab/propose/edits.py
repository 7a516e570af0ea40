"""Edit formats, parsed leniently (they are applied strictly, elsewhere).

The improver (often a small model) answers with prose around edits in one of two
formats, both accepted in the same text and kept in the order they appear:

* search/replace blocks (aider style)::

      self/solve.py
      ```python
      <<<<<<< SEARCH
      old lines
      =======
      new lines
      >>>>>>> REPLACE
      ```

  The path is the last path seen before the block: a line that is only a path
  (optionally in backticks or ``**``, or after ``File:``/``Path:``/``# file:``),
  a path in the info string of an opening fence (```` ```python self/solve.py ````),
  or an introductory line ending in ``:`` that names exactly one backticked file.
  Later blocks without a path of their own reuse it. An empty SEARCH creates a file.

* unified diffs (``--- a/x`` / ``+++ b/x`` / ``@@`` hunks, ``diff --git`` headers,
  ``/dev/null`` for new files). Line numbers in ``@@`` headers are ignored; each hunk
  becomes one edit (context+removed lines -> context+added lines).

:func:`parse_edits` never raises: each malformed piece becomes an error string that
names the piece and its line and is phrased to be shown to the model. Those pieces
are left out of ``edits``, so a caller must treat a non-empty ``errors`` as a
failed parse before applying anything.

Applying is strict and all-or-nothing (:mod:`rsilab.propose.apply`); the paths an
edit may name are checked in :mod:`rsilab.propose.paths`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from rsilab.errors import EditError
from rsilab.propose.paths import normalize_path
from rsilab.records import Edit

__all__ = ["ParsedEdits", "parse_edits"]

NO_EDITS_FOUND = "no edits found: use SEARCH/REPLACE blocks or a unified diff"


class ParsedEdits(BaseModel):
    """What :func:`parse_edits` found: the well-formed edits, in order, and one error per bad piece."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    edits: tuple[Edit, ...] = ()
    errors: tuple[str, ...] = ()


# --------------------------------------------------------------------------- paths

# --------------------------------------------------------------------------- parsing

_SEARCH_RE = re.compile(r"^(\s*)<{5,9} ?SEARCH\s*$", re.IGNORECASE)
_DIVIDER_RE = re.compile(r"^(\s*)={5,9}\s*$")
_REPLACE_RE = re.compile(r"^\s*>{5,9} ?REPLACE\s*$", re.IGNORECASE)
_FENCE_RE = re.compile(r"^\s*(?:`{3,}|~{3,})\s*(.*?)\s*$")
_HUNK_RE = re.compile(r"^@@(?: |$)")
_DIFF_GIT_RE = re.compile(r"^diff --git ")

_PATH_TOKEN_RE = re.compile(r"[\w.\-/\\~+@]+")
_EXT_RE = re.compile(r"\.[A-Za-z0-9_]*[A-Za-z][A-Za-z0-9_]*$")
_EXTENSIONLESS = {"Makefile", "Dockerfile", "LICENSE", "README", "Procfile"}
# Only files of these kinds are taken from a backticked word in a prose line, so that
# `math.isclose` or `self.cache` is not mistaken for a file.
_KNOWN_EXTS = {
    "py", "pyi", "txt", "md", "rst", "toml", "json", "jsonl", "yaml", "yml", "cfg", "ini",
    "sh", "js", "ts", "rs", "go", "c", "h", "cc", "cpp", "hpp", "java", "html", "css",
    "csv", "tsv", "j2", "jinja", "tmpl", "prompt", "xml", "sql",
}

_PREFIX_RE = re.compile(
    r"^(?:file\s*path|file\s*name|filepath|filename|file|path)\s*[:=][\s*]*", re.IGNORECASE
)


def _looks_like_path(token: str) -> bool:
    if not token or "://" in token or not _PATH_TOKEN_RE.fullmatch(token):
        return False
    if token.strip(".-/~") == "":
        return False
    last = re.split(r"[/\\]", token)[-1]
    if ("/" in token or "\\" in token) and last:
        return True
    return bool(_EXT_RE.search(last)) or last in _EXTENSIONLESS


def _strip_decorations(s: str) -> str:
    for _ in range(8):
        before = s
        s = s.strip()
        s = re.sub(r"^(?:#+|//)\s*", "", s)  # heading, or a comment like "# file: x.py"
        s = re.sub(r"^(?:[-*+]|\d+[.)])\s+", "", s)  # list bullet
        s = s.strip("*`'\"").strip()
        s = _PREFIX_RE.sub("", s)
        s = s.rstrip(":").strip()
        if s == before:
            break
    return s


def _path_from_fence_info(info: str) -> str | None:
    found = None
    for token in info.split():
        token = token.strip("`'\"{}")
        candidates = [token]
        if "=" in token:
            candidates.append(token.split("=", 1)[1].strip("'\""))
        if ":" in token:
            candidates.append(token.rsplit(":", 1)[1])
        for c in candidates:
            if _looks_like_path(c):
                found = c
                break
    return found


def _path_from_line(line: str) -> str | None:
    """The file path a line outside any block names, if it names one."""
    fence = _FENCE_RE.match(line)
    if fence:
        return _path_from_fence_info(fence.group(1))
    whole = _strip_decorations(line)
    if whole and _looks_like_path(whole):
        return whole
    # "Here is the change to `self/solve.py`:" — an introduction naming exactly one file.
    if line.rstrip().rstrip("*").rstrip().endswith(":"):
        named = {
            t
            for t in re.findall(r"`([^`\s]+)`", line)
            if _looks_like_path(t)
            and ("/" in t or t.rsplit(".", 1)[-1].lower() in _KNOWN_EXTS)
        }
        if len(named) == 1:
            return named.pop()
    return None


def _join(lines: Sequence[str], final_newline: bool = True) -> str:
    if not lines:
        return ""
    return "\n".join(lines) + ("\n" if final_newline else "")


@dataclass
class _Parser:
    lines: list[str]
    edits: list[Edit] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    last_path: str | None = None
    blocks: int = 0
    hunks: int = 0

    # -- helpers

    def _where(self, kind: str, n: int, path: str | None, lineno: int) -> str:
        if path and len(path) > 80:  # a self-written path may be megabytes long: the message stays short
            path = f"{path[:60]}... ({len(path)} characters)"
        return f"{kind} {n} ({path}, line {lineno})" if path else f"{kind} {n} (line {lineno})"

    def _add(self, where: str, path: str, search: str, replace: str) -> None:
        try:
            clean = normalize_path(path)
        except EditError as e:
            self.errors.append(f"{where}: {e}")
            return
        if search == replace:
            self.errors.append(
                f"{where}: no-op edit — the SEARCH and REPLACE text are identical; change something or drop it"
            )
            return
        self.edits.append(Edit(path=clean, search=search, replace=replace))

    # -- main loop

    def run(self) -> ParsedEdits:
        i, n = 0, len(self.lines)
        while i < n:
            line = self.lines[i]
            if m := _SEARCH_RE.match(line):
                i = self._block(i, m.group(1))
            elif _REPLACE_RE.match(line):
                self.errors.append(
                    f"line {i + 1}: stray `>>>>>>> REPLACE` with no `<<<<<<< SEARCH` before it; "
                    "each block needs `<<<<<<< SEARCH`, old lines, `=======`, new lines, `>>>>>>> REPLACE`"
                )
                i += 1
            elif line.startswith("--- ") and i + 1 < n and self.lines[i + 1].startswith("+++ "):
                i = self._file_diff(i)
            elif _HUNK_RE.match(line):
                i = self._orphan_hunks(i)
            else:
                path = _path_from_line(line)
                if path is not None:
                    self.last_path = path
                i += 1
        if not self.edits and not self.errors:
            self.errors.append(NO_EDITS_FOUND)
        return ParsedEdits(edits=tuple(self.edits), errors=tuple(self.errors))

    # -- search/replace blocks

    def _block(self, start: int, indent: str) -> int:
        self.blocks += 1
        where = self._where("block", self.blocks, self.last_path, start + 1)
        dividers: list[int] = []
        j = start + 1
        while j < len(self.lines):
            line = self.lines[j]
            if _SEARCH_RE.match(line):
                self.errors.append(
                    f"{where}: unterminated — `>>>>>>> REPLACE` missing before the next "
                    f"`<<<<<<< SEARCH` at line {j + 1}"
                )
                return j  # the next block is parsed on its own
            if _REPLACE_RE.match(line):
                break
            if (m := _DIVIDER_RE.match(line)) and m.group(1) == indent:
                dividers.append(j)
            j += 1
        else:
            self.errors.append(f"{where}: unterminated — `>>>>>>> REPLACE` missing")
            return j
        end = j
        if not dividers:
            self.errors.append(f"{where}: no `=======` divider before `>>>>>>> REPLACE` (line {end + 1})")
            return end + 1
        if len(dividers) > 1:
            at = ", ".join(str(d + 1) for d in dividers)
            self.errors.append(
                f"{where}: {len(dividers)} `=======` dividers (lines {at}); a block has exactly one, "
                "between the old and the new lines"
            )
            return end + 1
        if self.last_path is None:
            self.errors.append(
                f"{where}: no file path given before `<<<<<<< SEARCH`; "
                "put the file's path on its own line before the block"
            )
            return end + 1
        div = dividers[0]
        search = _join(self.lines[start + 1 : div])
        replace = _join(self.lines[div + 1 : end])
        self._add(where, self.last_path, search, replace)
        return end + 1

    # -- unified diffs

    def _file_diff(self, start: int) -> int:
        old = _diff_header_path(self.lines[start][4:], "a/")
        new = _diff_header_path(self.lines[start + 1][4:], "b/")
        path = new if new is not None else old
        if path:
            self.last_path = path
        hunks, nxt = self._collect_hunks(start + 2)
        first = self.hunks + 1
        self.hunks += max(1, len(hunks))
        where = self._where("hunk", first, path, start + 1)
        if new is None:
            self.errors.append(
                f"{where}: deleting a file (`+++ /dev/null`) is not supported; change its contents instead"
            )
            return nxt
        if not hunks:
            self.errors.append(f"{where}: the diff for {new} has no `@@` hunks")
            return nxt
        if old is None:  # a new file: every hunk line must be an addition
            content: list[str] = []
            no_eol = False
            for _lineno, body in hunks:
                for line in body:
                    if line.startswith("+"):
                        content.append(line[1:])
                        no_eol = False
                    elif line.startswith("\\"):
                        no_eol = bool(content)
                    else:
                        self.errors.append(
                            f"{where}: a new file (`--- /dev/null`) may only have `+` lines, "
                            f"found {line[:40]!r}"
                        )
                        return nxt
            self._add(where, new, "", _join(content, final_newline=not no_eol))
            return nxt
        for k, (lineno, body) in enumerate(hunks):
            self._hunk(self._where("hunk", first + k, new, lineno), new, body)
        return nxt

    def _orphan_hunks(self, start: int) -> int:
        """`@@` hunks without `---`/`+++` headers: they edit the last path named."""
        hunks, nxt = self._collect_hunks(start)
        for lineno, body in hunks:
            self.hunks += 1
            where = self._where("hunk", self.hunks, self.last_path, lineno)
            if self.last_path is None:
                self.errors.append(
                    f"{where}: no file path for this hunk; start the diff with `--- a/PATH` and `+++ b/PATH`"
                )
                continue
            self._hunk(where, self.last_path, body)
        return nxt

    def _collect_hunks(self, start: int) -> tuple[list[tuple[int, list[str]]], int]:
        """Hunks from `start` on, as (1-based line of the hunk, body lines); and where they stop."""
        hunks: list[tuple[int, list[str]]] = []
        body: list[str] | None = None
        j, n = start, len(self.lines)
        while j < n:
            line = self.lines[j]
            if _HUNK_RE.match(line):
                body = []
                hunks.append((j + 1, body))
            elif _DIFF_GIT_RE.match(line) or (
                line.startswith("--- ") and j + 1 < n and self.lines[j + 1].startswith("+++ ")
            ):
                break
            elif line[:1] in (" ", "+", "-", "\\") or (line == "" and body is not None):
                if body is None:  # hunk lines right after the headers, with no `@@`
                    body = []
                    hunks.append((j + 1, body))
                body.append(line)
            else:
                break
            j += 1
        for _, b in hunks:
            # a blank line closing a hunk is a separator, or blank context on both sides: drop it
            while b and b[-1] == "":
                b.pop()
        return hunks, j

    def _hunk(self, where: str, path: str, body: list[str]) -> None:
        if not body:
            self.errors.append(f"{where}: empty hunk")
            return
        old: list[str] = []
        new: list[str] = []
        old_no_eol = new_no_eol = False
        last = ""
        for line in body:
            kind, text = (line[:1], line[1:]) if line else (" ", "")
            if kind == "\\":  # "\ No newline at end of file" applies to the line before it
                old_no_eol = old_no_eol or last in (" ", "-")
                new_no_eol = new_no_eol or last in (" ", "+")
                continue
            if kind in (" ", "-"):
                old.append(text)
                old_no_eol = False
            if kind in (" ", "+"):
                new.append(text)
                new_no_eol = False
            last = kind
        if not old:
            self.errors.append(
                f"{where}: the hunk has only `+` lines, so there is nothing to find in {path}; "
                "include a few unchanged context lines around the addition"
            )
            return
        self._add(where, path, _join(old, not old_no_eol), _join(new, not new_no_eol))


def _diff_header_path(rest: str, prefix: str) -> str | None:
    """The path in a `---`/`+++` header (without the a/ or b/ prefix); None for /dev/null."""
    s = rest.split("\t", 1)[0].strip()
    if m := re.match(r"^(\S+)\s+\d{4}-\d\d-\d\d", s):  # a timestamp after spaces
        s = m.group(1)
    s = s.strip("`'\"")
    if s == "/dev/null":
        return None
    if s.startswith(prefix):
        s = s[len(prefix) :]
    return s


def parse_edits(text: str) -> ParsedEdits:
    """Find every search/replace block and unified-diff hunk in `text`; never raises."""
    lines = text.replace("\r\n", "\n").split("\n")
    return _Parser(lines).run()
