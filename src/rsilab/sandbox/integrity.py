"""What a sandboxed run must never change: the deployed self, its refs and the ledger.

The harness takes this manifest before and after every run of the self; any difference
means something left the sandbox, and the run is treated as a breach.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

# The ledger's head, and its write-ahead log (where appends land while the harness holds the
# ledger open), by content: another process reading the ledger (a dashboard, a test's poller)
# moves the log's ctime, as root, though never its bytes; the log stays small (checkpoints).
HASHED_STATE = (".rsilab/ledger.head", ".rsilab/ledger.db-wal")
# The database by inode, size and change times, not content: hashing it cost more every round,
# a stat costs the same at 10 kB and at 100 MB. A write moves mtime and ctime; a utime() putting
# mtime back moves ctime, which no unprivileged process can set.
STAT_STATE = (".rsilab/ledger.db",)
GIT_REFS = ("HEAD", "packed-refs", "refs")


def state_manifest(root: Path, self_dir: str = "self") -> dict[str, str]:
    """path → sha256 of the deployed working tree, the git refs of `self/`, the ledger's head and
    its log; path → stat signature of the ledger's database."""
    manifest: dict[str, str] = {}
    tree = root / self_dir
    for path in _files(tree, skip_git=True):
        manifest[f"{self_dir}/{path.relative_to(tree)}"] = _sha256(path)
    for name in GIT_REFS:
        for path in _files(tree / ".git" / name, skip_git=False):
            manifest[f"{self_dir}/.git/{path.relative_to(tree / '.git')}"] = _sha256(path)
    for rel in HASHED_STATE:
        if (root / rel).is_file():
            manifest[rel] = _sha256(root / rel)
    for rel in STAT_STATE:
        try:
            found = os.stat(root / rel)
        except FileNotFoundError:
            continue
        manifest[rel] = f"stat:{found.st_ino}:{found.st_size}:{found.st_mtime_ns}:{found.st_ctime_ns}"
    return manifest


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def _files(path: Path, skip_git: bool) -> list[Path]:
    if path.is_file() or path.is_symlink():
        return [path]
    found = []
    for root, dirnames, filenames in os.walk(path):
        if skip_git:
            dirnames[:] = [d for d in dirnames if d != ".git"]
        found += [Path(root) / name for name in filenames]
    return found


def _sha256(path: Path) -> str:
    if path.is_symlink():
        return "link:" + os.readlink(path)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
