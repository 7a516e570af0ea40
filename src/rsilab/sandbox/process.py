"""The process sandbox: run the self's code as a child process under resource limits.

This is the first isolation backend. It gives a cleared environment, rlimits, a wall
clock, trusted CPU accounting and a kill that reaches the whole process tree. It does
NOT give filesystem or network isolation; the bubblewrap backend adds those behind the
same `Sandbox` interface.
"""

from __future__ import annotations

import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rsilab.errors import SandboxError

OUTPUT_CAP_BYTES = 64 * 1024  # how much of stdout/stderr comes back (the end of it)


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 120
    memory_mb: int = 2048  # address space (RLIMIT_AS), not resident memory
    file_size_mb: int = 64  # largest file the child may write, stdout/stderr included
    open_files: int = 256
    processes: int = 256  # RLIMIT_NPROC: counted per user, and ignored for root
    wall_seconds: float = 300.0

    def __post_init__(self) -> None:
        for field in ("cpu_seconds", "memory_mb", "file_size_mb", "open_files", "processes", "wall_seconds"):
            if getattr(self, field) <= 0:
                raise ValueError(f"Limits.{field} must be positive, got {getattr(self, field)!r}")


@dataclass(frozen=True)
class RunResult:
    returncode: int | None  # negative = killed by that signal; None = killed by us on the wall clock
    stdout: str  # the last 64 KiB
    stderr: str  # the last 64 KiB
    wall_seconds: float  # measured by the harness
    cpu_seconds: float  # user + system time of the child and its reaped descendants (wait4 rusage)
    timed_out: bool
    violations: tuple[str, ...]  # observed by the harness or the kernel: "timeout", "cpu-limit", "network: ..."
    # What the in-process witness wrote: the self's own account (it can silence or forge it), so it is
    # kept for reviewers and decides nothing.
    reported: tuple[str, ...] = ()
    uid: int | None = None  # the uid the command ran as, where the sandbox leased one for the run

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


class Sandbox(Protocol):
    """An isolation backend: runs one command in `workdir` and reports what happened.

    `readonly` names paths in workdir the command may read but never change (protected
    files, inputs the harness ships); `outputs` names files it writes for the harness to
    read back. `python` is the argv prefix that runs a Python script inside this sandbox.
    """

    name: str
    python: tuple[str, ...]

    def run(
        self,
        argv: Sequence[str],
        workdir: Path,
        *,
        limits: Limits,
        env: Mapping[str, str] | None = None,
        readonly: Sequence[str] = (),
        outputs: Sequence[str] = (),
    ) -> RunResult: ...


def checked_command(argv: Sequence[object], workdir: Path) -> tuple[list[str], Path]:
    """Every backend's first step: the command as strings and an existing, absolute workdir."""
    command = [str(a) for a in argv]
    resolved = Path(workdir).resolve()
    if not command:
        raise SandboxError("cannot run an empty command")
    if not resolved.is_dir():
        raise SandboxError(f"cannot run {command[0]!r}: workdir {resolved} is not a directory")
    return command, resolved


class ProcessSandbox:
    """Rlimits + a fresh session per run; no namespaces (see the module docstring)."""

    name = "process"
    python: tuple[str, ...] = (sys.executable, "-E", "-s", "-S")

    def run(
        self,
        argv: Sequence[str],
        workdir: Path,
        *,
        limits: Limits,
        env: Mapping[str, str] | None = None,
        readonly: Sequence[str] = (),  # not enforced: this backend has no filesystem isolation
        outputs: Sequence[str] = (),
    ) -> RunResult:
        argv, workdir = checked_command(argv, workdir)

        child_env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(workdir),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            **(env or {}),
        }
        rlimits = _rlimits(limits)

        def set_limits() -> None:
            # Runs in the child between fork and exec: only setrlimit, nothing that
            # takes locks, because the harness has other threads (the broker).
            for which, soft, hard in rlimits:
                resource.setrlimit(which, (soft, hard))

        # Output goes to files in a private dir outside workdir: a grandchild that keeps
        # a pipe open would hang the reader; a file never does, and the self can't see it.
        outdir = Path(tempfile.mkdtemp(prefix="rsilab-run-"))
        try:
            with open(outdir / "stdout", "wb") as out, open(outdir / "stderr", "wb") as err:
                start = time.monotonic()
                try:
                    proc = subprocess.Popen(
                        argv,
                        cwd=workdir,
                        env=child_env,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=err,
                        start_new_session=True,  # setsid(): own session and process group
                        preexec_fn=set_limits,
                        close_fds=True,
                    )
                except (OSError, subprocess.SubprocessError) as e:
                    why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
                    raise SandboxError(f"cannot start {argv[0]!r}: {why}") from e

                timed_out = not _wait_for_exit(proc.pid, start + limits.wall_seconds)
                # Kill before reaping: the unreaped child holds its pid (and so its
                # session id) so no unrelated process can reuse it while we sweep.
                # Even after a clean exit, background descendants must not outlive the run.
                _kill_tree(proc.pid)
                _, status, usage = os.wait4(proc.pid, 0)
                wall = time.monotonic() - start
                proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen won't reap again

            cpu = usage.ru_utime + usage.ru_stime
            return RunResult(
                returncode=None if timed_out else proc.returncode,
                stdout=_tail(outdir / "stdout"),
                stderr=_tail(outdir / "stderr"),
                wall_seconds=wall,
                cpu_seconds=cpu,
                timed_out=timed_out,
                violations=_violations(proc.returncode, timed_out, cpu, limits),
            )
        finally:
            shutil.rmtree(outdir, ignore_errors=True)


def _rlimits(limits: Limits, nproc_slack: int = 0) -> list[tuple[int, int, int]]:
    """(resource, soft, hard) for the child, computed in the parent (preexec must stay tiny).

    `nproc_slack` lifts RLIMIT_NPROC above the cap where a pids cgroup enforces it: the cgroup's
    refusals are counted by the kernel (evidence), RLIMIT_NPROC's are not.
    """
    mb = 1024 * 1024
    wanted = [
        # CPU: SIGXCPU at the soft limit, SIGKILL one second later if it is caught.
        (resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 1),
        (resource.RLIMIT_AS, limits.memory_mb * mb, limits.memory_mb * mb),
        (resource.RLIMIT_FSIZE, limits.file_size_mb * mb, limits.file_size_mb * mb),
        (resource.RLIMIT_NOFILE, limits.open_files, limits.open_files),
        (resource.RLIMIT_NPROC, limits.processes + nproc_slack, limits.processes + nproc_slack),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    out = []
    for which, soft, hard in wanted:
        # An unprivileged harness can't raise a hard limit, so clamp to what it has.
        _, current_hard = resource.getrlimit(which)
        if current_hard != resource.RLIM_INFINITY:
            hard = min(hard, current_hard)
            soft = min(soft, hard)
        out.append((which, soft, hard))
    return out


def _wait_for_exit(pid: int, deadline: float) -> bool:
    """True once `pid` has exited (left unreaped), False if it still runs at the deadline."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    try:
        while True:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if pidfd is not None:
                # The pidfd becomes readable when the child exits: no polling latency.
                poller = select.poll()
                poller.register(pidfd, select.POLLIN)
                poller.poll(max(1, int(remaining * 1000)))
            else:
                time.sleep(min(remaining, 0.02))
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _kill_tree(root: int) -> None:
    """SIGKILL `root`'s process group, its session, and its live descendants.

    Best effort, and the known gap: a descendant that calls setsid() leaves the session,
    and once its parent dies it is reparented away from `root` too (the classic
    double-fork daemon), so neither sweep finds it. A pid namespace (the bubblewrap
    backend) closes that gap; here we only sweep the session and the parent chain.
    """
    me = os.getpid()
    for _ in range(10):  # repeat: a process may fork between our scan and our kill
        # Scan before killing anything: once a parent dies its children are reparented
        # and the walk down from `root` can no longer find them.
        table = _proc_table()
        targets = {pid for pid, (_, sid) in table.items() if sid == root} | _descendants(table, root)
        targets.discard(me)
        for pid in targets:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            os.killpg(root, signal.SIGKILL)  # atomic for the group, even for members forked mid-scan
        except (ProcessLookupError, PermissionError):
            pass
        if not targets:
            return
        time.sleep(0.01)


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, session id) for every live (non-zombie) process in /proc."""
    table: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue  # exited while we looked
        # The command name (field 2) may contain spaces and ')', so split after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        state, ppid, _pgrp, sid = fields[0], int(fields[1]), fields[2], int(fields[3])
        if state not in ("Z", "X"):  # zombies are dead already; their parent reaps them
            table[int(entry.name)] = (ppid, sid)
    return table


def _descendants(table: dict[int, tuple[int, int]], root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _violations(returncode: int, timed_out: bool, cpu: float, limits: Limits) -> tuple[str, ...]:
    found = []
    if timed_out:
        found.append("timeout")
    elif returncode == -signal.SIGXCPU or (returncode == -signal.SIGKILL and cpu >= limits.cpu_seconds):
        found.append("cpu-limit")
    # Python children ignore SIGXFSZ and get OSError(EFBIG) instead, so this only sees
    # programs that keep the default action; the write fails either way.
    if returncode == -signal.SIGXFSZ:
        found.append("file-size-limit")
    return tuple(found)


def _tail(path: Path) -> str:
    """The last OUTPUT_CAP_BYTES of a file, marked when cut."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(max(0, size - OUTPUT_CAP_BYTES))
        data = f.read()
    text = data.decode("utf-8", errors="replace")
    if size > OUTPUT_CAP_BYTES:
        text = f"[... {size - OUTPUT_CAP_BYTES} bytes cut ...]\n" + text
    return text
