"""The artifact store names content by its sha256 and refuses to return anything else."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from rsilab.errors import StoreError
from rsilab.records import Edit, Proposal, Usage, Version, VersionState
from rsilab.store.artifacts import ArtifactStore


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts")


def stored_files(store: ArtifactStore) -> list[Path]:
    return sorted(p for p in store.root.rglob("*") if p.is_file())


def test_put_bytes_stores_under_sha256_read_only_and_reads_back(store: ArtifactStore) -> None:
    data = b"trace of round 1\n"

    digest = store.put_bytes(data)

    assert digest == hashlib.sha256(data).hexdigest()
    assert store.path(digest) == store.root / digest[:2] / digest[2:]
    assert store.has(digest)
    assert store.get_bytes(digest) == data
    assert stat.S_IMODE(store.path(digest).stat().st_mode) == 0o444


def test_put_is_idempotent_and_keeps_one_file(store: ArtifactStore) -> None:
    first = store.put_bytes(b"same")
    mtime = store.path(first).stat().st_mtime_ns

    second = store.put_bytes(b"same")

    assert first == second
    assert stored_files(store) == [store.path(first)]
    assert store.path(first).stat().st_mtime_ns == mtime  # an intact copy is not rewritten


def test_put_json_is_canonical_so_key_order_does_not_change_the_digest(store: ArtifactStore) -> None:
    a = store.put_json({"b": 1, "a": ["x", "é"]})
    b = store.put_json({"a": ["x", "é"], "b": 1})

    assert a == b
    assert store.get_bytes(a) == '{"a":["x","é"],"b":1}'.encode()
    assert store.get_json(a) == {"a": ["x", "é"], "b": 1}


def test_put_json_refuses_unserialisable_values(store: ArtifactStore) -> None:
    with pytest.raises(StoreError, match="not JSON-serialisable"):
        store.put_json({"x": object()})
    assert stored_files(store) == []


def test_records_round_trip_equal(store: ArtifactStore) -> None:
    proposal = Proposal(
        version="v2",
        parent="v1",
        round=1,
        rationale="handle negatives",
        edits=(Edit(path="solve.py", search="x", replace="y"),),
        raw="...",
        usage=Usage(calls=2, tokens_in=10, tokens_out=5, dollars=0.01),
    )
    version = Version(id="v2", commit="abc", parent="v1", round=1, state=VersionState.VERIFIED)

    assert store.get_record(store.put_record(proposal), Proposal) == proposal
    assert store.get_record(store.put_record(version), Version) == version


def test_get_record_of_the_wrong_type_is_an_error(store: ArtifactStore) -> None:
    digest = store.put_record(Usage(calls=1))

    with pytest.raises(StoreError, match="not a valid Version"):
        store.get_record(digest, Version)


def test_missing_artifact_is_reported(store: ArtifactStore) -> None:
    digest = hashlib.sha256(b"never stored").hexdigest()

    assert not store.has(digest)
    with pytest.raises(StoreError, match=f"artifact {digest} is missing"):
        store.get_bytes(digest)


def test_corrupt_artifact_is_detected_and_a_new_put_repairs_it(store: ArtifactStore) -> None:
    digest = store.put_bytes(b"original")
    target = store.path(digest)
    target.chmod(0o644)
    target.write_bytes(b"tampered")

    with pytest.raises(StoreError, match=f"artifact {digest} is corrupt"):
        store.get_bytes(digest)
    with pytest.raises(StoreError, match="corrupt"):
        store.get_json(digest)

    assert store.put_bytes(b"original") == digest
    assert store.get_bytes(digest) == b"original"


@pytest.mark.parametrize(
    "digest",
    [
        "../../etc/passwd",
        "ab/../../" + "0" * 55,
        "A" * 64,  # uppercase
        "0" * 63,
        "0" * 65,
        "g" * 64,
        "0" * 64 + "\n",
        "",
    ],
)
def test_bad_digests_are_rejected_before_touching_the_disk(store: ArtifactStore, digest: str) -> None:
    for use in (store.path, store.has, store.get_bytes):
        with pytest.raises(StoreError, match="not an artifact digest"):
            use(digest)


def test_put_file_streams_a_large_file(store: ArtifactStore, tmp_path: Path) -> None:
    data = os.urandom(5 * 1024 * 1024 + 123)  # not a whole number of chunks
    weights = tmp_path / "weights.bin"
    weights.write_bytes(data)

    digest = store.put_file(weights)

    assert digest == hashlib.sha256(data).hexdigest()
    assert store.get_bytes(digest) == data
    assert store.put_file(weights) == digest
    assert stored_files(store) == [store.path(digest)]  # no temp files left behind
    assert stat.S_IMODE(store.path(digest).stat().st_mode) == 0o444


def test_put_file_of_a_missing_path_is_an_error(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot read"):
        store.put_file(tmp_path / "nope.bin")
    assert stored_files(store) == []
