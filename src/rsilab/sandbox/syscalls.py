"""The seccomp filter both isolating backends put on the self: kernel calls it never needs, refused.

Namespaces, mounts, tracing, kernel modules, keyrings, eBPF, perf and io_uring are how a process
inside a sandbox reaches kernel attack surface that the sandbox's own mounts cannot
guard; a self solving arithmetic or training a model uses none of them. Namespaces are
refused however they are asked for: `unshare`, `setns`, and `clone` with a CLONE_NEW*
flag. `clone3` passes its flags behind a pointer that seccomp cannot read, so it answers
ENOSYS and the C library falls back to `clone`, where the flags are visible.
"""

from __future__ import annotations

import errno
import socket
import tempfile
from typing import Any

LIBSECCOMP_HINT = "apt-get install libseccomp2"

DENIED_SYSCALLS = (
    "ptrace", "mount", "umount2", "unshare", "setns", "pivot_root", "chroot", "bpf", "perf_event_open", "keyctl",
    "add_key", "request_key", "kexec_load", "init_module", "finit_module", "delete_module", "process_vm_readv",
    "process_vm_writev", "userfaultfd", "open_tree", "move_mount", "fsopen", "fsmount", "fspick", "mount_setattr",
    "io_uring_setup", "io_uring_enter", "io_uring_register",  # a frequent source of kernel exploits; nothing here uses it
)

# CLONE_NEWTIME, NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET (linux/sched.h)
NAMESPACE_FLAGS = (0x00000080, 0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)


def seccomp_problem() -> str | None:
    """Why no filter can be built here, or None when one can."""
    try:
        import pyseccomp  # noqa: F401
    except ImportError:
        return "the sandbox's seccomp filter needs pyseccomp: pip install pyseccomp"
    except OSError as e:  # pyseccomp loads libseccomp.so.2 at import
        return f"the sandbox's seccomp filter needs libseccomp ({LIBSECCOMP_HINT}): {e}"
    return None


def self_filter(*, unix_sockets_only: bool) -> Any:
    """A pyseccomp filter that allows everything but the calls above (EPERM, so programs fail cleanly).

    `unix_sockets_only` also refuses every socket but AF_UNIX, for a backend with no network
    namespace of its own to fall back on.
    """
    import pyseccomp

    refuse = pyseccomp.ERRNO(errno.EPERM)
    found = pyseccomp.SyscallFilter(defaction=pyseccomp.ALLOW)
    if unix_sockets_only:
        found.add_rule(pyseccomp.ERRNO(errno.EACCES), "socket", pyseccomp.Arg(0, pyseccomp.NE, socket.AF_UNIX))
    for name in DENIED_SYSCALLS:
        found.add_rule(refuse, name)
    for flag in NAMESPACE_FLAGS:
        found.add_rule(refuse, "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, flag, flag))
    found.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")
    return found


def compiled_filter(*, unix_sockets_only: bool) -> bytes:
    """The filter as a classic BPF program, what `bwrap --seccomp FD` loads."""
    with tempfile.TemporaryFile() as handle:
        self_filter(unix_sockets_only=unix_sockets_only).export_bpf(handle)  # writes through the descriptor
        handle.seek(0)
        return handle.read()
