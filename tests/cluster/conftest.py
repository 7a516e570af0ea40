"""A real two-node Ray cluster for the session: a head that holds a planted provider key, and a worker that must never see it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from cluster.lab import KEY_ENV, NEEDS_RAY, PLANTED_KEY
from cluster.raycluster import LocalRayCluster, start_cluster


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[LocalRayCluster]:
    pytest.importorskip("ray", reason=NEEDS_RAY)
    base = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    cluster = start_cluster(head_env={**base, KEY_ENV: PLANTED_KEY}, worker_env=base)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def node_ids(ray_cluster: LocalRayCluster) -> dict[str, str]:
    """Node name ("head", "worker1") → Ray node id."""
    import ray

    ray.init(address=ray_cluster.address, log_to_driver=False, logging_level="warning")
    try:
        by_port = {n["NodeManagerPort"]: n["NodeID"] for n in ray.nodes() if n["Alive"]}
    finally:
        ray.shutdown()
    return {n.name: by_port[n.node_manager_port] for n in ray_cluster.nodes}


