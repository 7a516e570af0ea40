"""The host's Python as a sandbox sees it: the real interpreter and the site-packages to hide or share."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

from rsilab.errors import SandboxError


def clean_relative(path: str) -> str:
    """`path` as a relative path with `..` resolved against the root, so it cannot climb out."""
    return os.path.normpath("/" + path.strip().replace("\\", "/")).lstrip("/")


@functools.cache
def base_interpreter() -> Path:
    """The real interpreter behind the harness's (a venv's python is a link to it)."""
    base = Path(getattr(sys, "_base_executable", None) or sys.executable)
    resolved = base.resolve()
    if not resolved.is_file():
        raise SandboxError(f"cannot find the Python interpreter behind {sys.executable}")
    return resolved


@functools.cache
def site_dirs(interpreter: str) -> tuple[str, ...]:
    """The base interpreter's site-packages directories that exist (to be hidden in the sandbox)."""
    code = "import json, site; print(json.dumps(site.getsitepackages()))"
    result = subprocess.run([interpreter, "-I", "-c", code], capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin"})
    if result.returncode != 0:
        raise SandboxError(f"cannot ask {interpreter} for its site-packages: {result.stderr.strip()}")
    return tuple(p for p in json.loads(result.stdout) if os.path.isdir(p))


@functools.cache
def harness_site_dirs() -> tuple[str, ...]:
    import sysconfig

    paths = sysconfig.get_paths()
    return tuple(dict.fromkeys(p for p in (paths["purelib"], paths["platlib"]) if os.path.isdir(p)))
