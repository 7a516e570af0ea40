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

from rsilab.errors import UntrustedInput
from rsilab.sandbox.process import Limits, RunResult, Sandbox
from rsilab.sandbox.selfrun import INPUT_FILE, OUTPUT_FILE, read_untrusted, run_problem, scratch_copy
from rsilab.store.artifacts import ArtifactStore
from rsilab.untrusted import open_regular, read_json

MAX_OUTPUT_BYTES = 64 * 1024 * 1024
MAX_WEIGHTS_BYTES = 8 * 1024 * 1024 * 1024


@dataclass(frozen=True)
class TrainableRun:
    result: RunResult
    output: Any  # the self's JSON reply (untrusted), None when missing or not JSON
    files: dict[str, str]  # name → artifact digest of each requested output file it wrote
    unreadable: str | None = None  # why `output` is None

    @property
    def problem(self) -> str | None:
        """Why this run cannot be trusted to have produced its output, or None."""
        return run_problem(self.result, self.output is not None, self.unreadable)


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
    folders_in: Mapping[str, Path] | None = None,
) -> TrainableRun:
    """`weights_in` maps a file name in the scratch copy to the digest of a stored artifact;
    `folders_in` a folder name to a harness folder (a base model) shown read-only."""
    workdir = scratch_copy(tree, scratch_root, prefix=f"{command}-")
    try:
        for name, source in (folders_in or {}).items():
            _link_folder(source, workdir / name)
        for name, digest in weights_in.items():
            (workdir / name).write_bytes(store.get_bytes(digest))  # re-hashed on read
        (workdir / INPUT_FILE).write_text(json.dumps(request), encoding="utf-8")
        # The sandbox's interpreter; the self imports torch from the site-packages it is shown read-only.
        argv = [*sandbox.python, "main.py", command, INPUT_FILE, OUTPUT_FILE]
        result = sandbox.run(argv, workdir, limits=limits, env=dict(env or {}),
                             readonly=(INPUT_FILE, *weights_in, *(folders_in or {})), outputs=(OUTPUT_FILE, *_output_dirs(files_out)))
        raw, unreadable = read_untrusted(workdir / OUTPUT_FILE, MAX_OUTPUT_BYTES)
        output, unreadable = _json_or_none(raw, unreadable)
        files = {}
        for name in files_out:
            digest = _store_untrusted(workdir, name, store)
            if digest is not None:
                files[name] = digest
        return TrainableRun(result=result, output=output, files=files, unreadable=unreadable)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _link_folder(source: Path, target: Path) -> None:
    """Hard links where the file system allows (a gigabyte of base weights per run otherwise), else copies."""
    target.mkdir()
    for item in sorted(source.iterdir()):
        if item.is_file() and not item.is_symlink():
            try:
                os.link(item, target / item.name)
            except OSError:
                shutil.copyfile(item, target / item.name)


def _output_dirs(files_out: Sequence[str]) -> list[str]:
    """Outputs in a subdirectory are declared as that directory, so the self may write them by rename."""
    return sorted({f"{posixpath.dirname(name)}/" if "/" in name else name for name in files_out})


def _json_or_none(raw: bytes | None, unreadable: str | None) -> tuple[Any, str | None]:
    if raw is None:
        return None, unreadable
    try:
        return read_json(raw, what=OUTPUT_FILE, max_bytes=MAX_OUTPUT_BYTES), None
    except UntrustedInput as exc:
        return None, str(exc).removeprefix(f"{OUTPUT_FILE}: ")


def _store_untrusted(workdir: Path, name: str, store: ArtifactStore) -> str | None:
    """Copy an output file out of the scratch dir (streamed, capped, no link followed on the way) and store it."""
    try:
        fd = open_regular(Path(name), what=name, root=workdir)
    except UntrustedInput:
        return None
    try:
        if os.fstat(fd).st_size > MAX_WEIGHTS_BYTES:
            return None
        with tempfile.NamedTemporaryFile(prefix="rsilab-weights-") as copy:
            left = MAX_WEIGHTS_BYTES + 1  # the self is gone, but read no more than the cap whatever fstat said
            while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
                copy.write(chunk)
                left -= len(chunk)
            if left <= 0:
                return None
            copy.flush()
            return store.put_file(Path(copy.name))
    except OSError:
        return None
    finally:
        os.close(fd)
