"""Content-addressed artifact store: traces, assessments, diffs and weights, named by their sha256.

An artifact's name is the hash of its bytes, so a reference in the ledger pins the exact
content, and every read re-hashes the file: a changed artifact cannot pass for the original.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from rsilab.errors import StoreError

T = TypeVar("T", bound=BaseModel)

_DIGEST = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20  # stream large files (weights) in 1 MiB pieces


def canonical_json(obj: Any) -> str:
    """One text per value: sorted keys, no spaces, so equal content always hashes equally."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable (POSIX needs the directory itself synced)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        # Only 64 lowercase hex digits name an artifact; anything else could escape the root.
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            raise StoreError(f"not an artifact digest (want 64 lowercase hex digits): {digest!r}")
        return self.root / digest[:2] / digest[2:]

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def put_bytes(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        # Idempotent: an intact copy is left alone; a damaged one is replaced.
        if not (target.is_file() and self._intact(target, digest)):
            self._commit(self._write_tmp([data]), target)
        return digest

    def put_file(self, path: Path) -> str:
        # Hash while copying, so a large file is read once and never held in memory.
        hasher = hashlib.sha256()

        def chunks() -> Iterable[bytes]:
            with open(path, "rb") as f:
                while chunk := f.read(_CHUNK):
                    hasher.update(chunk)
                    yield chunk

        try:
            tmp = self._write_tmp(chunks())
        except OSError as e:
            raise StoreError(f"cannot read {path}: {e}") from e
        # Same content, so replacing an existing copy is harmless and repairs a damaged one.
        self._commit(tmp, self.path(hasher.hexdigest()))
        return hasher.hexdigest()

    def put_json(self, obj: Any) -> str:
        try:
            text = canonical_json(obj)
        except (TypeError, ValueError) as e:
            raise StoreError(f"value is not JSON-serialisable: {e}") from e
        return self.put_bytes(text.encode("utf-8"))

    def put_record(self, record: BaseModel) -> str:
        return self.put_json(record.model_dump(mode="json"))

    def get_bytes(self, digest: str) -> bytes:
        target = self.path(digest)
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            raise StoreError(f"artifact {digest} is missing") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise StoreError(f"artifact {digest} is corrupt (hash mismatch)")
        return data

    def get_json(self, digest: str) -> Any:
        try:
            return json.loads(self.get_bytes(digest).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise StoreError(f"artifact {digest} is not JSON: {e}") from e

    def get_record(self, digest: str, cls: type[T]) -> T:
        # JSON-mode validation is the exact inverse of model_dump(mode="json").
        try:
            return cls.model_validate_json(self.get_bytes(digest))
        except ValidationError as e:
            raise StoreError(f"artifact {digest} is not a valid {cls.__name__}: {e}") from e

    def _intact(self, target: Path, digest: str) -> bool:
        hasher = hashlib.sha256()
        with open(target, "rb") as f:
            while chunk := f.read(_CHUNK):
                hasher.update(chunk)
        return hasher.hexdigest() == digest

    def _write_tmp(self, chunks: Iterable[bytes]) -> Path:
        """Write to a temp file on the store's filesystem, so the final rename is atomic."""
        fd, name = tempfile.mkstemp(prefix=".tmp-", dir=self.root)
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            tmp.chmod(0o444)  # artifacts are immutable; make accidental edits fail loudly
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    def _commit(self, tmp: Path, target: Path) -> None:
        try:
            target.parent.mkdir(exist_ok=True)
            os.replace(tmp, target)
            fsync_dir(target.parent)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot store artifact {target.parent.name}{target.name}: {e}") from e
