"""The manifest the harness takes before and after every sandboxed run sees each kind of change
to what a run must not touch, and nothing the harness itself does not do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rsilab.sandbox.integrity import changed, state_manifest
from rsilab.store.ledger import Ledger


@pytest.fixture
def experiment(tmp_path: Path):
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "solve.py").write_text("def solve(q):\n    return q\n")
    state = tmp_path / ".rsilab"
    state.mkdir()
    with Ledger(state / "ledger.db", state / "ledger.head") as ledger:
        ledger.append("round.started", {"round": 1})
        yield tmp_path, ledger  # held open, as during a round: appends land in ledger.db-wal


def overwrite_keeping_size_and_mtime(path: Path, offset: int, data: bytes) -> None:
    before = os.stat(path)
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size and os.stat(path).st_mtime_ns == before.st_mtime_ns


def test_reading_the_ledger_changes_nothing_the_manifest_sees(experiment):
    root, ledger = experiment
    before = state_manifest(root)
    assert ledger.verify().ok and ledger.events()
    # Another process's reader too (a dashboard, a poller): as root, sqlite moves the log's ctime.
    reader = f"import sqlite3; sqlite3.connect('file:{root}/.rsilab/ledger.db?mode=ro', uri=True)" \
             ".execute('SELECT MAX(seq) FROM events').fetchone()"
    subprocess.run([sys.executable, "-c", reader], check=True, timeout=60)
    assert changed(before, state_manifest(root)) == []


def test_an_append_lands_in_the_log_and_is_seen(experiment):
    root, ledger = experiment
    assert (root / ".rsilab" / "ledger.db-wal").is_file()
    before = state_manifest(root)
    ledger.append("round.completed", {"round": 1})
    assert ".rsilab/ledger.db-wal" in changed(before, state_manifest(root))


@pytest.mark.parametrize("rel", [".rsilab/ledger.db", ".rsilab/ledger.db-wal"])
def test_an_in_place_rewrite_with_its_mtime_put_back_is_seen(experiment, rel: str):
    root, _ = experiment
    before = state_manifest(root)
    overwrite_keeping_size_and_mtime(root / rel, 100, b"\x00tampered\x00")
    assert rel in changed(before, state_manifest(root))


def test_the_deployed_self_and_the_ledger_head_are_compared_by_content(experiment):
    root, _ = experiment
    before = state_manifest(root)
    for rel in ("self/solve.py", ".rsilab/ledger.head"):
        first = (root / rel).read_bytes()[:1]
        overwrite_keeping_size_and_mtime(root / rel, 0, bytes([first[0] ^ 1]))
    assert changed(before, state_manifest(root)) == [".rsilab/ledger.head", "self/solve.py"]
