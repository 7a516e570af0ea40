"""The ledger keeps an append-only hash chain and names the first event that was tampered with.

Tampering is done the way an attacker with file access would: a plain sqlite3
connection that drops the triggers and then rewrites rows.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rsilab.errors import LedgerError
from rsilab.store.ledger import GENESIS, Ledger


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "ledger.db"


@pytest.fixture
def head(tmp_path: Path) -> Path:
    return tmp_path / "outside" / "ledger.head"


def canonical_hash(content: dict) -> str:
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def filled(db: Path, head: Path, n: int) -> list:
    with Ledger(db, head) as ledger:
        return [ledger.append("step", {"i": i}) for i in range(1, n + 1)]


def tamper(db: Path, *statements: str, params: tuple = ()) -> None:
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER IF EXISTS events_no_update")
    conn.execute("DROP TRIGGER IF EXISTS events_no_delete")
    for sql in statements:
        conn.execute(sql, params if "?" in sql else ())
    conn.commit()
    conn.close()


def verify(db: Path, head: Path):
    with Ledger(db, head) as ledger:
        return ledger.verify()


# -- appending and reading -------------------------------------------------------


def test_append_chains_each_event_to_the_previous_and_reads_back_equal(db: Path, head: Path) -> None:
    with Ledger(db, head) as ledger:
        first = ledger.append("assessment", {"version": "v1", "accuracy": 0.5, "tags": ("a", "é")})
        second = ledger.append("decision", {"version": "v1", "approved": True})

        assert (first.seq, second.seq) == (1, 2)
        assert first.prev_hash == GENESIS
        assert second.prev_hash == first.hash
        assert first.payload == {"version": "v1", "accuracy": 0.5, "tags": ["a", "é"]}
        for e in (first, second):
            content = {"seq": e.seq, "ts": e.ts, "kind": e.kind, "payload": e.payload, "prev_hash": e.prev_hash}
            assert e.hash == canonical_hash(content)
        assert ledger.events() == [first, second]


def test_events_filters_by_kind_and_since_seq_exclusive(db: Path, head: Path) -> None:
    with Ledger(db, head) as ledger:
        a1 = ledger.append("a", {"n": 1})
        b2 = ledger.append("b", {"n": 2})
        a3 = ledger.append("a", {"n": 3})

        assert ledger.events(kind="a") == [a1, a3]
        assert ledger.events(since_seq=1) == [b2, a3]
        assert ledger.events(kind="a", since_seq=1) == [a3]
        assert ledger.events(kind="missing") == []


def test_last_returns_newest_event_overall_or_of_a_kind(db: Path, head: Path) -> None:
    with Ledger(db, head) as ledger:
        assert ledger.last() is None
        a1 = ledger.append("a", {})
        b2 = ledger.append("b", {})

        assert ledger.last() == b2
        assert ledger.last("a") == a1
        assert ledger.last("c") is None


def test_head_file_records_the_newest_event(db: Path, head: Path) -> None:
    events = filled(db, head, 3)

    assert json.loads(head.read_text()) == {"seq": 3, "hash": events[-1].hash}


def test_unserialisable_payload_is_refused_and_nothing_is_written(db: Path, head: Path) -> None:
    with Ledger(db, head) as ledger:
        first = ledger.append("a", {"n": 1})
        head_before = head.read_text()

        with pytest.raises(LedgerError, match="not JSON-serialisable"):
            ledger.append("a", {"bad": object()})

        assert ledger.events() == [first]
        assert head.read_text() == head_before
        assert ledger.append("a", {"n": 2}).seq == 2


def test_closed_ledger_refuses_use(db: Path, head: Path) -> None:
    ledger = Ledger(db, head)
    ledger.close()

    with pytest.raises(LedgerError, match="closed"):
        ledger.append("a", {})
    with pytest.raises(LedgerError, match="closed"):
        ledger.events()


# -- append-only -----------------------------------------------------------------


@pytest.mark.parametrize(
    "sql", ["UPDATE events SET payload = '{\"i\":99}' WHERE seq = 1", "DELETE FROM events WHERE seq = 2"]
)
def test_triggers_refuse_update_and_delete_and_leave_events_unchanged(db: Path, head: Path, sql: str) -> None:
    events = filled(db, head, 2)

    conn = sqlite3.connect(db)
    with pytest.raises(sqlite3.IntegrityError, match="ledger is append-only"):
        conn.execute(sql)
    conn.close()

    with Ledger(db, head) as ledger:
        assert ledger.events() == events
        assert ledger.verify().ok


# -- verify ------------------------------------------------------------------------


def test_verify_passes_a_clean_ledger(db: Path, head: Path) -> None:
    filled(db, head, 5)

    report = verify(db, head)

    assert (report.ok, report.checked, report.first_bad_seq, report.problem) == (True, 5, None, "")


def test_verify_passes_an_empty_ledger(db: Path, head: Path) -> None:
    report = verify(db, head)

    assert (report.ok, report.checked, report.first_bad_seq) == (True, 0, None)


def test_verify_names_an_edited_payload(db: Path, head: Path) -> None:
    filled(db, head, 5)
    tamper(db, "UPDATE events SET payload = '{\"i\":300}' WHERE seq = 3")

    report = verify(db, head)

    assert not report.ok
    assert report.first_bad_seq == 3
    assert report.checked == 2
    assert "event 3" in report.problem and "edited" in report.problem


def test_verify_names_a_deleted_middle_event(db: Path, head: Path) -> None:
    filled(db, head, 5)
    tamper(db, "DELETE FROM events WHERE seq = 3")

    report = verify(db, head)

    assert not report.ok
    assert report.first_bad_seq == 3
    assert "event 3 was" in report.problem and "deleted" in report.problem


def test_verify_names_deleted_last_events_by_the_head_file(db: Path, head: Path) -> None:
    filled(db, head, 5)
    tamper(db, "DELETE FROM events WHERE seq >= 4")

    report = verify(db, head)

    assert not report.ok
    assert report.first_bad_seq == 4
    assert report.checked == 3  # the remaining chain is itself intact
    assert "events after 3 were deleted" in report.problem


def test_verify_names_an_inserted_event(db: Path, head: Path) -> None:
    events = filled(db, head, 5)
    # A careful forgery: make room at seq 3 and insert an event with a correct link and hash.
    forged = {"seq": 3, "ts": events[2].ts, "kind": "step", "payload": {"i": 42}, "prev_hash": events[1].hash}
    tamper(
        db,
        "UPDATE events SET seq = -seq WHERE seq >= 3",
        "UPDATE events SET seq = 1 - seq WHERE seq < 0",
        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
        params=(3, forged["ts"], "step", '{"i":42}', forged["prev_hash"], canonical_hash(forged)),
    )

    report = verify(db, head)

    assert not report.ok
    assert report.first_bad_seq == 3
    assert "event 3 was inserted" in report.problem


def test_verify_names_two_swapped_events(db: Path, head: Path) -> None:
    filled(db, head, 5)
    tamper(
        db,
        "UPDATE events SET seq = -2 WHERE seq = 2",
        "UPDATE events SET seq = 2 WHERE seq = 3",
        "UPDATE events SET seq = 3 WHERE seq = -2",
    )

    report = verify(db, head)

    assert not report.ok
    assert report.first_bad_seq == 2
    assert "event 2" in report.problem and "reordered" in report.problem


def test_verify_names_a_rewritten_tail_by_the_head_file(db: Path, head: Path) -> None:
    events = filled(db, head, 5)
    # Edit the last event and recompute its hash: the chain alone cannot tell.
    last = events[-1]
    content = {"seq": 5, "ts": last.ts, "kind": last.kind, "payload": {"i": 500}, "prev_hash": last.prev_hash}
    tamper(
        db,
        "UPDATE events SET payload = '{\"i\":500}', hash = ? WHERE seq = 5",
        params=(canonical_hash(content),),
    )

    report = verify(db, head)

    assert not report.ok
    assert report.first_bad_seq == 5
    assert "head file" in report.problem and "rewritten" in report.problem


def test_verify_tolerates_a_head_one_event_behind(db: Path, head: Path) -> None:
    filled(db, head, 3)
    head_at_3 = head.read_text()
    filled(db, head, 1)  # event 4
    head.write_text(head_at_3)  # as if the process died between commit and head write

    report = verify(db, head)

    assert (report.ok, report.checked) == (True, 4)


def test_verify_rejects_a_head_two_events_behind(db: Path, head: Path) -> None:
    filled(db, head, 3)
    head_at_3 = head.read_text()
    filled(db, head, 2)
    head.write_text(head_at_3)

    report = verify(db, head)

    assert not report.ok
    assert report.first_bad_seq == 4
    assert "events after head 3 were not written by rsilab" in report.problem


def test_verify_rejects_a_missing_head_file(db: Path, head: Path) -> None:
    filled(db, head, 2)
    head.unlink()

    report = verify(db, head)

    assert not report.ok
    assert "missing" in report.problem


def test_verify_tolerates_a_crash_during_the_first_append(db: Path, head: Path) -> None:
    Ledger(db, head).close()
    genesis_head = head.read_text()
    filled(db, head, 1)
    head.write_text(genesis_head)

    assert verify(db, head).ok


# -- reopening and concurrency ----------------------------------------------------


def test_reopened_ledger_continues_the_chain(db: Path, head: Path) -> None:
    before = filled(db, head, 2)

    with Ledger(db, head) as ledger:
        third = ledger.append("step", {"i": 3})

        assert third.seq == 3
        assert third.prev_hash == before[-1].hash
        assert ledger.verify().ok


def test_two_instances_appending_alternately_build_one_chain(db: Path, head: Path) -> None:
    with Ledger(db, head) as a, Ledger(db, head) as b:
        made = [(a if i % 2 else b).append("step", {"i": i}) for i in range(6)]

        assert [e.seq for e in made] == [1, 2, 3, 4, 5, 6]
        assert all(later.prev_hash == earlier.hash for earlier, later in zip(made, made[1:]))
        assert a.events() == b.events() == made
        assert a.verify().ok and b.verify().ok


def test_concurrent_threads_on_two_instances_build_one_valid_chain(db: Path, head: Path) -> None:
    per_thread, threads = 25, 4
    with Ledger(db, head) as a, Ledger(db, head) as b:
        errors: list[BaseException] = []

        def work(ledger: Ledger, t: int) -> None:
            try:
                for i in range(per_thread):
                    ledger.append("step", {"t": t, "i": i})
            except BaseException as e:  # surfaced below; a thread's exception is otherwise lost
                errors.append(e)

        workers = [threading.Thread(target=work, args=(a if t % 2 else b, t)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

        assert errors == []
        events = a.events()
        assert [e.seq for e in events] == list(range(1, per_thread * threads + 1))
        assert {(e.payload["t"], e.payload["i"]) for e in events} == {
            (t, i) for t in range(threads) for i in range(per_thread)
        }
        report = a.verify()
        assert (report.ok, report.checked) == (True, per_thread * threads)
        assert json.loads(head.read_text())["seq"] == per_thread * threads


def test_a_writer_paused_before_its_head_write_holds_back_other_writers(
    db: Path, head: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without one lock over "commit, then write the head", b could append twice while a
    # is paused, and a's late head write would leave the head two events behind.
    with Ledger(db, head) as a, Ledger(db, head) as b:
        committed, release = threading.Event(), threading.Event()
        real_write_head = a._write_head

        def paused_write_head(seq: int, digest: str) -> None:
            committed.set()
            release.wait(timeout=10)
            real_write_head(seq, digest)

        monkeypatch.setattr(a, "_write_head", paused_write_head)
        writer_a = threading.Thread(target=a.append, args=("step", {"by": "a"}))
        writer_b = threading.Thread(target=lambda: [b.append("step", {"by": "b"}) for _ in range(2)])
        writer_a.start()
        assert committed.wait(timeout=10)
        writer_b.start()
        writer_b.join(timeout=0.5)
        release.set()
        writer_a.join()
        writer_b.join()

        report = a.verify()
        assert (report.ok, report.checked) == (True, 3)
        assert json.loads(head.read_text())["seq"] == 3


def test_concurrent_processes_build_one_valid_chain(db: Path, head: Path) -> None:
    Ledger(db, head).close()
    script = (
        "import sys; from pathlib import Path; from rsilab.store.ledger import Ledger\n"
        "with Ledger(Path(sys.argv[1]), Path(sys.argv[2])) as ledger:\n"
        "    for i in range(30): ledger.append('step', {'p': sys.argv[3], 'i': i})\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(db), str(head), str(p)]) for p in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]

    with Ledger(db, head) as ledger:
        assert len(ledger.events()) == 90
        report = ledger.verify()
        assert (report.ok, report.checked) == (True, 90)
