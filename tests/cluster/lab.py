"""What the cluster tests share: the planted key, the [cluster] section, finding and killing a node's shard workers."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from cluster.raycluster import LocalRayCluster, Node, processes

NEEDS_RAY = "the real-cluster tests need Ray: pip install 'rsilab[cluster]'"
KEY_ENV = "RSILAB_CLUSTER_TEST_KEY"
PLANTED_KEY = f"rsk-planted-{secrets.token_hex(16)}"  # a value no other process on the machine holds


def ray_section(cluster: LocalRayCluster, tasks_per_shard: int = 10, max_retries: int = 3) -> str:
    return (f'\n[cluster]\nbackend = "ray"\naddress = "{cluster.address}"\n'
            f"tasks_per_shard = {tasks_per_shard}\nmax_retries = {max_retries}\n")


def shard_processes(node: Node) -> list[int]:
    """The node's Ray workers that are running a shard now (Ray titles a busy worker `ray::<task>`)."""
    found = []
    for pid in node.pids():
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::run_shard"):
                found.append(pid)
        except OSError:
            pass
    return found


def kill_first_shard(node: Node, killed: list[int], stop: list[bool], times: int = 1) -> None:
    """Kill -9 the node's worker once it is inside a sandboxed run (its sandbox is its child), `times` times."""
    while not stop and len(killed) < times:
        for pid in shard_processes(node):
            if pid not in killed and _has_children(pid):
                try:
                    os.kill(pid, 9)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
                break
        time.sleep(0.01)


def _has_children(pid: int) -> bool:
    return any(ppid == pid for ppid, _ in processes().values())


def two_scripted_candidates() -> str:
    """The search script with two candidates: a harmless edit (attempt 1), then the real fix (attempt 2)."""
    from search_scripts import search_config

    text = search_config(candidates=2).replace('match = "Attempt 4 of 4"', 'match = "Attempt 1 of 2"')
    return text.replace('match = "Attempt 3 of 4"', 'match = "Attempt 2 of 2"')


def slow_solve(seconds: float) -> dict[str, bytes]:
    """The template's solve.py taking `seconds` a task (a stand-in for a model call), as a file of the self."""
    from importlib import resources

    text = (resources.files("rsilab") / "templates" / "agent" / "solve.py").read_text()
    text = text.replace("import collections\n", "import collections\nimport time\n", 1)
    text = text.replace("def solve_task(task: dict) -> dict:\n", f"def solve_task(task: dict) -> dict:\n    time.sleep({seconds})\n", 1)
    assert f"time.sleep({seconds})" in text
    return {"solve.py": text.encode()}
