"""The fallback sandbox where bubblewrap is missing: Landlock + seccomp, applied before exec.

The command runs as a plain child process (rlimits, output to files, tree kill, as the
process backend), and between fork and exec it is locked down:

  - as root: into a per-run cgroup (pids cap, CPU), then dropped to the dedicated uid;
  - Landlock: it may read and execute only the system directories, the interpreter and
    the witness, and read and write only its scratch directory and a private tmp: the
    experiment, the ledger, /proc and the rest of the host cannot be opened at all;
  - seccomp (sandbox/syscalls.py): sockets other than AF_UNIX, ptrace, mounts, namespaces
    (clone flags included), keyrings, bpf, module loading and process_vm_* fail with EPERM/EACCES.

Weaker than bwrap, and said so: no pid namespace (a self running as the harness's own
uid — a non-root harness — can signal it; as root it runs as another uid and cannot),
the scratch copy is the harness's own directory (protected files there are made
read-only by ownership and checked by hash after the run), and there is no disk quota
beyond RLIMIT_FSIZE per file.
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import BinaryIO

from rsilab.errors import SandboxError, UntrustedInput
from rsilab.sandbox.bwrap import SYSTEM_DIRS
from rsilab.sandbox.cgroup import RunCgroup
from rsilab.sandbox.process import Limits, RunResult, _kill_tree, _rlimits, _tail, _violations, _wait_for_exit, checked_command
from rsilab.sandbox.interpreter import base_interpreter, clean_relative, harness_site_dirs
from rsilab.sandbox.syscalls import seccomp_problem, self_filter
from rsilab.sandbox.uids import UidLease
from rsilab.sandbox.witness import audit_violations, guard_policy
from rsilab.untrusted import open_regular

MAX_COPY_BACK_BYTES = 8 * 1024 * 1024 * 1024  # an output file, weights included; the readers cap it further

EXTRA = "landlock"


def landlock_problem() -> str | None:
    """Why the landlock backend cannot run here, or None when it can."""
    try:
        import landlock.plumbing
    except ImportError:
        return f"the landlock backend needs its extra: pip install 'rsilab[{EXTRA}]'"
    if (problem := seccomp_problem()) is not None:
        return problem
    try:
        version = landlock.plumbing.landlock_abi_version()
    except Exception as e:  # the package raises its own error types for a missing LSM
        return f"this kernel has no Landlock: {e}"
    return None if version >= 1 else "this kernel has no Landlock"


class LandlockSandbox:
    name = "landlock"

    def __init__(
        self, *, protected: Sequence[str] = (), uid: int = 61000, uid_pool: int = 1000, site_packages: bool = False,
        llm_socket: Path | None = None,
    ) -> None:
        problem = landlock_problem()
        if problem:
            raise SandboxError(problem)
        self.protected = tuple(clean_relative(p) for p in protected)
        self.as_root = os.geteuid() == 0
        self.first_uid, self.uid_pool = uid, uid_pool  # as root each run leases its own (sandbox/uids.py)
        self.site_packages = site_packages
        self.guard_dir = Path(str(resources.files("rsilab") / "sandbox" / "guard"))
        self.interpreter = _reachable_interpreter() if self.as_root else base_interpreter()
        self.python: tuple[str, ...] = (str(self.interpreter), "-s", "-B")
        if llm_socket is not None and self.as_root:
            os.chmod(llm_socket.parent, 0o711)  # the self's uid must reach the socket, not list the directory

    def run(
        self,
        argv: Sequence[str],
        workdir: Path,
        *,
        limits: Limits,
        env: Mapping[str, str] | None = None,
        readonly: Sequence[str] = (),
        outputs: Sequence[str] = (),
    ) -> RunResult:
        argv, workdir = checked_command(argv, workdir)
        guarded = (*self.protected, *(clean_relative(p) for p in readonly))
        outdir = Path(tempfile.mkdtemp(prefix="rsilab-run-"))
        cgroup = RunCgroup.create(limits.processes) if self.as_root else None
        lease = UidLease.take(self.first_uid, self.uid_pool) if self.as_root else None
        uid = lease.uid if lease is not None else None
        fds: list[int] = []
        host_workdir = workdir
        try:
            # The self works on a copy in a directory of its own under /tmp, so it never needs a
            # path through the experiment (or a home directory only its owner may enter).
            workdir = outdir / "self"
            shutil.copytree(host_workdir, workdir, symlinks=True)
            private_tmp = outdir / "tmp"
            private_tmp.mkdir()
            self._hand_over(workdir, private_tmp, guarded, outputs, uid)
            before = _hashes(workdir, guarded)
            audit_fd = os.open(outdir / "audit", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            fds.append(audit_fd)
            child_env = self._environment(workdir, private_tmp, guarded, audit_fd, env or {})
            lockdown = _Lockdown(self, workdir, private_tmp)
            result = self._spawn(argv, workdir, child_env, outdir, limits, fds, cgroup, lockdown, uid)
            moved = sorted(k for k in before if _hashes(workdir, guarded).get(k) != before[k])
            observed = [*result.violations, *(f"protected-modified: {path}" for path in moved)]
            if cgroup is not None and cgroup.limit_hits():
                observed.append(f"process-limit: {cgroup.limit_hits()} fork(s) refused at {limits.processes} processes")
            for rel in outputs:
                _copy_back(workdir / clean_relative(rel), host_workdir / clean_relative(rel))
            # Network attempts fail at socket() under seccomp and are seen only by the witness: self-reported.
            return RunResult(**{**result.__dict__, "violations": tuple(dict.fromkeys(observed))[:20],
                                "reported": tuple(audit_violations(outdir / "audit"))[:20], "uid": uid})
        finally:
            for fd in fds:
                os.close(fd)
            if cgroup is not None:
                cgroup.remove()
            if lease is not None:
                lease.release()  # after the cgroup is emptied: no process of the run is left
            shutil.rmtree(outdir, ignore_errors=True)

    def _hand_over(
        self, workdir: Path, private_tmp: Path, guarded: Sequence[str], outputs: Sequence[str], uid: int | None
    ) -> None:
        """As root: the tree stays root's (read-only to the self), new files and outputs are the self's."""
        for rel in outputs:
            path = workdir / clean_relative(rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
            if uid is not None:
                os.chown(path, uid, uid)
        for rel in guarded:
            if (workdir / rel).is_file():
                os.chmod(workdir / rel, 0o444)
        if self.as_root:
            os.chmod(workdir, 0o1777)  # sticky: the self may add files, never replace root's
            os.chmod(private_tmp.parent, 0o711)  # reach its two directories, list nothing else
            os.chown(private_tmp, uid, uid)

    def _environment(
        self, workdir: Path, private_tmp: Path, guarded: Sequence[str], audit_fd: int, env: Mapping[str, str]
    ) -> dict[str, str]:
        site = list(harness_site_dirs()) if self.site_packages else []
        broker = os.path.realpath(env["RSILAB_LLM_SOCKET"]) if env.get("RSILAB_LLM_SOCKET") else ""
        policy = guard_policy(audit_fd, [str(workdir), str(private_tmp)], [str(workdir / p) for p in guarded], site, broker)
        return {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "TMPDIR": str(private_tmp), "LANG": "C.UTF-8",
                "PYTHONDONTWRITEBYTECODE": "1", **env, "PYTHONPATH": str(self.guard_dir), "RSILAB_GUARD": policy}

    def _spawn(
        self, argv: list[str], workdir: Path, env: dict[str, str], outdir: Path, limits: Limits, fds: list[int],
        cgroup: RunCgroup | None, lockdown: _Lockdown, uid: int | None,
    ) -> RunResult:
        rlimits = _rlimits(limits, nproc_slack=8 if cgroup is not None else 0)

        def before_exec() -> None:
            # Between fork and exec: raw syscalls and the prepared filters only.
            if cgroup is not None:
                cgroup.join_fn()
            for which, soft, hard in rlimits:
                resource.setrlimit(which, (soft, hard))
            if uid is not None:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
            lockdown.apply()

        with open(outdir / "stdout", "wb") as out, open(outdir / "stderr", "wb") as err:
            start = time.monotonic()
            try:
                proc = subprocess.Popen(argv, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                        start_new_session=True, preexec_fn=before_exec, pass_fds=fds, close_fds=True)
            except (OSError, subprocess.SubprocessError) as e:
                raise SandboxError(f"cannot start {argv[0]!r} in the landlock sandbox: {e}") from e
            timed_out = not _wait_for_exit(proc.pid, start + limits.wall_seconds)
            if cgroup is not None:
                cgroup.kill_all()  # every process of the run is in it: no /proc scan needed
            else:
                _kill_tree(proc.pid)
                if uid is not None:
                    _kill_everything_of(uid)  # no pid namespace: end every process of the sandbox's uid
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.monotonic() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
        cpu = usage.ru_utime + usage.ru_stime
        if cgroup is not None:
            cpu = cgroup.cpu_seconds() or cpu
        return RunResult(
            returncode=None if timed_out else proc.returncode,
            stdout=_tail(outdir / "stdout"),
            stderr=_tail(outdir / "stderr"),
            wall_seconds=wall,
            cpu_seconds=cpu,
            timed_out=timed_out,
            violations=_violations(proc.returncode, timed_out, cpu, limits),
        )


class _Lockdown:
    """The Landlock ruleset and seccomp filter, built in the harness, applied in the child."""

    def __init__(self, box: LandlockSandbox, workdir: Path, private_tmp: Path) -> None:
        from landlock import Ruleset
        from landlock.plumbing import FSAccess

        self.ruleset = Ruleset()
        read = FSAccess.EXECUTE | FSAccess.READ_FILE | FSAccess.READ_DIR
        prefix = str(box.interpreter.parent.parent)  # <prefix>/bin/pythonX.Y
        readable = [*(d for d in SYSTEM_DIRS if os.path.isdir(d)), prefix, str(box.guard_dir), "/etc"]
        if box.site_packages:
            readable += list(harness_site_dirs())
        self.ruleset.allow(*dict.fromkeys(readable), rules=read)
        self.ruleset.allow(str(workdir), str(private_tmp))
        self.ruleset.allow("/dev/null", "/dev/urandom", rules=FSAccess.all_file())
        self.filter = self_filter(unix_sockets_only=True)  # no network namespace here: sockets are refused instead

    def apply(self) -> None:
        self.ruleset.apply()
        self.filter.load()


def _copy_back(source: Path, target: Path) -> None:
    """Return an output file to the harness without following a link the self may have planted."""
    try:  # never blocking either: a FIFO planted as an output must not hang the harness
        fd = open_regular(source, what=source.name)
    except UntrustedInput:
        if not target.is_dir():  # a declared output directory is not copied back here
            target.unlink(missing_ok=True)
        return
    with os.fdopen(fd, "rb") as handle, open(target, "wb") as out:
        copied = _copy_capped(handle, out, MAX_COPY_BACK_BYTES)
    if copied > MAX_COPY_BACK_BYTES:
        target.unlink(missing_ok=True)


def _copy_capped(source: BinaryIO, target: BinaryIO, cap: int) -> int:
    """Copy at most cap + 1 bytes; the count says whether the source was longer than `cap`."""
    copied = 0
    while copied <= cap and (chunk := source.read(min(1 << 20, cap + 1 - copied))):
        target.write(chunk)
        copied += len(chunk)
    return copied


def _reachable_interpreter() -> Path:
    """An interpreter of the harness's Python version that an unprivileged uid can reach and run.

    The harness's own may live where others cannot enter (pyenv under /root, mode 0700); a
    system one of the same version serves the self as well (it needs only the standard library).
    """
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (base_interpreter(), Path("/usr/bin") / version, Path("/usr/local/bin") / version):
        if candidate.is_file() and _world_reachable(candidate.resolve()):
            return candidate.resolve()
    raise SandboxError(f"the landlock backend runs the self as an unprivileged uid, which cannot reach "
                       f"{base_interpreter()}: install {version} system-wide (apt-get install {version}) or use bwrap")


def _world_reachable(path: Path) -> bool:
    return bool(os.stat(path).st_mode & 0o001) and all(os.stat(p).st_mode & 0o001 for p in path.parents)


def _hashes(workdir: Path, guarded: Sequence[str]) -> dict[str, str]:
    found = {}
    for rel in guarded:
        path = workdir / rel
        for item in [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []:
            if item.is_file():
                found[str(item.relative_to(workdir))] = hashlib.sha256(item.read_bytes()).hexdigest()
    return found


def _kill_everything_of(uid: int) -> None:
    """kill(-1, SIGKILL) as `uid`: reaches every process it owns, setsid or not, and nothing else."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
