"""Assembling a model from chunk packages: in order, verified by hash, once, without running their code."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rsilab.errors import ProviderError
from rsilab.llm.weights import PackedModel, ensure_model


def _chunk_packages(root: Path, chunks: list[bytes]) -> tuple[str, ...]:
    names = []
    for i, data in enumerate(chunks, start=1):
        package = root / f"fake_model_part{i}"
        (package / "data").mkdir(parents=True)
        (package / "data" / f"part{i:02d}.bin").write_bytes(data)
        # Importing a chunk package is never needed: make it fail loudly if it happens.
        (package / "__init__.py").write_text("raise RuntimeError('chunk package code was run')\n")
        names.append(package.name)
    return tuple(names)


@pytest.fixture
def chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[PackedModel, bytes]:
    data = [b"GGUF" + bytes(range(256)) * 40, b"middle" * 1000, b"tail"]
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    names = _chunk_packages(tmp_path / "site", data)
    whole = b"".join(data)
    model = PackedModel("tiny", "tiny.gguf", names, hashlib.sha256(whole).hexdigest(), len(whole))
    return model, whole


def test_chunks_are_joined_in_order_and_verified(chunks: tuple[PackedModel, bytes], tmp_path: Path):
    model, whole = chunks
    path = ensure_model(model, cache=tmp_path / "cache", show_progress=False)
    assert path.read_bytes() == whole


def test_a_verified_model_is_not_assembled_again_until_the_file_changes(chunks: tuple[PackedModel, bytes], tmp_path: Path):
    model, whole = chunks
    path = ensure_model(model, cache=tmp_path / "cache", show_progress=False)
    first_inode = path.stat().st_ino
    assert ensure_model(model, cache=tmp_path / "cache", show_progress=False).stat().st_ino == first_inode
    path.write_bytes(b"tampered")
    repaired = ensure_model(model, cache=tmp_path / "cache", show_progress=False)
    assert repaired.read_bytes() == whole


def test_chunks_that_are_not_the_pinned_ones_are_refused_and_leave_no_file(chunks: tuple[PackedModel, bytes], tmp_path: Path):
    model, _ = chunks
    wrong = PackedModel(model.name, model.filename, model.packages, "0" * 64, model.size)
    with pytest.raises(ProviderError, match="not the pinned ones"):
        ensure_model(wrong, cache=tmp_path / "cache", show_progress=False)
    assert list((tmp_path / "cache" / "models").iterdir()) == []


def test_missing_packages_say_how_to_install_them(chunks: tuple[PackedModel, bytes], tmp_path: Path):
    model, _ = chunks
    incomplete = PackedModel(model.name, model.filename, (*model.packages, "no_such_chunk_package"), model.sha256, model.size)
    with pytest.raises(ProviderError, match=r"1 of 4 packages missing, first no_such_chunk_package.*make embedded"):
        ensure_model(incomplete, cache=tmp_path / "cache", show_progress=False)
