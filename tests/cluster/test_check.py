"""`rsilab cluster check` on real Ray clusters: it lists the nodes, and refuses (as `rsilab run` does) where one cannot sandbox."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cluster.lab import NEEDS_RAY, ray_section, two_scripted_candidates
from cluster.raycluster import LocalRayCluster, start_cluster
from rsilab.cli import app
from rsilab.cluster import ClusterError
from rsilab.experiment import Experiment


def test_check_lists_both_nodes_with_their_cpus_and_bubblewrap(ray_cluster: LocalRayCluster, node_ids: dict[str, str],
                                                                tmp_path: Path):
    exp = Experiment.init(tmp_path / "exp", "agent", config_text=two_scripted_candidates() + ray_section(ray_cluster))
    shown = CliRunner().invoke(app, ["cluster", "check", "--dir", str(exp.root)])
    assert shown.exit_code == 0, shown.output
    assert "2 node(s), 2 CPU(s) for Ray" in shown.output
    assert all(node[:12] in shown.output for node in node_ids.values())
    found = CliRunner().invoke(app, ["cluster", "check", "--dir", str(exp.root), "--json"])
    nodes = {n["node"]: n for n in json.loads(found.output)["nodes"]}
    assert set(nodes) == set(node_ids.values())
    assert nodes[node_ids["head"]]["head"] and not nodes[node_ids["worker1"]]["head"]
    assert all(n["ray_cpus"] == 1 and n["bwrap"] and n["problem"] is None for n in nodes.values())


@pytest.fixture
def cluster_without_bwrap() -> LocalRayCluster:
    """A one-node cluster whose PATH has no bubblewrap (the venv's bin only), as on a node nobody set up."""
    pytest.importorskip("ray", reason=NEEDS_RAY)
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    cluster = start_cluster(head_env=env, worker_env=env, workers=0)
    yield cluster
    cluster.stop()


def test_a_node_without_bubblewrap_is_named_and_refused_by_check_and_run(cluster_without_bwrap: LocalRayCluster,
                                                                        tmp_path: Path):
    exp = Experiment.init(tmp_path / "exp", "agent",
                          config_text=two_scripted_candidates() + ray_section(cluster_without_bwrap))
    shown = CliRunner().invoke(app, ["cluster", "check", "--dir", str(exp.root)])
    assert shown.exit_code == 1
    assert "refusing: 1 of 1 node(s) cannot run sandbox.backend = 'bwrap'" in shown.output
    assert "bwrap is not installed" in shown.output
    with pytest.raises(ClusterError, match="bwrap is not installed"):
        exp.run(1)
    assert not exp.events("round.started")  # refused before anything was recorded


def test_rsilab_assess_runs_its_shards_on_the_cluster(ray_cluster: LocalRayCluster, node_ids: dict[str, str], tmp_path: Path):
    exp = Experiment.init(tmp_path / "exp", "agent", config_text=two_scripted_candidates() + ray_section(ray_cluster, 10))
    shown = CliRunner().invoke(app, ["assess", "v1", "--n", "25", "--dir", str(exp.root), "--json"])
    assert shown.exit_code == 0, shown.output
    [event] = Experiment(exp.root).events("assessment.recorded")
    assert event.payload["summary"]["n"] == 25
    shards = event.payload["shards"]
    assert [s["shard"] for s in shards] == [0, 1, 2] and {s["node"] for s in shards} <= set(node_ids.values())
