"""A run's own network namespace, held by the harness, whose kernel counters are the network evidence.

The witness inside the self sees only what Python's audit hooks see, and the self can silence it.
The kernel cannot be silenced: every IP packet a process in a namespace sends, or tries to send
and has no route for, is counted in that namespace's /proc/net/snmp{,6}. The harness makes the
namespace (a tiny holder process, loopback up so attempts to 127.0.0.1 or ::1 are counted too),
puts bwrap into it with `nsenter`, and reads the counters after the run from the holder's /proc:
the sandbox has no interface but loopback, so any count means the self tried the network.
The broker's Unix socket is not IP and counts nothing.

Needs root (nsenter, and bringing loopback up); elsewhere `NetworkNamespace.create` returns None.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import threading
import weakref
from pathlib import Path

# Runs in the new namespace: bring loopback up (SIOCSIFFLAGS, IFF_UP|IFF_LOOPBACK), say so, wait for EOF.
_HOLDER = """
import fcntl, socket, struct, sys
fcntl.ioctl(socket.socket(), 0x8914, struct.pack("16sH", b"lo", 0x1 | 0x8))
sys.stdout.write("up\\n"); sys.stdout.flush()
sys.stdin.read()
"""
# The same in a shell with iproute2 where it is installed: ~2 ms to start instead of a Python's ~20-50 ms.
_SHELL_HOLDER = '{ip} link set lo up || exit 1; echo up; read _'
_IPV4 = ("OutRequests", "OutNoRoutes")
_IPV6 = ("Ip6OutRequests", "Ip6OutNoRoutes")


class NetworkNamespace:
    """A fresh network namespace for one run; close() ends it."""

    def __init__(self, holder: subprocess.Popen[str], nsenter: str) -> None:
        self._holder = holder
        self._nsenter = nsenter

    @classmethod
    def create(cls) -> NetworkNamespace | None:
        unshare, nsenter = shutil.which("unshare"), shutil.which("nsenter")
        if os.geteuid() != 0 or unshare is None or nsenter is None:
            return None
        ip = shutil.which("ip", path="/usr/sbin:/sbin:/usr/bin:/bin")
        holder_argv = (["/bin/sh", "-c", _SHELL_HOLDER.format(ip=shlex.quote(ip))] if ip
                       else [sys.executable, "-I", "-S", "-c", _HOLDER])
        holder = subprocess.Popen(
            [unshare, "--net", "--", *holder_argv],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={"PATH": "/usr/bin:/bin"}, start_new_session=True,
        )
        assert holder.stdout is not None
        if holder.stdout.readline().strip() != "up":  # no namespaces here, or loopback would not come up
            holder.kill()
            holder.wait()
            return None
        return cls(holder, nsenter)

    def prefix(self) -> list[str]:
        """The argv prefix that runs a command inside this namespace."""
        return [self._nsenter, f"--net=/proc/{self._holder.pid}/ns/net", "--"]

    def packets_out(self) -> int:
        """IP packets sent or refused for want of a route in this namespace so far (v4 and v6)."""
        net = Path(f"/proc/{self._holder.pid}/net")
        return _snmp_total(_read(net / "snmp"), _IPV4) + _snmp6_total(_read(net / "snmp6"), _IPV6)

    def close(self) -> None:
        if self._holder.poll() is None:
            self._holder.kill()
        self._holder.wait()
        for stream in (self._holder.stdin, self._holder.stdout):
            if stream is not None:
                stream.close()


class NamespaceSupply:
    """Fresh namespaces one ahead: the next run's is made in the background while this one runs.

    Each namespace still serves exactly one run (its counters are that run's evidence); only the
    ~5-20 ms of making it leave the start of a run. A spare left at exit is closed then.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._making: threading.Thread | None = None
        self._made: list[NetworkNamespace | None] = []
        self._finalizer = weakref.finalize(self, _close_spares, self._made)

    def take(self) -> NetworkNamespace | None:
        """A namespace no run has used (made now if no spare is ready), and the next one started."""
        with self._lock:
            making, self._making = self._making, None
        if making is not None:
            making.join()
        spare = self._made.pop() if self._made else None
        namespace = spare or NetworkNamespace.create()
        if namespace is not None:
            thread = threading.Thread(target=lambda: self._made.append(NetworkNamespace.create()), daemon=True,
                                      name="rsilab-netns")
            with self._lock:
                self._making = thread
            thread.start()
        return namespace


def _close_spares(made: list[NetworkNamespace | None]) -> None:
    for namespace in made:
        if namespace is not None:
            namespace.close()
    made.clear()


def _snmp_total(text: str, fields: tuple[str, ...]) -> int:
    """Sum `fields` of the `Ip:` header/value line pair of /proc/net/snmp."""
    rows = [line.split()[1:] for line in text.splitlines() if line.startswith("Ip:")]
    if len(rows) < 2:
        return 0
    values = dict(zip(rows[0], rows[1], strict=False))
    return sum(int(values.get(f, "0")) for f in fields if values.get(f, "0").isdigit())


def _snmp6_total(text: str, fields: tuple[str, ...]) -> int:
    values = dict(line.split()[:2] for line in text.splitlines() if len(line.split()) >= 2)
    return sum(int(values[f]) for f in fields if values.get(f, "").isdigit())


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
