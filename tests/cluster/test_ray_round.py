"""A round on a real two-node Ray cluster: shards on both nodes, the scores of a local run, and the key on the head alone.

The model is an OpenAI-compatible server (here, in the test process) that answers with the
search script and refuses every call without the planted key. The key is in the environment
of the head node's `ray start` only: every call that reached the model went through the
head's provider actor, and nothing a worker can see holds the key.
"""

from __future__ import annotations

import math
import os
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import tomli_w

from cluster.lab import KEY_ENV, PLANTED_KEY, ray_section, shard_processes, slow_solve, two_scripted_candidates
from cluster.leaks import places_holding
from llm_server import ChatServer
from cluster.raycluster import LocalRayCluster, Node, processes
from rsilab.experiment import Experiment
from rsilab.llm.scripted import ScriptedProvider
from rsilab.records import Assessment

TASKS_PER_SHARD = 10


def two_candidates(cluster: str = "") -> tuple[str, ScriptedProvider]:
    """The search config with two candidates (a harmless edit, then the fix), its model behind an
    OpenAI-compatible server with a key; and the scripted model that server answers with."""
    data = tomllib.loads(two_scripted_candidates())
    model = ScriptedProvider(data["llm"].pop("rules"))
    data["llm"].update(provider="openai-compatible", model="scripted", api_key_env=KEY_ENV, max_retries=0)
    return tomli_w.dumps(data) + cluster, model


@dataclass
class Run:
    exp: Experiment
    outcome: str
    requests: list
    mid_shard: dict = field(default_factory=dict)  # what a search of the worker found while it ran a shard


def run_round(root: Path, cluster: str, *, key_here: bool, watch: Node | None = None) -> Run:
    text, model = two_candidates(cluster)
    seen: dict = {}
    watcher = threading.Thread(target=search_mid_shard, args=(watch, seen), daemon=True) if watch else None
    with ChatServer(model, api_key=PLANTED_KEY) as server:
        text = text.replace('model = "scripted"', f'model = "scripted"\nbase_url = "{server.url}/v1"', 1)
        if key_here:  # a local run reads the key from this process's environment, as the head does
            os.environ[KEY_ENV] = PLANTED_KEY
        try:
            exp = Experiment.init(root, "agent", config_text=text, files=slow_solve(0.02))
            if watcher:
                watcher.start()
            [result] = exp.run(1)
        finally:
            os.environ.pop(KEY_ENV, None)
            seen.setdefault("stop", True)
            if watcher:
                watcher.join()
    return Run(exp, result.outcome, server.requests, seen)


def search_mid_shard(node: Node, seen: dict) -> None:
    """Once `node` runs a shard in its sandbox, search all of the node for the key (the shard's worker and sandbox too)."""
    while "stop" not in seen:
        running = [pid for pid in shard_processes(node) if any(ppid == pid for ppid, _ in processes().values())]
        if running:
            seen.update(shard=running[0], pids=node.pids(), found=places_holding(PLANTED_KEY, node))
            return
        time.sleep(0.01)


@pytest.fixture(scope="module")
def rounds(ray_cluster: LocalRayCluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    base = tmp_path_factory.mktemp("rounds")
    local = run_round(base / "local", f"\n[cluster]\ntasks_per_shard = {TASKS_PER_SHARD}\n", key_here=True)
    on_ray = run_round(base / "ray", ray_section(ray_cluster, TASKS_PER_SHARD), key_here=False,
                       watch=ray_cluster.node("worker1"))
    return {"local": local, "ray": on_ray}


def test_a_round_with_two_candidates_puts_shards_on_both_nodes(rounds: dict[str, Run], node_ids: dict[str, str]):
    run = rounds["ray"]
    assert run.outcome == "deployed"
    assert len(run.exp.events("proposal.recorded")) == 2
    used: set[str] = set()
    for event in run.exp.events("assessment.recorded"):
        p = event.payload
        shards = p["shards"]
        n = p.get("shared_run", {}).get("tasks") or p["summary"]["n"]  # a candidate's stage one shares its run
        assert [s["shard"] for s in shards] == list(range(math.ceil(n / TASKS_PER_SHARD))), p
        used |= {s["node"] for s in shards}
    assert used == set(node_ids.values())  # both nodes ran shards, and no node we did not start
    assert run.exp.ledger.verify().ok


def test_scores_on_ray_equal_a_local_run_of_the_same_seeds(rounds: dict[str, Run]):
    local, on_ray = rounds["local"].exp, rounds["ray"].exp
    assert [e.kind for e in local.events()] == [e.kind for e in on_ray.events()]  # the same events, in order

    def assessed(exp: Experiment) -> list[tuple]:
        found = []
        for e in exp.events("assessment.recorded"):
            p = e.payload
            record = exp.artifacts.get_record(p["artifact"], Assessment)
            found.append((p["version"], p["split"], p["stage"], p["seed"], p["summary"]["correct"], p["run_error"],
                           [(o.task_id, o.answer, o.correct) for o in record.outcomes]))
        return found

    assert assessed(local) == assessed(on_ray)
    assert all("shards" not in e.payload for e in local.events("assessment.recorded"))
    assert rounds["local"].outcome == rounds["ray"].outcome == "deployed"
    deployed = [e.payload["version"] for e in on_ray.events("version.deployed")]
    assert deployed == [e.payload["version"] for e in local.events("version.deployed")]


def test_the_planted_key_is_nowhere_a_worker_can_see(rounds: dict[str, Run], ray_cluster: LocalRayCluster):
    # The key was used, on the head: every call of the round carried it (the server refuses any other).
    requests = rounds["ray"].requests
    assert requests and all(r["headers"].get("authorization") == f"Bearer {PLANTED_KEY}" for r in requests)
    worker = ray_cluster.node("worker1")
    # Searched while it ran a shard: every process of the node (the shard's worker, its sandbox), their
    # environment, arguments and memory, and the node's logs, object store and spill directories.
    mid = rounds["ray"].mid_shard
    assert "found" in mid, "the worker never ran a shard while watched"
    assert mid["shard"] in mid["pids"] and len(mid["pids"]) > 3
    assert mid["found"] == []
    # And again after the round, with the logs of every worker the node ran.
    assert list(worker.directory.rglob("python-core-worker-*.log")), "no worker logs to search"
    assert places_holding(PLANTED_KEY, worker) == []
    # The same search finds the key where it is meant to be: in the head's environment and memory.
    on_head = places_holding(PLANTED_KEY, ray_cluster.node("head"))
    assert any(p.endswith("environ") for p in on_head) and any(p.endswith("memory") for p in on_head), on_head
