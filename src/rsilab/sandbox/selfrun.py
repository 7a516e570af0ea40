"""Run one entry point of the self (`solve` or `improve`) inside the sandbox.

The self's tree is exported fresh into a scratch directory for every run, so
nothing it writes survives into the next run; the input file holds only what the
self may see, and the output file is read back by the harness as untrusted bytes.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rsilab.records import Usage
from rsilab.sandbox.broker import Broker
from rsilab.sandbox.process import Limits, RunResult, Sandbox
from rsilab.sandbox.progress import PROGRESS_FILE, Progress, ProgressWatcher

INPUT_FILE = "rsilab_input.json"
OUTPUT_FILE = "rsilab_output.json"
MAX_OUTPUT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class SelfRun:
    result: RunResult
    output: bytes | None  # None when the self wrote no (readable) output file
    usage: Usage  # trusted: counted by the broker
    broker_calls: tuple[dict[str, object], ...]

    @property
    def problem(self) -> str | None:
        """Why this run cannot be trusted to have produced an answer, or None."""
        return run_problem(self.result, self.output is not None)


def scratch_copy(tree: Mapping[str, bytes], scratch_root: Path, prefix: str) -> Path:
    """A fresh directory under `scratch_root` holding `tree`: what one sandboxed run may change."""
    scratch_root.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=scratch_root))
    for rel, data in tree.items():
        target = workdir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return workdir


def run_problem(result: RunResult, wrote_output: bool) -> str | None:
    """Why a run of the self cannot be trusted to have produced its output, or None."""
    if result.timed_out:
        return f"timed out after {result.wall_seconds:.0f} s"
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-3:]
        return f"exited with code {result.returncode}: " + " | ".join(tail)
    if not wrote_output:
        return f"wrote no readable {OUTPUT_FILE}"
    return None


def run_self(
    tree: dict[str, bytes],
    command: str,
    payload: bytes,
    *,
    sandbox: Sandbox,
    broker: Broker,
    limits: Limits,
    scratch_root: Path,
    on_progress: Progress | None = None,
    seed: int | None = None,
) -> SelfRun:
    """`seed`: the harness's sampling seed for the run's LLM calls (see Broker.reset)."""
    workdir = scratch_copy(tree, scratch_root, prefix=f"{command}-")
    try:
        (workdir / INPUT_FILE).write_bytes(payload)
        broker.reset(seed)
        argv = [*sandbox.python, "main.py", command, INPUT_FILE, OUTPUT_FILE]
        env = {"RSILAB_LLM_SOCKET": str(broker.socket_path)}
        # The progress file is an output too: under bwrap only declared outputs come back out.
        options = {"readonly": (INPUT_FILE,), "outputs": (OUTPUT_FILE, PROGRESS_FILE)}
        if on_progress is None:
            result = sandbox.run(argv, workdir, limits=limits, env=env, **options)
        else:  # the self's own count of finished tasks, for a progress bar only (see sandbox/progress.py)
            with ProgressWatcher(workdir / PROGRESS_FILE, on_progress):
                result = sandbox.run(argv, workdir, limits=limits, env=env, **options)
        return SelfRun(
            result=result,
            output=read_untrusted(workdir / OUTPUT_FILE),
            usage=broker.usage,
            broker_calls=tuple(_call_dict(c) for c in broker.calls),
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def open_regular(path: Path) -> int | None:
    """A descriptor for a regular file the self wrote, never following a link it planted."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def read_untrusted(path: Path, cap: int = MAX_OUTPUT_BYTES) -> bytes | None:
    """The self's output file, or None when missing, not a regular file, or over `cap` bytes."""
    fd = open_regular(path)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(cap + 1)
    return data if len(data) <= cap else None


def _call_dict(call: object) -> dict[str, object]:
    if isinstance(call, dict):
        return call
    return {k: v for k, v in vars(call).items()} if hasattr(call, "__dict__") else {"call": repr(call)}
