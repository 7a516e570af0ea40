"""Applying edits strictly and all-or-nothing: each search text must occur exactly once.

Any problem raises :class:`EditError` naming the block and path; the input is never modified.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rsilab.errors import EditError
from rsilab.propose.paths import normalize_path
from rsilab.records import Edit

MAX_TREE_FILES = 1000  # files in the tree after the edits: a bound git, the export and every reader can bear


def _positions(haystack: str, needle: str) -> list[int]:
    """Start of every occurrence of `needle`, overlapping ones included."""
    out: list[int] = []
    pos = haystack.find(needle)
    while pos != -1:
        out.append(pos)
        pos = haystack.find(needle, pos + 1)
    return out


def _line_of(content: str, pos: int) -> int:
    return content.count("\n", 0, pos) + 1


def _loose_matches(content: str, search: str, key) -> list[int]:
    """1-based lines where `search` matches `content` when each line is compared by `key`."""
    want = [key(x) for x in search.split("\n")]
    if want and want[-1] == "":
        want.pop()
    if not want or all(w == "" for w in want):
        return []
    have = [key(x) for x in content.split("\n")]
    return [i + 1 for i in range(len(have) - len(want) + 1) if have[i : i + len(want)] == want]


def _preview(search: str) -> str:
    first = next((ln for ln in search.split("\n") if ln.strip()), "")
    first = first if len(first) <= 60 else first[:57] + "..."
    return f" (starting `{first}`)" if first else ""


def _not_found(n: int, path: str, content: str, search: str) -> EditError:
    msg = f"search text in block {n}{_preview(search)} not found in {path}"
    for key, how in (
        (str.lstrip, "if indentation is ignored — copy the exact indentation"),
        (str.strip, "if whitespace at the start and end of lines is ignored — copy the lines exactly"),
    ):
        at = _loose_matches(content, search, key)
        if at:
            where = f"line {at[0]}" if len(at) == 1 else "lines " + ", ".join(map(str, at[:5]))
            return EditError(f"{msg}; it matches {where} {how}")
    return EditError(f"{msg}; copy the lines exactly as they are in the file, whitespace included")


def apply_edits(files: Mapping[str, str], edits: Sequence[Edit]) -> dict[str, str]:
    """Apply `edits` in order to a copy of `files` (path -> content) and return the new mapping.

    Strict and all-or-nothing: each edit's path is normalized; a non-empty search must
    occur exactly once in the file as it is after the edits before it; an empty search
    creates a file that must not exist yet, where no file is one of its directories and
    which is not itself a directory of files, in a tree of at most MAX_TREE_FILES files.
    The first failure raises EditError naming the block (1-based position in `edits`) and
    path; `files` is never modified.
    """
    work = dict(files)
    aliases: dict[str, str] = {}
    for key in work:
        try:
            aliases.setdefault(normalize_path(key), key)
        except EditError:
            pass
    directories = {d for path in aliases for d in _ancestors(path)}

    for n, edit in enumerate(edits, 1):
        try:
            path = normalize_path(edit.path)
        except EditError as e:
            raise EditError(f"block {n}: {e}") from None
        key = path if path in work else aliases.get(path, path)
        search, replace = edit.search, edit.replace

        if search == "":
            if key in work:
                raise EditError(
                    f"block {n} ({path}): cannot create {path}: it already exists; "
                    "to change it, put the exact lines to replace in the SEARCH section"
                )
            _check_creatable(n, path, aliases, directories, len(work))
            work[path] = replace
            aliases[path] = path
            directories.update(_ancestors(path))
            continue

        if key not in work:
            hint = ""
            base = path.rsplit("/", 1)[-1]
            similar = sorted(k for k in work if k.rsplit("/", 1)[-1] == base)
            if similar:
                hint = f" (did you mean {', '.join(similar[:3])}?)"
            raise EditError(
                f"block {n} ({path}): {path} does not exist{hint}; "
                "to create a new file leave the SEARCH section empty"
            )
        content = work[key]
        if "\r\n" in content and "\n" not in content.replace("\r\n", ""):
            search = search.replace("\n", "\r\n")  # a CRLF file: match it in its own line endings
            replace = replace.replace("\n", "\r\n")
        nl = "\r\n" if search.endswith("\r\n") else "\n"

        found = _positions(content, search)
        if not found and search.endswith(nl) and not content.endswith(nl):
            # the block ends at the file's last line, which has no final newline
            bare = search[: -len(nl)]
            if content.endswith(bare) and len(_positions(content, bare)) == 1:
                search = bare
                replace = replace[: -len(nl)] if replace.endswith(nl) else replace
                found = [len(content) - len(bare)]
        if not found:
            raise _not_found(n, path, content, edit.search)
        if len(found) > 1:
            lines = ", ".join(str(_line_of(content, p)) for p in found[:5])
            raise EditError(
                f"search text in block {n}{_preview(edit.search)} matches {len(found)} times in {path} "
                f"(lines {lines}); include more surrounding lines so it matches exactly once"
            )
        pos = found[0]
        work[key] = content[:pos] + replace + content[pos + len(search) :]
    return work


def _ancestors(path: str) -> list[str]:
    """`a/b/c.py` → [`a`, `a/b`]: the directories a file needs."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _check_creatable(n: int, path: str, files: Mapping[str, str], directories: set[str], count: int) -> None:
    """A new file must fit the tree: git and the export cannot hold a file and a directory of one name."""
    if path in directories:
        raise EditError(f"block {n} ({path}): cannot create {path}: it is a directory of other files")
    clash = next((d for d in _ancestors(path) if d in files), None)
    if clash is not None:
        raise EditError(f"block {n} ({path}): cannot create {path}: {clash} is a file, not a directory")
    if count >= MAX_TREE_FILES:
        raise EditError(f"block {n} ({path}): cannot create {path}: the tree would hold more than {MAX_TREE_FILES} files")
