"""The launcher a sandboxed run starts under: limits and cgroup applied before exec, no Python in the child.

A Python `preexec_fn` makes Popen fork the whole harness (tens of ms for a large process with
threads) instead of vfork; these steps are done by small programs instead, on the same pid.
"""

from __future__ import annotations

import resource
import shlex
import shutil

from rsilab.sandbox.cgroup import RunCgroup

_PRLIMIT_NAMES = {resource.RLIMIT_CPU: "cpu", resource.RLIMIT_AS: "as", resource.RLIMIT_FSIZE: "fsize",
                  resource.RLIMIT_NOFILE: "nofile", resource.RLIMIT_NPROC: "nproc", resource.RLIMIT_CORE: "core"}


def launcher(rlimits: list[tuple[int, int, int]], cgroup: RunCgroup | None) -> list[str]:
    """The argv prefix that joins the run's cgroup and sets its rlimits, then execs the command.

    A shell writes "0" into each cgroup.procs (moving itself), then `prlimit` sets every limit
    and execs: the same steps, in the same order, as a preexec_fn, on the same pid. Empty where
    util-linux's prlimit is missing (the preexec_fn is used instead).
    """
    prlimit = shutil.which("prlimit", path="/usr/bin:/bin")
    if prlimit is None or any(which not in _PRLIMIT_NAMES for which, _, _ in rlimits):
        return []
    unlimited = lambda value: "unlimited" if value == resource.RLIM_INFINITY else str(value)  # noqa: E731
    options = [f"--{_PRLIMIT_NAMES[which]}={unlimited(soft)}:{unlimited(hard)}" for which, soft, hard in rlimits]
    joins = "".join(f"echo 0 > {shlex.quote(procs)} || exit 125; " for procs in (cgroup.procs_files if cgroup else ()))
    return ["/bin/sh", "-c", f'{joins}exec "$@"', "sh", prlimit, *options, "--"]
