"""Run one command of a trainable self in the sandbox, with its Python packages and weight files.

Like `sandbox.selfrun`, each run gets a fresh scratch copy of one version's tree; the
difference is what crosses the boundary: weight files go in (copied from the artifact
store, hash-checked) and come out (read without following links, size-capped, stored
content-addressed). The interpreter keeps the environment's site-packages (torch)
but not the user's site or PYTHON* variables. There is no LLM broker: a trainable
self has no business calling a model.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsilab.sandbox.process import Limits, RunResult, Sandbox
from rsilab.sandbox.selfrun import INPUT_FILE, OUTPUT_FILE, open_regular, read_untrusted, run_problem, scratch_copy
from rsilab.store.artifacts import ArtifactStore

MAX_OUTPUT_BYTES = 64 * 1024 * 1024
MAX_WEIGHTS_BYTES = 8 * 1024 * 1024 * 1024


@dataclass(frozen=True)
class TrainableRun:
    result: RunResult
    output: Any  # the self's JSON reply (untrusted), None when missing or not JSON
    files: dict[str, str]  # name → artifact digest of each requested output file it wrote

    @property
    def problem(self) -> str | None:
        """Why this run cannot be trusted to have produced its output, or None."""
        return run_problem(self.result, self.output is not None)


def run_trainable(
    tree: Mapping[str, bytes],
    command: str,
    request: dict[str, Any],
    *,
    store: ArtifactStore,
    weights_in: Mapping[str, str],
    files_out: Sequence[str] = (),
    sandbox: Sandbox,
    limits: Limits,
    scratch_root: Path,
    env: Mapping[str, str] | None = None,
) -> TrainableRun:
    """`weights_in` maps a file name in the scratch copy to the digest of a stored artifact."""
    workdir = scratch_copy(tree, scratch_root, prefix=f"{command}-")
    try:
        for name, digest in weights_in.items():
            (workdir / name).write_bytes(store.get_bytes(digest))  # re-hashed on read
        (workdir / INPUT_FILE).write_text(json.dumps(request), encoding="utf-8")
        # The sandbox's interpreter; the self imports torch from the site-packages it is shown read-only.
        argv = [*sandbox.python, "main.py", command, INPUT_FILE, OUTPUT_FILE]
        result = sandbox.run(argv, workdir, limits=limits, env=dict(env or {}),
                             readonly=(INPUT_FILE, *weights_in), outputs=(OUTPUT_FILE, *_output_dirs(files_out)))
        raw = read_untrusted(workdir / OUTPUT_FILE, MAX_OUTPUT_BYTES)
        files = {}
        for name in files_out:
            digest = _store_untrusted(workdir / name, store)
            if digest is not None:
                files[name] = digest
        return TrainableRun(result=result, output=_json_or_none(raw), files=files)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _output_dirs(files_out: Sequence[str]) -> list[str]:
    """Outputs in a subdirectory are declared as that directory, so the self may write them by rename."""
    return sorted({f"{posixpath.dirname(name)}/" if "/" in name else name for name in files_out})


def _json_or_none(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def _store_untrusted(path: Path, store: ArtifactStore) -> str | None:
    """Copy an output file out of the scratch dir (streamed, capped) and store it by hash."""
    fd = open_regular(path)
    if fd is None or os.fstat(fd).st_size > MAX_WEIGHTS_BYTES:
        if fd is not None:
            os.close(fd)
        return None
    with os.fdopen(fd, "rb") as source, tempfile.NamedTemporaryFile(prefix="rsilab-weights-") as copy:
        shutil.copyfileobj(source, copy, 1 << 20)
        copy.flush()
        return store.put_file(Path(copy.name))
