"""Run one entry point of the self (`solve` or `improve`) inside the sandbox.

The self's tree is exported fresh into a scratch directory for every run, so
nothing it writes survives into the next run; the input file holds only what the
self may see, and the output file is read back by the harness as untrusted bytes.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rsilab.errors import UntrustedInput
from rsilab.records import Usage
from rsilab.sandbox.broker import Broker
from rsilab.sandbox.process import Limits, RunResult, Sandbox
from rsilab.sandbox.progress import PROGRESS_FILE, Progress, ProgressWatcher
from rsilab.untrusted import read_regular_file

INPUT_FILE = "rsilab_input.json"
OUTPUT_FILE = "rsilab_output.json"
MAX_OUTPUT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class SelfRun:
    result: RunResult
    output: bytes | None  # None when the self wrote no (readable) output file
    usage: Usage  # trusted: counted by the broker
    broker_calls: tuple[dict[str, object], ...]
    unreadable: str | None = None  # why `output` is None: missing, a FIFO or link, over the cap

    @property
    def problem(self) -> str | None:
        """Why this run cannot be trusted to have produced an answer, or None."""
        return run_problem(self.result, self.output is not None, self.unreadable)


def scratch_copy(tree: Mapping[str, bytes], scratch_root: Path, prefix: str) -> Path:
    """A fresh directory under `scratch_root` holding `tree`: what one sandboxed run may change."""
    scratch_root.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=scratch_root))
    for rel, data in tree.items():
        target = workdir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return workdir


def run_problem(result: RunResult, wrote_output: bool, unreadable: str | None = None) -> str | None:
    """Why a run of the self cannot be trusted to have produced its output, or None."""
    if result.timed_out:
        return f"timed out after {result.wall_seconds:.0f} s"
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-3:]
        return f"exited with code {result.returncode}: " + " | ".join(tail)
    if not wrote_output:
        return f"wrote no readable {OUTPUT_FILE}" + (f" ({unreadable})" if unreadable else "")
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
        output, unreadable = read_untrusted(workdir / OUTPUT_FILE)
        return SelfRun(
            result=result,
            output=output,
            usage=broker.usage,
            broker_calls=tuple(_call_dict(c) for c in broker.calls),
            unreadable=unreadable,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def read_untrusted(path: Path, cap: int = MAX_OUTPUT_BYTES) -> tuple[bytes | None, str | None]:
    """The self's output file and None, or None and why not (missing, not a regular file, over `cap`)."""
    try:
        return read_regular_file(Path(path.name), cap, what=path.name, root=path.parent), None
    except UntrustedInput as exc:
        return None, str(exc).removeprefix(f"{path.name}: ")


def _call_dict(call: object) -> dict[str, object]:
    if isinstance(call, dict):
        return call
    return {k: v for k, v in vars(call).items()} if hasattr(call, "__dict__") else {"call": repr(call)}
