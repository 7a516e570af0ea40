"""Choose the sandbox backend named in the config, and say loudly when it isolates nothing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rsilab.config import SandboxConfig
from rsilab.sandbox.process import Sandbox

UNSAFE_BACKENDS = frozenset({"process", "none-UNSAFE"})


def unsafe_warning(backend: str) -> str | None:
    """The warning every run with this backend must show, or None for a real sandbox."""
    if backend not in UNSAFE_BACKENDS:
        return None
    return (f"UNSAFE: sandbox.backend = {backend!r} runs the self's code with resource limits only — "
            "no filesystem, network or process isolation. Use \"bwrap\" (or \"landlock\" where bubblewrap is missing).")


def sandbox_problem(backend: str) -> str | None:
    """Why `backend` cannot run on this machine, or None."""
    if backend == "bwrap":
        from rsilab.sandbox.bwrap import bwrap_problem

        return bwrap_problem()
    if backend == "landlock":
        from rsilab.sandbox.landlock import landlock_problem

        return landlock_problem()
    return None


def make_sandbox(config: SandboxConfig, *, llm_socket: Path | None, protected: Sequence[str]) -> Sandbox:
    if config.backend == "bwrap":
        from rsilab.sandbox.bwrap import BwrapSandbox, BwrapSettings

        settings = BwrapSettings(uid=config.uid, uid_pool=config.uid_pool, disk_mb=config.disk_mb,
                                site_packages=config.site_packages)
        return BwrapSandbox(llm_socket=llm_socket, protected=protected, settings=settings)
    if config.backend == "landlock":
        from rsilab.sandbox.landlock import LandlockSandbox

        return LandlockSandbox(protected=protected, uid=config.uid, uid_pool=config.uid_pool,
                               site_packages=config.site_packages, llm_socket=llm_socket)
    from rsilab.sandbox.process import ProcessSandbox

    return ProcessSandbox()
