"""A per-run `pids` cgroup: a process cap that holds even for root, and evidence when it is hit.

RLIMIT_NPROC counts processes per user and is ignored for uid 0; a pids cgroup counts
the run's own processes whoever they belong to. Where the harness may create one (root
with cgroup v1 `pids` mounted, or a cgroup v2 tree that delegates `pids` to us) each run
gets a fresh child cgroup; `pids.events` then says whether a fork was refused.
Elsewhere `PidsCgroup.create` returns None and the rlimit is all there is.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path

_counter = itertools.count()


class PidsCgroup:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.procs = str(path / "cgroup.procs")

    @classmethod
    def create(cls, max_pids: int) -> PidsCgroup | None:
        """A fresh child cgroup capped at `max_pids` tasks, or None where none can be made."""
        parent = _writable_pids_parent()
        if parent is None:
            return None
        path = parent / f"rsilab-{os.getpid()}-{next(_counter)}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(max_pids))
        except OSError:
            _rmdir(path)
            return None
        return cls(path)

    def join_fn(self) -> None:
        """Move the calling process in. Called between fork and exec: only raw syscalls."""
        fd = os.open(self.procs, os.O_WRONLY)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)

    def limit_hits(self) -> int:
        """How many forks the cap refused (the `max` line of pids.events)."""
        try:
            for line in (self.path / "pids.events").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "max":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def kill_all(self) -> None:
        """SIGKILL whatever is left in the cgroup, until it is empty (or a second has passed)."""
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            pids = self._pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill_all()
        _rmdir(self.path)

    def _pids(self) -> list[int]:
        try:
            return [int(p) for p in Path(self.procs).read_text().split()]
        except (OSError, ValueError):
            return []


def _writable_pids_parent() -> Path | None:
    """Our own cgroup in the hierarchy that has the pids controller, if we may make children in it."""
    mounts = _cgroup_mounts()
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, relative = line.split(":", 2)
        if controllers == "" and "cgroup2" in mounts:  # the unified (v2) hierarchy
            root = mounts["cgroup2"]
            candidate = root / relative.lstrip("/")
            if "pids" not in _read(candidate / "cgroup.subtree_control").split():
                continue
        elif "pids" in controllers.split(",") and "pids" in mounts:
            candidate = mounts["pids"] / relative.lstrip("/")
        else:
            continue
        if candidate.is_dir() and os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    return None


def _cgroup_mounts() -> dict[str, Path]:
    """'pids' -> its v1 mount point, 'cgroup2' -> the v2 mount point, from /proc/self/mountinfo."""
    found: dict[str, Path] = {}
    for line in _read(Path("/proc/self/mountinfo")).splitlines():
        fields = line.split()
        if " - " not in line:
            continue
        mount_point = Path(fields[4])
        fstype, _, options = line.split(" - ", 1)[1].split(" ", 2)
        if fstype == "cgroup2":
            found.setdefault("cgroup2", mount_point)
        elif fstype == "cgroup" and "pids" in options.replace(" ", ",").split(","):
            found.setdefault("pids", mount_point)
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _rmdir(path: Path) -> None:
    for _ in range(50):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)  # tasks still exiting
