"""Versions of the self as commits of the `self/` git repository (pygit2).

Every candidate is a commit; `vN` is a lightweight tag on it; the deployed
version is the branch `deployed`, which HEAD follows so that `self/` on disk
always shows the deployed code. Moving `deployed` back is a rollback, never a
rewrite: every commit stays reachable through its tag.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import pygit2

from rsilab.errors import StoreError
from rsilab.store.blobdiff import FileChange, file_changes, patch_text

DEPLOYED_REF = "refs/heads/deployed"
_AUTHOR = ("rsilab", "rsilab@localhost")


class VersionStore:
    def __init__(self, path: Path) -> None:
        try:
            self.repo = pygit2.Repository(str(path))
        except pygit2.GitError as exc:
            raise StoreError(f"{path} is not a git repository of a self: {exc}") from exc
        self.path = path

    @classmethod
    def create(cls, path: Path, files: Mapping[str, bytes], message: str) -> tuple[VersionStore, str]:
        """Make a new repository holding `files` as its first commit, deployed."""
        path.mkdir(parents=True, exist_ok=True)
        pygit2.init_repository(str(path), initial_head="deployed")
        store = cls(path)
        commit = store.commit(files, parent=None, message=message)
        store.set_deployed(commit)
        return store, commit

    def commit(self, files: Mapping[str, bytes], parent: str | None, message: str) -> str:
        """Record `files` (the whole tree) as a commit on top of `parent`; no ref moves."""
        tree = self._write_tree(files)
        signature = pygit2.Signature(*_AUTHOR, int(time.time()), 0)
        parents = [pygit2.Oid(hex=parent)] if parent else []
        oid = self.repo.create_commit(None, signature, signature, message, tree, parents)
        return str(oid)

    def files(self, commit: str) -> dict[str, bytes]:
        """Every file of `commit`, path → content."""
        out: dict[str, bytes] = {}
        self._walk(self._commit(commit).tree, "", out)
        return out

    def export(self, commit: str, dest: Path) -> None:
        """Write the tree of `commit` into `dest` (a fresh scratch copy for a sandbox)."""
        for rel, data in self.files(commit).items():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    def tag(self, name: str, commit: str) -> None:
        self.repo.references.create(f"refs/tags/{name}", pygit2.Oid(hex=commit), force=True)

    def tagged(self, name: str) -> str | None:
        ref = self.repo.references.get(f"refs/tags/{name}")
        return str(ref.target) if ref is not None else None

    def deployed(self) -> str | None:
        ref = self.repo.references.get(DEPLOYED_REF)
        return str(ref.target) if ref is not None else None

    def remove_stale_locks(self) -> list[str]:
        """Delete the lock files a killed writer left in `.git`; only while holding the experiment's lock.

        git rewrites a ref or the index by writing `NAME.lock` and renaming it into place; a process
        killed in between leaves the lock behind, and every later write of NAME fails until it is gone.
        """
        git_dir = Path(self.repo.path)
        stale = [p for p in (*git_dir.glob("*.lock"), *(git_dir / "refs").rglob("*.lock")) if p.is_file()]
        for path in stale:
            path.unlink(missing_ok=True)
        return [path.relative_to(git_dir).as_posix() for path in stale]

    def set_deployed(self, commit: str) -> None:
        """Point `deployed` at `commit` and make the working tree show it."""
        self.repo.references.create(DEPLOYED_REF, pygit2.Oid(hex=commit), force=True)
        self.repo.set_head(DEPLOYED_REF)
        self.repo.checkout(DEPLOYED_REF, strategy=pygit2.enums.CheckoutStrategy.FORCE)

    def changes(self, old: str, new: str) -> list[FileChange]:
        """The files that differ from `old` to `new`, diffed from their blobs alone.

        Not git's diff: that reads `.gitattributes` and config the self can write, and could
        be told to call every file binary while the code changes underneath.
        """
        return file_changes(self.files(old), self.files(new))

    def diff(self, old: str, new: str) -> str:
        """A unified diff from `old` to `new` (see `changes`)."""
        return patch_text(self.changes(old, new))

    def _commit(self, commit: str) -> pygit2.Commit:
        try:
            obj = self.repo.get(commit)
        except ValueError as exc:
            raise StoreError(f"{commit!r} is not a commit id") from exc
        if not isinstance(obj, pygit2.Commit):
            raise StoreError(f"commit {commit} is not in {self.path}")
        return obj

    def _walk(self, tree: pygit2.Tree, prefix: str, out: dict[str, bytes]) -> None:
        for entry in tree:
            path = f"{prefix}{entry.name}"
            obj = self.repo.get(entry.id)
            if isinstance(obj, pygit2.Tree):
                self._walk(obj, f"{path}/", out)
            elif isinstance(obj, pygit2.Blob) and entry.filemode != pygit2.enums.FileMode.LINK:
                out[path] = obj.data  # symlinks are never exported: a tree can't point outside itself

    def _write_tree(self, files: Mapping[str, bytes]) -> pygit2.Oid:
        nested: dict[str, object] = {}
        for path, data in files.items():
            parts = path.split("/")
            node = nested
            for part in parts[:-1]:
                node = node.setdefault(part, {})  # type: ignore[assignment]
            node[parts[-1]] = data
        return self._build(nested)

    def _build(self, node: dict[str, object]) -> pygit2.Oid:
        builder = self.repo.TreeBuilder()
        for name, value in sorted(node.items()):
            if isinstance(value, dict):
                builder.insert(name, self._build(value), pygit2.enums.FileMode.TREE)
            else:
                blob = self.repo.create_blob(value)  # type: ignore[arg-type]
                builder.insert(name, blob, pygit2.enums.FileMode.BLOB)
        return builder.write()
