"""The ledger: an append-only, hash-chained log of every event, in SQLite.

Each event's hash covers its content and the previous event's hash, so editing,
inserting, reordering or deleting an event breaks the chain where it happened.
Deleting events from the end leaves a valid (shorter) chain, so the hash of the
newest event is also kept in a head file outside the database, where the
sandboxed self cannot write; `verify` compares the two.

Several processes may use one ledger at once (a run appending, a CLI `review`
appending, a web UI reading). SQLite's WAL mode and busy timeout handle the
database; an exclusive lock file next to the head file makes "commit, then write
the head" one step for every writer, so the head never falls behind by more than
the single event a crash between the two can leave.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from rsilab.errors import LedgerError
from rsilab.records import Event
from rsilab.store.artifacts import canonical_json, fsync_dir

GENESIS = "0" * 64
BUSY_TIMEOUT_S = 30.0

# One statement each: executescript() would commit the transaction they run in.
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS events_kind ON events (kind, seq)",
    """CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END""",
)

_COLUMNS = "seq, ts, kind, payload, prev_hash, hash"


def event_hash(seq: int, ts: float, kind: str, payload: dict[str, Any], prev_hash: str) -> str:
    content = {"seq": seq, "ts": ts, "kind": kind, "payload": payload, "prev_hash": prev_hash}
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LedgerReport:
    ok: bool
    checked: int  # events whose link and hash were found good
    first_bad_seq: int | None  # first seq where the ledger departs from what rsilab wrote
    problem: str  # "" when ok


class Ledger:
    def __init__(self, db_path: Path, head_path: Path) -> None:
        self.db_path = Path(db_path)
        self.head_path = Path(head_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self.head_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # one connection, shared by this instance's threads
        self._conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = os.open(
            self.head_path.with_name(self.head_path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644
        )
        try:
            # Autocommit mode: transactions are exactly the BEGIN/COMMIT written below.
            self._conn = sqlite3.connect(
                self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            self._conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            with self._writing():
                for statement in _SCHEMA:
                    self._conn.execute(statement)
                # A new ledger starts with a head at genesis, so a missing head file is
                # always suspicious and a crash during the first append is tolerated.
                if not self.head_path.exists() and self._tail(self._conn) == (0, GENESIS):
                    self._write_head(0, GENESIS)
        except (sqlite3.Error, OSError) as e:
            self.close()
            raise LedgerError(f"cannot open ledger {self.db_path}: {e}") from e

    # -- writing ---------------------------------------------------------------

    def append(self, kind: str, payload: dict[str, Any]) -> Event:
        [event] = self.append_many([(kind, payload)])
        return event

    def append_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> list[Event]:
        """Append events in order in one transaction: all of them or none.

        One event: commit, then the head. Several: the head first names the batch's last event
        as pending, then the commit, then the head moves to it. A crash between leaves either
        no event of the batch or all of them, and `verify` accepts exactly those two states, so
        no more than the single event of a plain append can ever stand past a settled head.
        """
        staged = [(kind, _stored(kind, payload)) for kind, payload in items]
        if not staged:
            return []
        with self._lock, self._flock():
            conn = self._connection()
            events: list[Event] = []
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    tail_seq, prev = self._tail(conn)
                    for kind, (text, stored) in staged:
                        seq, ts = tail_seq + len(events) + 1, time.time()
                        digest = event_hash(seq, ts, kind, stored, prev)
                        events.append(Event(seq=seq, ts=ts, kind=kind, payload=stored, prev_hash=prev, hash=digest))
                        prev = digest
                    if len(events) > 1:
                        self._write_head(tail_seq, events[0].prev_hash, pending=(events[-1].seq, events[-1].hash))
                    conn.executemany(f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                                     [(e.seq, e.ts, e.kind, text, e.prev_hash, e.hash) for e, (_, (text, _)) in zip(events, staged)])
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                raise LedgerError(f"ledger refused the {staged[0][0]!r} event: {e}") from e
            except OSError as e:
                raise LedgerError(f"the head file {self.head_path} could not name the pending events: {e}") from e
            try:
                self._write_head(events[-1].seq, events[-1].hash)
            except OSError as e:
                raise LedgerError(
                    f"event {events[-1].seq} was recorded but the head file {self.head_path} was not updated: {e}"
                ) from e
        return events

    # -- reading ---------------------------------------------------------------

    def events(self, kind: str | None = None, since_seq: int = 0) -> list[Event]:
        sql = f"SELECT {_COLUMNS} FROM events WHERE seq > ?"
        args: tuple[Any, ...] = (since_seq,)
        if kind is not None:
            sql += " AND kind = ?"
            args += (kind,)
        return [_event(row) for row in self._query(sql + " ORDER BY seq", args)]

    def last(self, kind: str | None = None) -> Event | None:
        sql = f"SELECT {_COLUMNS} FROM events"
        args: tuple[Any, ...] = ()
        if kind is not None:
            sql += " WHERE kind = ?"
            args = (kind,)
        rows = self._query(sql + " ORDER BY seq DESC LIMIT 1", args)
        return _event(rows[0]) if rows else None

    # -- verifying -------------------------------------------------------------

    def verify(self) -> LedgerReport:
        # Hold the writers' lock so the events and the head file are read as one state.
        with self._lock, self._flock():
            rows = self._query_unlocked(f"SELECT {_COLUMNS} FROM events ORDER BY seq", ())
            head = self._read_head()

        seen: dict[str, int] = {GENESIS: 0}  # hash -> seq, to name what a broken link skipped
        prev_hash, checked = GENESIS, 0
        for seq, ts, kind, text, link, stored_hash in rows:
            expected = checked + 1
            if seq != expected:
                if seq > expected:
                    return _bad(checked, expected, f"{_span(expected, seq - 1)} before event {seq} deleted")
                return _bad(checked, expected, f"event {seq} is out of order (inserted or reordered)")
            if link != prev_hash:
                skipped_to = seen.get(link)
                if skipped_to is not None and skipped_to < seq - 1:
                    # It links to an older event: what stands between was inserted.
                    return _bad(
                        checked,
                        skipped_to + 1,
                        f"event {seq} follows event {skipped_to}: "
                        f"{_span(skipped_to + 1, seq - 1)} inserted or reordered",
                    )
                return _bad(
                    checked,
                    seq,
                    f"event {seq}: prev_hash does not match event {seq - 1} "
                    "(events were inserted, reordered or deleted here)",
                )
            try:
                payload = json.loads(text)
            except (TypeError, json.JSONDecodeError):
                return _bad(checked, seq, f"event {seq}: payload is not valid JSON (edited)")
            if event_hash(seq, ts, kind, payload, link) != stored_hash:
                return _bad(checked, seq, f"event {seq}: hash does not match its content (edited)")
            seen[stored_hash] = seq
            prev_hash, checked = stored_hash, seq

        return _check_head(head, rows, checked, self.head_path)

    # -- lifetime --------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- internals -------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise LedgerError(f"ledger {self.db_path} is closed")
        return self._conn

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._query_unlocked(sql, args)

    def _query_unlocked(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            return self._connection().execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise LedgerError(f"cannot read ledger {self.db_path}: {e}") from e

    @staticmethod
    def _tail(conn: sqlite3.Connection) -> tuple[int, str]:
        """(seq, hash) of the newest event, or (0, GENESIS) for an empty ledger."""
        row = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return (row[0], row[1]) if row else (0, GENESIS)

    @contextmanager
    def _flock(self) -> Iterator[None]:
        """Exclusive across processes and Ledger instances (flock is per open file)."""
        if self._lock_fd is None:
            raise LedgerError(f"ledger {self.db_path} is closed")
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LedgerError(f"ledger {self.db_path} is locked by another writer") from None
                time.sleep(0.005)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A write transaction under the writers' lock (used to create the schema)."""
        with self._flock():
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _write_head(self, seq: int, digest: str, pending: tuple[int, str] | None = None) -> None:
        # Temp file + fsync + rename: a crash leaves the old head or the new one, never half.
        head: dict[str, Any] = {"seq": seq, "hash": digest}
        if pending is not None:  # a batch is being committed: its last event (see append_many)
            head["pending"] = {"seq": pending[0], "hash": pending[1]}
        fd, name = tempfile.mkstemp(prefix=".head-", dir=self.head_path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(json.dumps(head))
                f.flush()
                os.fsync(f.fileno())
            os.replace(name, self.head_path)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        fsync_dir(self.head_path.parent)

    def _read_head(self) -> dict[str, Any] | str | None:
        """The head as {"seq", "hash"}, None when absent, or a string saying why it is unusable."""
        try:
            head = json.loads(self.head_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            return f"head file {self.head_path} is unreadable: {e}"
        if not (isinstance(head, dict) and type(head.get("seq")) is int and isinstance(head.get("hash"), str)):
            return f"head file {self.head_path} is malformed: {head!r}"
        pending = head.get("pending")
        if pending is not None and not (isinstance(pending, dict) and type(pending.get("seq")) is int
                                        and isinstance(pending.get("hash"), str) and pending["seq"] > head["seq"]):
            return f"head file {self.head_path} is malformed: {head!r}"
        return head


def _stored(kind: str, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The payload's canonical text and what reading it back gives (e.g. tuples become lists)."""
    if not isinstance(kind, str) or not kind:
        raise LedgerError(f"event kind must be a non-empty string, got {kind!r}")
    if not isinstance(payload, dict):
        raise LedgerError(f"event payload must be a dict, got {type(payload).__name__}")
    try:
        text = canonical_json(payload)
    except (TypeError, ValueError) as e:
        raise LedgerError(f"event payload is not JSON-serialisable: {e}") from e
    # Hash what will be read back, so the event we return equals the one events() returns.
    return text, json.loads(text)


def _event(row: tuple[Any, ...]) -> Event:
    seq, ts, kind, text, prev_hash, digest = row
    try:
        payload = json.loads(text)
    except (TypeError, json.JSONDecodeError) as e:
        raise LedgerError(f"event {seq} has an unreadable payload (run verify): {e}") from e
    return Event(seq=seq, ts=ts, kind=kind, payload=payload, prev_hash=prev_hash, hash=digest)


def _span(first: int, last: int) -> str:
    return f"event {first} was" if first == last else f"events {first}..{last} were"


def _bad(checked: int, seq: int | None, problem: str) -> LedgerReport:
    return LedgerReport(ok=False, checked=checked, first_bad_seq=seq, problem=problem)


def _check_head(
    head: dict[str, Any] | str | None, rows: list[tuple[Any, ...]], checked: int, head_path: Path
) -> LedgerReport:
    """The chain is intact; now check its end against the head file."""
    tail = len(rows)  # rows are exactly 1..tail here
    if isinstance(head, str):
        return _bad(checked, None, head)
    if head is None:
        if tail == 0:
            return LedgerReport(ok=True, checked=0, first_bad_seq=None, problem="")
        return _bad(checked, None, f"head file {head_path} is missing but the ledger has {tail} events")
    head_seq, head_hash = head["seq"], head["hash"]
    if head_seq < 0:
        return _bad(checked, None, f"head file {head_path} is malformed: seq {head_seq}")
    if head_seq > tail:
        return _bad(checked, tail + 1, f"events after {tail} were deleted (the head file records {head_seq})")
    db_hash = rows[head_seq - 1][5] if head_seq else GENESIS
    if db_hash != head_hash:
        return _bad(
            checked, head_seq, f"event {head_seq}: hash differs from the head file (the chain was rewritten)"
        )
    # A batch committed just before a crash: exactly the events its pending head named.
    pending = head.get("pending")
    if pending is not None and tail == pending["seq"] and rows[tail - 1][5] == pending["hash"]:
        return LedgerReport(ok=True, checked=checked, first_bad_seq=None, problem="")
    # One event past the head is the crash window between commit and head write.
    if tail > head_seq + 1:
        return _bad(
            checked,
            head_seq + 1,
            f"events after head {head_seq} were not written by rsilab (the ledger has {tail})",
        )
    return LedgerReport(ok=True, checked=checked, first_bad_seq=None, problem="")
