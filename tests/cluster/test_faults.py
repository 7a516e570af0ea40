"""A worker killed mid-shard on a real Ray cluster: retried by Ray, the round completes, the ledger has each event once."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from cluster.lab import NEEDS_RAY, kill_first_shard, ray_section, shard_processes, slow_solve, two_scripted_candidates
from cluster.raycluster import LocalRayCluster, processes, start_cluster
from rsilab.cluster import ClusterError
from rsilab.config import CONFIG_FILE
from rsilab.experiment import Experiment

pytestmark = pytest.mark.slow
SOLVE = slow_solve(0.05)  # each shard of 10 tasks takes half a second: time to catch it running


def assessments(exp: Experiment) -> list[tuple]:
    return [(p["version"], p["split"], p["stage"], p["summary"]["correct"], p["summary"]["n"])
            for p in (e.payload for e in exp.events("assessment.recorded"))]


def run_killing(exp: Experiment, node, times: int = 1) -> tuple[list, list[int]]:
    """Run one round while a thread kills the node's shard worker `times` times, each once it is inside a sandbox."""
    killed: list[int] = []
    stop: list[bool] = []
    killer = threading.Thread(target=kill_first_shard, args=(node, killed, stop, times), daemon=True)
    killer.start()
    try:
        return exp.run(1), killed
    finally:
        stop.append(True)
        killer.join()


def test_a_worker_killed_mid_shard_is_retried_and_the_round_completes_with_a_verified_ledger(
    ray_cluster: LocalRayCluster, tmp_path: Path
):
    config = two_scripted_candidates()
    local = Experiment.init(tmp_path / "local", "agent", config_text=config + "\n[cluster]\ntasks_per_shard = 10\n",
                            files=SOLVE)
    local.run(1)
    exp = Experiment.init(tmp_path / "ray", "agent", config_text=config + ray_section(ray_cluster, 10, max_retries=2),
                          files=SOLVE)
    [result], killed = run_killing(exp, ray_cluster.node("worker1"))
    assert len(killed) == 1  # one worker died inside a sandboxed run
    assert result.outcome == "deployed"
    assert exp.ledger.verify().ok
    # Each assessment once, whole, with the local run's scores: no event duplicated, none lost.
    assert assessments(exp) == assessments(local)
    assert [e.kind for e in exp.events()] == [e.kind for e in local.events()]
    for event in exp.events("assessment.recorded"):
        shards = [s["shard"] for s in event.payload["shards"]]
        assert shards == sorted(set(shards)) == list(range(len(shards)))


def test_a_run_killed_on_its_only_try_names_the_node_and_the_round_resumes(
    ray_cluster: LocalRayCluster, node_ids: dict[str, str], tmp_path: Path
):
    exp = Experiment.init(tmp_path / "exp", "agent",
                          config_text=two_scripted_candidates() + ray_section(ray_cluster, 10, max_retries=0), files=SOLVE)
    with pytest.raises(ClusterError) as failed:
        run_killing(exp, ray_cluster.node("worker1"))
    message = str(failed.value)
    assert "failed on every try (1 allowed" in message and node_ids["worker1"][:12] in message, message
    assert len(exp.events("round.started")) == 1 and not exp.events("round.completed")  # the round stays open
    # With retries allowed again, `rsilab run` finishes the same round from the ledger.
    path = exp.root / CONFIG_FILE
    path.write_text(path.read_text().replace("max_retries = 0", "max_retries = 2"))
    [result] = Experiment(exp.root).run(1)
    assert result.outcome == "deployed" and result.round == 1
    resumed = Experiment(exp.root)
    assert resumed.ledger.verify().ok
    keys = [(v, s, st) for v, s, st, _, _ in assessments(resumed)]
    assert len(keys) == len(set(keys))


def test_a_node_killed_mid_shard_leaves_its_work_to_the_others_and_the_round_completes(tmp_path: Path):
    pytest.importorskip("ray", reason=NEEDS_RAY)
    env = {k: v for k, v in os.environ.items()}
    cluster = start_cluster(head_env=env, worker_env=env)  # its own: this one loses a node
    try:
        exp = Experiment.init(tmp_path / "exp", "agent",
                              config_text=two_scripted_candidates() + ray_section(cluster, 10, max_retries=3), files=SOLVE)
        worker = cluster.node("worker1")
        gone: list[int] = []
        done: list[bool] = []

        def kill_node_mid_shard() -> None:
            while not gone and not done:
                if [pid for pid in shard_processes(worker) if any(ppid == pid for ppid, _ in processes().values())]:
                    gone.extend(worker.pids())
                    for pid in gone:  # the whole node at once: raylet, agents, workers, their sandboxes
                        try:
                            os.kill(pid, 9)
                        except ProcessLookupError:
                            pass
                time.sleep(0.01)

        killer = threading.Thread(target=kill_node_mid_shard, daemon=True)
        killer.start()
        try:
            [result] = exp.run(1)
        finally:
            done.append(True)
            killer.join()
        assert gone and not worker.pids()
        assert result.outcome == "deployed"
        assert exp.ledger.verify().ok
        keys = [(v, s, st) for v, s, st, _, _ in assessments(exp)]
        assert len(keys) == len(set(keys))
    finally:
        cluster.stop()
