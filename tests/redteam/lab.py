"""Helpers for the red-team suite: run attack programs in the real sandbox, record the outside."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest
import tomli_w

from rsilab.experiment import Experiment
from rsilab.sandbox.bwrap import bwrap_problem
from rsilab.sandbox.uids import POOL_SIZE, leased, live_processes
from rsilab.sandbox.process import RunResult

SECRET = "sk-redteam-0123456789abcdefSECRET"
SANDBOX_UID = 61000
LIMITS = {"cpu_seconds": 2, "memory_mb": 512, "file_size_mb": 8, "processes": 64, "disk_mb": 16, "wall_seconds": 20,
          "uid": SANDBOX_UID}

_problem = bwrap_problem()
needs_bwrap = pytest.mark.skipif(_problem is not None, reason=f"no bwrap sandbox here: {_problem}")


def lab_config(**sandbox: object) -> str:
    return tomli_w.dumps({
        "experiment": {"name": "redteam"},
        "sandbox": {"backend": "bwrap", **LIMITS, **sandbox},
        "llm": {"provider": "scripted", "rules": [{"match": ".", "responses": ["\\boxed{0}"]}]},
        "review": {"autonomy": "policy"},
    })


def snapshot(*roots: Path) -> dict[str, str]:
    """sha256 of every file under `roots`, skipping the harness's scratch, lock and SQLite's shared-memory index (rewritten by reads)."""
    found = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root).as_posix()
            if rel.startswith((".rsilab/scratch", ".rsilab/lock")) or rel.endswith("-shm") or not path.is_file():
                continue
            found[f"{root}/{rel}"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def sandbox_processes() -> list[int]:
    """Live processes left behind by finished runs: owned by a sandbox uid that no run holds now.

    Each run leases its own uid and gives it back only once all its processes are gone, so a
    process of an unleased uid is a leak, while other experiments' running sandboxes (on
    leased uids) are not counted.
    """
    pool = range(SANDBOX_UID, SANDBOX_UID + POOL_SIZE)
    before = live_processes(pool)
    unleased = {uid for uid in before if not leased(uid)}
    after = live_processes(pool)
    # Alive before and after the lease check, on a uid no run held in between: another run that gave
    # its uid back had ended its processes first, and one that took a uid since started them after.
    return sorted(pid for uid in unleased for pid in set(before[uid]) & set(after.get(uid, [])))


def attack(lab: Experiment, code: str) -> RunResult:
    """Run Python attack code inside the sandbox (the self's interpreter, as the self would)."""
    return lab.sandbox_exec(["python3", "-c", textwrap.dedent(code)])


def shell(lab: Experiment, script: str) -> RunResult:
    return lab.sandbox_exec(["sh", "-c", script])


def kinds(result: RunResult) -> set[str]:
    """Kinds of what the harness or the kernel observed (these decide gates)."""
    return {v.split(":", 1)[0] for v in result.violations}


def reported_kinds(result: RunResult) -> set[str]:
    """Kinds of what the witness inside the self wrote (its own account: decides nothing)."""
    return {v.split(":", 1)[0] for v in result.reported}


def kernel_saw_network(result: RunResult) -> bool:
    """The sandbox's own network namespace counted IP packets (bwrap as root; see sandbox/netns.py)."""
    return any(v.startswith("network: ") and "IP packet" in v for v in result.violations)
