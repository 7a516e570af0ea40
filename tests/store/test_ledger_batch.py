"""Ledger.append_many: one transaction, the same chain as appends one by one, and the same crash window."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from rsilab.errors import LedgerError
from rsilab.store.ledger import Ledger, event_hash


@pytest.fixture
def paths(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "ledger.db", tmp_path / "outside" / "ledger.head"


def test_a_batch_chains_like_single_appends_and_reads_back_equal(paths):
    with Ledger(*paths) as ledger:
        first = ledger.append("a", {"n": 0})
        batch = ledger.append_many([("b", {"n": 1}), ("c", {"n": (2, 3)})])
        assert [e.seq for e in batch] == [2, 3] and batch[0].prev_hash == first.hash and batch[1].prev_hash == batch[0].hash
        assert ledger.events() == [first, *batch]
        assert all(e.hash == event_hash(e.seq, e.ts, e.kind, e.payload, e.prev_hash) for e in batch)
        assert ledger.verify().ok
    assert json.loads(paths[1].read_text()) == {"seq": 3, "hash": batch[-1].hash}  # settled: no pending left


def test_a_batch_with_a_bad_payload_writes_none_of_its_events(paths):
    with Ledger(*paths) as ledger:
        ledger.append("a", {})
        head = paths[1].read_text()
        with pytest.raises(LedgerError):
            ledger.append_many([("b", {}), ("c", {"x": object()})])
        assert len(ledger.events()) == 1 and paths[1].read_text() == head and ledger.verify().ok


def _crash_after_commit(paths: tuple[Path, Path], size: int) -> None:
    """A batch of `size` whose process died after the commit, before the head settled on it."""
    ledger = Ledger(*paths)
    ledger.append("a", {})
    settle = ledger._write_head
    ledger._write_head = lambda seq, digest, pending=None: settle(seq, digest, pending) if pending else None
    ledger.append_many([("b", {"k": k}) for k in range(size)])
    ledger.close()


def test_verify_accepts_a_batch_whose_head_was_left_pending(paths):
    _crash_after_commit(paths, 3)
    with Ledger(*paths) as ledger:
        assert "pending" in json.loads(paths[1].read_text())
        assert ledger.verify().ok
        ledger.append("d", {})  # the next append settles the head
        assert ledger.verify().ok and "pending" not in json.loads(paths[1].read_text())


def test_a_pending_head_does_not_cover_events_past_its_batch_or_a_rewritten_batch(paths):
    _crash_after_commit(paths, 2)
    conn = sqlite3.connect(paths[0])
    [(prev,)] = conn.execute("SELECT hash FROM events WHERE seq = 3").fetchall()
    # A well-chained event past the batch: only the head can tell it was not written by rsilab.
    conn.execute("INSERT INTO events VALUES (4, 0.0, 'forged', '{}', ?, ?)", (prev, event_hash(4, 0.0, "forged", {}, prev)))
    conn.commit()
    with Ledger(*paths) as ledger:
        report = ledger.verify()
    assert not report.ok and "not written by rsilab" in report.problem


def test_verify_accepts_a_crash_before_the_batch_was_committed(paths):
    with Ledger(*paths) as ledger:
        ledger.append("a", {})
        event = ledger.last()
        assert event is not None
        ledger._write_head(1, event.hash, pending=(3, "f" * 64))  # the intent was written, the commit never came
        assert ledger.verify().ok
