"""`rsilab cluster check`: what the cluster is made of, and whether every node can run the configured sandbox.

Each live node is asked, by a task pinned to it, for its host, CPUs, bubblewrap and whether
the configured sandbox backend runs there (a real sandboxed `true`, as on one machine). A
node that cannot is named with the reason, and `rsilab run` refuses to start on such a cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rsilab.cluster.shards import probe

HEAD_RESOURCE = "node:__internal_head__"


def node_reports(ray: Any, backend: str, timeout: float = 120.0) -> list[dict[str, Any]]:
    """What each live node says about itself (see shards.probe); a node that does not answer says why."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    remote = ray.remote(probe)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    refs = [remote.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(backend)
            for n in nodes]
    reports = []
    for node, ref in zip(nodes, refs):
        base = {"node": node["NodeID"], "address": node.get("NodeManagerAddress"), "ray_cpus": node["Resources"].get("CPU", 0),
                "head": HEAD_RESOURCE in node["Resources"]}
        try:
            reports.append({**base, **ray.get(ref, timeout=timeout)})
        except Exception as exc:  # e.g. rsilab not importable there: the node cannot run a shard either
            reports.append({**base, "problem": f"the node did not answer: {type(exc).__name__}: {_first_line(exc)}"})
    return reports


def refusal(reports: Sequence[dict[str, Any]], backend: str) -> str | None:
    """Why the cluster cannot run the configured sandbox, naming each unfit node; None when every node can."""
    unfit = [r for r in reports if r.get("problem")]
    if not unfit:
        return None
    named = "; ".join(f"node {r['node'][:12]} ({r.get('host') or r.get('address')}): {r['problem']}" for r in unfit)
    return (f"refusing: {len(unfit)} of {len(reports)} node(s) cannot run sandbox.backend = {backend!r} — {named}. "
            "Install bubblewrap and the same Python environment there, or take the node out of the cluster")




def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
