"""A real Ray cluster on this machine: a head and more nodes, each its own `ray start`, one CPU each.

Every node runs in its own session (process group) with its own temp, plasma and spill
directories, so a test can kill exactly one node's processes, read exactly one node's files,
and stop the whole cluster without touching any other Ray on the machine (never `ray stop`,
which stops every Ray of every user).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
SRC = str(Path(__file__).resolve().parents[2] / "src")
TESTS = str(Path(__file__).resolve().parents[1])
OBJECT_STORE_BYTES = 200_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Node:
    name: str
    pgid: int
    node_manager_port: int
    directory: Path  # its temp dir (logs, sockets), plasma and spill directories

    def pids(self) -> list[int]:
        """Every live process of this node: its `ray start` session and their descendants (Ray starts each
        worker in a session of its own, and a worker's sandboxes are its children)."""
        table = processes()
        members = {pid for pid, (_, pgid) in table.items() if pgid == self.pgid}
        grew = True
        while grew:
            more = {pid for pid, (ppid, _) in table.items() if ppid in members} - members
            members |= more
            grew = bool(more)
        return sorted(members)


def processes() -> dict[int, tuple[int, int]]:
    """pid → (parent pid, process group) of every live process."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(stat.parent.name)] = (int(fields[1]), int(fields[2]))
    return table


@dataclass
class LocalRayCluster:
    root: Path
    address: str = ""
    nodes: list[Node] = field(default_factory=list)

    def start_node(self, name: str, env: dict[str, str], *, head: bool = False, cpus: int = 1) -> Node:
        directory = self.root / name
        for sub in ("tmp", "plasma", "spill"):
            (directory / sub).mkdir(parents=True, exist_ok=True)
        manager = free_port()
        argv = [RAY, "start", f"--num-cpus={cpus}", f"--object-store-memory={OBJECT_STORE_BYTES}",
                "--disable-usage-stats", f"--temp-dir={directory / 'tmp'}",
                f"--plasma-directory={directory / 'plasma'}", f"--object-spilling-directory={directory / 'spill'}",
                f"--node-manager-port={manager}", f"--object-manager-port={free_port()}",
                f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
                f"--metrics-export-port={free_port()}", f"--runtime-env-agent-port={free_port()}",
                "--node-ip-address=127.0.0.1"]
        if head:
            port = free_port()
            argv += ["--head", "--include-dashboard=false", f"--port={port}", f"--ray-client-server-port={free_port()}", f"--dashboard-port={free_port()}"]
            self.address = f"127.0.0.1:{port}"
        else:
            argv += [f"--address={self.address}"]
        env = {**env, "PYTHONPATH": os.pathsep.join([SRC, TESTS]), "RAY_USAGE_STATS_ENABLED": "0"}
        process = subprocess.Popen(argv, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = process.communicate(timeout=180)
        if process.returncode != 0:
            raise RuntimeError(f"`ray start` for {name} failed:\n{out.decode(errors='replace')[-3000:]}")
        node = Node(name, process.pid, manager, directory)  # the session leader's pid is its group's id
        self.nodes.append(node)
        return node

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def stop(self) -> None:
        # By pid and start time, taken now: once a raylet is gone its workers are the init process's children.
        mine = {(pid, started(pid)) for node in self.nodes for pid in node.pids()}
        for node in reversed(self.nodes):
            _kill_group(node.pgid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and any(started(pid) == t for pid, t in mine):
            time.sleep(0.2)
        for pid, t in mine:
            if started(pid) == t:  # only processes of these nodes, never another Ray's nor a reused pid
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster(head_env: dict[str, str], worker_env: dict[str, str], workers: int = 1) -> LocalRayCluster:
    cluster = LocalRayCluster(Path(tempfile.mkdtemp(prefix="rsc-", dir="/tmp")))  # short: socket paths are limited
    try:
        cluster.start_node("head", head_env, head=True)
        for k in range(workers):
            cluster.start_node(f"worker{k + 1}", worker_env)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def started(pid: int) -> int | None:
    """The process's start time (clock ticks after boot), or None when it is gone."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
