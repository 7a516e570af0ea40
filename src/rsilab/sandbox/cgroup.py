"""A per-run cgroup: a process cap that holds even for root, trusted CPU time, and evidence.

RLIMIT_NPROC counts processes per user and is ignored for uid 0; a `pids` cgroup counts the
run's own processes whoever owns them, and `pids.events` says whether a fork was refused.
A sandbox's processes are not all reaped by the process the harness waits for (bwrap's pid 1
is not), so wait4's rusage can miss them; `cpuacct` (v1) or `cpu.stat` (v2) counts them all.

Where the harness may create cgroups (root with v1 controllers mounted, or a v2 tree that
delegates `pids` to us) each run gets fresh children; elsewhere `RunCgroup.create` returns
None and the rlimits and rusage are all there is.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path

_counter = itertools.count()


class RunCgroup:
    def __init__(self, dirs: dict[str, Path]) -> None:
        self.dirs = dirs  # controller ("pids", "cpuacct" or "v2") -> this run's cgroup directory
        self._procs = [str(d / "cgroup.procs") for d in dirs.values()]

    @classmethod
    def create(cls, max_pids: int) -> RunCgroup | None:
        """Fresh child cgroups capped at `max_pids` tasks, or None where no pids cgroup can be made."""
        name = f"rsilab-{os.getpid()}-{next(_counter)}"
        dirs: dict[str, Path] = {}
        for controller, parent in _writable_parents().items():
            try:
                (parent / name).mkdir()
            except OSError:
                continue
            dirs[controller] = parent / name
        group = cls(dirs)
        pids_dir = dirs.get("pids") or dirs.get("v2")
        try:
            if pids_dir is None:
                raise OSError("no pids controller")
            (pids_dir / "pids.max").write_text(str(max_pids))
        except OSError:
            group.remove()
            return None
        return group

    @property
    def procs_files(self) -> tuple[str, ...]:
        """The `cgroup.procs` files a process writes "0" into to join (a launcher does, before exec)."""
        return tuple(self._procs)

    def join_fn(self) -> None:
        """Move the calling process in. Called between fork and exec: only raw syscalls."""
        for procs in self._procs:
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)

    def limit_hits(self) -> int:
        """How many forks the cap refused (the `max` line of pids.events)."""
        for line in _read(self._dir("pids") / "pids.events").splitlines():
            key, _, value = line.partition(" ")
            if key == "max" and value.strip().isdigit():
                return int(value)
        return 0

    def cpu_seconds(self) -> float | None:
        """User + system CPU of every process that ran in the cgroup, or None if not counted."""
        if "cpuacct" in self.dirs:
            raw = _read(self.dirs["cpuacct"] / "cpuacct.usage").strip()
            return int(raw) / 1e9 if raw.isdigit() else None
        if "v2" in self.dirs:
            for line in _read(self.dirs["v2"] / "cpu.stat").splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec" and value.strip().isdigit():
                    return int(value) / 1e6
        return None

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
            time.sleep(0.002)

    def remove(self) -> None:
        self.kill_all()
        for path in self.dirs.values():
            _rmdir(path)

    def _dir(self, controller: str) -> Path:
        return self.dirs.get(controller) or self.dirs.get("v2") or Path("/nonexistent")

    def _pids(self) -> list[int]:
        found: set[int] = set()
        for procs in self._procs:
            found |= {int(p) for p in _read(Path(procs)).split() if p.isdigit()}
        return sorted(found)


def _writable_parents() -> dict[str, Path]:
    """Our own cgroup in each hierarchy we can use ("pids", "cpuacct" in v1; "v2"), if we may make children there."""
    mounts = _cgroup_mounts()
    found: dict[str, Path] = {}
    for line in _read(Path("/proc/self/cgroup")).splitlines():
        _, controllers, relative = line.split(":", 2)
        if controllers == "" and "v2" in mounts:
            candidate = mounts["v2"] / relative.lstrip("/")
            if "pids" in _read(candidate / "cgroup.subtree_control").split():
                found.setdefault("v2", candidate)
            continue
        for controller in ("pids", "cpuacct"):
            if controller in controllers.split(",") and controller in mounts:
                found.setdefault(controller, mounts[controller] / relative.lstrip("/"))
    if "pids" in found:
        found.pop("v2", None)  # one hierarchy for the cap is enough; v1 pids is already there
    return {k: p for k, p in found.items() if p.is_dir() and os.access(p, os.W_OK | os.X_OK)}


def _cgroup_mounts() -> dict[str, Path]:
    """'pids'/'cpuacct' -> their v1 mount points, 'v2' -> the cgroup2 mount, from /proc/self/mountinfo."""
    found: dict[str, Path] = {}
    for line in _read(Path("/proc/self/mountinfo")).splitlines():
        if " - " not in line:
            continue
        mount_point = Path(line.split()[4])
        fstype, _, options = line.split(" - ", 1)[1].split(" ", 2)
        if fstype == "cgroup2":
            found.setdefault("v2", mount_point)
        elif fstype == "cgroup":
            for controller in ("pids", "cpuacct"):
                if controller in options.replace(" ", ",").split(","):
                    found.setdefault(controller, mount_point)
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _rmdir(path: Path) -> None:
    for _ in range(250):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.002)  # tasks still exiting
