"""Where a secret value can be found on one node: its processes' environment, arguments and memory, and its files."""

from __future__ import annotations

import os
from pathlib import Path

from cluster.raycluster import Node

MAX_REGION = 1 << 30  # larger mappings are address space reserved, not data


def places_holding(secret: str, node: Node, files: Path | None = None) -> list[str]:
    """Every place on `node` where `secret` appears: /proc environ, cmdline and readable memory of each of
    its processes, and every file under `files` (its logs, plasma and spill directories)."""
    needle = secret.encode()
    found = []
    for pid in node.pids():
        for part in ("environ", "cmdline"):
            try:
                if needle in Path(f"/proc/{pid}/{part}").read_bytes():
                    found.append(f"pid {pid} {part}")
            except OSError:
                pass
        if in_memory(pid, needle):
            found.append(f"pid {pid} memory")
    for path in (files or node.directory).rglob("*"):
        try:
            if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                found.append(str(path))
        except OSError:
            pass
    return found


def in_memory(pid: int, needle: bytes) -> bool:
    """Whether `needle` is in any readable mapping of process `pid` (as root: /proc/PID/mem)."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
        fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    except OSError:
        return False
    try:
        for entry in maps:
            fields = entry.split()
            span, perms = fields[0], fields[1]
            if "r" not in perms or (len(fields) > 5 and fields[5] in ("[vvar]", "[vsyscall]", "[vvar_vclock]")):
                continue
            start, end = (int(x, 16) for x in span.split("-"))
            if end - start > MAX_REGION:
                continue
            for offset in range(start, end, 1 << 24):  # 16 MiB at a time, overlapping by the needle's length
                try:
                    chunk = os.pread(fd, min(end - offset, (1 << 24) + len(needle)), offset)
                except OSError:
                    break
                if needle in chunk:
                    return True
    finally:
        os.close(fd)
    return False
