"""Per-run uids: each sandboxed run as root gets a uid of its own, leased for the run's lifetime.

Two runs under one uid could signal each other's processes, read each other's /proc and
share RLIMIT_NPROC; a harness cleaning up "its" uid would kill the other's. So each run takes
a uid from a pool ([sandbox] uid up to uid + uid_pool - 1) by holding an exclusive flock on a
per-uid lock file, and lets it go only after every process of the run is gone. A lock dies
with the process holding it, so a killed harness never leaves a uid taken.
"""

from __future__ import annotations

import fcntl
import os
import signal
import tempfile
import time
from pathlib import Path

from rsilab.errors import SandboxError

POOL_SIZE = 1000


def lock_dir() -> Path:
    """Where the leases live: /run (root's, shared by every harness on the machine), else the temp dir."""
    for candidate in (Path("/run/rsilab-uids"), Path(tempfile.gettempdir()) / "rsilab-uids"):
        try:
            candidate.mkdir(mode=0o700, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            return candidate
    raise SandboxError("no directory for uid leases: /run and the temp directory are not writable")


class UidLease:
    def __init__(self, uid: int, fd: int) -> None:
        self.uid, self._fd = uid, fd

    @classmethod
    def take(cls, first: int, count: int = POOL_SIZE, wait_seconds: float = 60.0) -> UidLease:
        """The lowest free uid of the pool, waiting for one while all are in use."""
        where = lock_dir()
        deadline = time.monotonic() + wait_seconds
        while True:
            for uid in range(first, first + count):
                fd = os.open(where / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                return cls(uid, fd)
            if time.monotonic() > deadline:
                raise SandboxError(f"all {count} sandbox uids from {first} are in use; raise sandbox.uid_pool or run fewer")
            time.sleep(0.05)

    def release(self) -> None:
        """Give the uid back once no process runs as it (the lease makes every such process this run's)."""
        if self._fd < 0:
            return
        deadline = time.monotonic() + 5.0
        while (left := processes_of(self.uid)) and time.monotonic() < deadline:
            for pid in left:  # killed namespaces die asynchronously; finish the job
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.005)
        os.close(self._fd)
        self._fd = -1


def processes_of(uid: int) -> list[int]:
    """Live processes running as `uid` (zombies are dead already)."""
    return live_processes(range(uid, uid + 1)).get(uid, [])


def live_processes(uids: range) -> dict[int, list[int]]:
    """uid -> live (not zombie) processes running as it, for the uids in `uids`, in one pass over /proc."""
    found: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            uid = entry.stat().st_uid
            if uid not in uids:
                continue
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rfind(")") + 2] not in "ZX":
            found.setdefault(uid, []).append(int(entry.name))
    return found


def leased(uid: int) -> bool:
    """Is `uid` held by some run right now (on this machine)?"""
    path = lock_dir() / f"{uid}.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the probe's lock, if it got one
