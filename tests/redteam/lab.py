"""Helpers for the red-team suite: run attack programs in the real sandbox, record the outside."""

from __future__ import annotations

import hashlib
import os
import textwrap
from pathlib import Path

import pytest
import tomli_w

from rsilab.experiment import Experiment
from rsilab.sandbox.bwrap import bwrap_problem
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
    """Live processes owned by the sandbox's uid (zombies are dead already, waiting to be reaped)."""
    alive = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
                if entry.stat().st_uid == SANDBOX_UID and stat[stat.rfind(")") + 2] not in "ZX":
                    alive.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                pass
    return alive


def attack(lab: Experiment, code: str) -> RunResult:
    """Run Python attack code inside the sandbox (the self's interpreter, as the self would)."""
    return lab.sandbox_exec(["python3", "-c", textwrap.dedent(code)])


def shell(lab: Experiment, script: str) -> RunResult:
    return lab.sandbox_exec(["sh", "-c", script])


def kinds(result: RunResult) -> set[str]:
    return {v.split(":", 1)[0] for v in result.violations}
