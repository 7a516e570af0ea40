"""The bubblewrap sandbox, the default backend: the self sees only what it is given.

What a command sees inside (everything else of the host is absent, not just unwritable):

    /self                 its private working copy: a tmpfs of `disk_mb`, filled by bwrap from
                          the harness's export; protected files and harness-shipped inputs are
                          read-only bind mounts over it; declared outputs are bind mounts of
                          files the harness reads back (each capped by RLIMIT_FSIZE)
    /tmp                  a private tmpfs of `disk_mb`
    /usr /bin /lib* /etc/{ld.so.cache,passwd,...}    read-only
    <python prefix>       read-only, with its site-packages hidden (or the harness's, on request)
    /rsilab/guard         the witness (sitecustomize.py), read-only
    /run/rsilab/llm.sock  the LLM broker, the only way out
    /proc /dev            its own pid namespace; a minimal /dev

Namespaces: mount, pid, net (loopback only), ipc, uts, cgroup. As root the network namespace is
the harness's (sandbox/netns.py): its kernel counters, not the witness, are the network evidence. As root, no user
namespace: bwrap's user namespace would map the sandbox onto uid 0 outside (uid_map
"65534 0 1"), where RLIMIT_NPROC is void. Instead bwrap sets up the mounts as root and
`setpriv` drops the command to a dedicated unprivileged uid with no capabilities, so the
process cap, signal rules and file permissions of an ordinary user apply. A non-root
harness gets the user namespace too (bwrap's unprivileged mode, `--disable-userns`).
Either way a seccomp filter (sandbox/syscalls.py, loaded by bwrap just before the command)
refuses new namespaces, mounts, ptrace, bpf, keyrings and module loading.
Ending a run ends its pid namespace, which kills every process in it, setsid or not.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rsilab.errors import SandboxError
from rsilab.sandbox.cgroup import RunCgroup
from rsilab.sandbox.launcher import launcher as _launcher
from rsilab.sandbox.process import Limits, RunResult, _kill_tree, _rlimits, _tail, _violations, _wait_for_exit, checked_command
from rsilab.sandbox.interpreter import base_interpreter, clean_relative, harness_site_dirs, site_dirs
from rsilab.sandbox.netns import NamespaceSupply
from rsilab.sandbox.outputs import OutputQuota
from rsilab.sandbox.uids import UidLease
from rsilab.sandbox.syscalls import compiled_filter, seccomp_problem
from rsilab.sandbox.witness import audit_violations, guard_policy

SELF_DIR = "/self"
GUARD_DIR = "/rsilab/guard"
BIN_DIR = "/rsilab/bin"
SITE_DIR = "/rsilab/site-packages"
SOCKET_INSIDE = "/run/rsilab/llm.sock"
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "passwd", "group", "hosts")
MAX_TREE_FILES = 2000  # each file is handed to bwrap as an open descriptor
MAX_VIOLATIONS = 20
INSTALL_HINT = "install bubblewrap (`apt-get install bubblewrap`; `make test` does it when run as root)"


@dataclass(frozen=True)
class BwrapSettings:
    uid: int = 61000  # as root, each run leases its own unprivileged uid from uid .. uid + uid_pool - 1
    uid_pool: int = 1000
    disk_mb: int = 256  # size of /self and of /tmp (each a tmpfs)
    site_packages: bool = False  # expose the harness's site-packages read-only (e.g. a self that imports torch)


def bwrap_problem() -> str | None:
    """Why the bwrap backend cannot run here, or None when it can (a real sandboxed `true`)."""
    exe = shutil.which("bwrap")
    if exe is None:
        return f"bwrap is not installed: {INSTALL_HINT}"
    if (problem := seccomp_problem()) is not None:
        return problem
    try:
        result = subprocess.run([exe, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "--", "true"],
                                capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bwrap cannot start: {e}"
    if result.returncode != 0:
        return f"bwrap cannot create namespaces here: {result.stderr.strip() or result.returncode}"
    return None


class BwrapSandbox:
    name = "bwrap"

    def __init__(
        self, *, llm_socket: Path | None = None, protected: Sequence[str] = (), settings: BwrapSettings = BwrapSettings()
    ) -> None:
        exe = shutil.which("bwrap")
        if exe is None:
            raise SandboxError(f"the bwrap sandbox needs bubblewrap: {INSTALL_HINT}, or choose another sandbox.backend")
        self.exe = exe
        self.llm_socket = llm_socket
        self.protected = tuple(protected)
        self.settings = settings
        self.as_root = os.geteuid() == 0
        self.setpriv = shutil.which("setpriv") if self.as_root else None
        if self.as_root and self.setpriv is None:
            raise SandboxError("the bwrap sandbox drops root with `setpriv`: install util-linux")
        self.interpreter = base_interpreter()
        self.python: tuple[str, ...] = (str(self.interpreter), "-s", "-B")
        self._guard = (resources.files("rsilab") / "sandbox" / "guard" / "sitecustomize.py").read_bytes()
        if (problem := seccomp_problem()) is not None:
            raise SandboxError(f"{problem}, or choose another sandbox.backend")
        self._seccomp = compiled_filter(unix_sockets_only=False)  # the network namespace has no way out anyway
        self._namespaces = NamespaceSupply()

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
        outdir = Path(tempfile.mkdtemp(prefix="rsilab-run-"))
        fds: list[int] = []  # handed to bwrap
        kept: list[int] = []  # the harness's alone
        cgroup = RunCgroup.create(limits.processes) if self.as_root else None
        netns = self._namespaces.take() if self.as_root else None
        lease = UidLease.take(self.settings.uid, self.settings.uid_pool) if self.as_root else None
        quota: OutputQuota | None = None
        try:
            uid = lease.uid if lease is not None else os.getuid()
            if self.as_root and any(p.endswith("/") for p in outputs):
                quota = OutputQuota.mount(outdir / "outputs", self.settings.disk_mb, uid)
            audit_path = outdir / "audit"
            audit_fd = os.open(audit_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fds.append(audit_fd)
            # A byte written into a pipe inside, once the sandbox is set up and before the command
            # starts: a failure after it is the command's, whatever the command prints (it can add
            # bytes to the pipe, never take one back).
            ready_read, ready_fd = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
            kept.append(ready_read)  # never handed in: the command must not drain it
            fds.append(ready_fd)
            layout = _Layout(self, workdir, readonly, outputs, fds, uid=uid, own_netns=netns is None, quota=quota)
            args = layout.args(audit_fd, env or {})
            seccomp_fd = _memfd(self._seccomp)
            fds.append(seccomp_fd)
            args += ["--seccomp", str(seccomp_fd)]
            command = ["/bin/sh", "-c", f'printf r > /proc/self/fd/{ready_fd} && exec "$@"', "sh", *argv]
            if self.as_root:
                command = [*command[:4], self.setpriv or "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                           "--inh-caps=-all", "--bounding-set=-all", "--", *argv]
            # The options go through a descriptor: the sandbox can read pid 1's (bwrap's) command line.
            args_fd = _memfd("\0".join(args).encode() + b"\0")
            fds.append(args_fd)
            enter = netns.prefix() if netns is not None else []
            result = self._spawn([*enter, self.exe, "--args", str(args_fd), "--", *command], outdir, limits, fds, cgroup)
            if not result.timed_out and not _readable(ready_read):
                raise SandboxError(f"bwrap could not set up the sandbox: {result.stderr.strip()[-2000:]}")
            if quota is not None:
                for index, rel in enumerate(layout.output_dirs):
                    quota.copy_out(index, workdir / rel)
            observed = list(result.violations)
            if cgroup is not None and cgroup.limit_hits():
                observed.append(f"process-limit: {cgroup.limit_hits()} fork(s) refused at {limits.processes} processes")
            if netns is not None and (packets := netns.packets_out()):
                observed.append(f"network: {packets} IP packet(s) sent or refused in the sandbox's own network namespace")
            reported = tuple(audit_violations(audit_path))[:MAX_VIOLATIONS]
            return RunResult(**{**result.__dict__, "violations": tuple(dict.fromkeys(observed))[:MAX_VIOLATIONS],
                                "reported": reported, "uid": uid})
        finally:
            for fd in fds + kept:
                os.close(fd)
            if cgroup is not None:
                cgroup.remove()
            if netns is not None:
                netns.close()
            if quota is not None:
                quota.unmount()
            if lease is not None:
                lease.release()  # only now: every process of the run is gone (pid namespace, cgroup)
            shutil.rmtree(outdir, ignore_errors=True)

    def _spawn(self, full: list[str], outdir: Path, limits: Limits, fds: list[int], cgroup: RunCgroup | None) -> RunResult:
        rlimits = _rlimits(limits)
        launcher = _launcher(rlimits, cgroup)

        def before_exec() -> None:
            # Between fork and exec: raw syscalls only (the broker runs in another thread).
            if cgroup is not None:
                cgroup.join_fn()
            for which, soft, hard in rlimits:
                resource.setrlimit(which, (soft, hard))

        with open(outdir / "stdout", "wb") as out, open(outdir / "stderr", "wb") as err:
            start = time.monotonic()
            try:
                # Without a preexec_fn Popen can vfork: a fork of the large harness costs tens of ms.
                proc = subprocess.Popen(
                    [*launcher, *full] if launcher else full, cwd="/", env={"PATH": "/usr/bin:/bin"},
                    stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True,
                    preexec_fn=None if launcher else before_exec, pass_fds=fds, close_fds=True,
                )
            except (OSError, subprocess.SubprocessError) as e:
                raise SandboxError(f"cannot start bwrap: {e}") from e
            timed_out = not _wait_for_exit(proc.pid, start + limits.wall_seconds)
            if cgroup is not None:
                cgroup.kill_all()  # every process of the run is in it, bwrap too (--die-with-parent)
            else:
                _kill_tree(proc.pid)  # bwrap dies, its pid namespace with it (--die-with-parent)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.monotonic() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
        cpu = usage.ru_utime + usage.ru_stime
        if cgroup is not None:
            cgroup.kill_all()
            cpu = cgroup.cpu_seconds() or cpu  # counts processes bwrap's pid 1 never let us reap
        returncode = _exit_code(proc.returncode)
        return RunResult(
            returncode=None if timed_out else returncode,
            stdout=_tail(outdir / "stdout"),
            stderr=_tail(outdir / "stderr"),
            wall_seconds=wall,
            cpu_seconds=cpu,
            timed_out=timed_out,
            violations=_violations(returncode, timed_out, cpu, limits),
        )


class _Layout:
    """The bwrap arguments for one run: mounts, namespaces and environment."""

    def __init__(self, box: BwrapSandbox, workdir: Path, readonly: Sequence[str], outputs: Sequence[str], fds: list[int],
                 *, uid: int, own_netns: bool = True, quota: OutputQuota | None = None) -> None:
        self.box, self.workdir, self.fds, self.uid = box, workdir, fds, uid
        self.quota = quota  # output directories staged inside the disk quota (sandbox/outputs.py), as root
        self.own_netns = own_netns  # False: bwrap already runs in a namespace the harness holds (sandbox/netns.py)
        self.readonly = tuple(clean_relative(p) for p in (*box.protected, *readonly))
        # A name ending in "/" is an output directory: the self may create, replace and rename files in it
        # (a bind-mounted single file cannot be replaced by rename, which atomic writers such as safetensors do).
        self.output_dirs = tuple(clean_relative(p) for p in outputs if p.endswith("/"))
        self.outputs = tuple(clean_relative(p) for p in outputs if not p.endswith("/"))
        self.out: list[str] = []
        self.made: set[str] = {"/"}

    def args(self, audit_fd: int, env: Mapping[str, str]) -> list[str]:
        a, box = self.out, self.box
        if box.as_root:
            a += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try",
                  *(["--unshare-net"] if self.own_netns else []), "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
        else:
            a += ["--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
        a += ["--die-with-parent", "--new-session", "--hostname", "rsilab-sandbox"]
        self._system()
        self._python()
        size = str(box.settings.disk_mb * 1024 * 1024)
        a += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", size, "--tmpfs", "/tmp"]
        self.made |= {"/proc", "/dev", "/tmp"}
        a += ["--perms", "0777", "--size", size, "--tmpfs", SELF_DIR]
        self.made.add(SELF_DIR)
        self._tree()
        self._data(box._guard, f"{GUARD_DIR}/sitecustomize.py")
        if box.llm_socket is not None:
            self._dirs(os.path.dirname(SOCKET_INSIDE))
            a += ["--ro-bind", str(box.llm_socket), SOCKET_INSIDE]
        a += ["--chdir", SELF_DIR, "--clearenv"]
        for key, value in self._environment(audit_fd, env).items():
            a += ["--setenv", key, value]
        return a

    def _system(self) -> None:
        for path in SYSTEM_DIRS:
            if os.path.islink(path):
                self.out += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                self.out += ["--ro-bind", path, path]
            self.made.add(path)
        self._dirs("/etc")
        for name in ETC_FILES:
            self.out += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]

    def _python(self) -> None:
        interpreter = self.box.interpreter
        prefix = Path(sys.base_prefix)
        if not any(str(prefix) == d or str(prefix).startswith(d + "/") for d in SYSTEM_DIRS):
            self._dirs(str(prefix.parent))
            self.out += ["--ro-bind", str(prefix), str(prefix)]
        for site in site_dirs(str(interpreter)):  # hide whatever the host installed
            self.out += ["--tmpfs", site, "--remount-ro", site]
        self._dirs(BIN_DIR)
        for name in ("python", "python3"):
            self.out += ["--symlink", str(interpreter), f"{BIN_DIR}/{name}"]
        if self.box.settings.site_packages:
            for n, path in enumerate(harness_site_dirs()):
                self._dirs(os.path.dirname(SITE_DIR))
                self.out += ["--ro-bind", path, f"{SITE_DIR}-{n}"]

    def _tree(self) -> None:
        files: list[str] = []
        for root, dirnames, filenames in os.walk(self.workdir):
            dirnames.sort()
            for name in sorted(filenames):
                files.append(os.path.relpath(os.path.join(root, name), self.workdir))
        if len(files) > MAX_TREE_FILES:
            raise SandboxError(f"the self's tree has {len(files)} files; the bwrap sandbox copies at most {MAX_TREE_FILES}")
        bound: list[str] = []
        for rel in files:
            host = self.workdir / rel
            if rel in self.outputs or any(rel == b or rel.startswith(b + "/") for b in (*bound, *self.output_dirs)):
                continue
            guarded = next((p for p in self.readonly if rel == p or rel.startswith(p + "/")), None)
            if guarded is not None:  # a protected file, or a whole protected directory
                self._dirs(os.path.dirname(f"{SELF_DIR}/{guarded}"), perms="0777")
                self.out += ["--ro-bind", str(self.workdir / guarded), f"{SELF_DIR}/{guarded}"]
                bound.append(guarded)
            elif host.is_file() and not host.is_symlink():
                fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                self.fds.append(fd)
                self._dirs(os.path.dirname(f"{SELF_DIR}/{rel}"), perms="0777")
                perms = "0777" if os.stat(fd).st_mode & 0o111 else "0666"
                self.out += ["--perms", perms, "--file", str(fd), f"{SELF_DIR}/{rel}"]
        for index, rel in enumerate(self.output_dirs):
            host = self.workdir / rel
            if self.quota is not None:
                host = self.quota.staged(index, host, self.uid)  # copied back to workdir/rel after the run
            else:
                host.mkdir(parents=True, exist_ok=True)
            self._dirs(os.path.dirname(f"{SELF_DIR}/{rel}"), perms="0777")
            self.out += ["--bind", str(host), f"{SELF_DIR}/{rel}"]
        for rel in self.outputs:
            host = self.workdir / rel
            host.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            if self.box.as_root:
                os.fchown(fd, self.uid, self.uid)
            os.close(fd)
            self._dirs(os.path.dirname(f"{SELF_DIR}/{rel}"), perms="0777")
            self.out += ["--bind", str(host), f"{SELF_DIR}/{rel}"]

    def _data(self, data: bytes, dest: str) -> None:
        fd = _memfd(data)
        self.fds.append(fd)
        self._dirs(os.path.dirname(dest))
        self.out += ["--perms", "0444", "--ro-bind-data", str(fd), dest]

    def _dirs(self, path: str, perms: str = "0755") -> None:
        """Create `path` and its missing parents with `perms` (bwrap's default would be 0700 as root)."""
        missing = []
        while path not in self.made and path != "/":
            missing.append(path)
            path = os.path.dirname(path)
        for item in reversed(missing):
            self.out += ["--perms", perms, "--dir", item]
            self.made.add(item)

    def _environment(self, audit_fd: int, env: Mapping[str, str]) -> dict[str, str]:
        writable = [SELF_DIR, "/tmp"]
        readonly = [f"{SELF_DIR}/{p}" for p in self.readonly]
        site = [f"{SITE_DIR}-{n}" for n in range(len(harness_site_dirs()))] if self.box.settings.site_packages else []
        guard = guard_policy(audit_fd, writable, readonly, site, SOCKET_INSIDE if self.box.llm_socket is not None else "")
        inside = {"PATH": f"{BIN_DIR}:/usr/bin:/bin", "HOME": SELF_DIR, "TMPDIR": "/tmp", "LANG": "C.UTF-8",
                  "PYTHONDONTWRITEBYTECODE": "1", **env}
        inside["PYTHONPATH"] = GUARD_DIR  # the witness loads first; the self's own PYTHONPATH is not honoured
        inside["RSILAB_GUARD"] = guard
        if self.box.llm_socket is not None:
            inside["RSILAB_LLM_SOCKET"] = SOCKET_INSIDE
        return inside


def _readable(fd: int) -> bool:
    try:
        return bool(os.read(fd, 1))
    except BlockingIOError:
        return False


def _memfd(data: bytes) -> int:
    fd = os.memfd_create("rsilab-data", os.MFD_CLOEXEC)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _exit_code(code: int) -> int:
    """bwrap reports a command killed by signal N as exit code 128+N; give it back as -N."""
    if 128 < code <= 128 + 64:
        return -(code - 128)
    return code
