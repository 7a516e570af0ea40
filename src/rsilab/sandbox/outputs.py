"""Output directories inside the disk quota: staged on a tmpfs of `disk_mb`, copied out after the run.

A bind mount of a host directory has no size limit but the host disk's: a self writing its
weights there could fill the host (a gigabyte landed with disk_mb = 32). As root the harness
mounts one tmpfs of `disk_mb` for all of a run's output directories, binds subdirectories of it
into the sandbox and, once the run is over, copies back only regular files (no links, no
devices, no FIFOs: never followed, never opened blocking), then unmounts it.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

from rsilab.errors import SandboxError

MAX_FILES = 1000  # copied back per run; more is the self's problem, not the host's


class OutputQuota:
    def __init__(self, mount_point: Path) -> None:
        self.mount_point = mount_point

    @classmethod
    def mount(cls, where: Path, size_mb: int, uid: int) -> OutputQuota:
        where.mkdir(mode=0o700)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755,nosuid,nodev", "tmpfs", str(where)],
                              capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})
        if done.returncode != 0:
            raise SandboxError(f"cannot mount a tmpfs for the self's output directories: {done.stderr.strip()}")
        os.chown(where, uid, uid)
        return cls(where)

    def staged(self, index: int, host: Path, uid: int) -> Path:
        """The directory bound in for output directory number `index`, holding what `host` holds now."""
        path = self.mount_point / f"d{index}"
        path.mkdir(exist_ok=True)
        if host.is_dir():
            _copy_tree(host, path)  # the harness's own files: a quota too small for them fails here, loudly
        for root, dirs, files in os.walk(path):
            for name in (root, *(os.path.join(root, n) for n in (*dirs, *files))):
                os.chown(name, uid, uid, follow_symlinks=False)
        return path

    def copy_out(self, index: int, host: Path) -> None:
        """`host` becomes the staged directory's regular files (links and special files are left out)."""
        shutil.rmtree(host, ignore_errors=True)
        host.mkdir(parents=True)
        _copy_tree(self.mount_point / f"d{index}", host)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.mount_point)], capture_output=True, timeout=30,
                       env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})
        shutil.rmtree(self.mount_point, ignore_errors=True)


def _copy_tree(source: Path, dest: Path) -> None:
    copied = 0
    for root, dirs, files in os.walk(source, followlinks=False):
        rel = Path(root).relative_to(source)
        for name in sorted(files):
            if copied >= MAX_FILES:
                return
            copied += _copy_regular(Path(root) / name, dest / rel / name)
        dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(root, d)))


def _copy_regular(source: Path, dest: Path) -> int:
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return 0  # a link (ELOOP), or gone
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return 0
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "wb") as out:
            shutil.copyfileobj(handle, out, 1 << 20)
    return 1
