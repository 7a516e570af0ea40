"""One sandboxed run of the self on a worker node: the body of the Ray task.

The worker gets what a local run gets and nothing more: the version's tree (a Ray object),
the payload (questions only: targets stay on the head), the sandbox settings and the run's
budget. It starts its own broker, whose provider is the head's actor, runs the same sandbox a
local run uses on a scratch copy of the tree, and returns the run as a record: answers, the
broker's trusted accounting, the violations the sandbox saw, and the node it ran on. It writes
no ledger and no artifact.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsilab.config import SandboxConfig
from rsilab.sandbox.broker import Broker, Budget, Prices
from rsilab.sandbox.process import Limits
from rsilab.sandbox.selfrun import SelfRun, run_self


@dataclass(frozen=True)
class ShardSpec:
    """How a run is sandboxed and metered: the same on every node, and no secret in it."""

    sandbox: SandboxConfig
    protected: tuple[str, ...]
    limits: Limits
    budget: Budget
    prices: Prices
    provider_name: str


@dataclass(frozen=True)
class ShardRecord:
    run: SelfRun
    node: str  # the Ray node id it ran on


def run_shard(tree: dict[str, bytes], command: str, payload: bytes, seed: int | None, spec: ShardSpec,
              actor: Any, key: str) -> ShardRecord:
    """Run `command` of `tree` on `payload` in this node's sandbox; LLM calls go to the head's `actor`."""
    import ray

    from rsilab.cluster.provider_actor import ActorProvider
    from rsilab.sandbox.factory import make_sandbox

    node = ray.get_runtime_context().get_node_id()
    ray.get(actor.attempt.remote(key, node))  # so the head can name where a run that never finished went
    socket_dir = Path(tempfile.mkdtemp(prefix="rsilab-"))  # short: unix socket paths hold 108 bytes
    try:
        provider = ActorProvider(actor, spec.provider_name)
        with Broker(provider, socket_dir / "llm.sock", budget=spec.budget, prices=spec.prices) as broker:
            sandbox = make_sandbox(spec.sandbox, llm_socket=broker.socket_path, protected=spec.protected)
            run = run_self(tree, command, payload, sandbox=sandbox, broker=broker, limits=spec.limits,
                           scratch_root=socket_dir / "scratch", seed=seed)
        return ShardRecord(run, node)
    finally:
        shutil.rmtree(socket_dir, ignore_errors=True)


def probe(backend: str) -> dict[str, Any]:
    """What `rsilab cluster check` asks each node: its host, CPUs, bubblewrap, and whether `backend` runs there."""
    import os
    import platform
    import sys

    import ray

    from rsilab.sandbox.factory import sandbox_problem

    return {"node": ray.get_runtime_context().get_node_id(), "host": platform.node(), "cpus": os.cpu_count(),
            "python": sys.version.split()[0], "bwrap": shutil.which("bwrap"), "problem": sandbox_problem(backend)}
