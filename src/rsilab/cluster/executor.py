"""The Ray executor: the runtime's sandboxed runs as Ray tasks on whichever node has a free CPU.

The round is orchestrated as on one machine: its jobs run on threads here, on the head, and
every sandboxed run a job asks for becomes one Ray task (see shards.py) that gets the tree as
a Ray object and the payload (questions only), and returns a record. Scoring, the ledger and
the artifacts stay with the jobs, here. A task whose worker or node dies is retried by Ray
(`cluster.max_retries`); its result is only ever returned once, so the ledger sees no
duplicate. A run that failed on every try stops the round with the nodes it went to.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import shutil
import socket
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from rsilab.cluster import ClusterError, require_ray
from rsilab.cluster.provider_actor import HeadMeter, start_provider_actor
from rsilab.cluster.check import node_reports, refusal
from rsilab.cluster.shards import ShardSpec, run_shard
from rsilab.config import ClusterConfig, Config
from rsilab.errors import ConfigError, RsilabError
from rsilab.llm.base import Provider
from rsilab.records import Usage
from rsilab.rounds import Report
from rsilab.runtime import Runtime, Slot, run_settings, warn_if_unsafe
from rsilab.sandbox.broker import Broker
from rsilab.sandbox.factory import make_sandbox
from rsilab.sandbox.progress import Progress
from rsilab.sandbox.scrub import held_secrets
from rsilab.sandbox.selfrun import SelfRun
from rsilab.search.executor import LocalExecutor

T = TypeVar("T")
MAX_HEAD_THREADS = 64  # jobs waiting on Ray tasks at once; Ray itself decides how many run


class RayExecutor:
    """Jobs on head threads, as wide as the cluster's CPUs; their sandboxed runs go through `run`."""

    def __init__(self, ray: Any, actor: Any, spec: ShardSpec, max_retries: int, workers: int) -> None:
        self._ray, self.actor, self.spec, self.max_retries = ray, actor, spec, max_retries
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, min(MAX_HEAD_THREADS, max(cpus, workers)))
        self._threads = LocalExecutor(self.workers)
        self._remote = ray.remote(run_shard)
        self._trees: dict[str, Any] = {}
        self._lock = threading.Lock()

    def map(self, jobs: Sequence[Callable[[], T]]) -> list[T]:
        return self._threads.map(jobs)

    def run(self, tree: dict[str, bytes], command: str, payload: bytes, seed: int | None) -> tuple[SelfRun, str]:
        """One sandboxed run as a Ray task; (the run, the node it ran on)."""
        key = uuid.uuid4().hex
        task = self._remote.options(num_cpus=1, max_retries=self.max_retries, retry_exceptions=False)
        ref = task.remote(self._tree_ref(tree), command, payload, seed, self.spec, self.actor, key)
        try:
            record = self._ray.get(ref)
        except self._ray.exceptions.RayTaskError as exc:  # the run itself raised: the same error as a local run's
            cause = getattr(exc, "cause", None)
            if isinstance(cause, RsilabError):
                raise cause from None
            raise ClusterError(f"a sandboxed {command} run failed on node {self._nodes(key)}: {_first_line(exc)}") from None
        except self._ray.exceptions.RayError as exc:  # the worker, its node or an object was lost on every try
            raise ClusterError(
                f"a sandboxed {command} run failed on every try ({self.max_retries + 1} allowed, cluster.max_retries): "
                f"ran on node(s) {self._nodes(key)} — {type(exc).__name__}: {_first_line(exc)}; the round stays open, "
                "`rsilab cluster check` shows the nodes, `rsilab run` goes on") from None
        self.actor.attempts_of.remote(key)  # forget its tries (no need to wait)
        return record.run, record.node

    def _tree_ref(self, tree: dict[str, bytes]) -> Any:
        """The tree as a Ray object, put once per content (a round runs each version many times)."""
        digest = hashlib.sha256()
        for rel in sorted(tree):
            digest.update(rel.encode() + b"\0" + hashlib.sha256(tree[rel]).digest())
        key = digest.hexdigest()
        with self._lock:
            if key not in self._trees:
                self._trees[key] = self._ray.put(tree)
            return self._trees[key]

    def _nodes(self, key: str) -> str:
        try:
            tries = self._ray.get(self.actor.attempts_of.remote(key), timeout=30)
        except Exception:  # the actor is gone too: say so rather than hide the first failure
            return "unknown (the head's provider actor did not answer)"
        return ", ".join(f"{n[:12]} (try {i + 1})" for i, n in enumerate(tries)) or "none (it never started)"


class RayRuntime(Runtime):
    """A runtime whose sandboxed runs happen on the cluster; one local slot stays for `rsilab sandbox exec`."""

    executor: RayExecutor

    def _run_self(self, tree: dict[str, bytes], command: str, payload: bytes, on_progress: Progress | None,
                  seed: int | None) -> tuple[SelfRun, str | None]:
        return self.executor.run(tree, command, payload, seed)  # a remote run's progress is not watched


@contextmanager
def connected(cluster: ClusterConfig) -> Iterator[Any]:
    """The `ray` module, connected to `cluster.address` (or a Ray started here); disconnected on exit."""
    ray = require_ray()
    mine = not ray.is_initialized()
    if mine and (why := _unreachable(cluster.address)):  # Ray itself waits minutes for a GCS that is not there
        raise ConfigError(f"cannot reach the Ray cluster at cluster.address = {cluster.address!r}: {why} "
                          "— start it with `ray start --head`, or drop address to run on this machine")
    if mine:
        quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
        try:
            if cluster.address is None:
                ray.init(include_dashboard=False, **quiet)
            else:
                ray.init(address=cluster.address, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"cannot reach the Ray cluster at cluster.address = {cluster.address!r}: {_first_line(exc)} "
                              "— start it with `ray start --head`, or drop address to run on this machine") from None
    try:
        yield ray
    finally:
        if mine:
            ray.shutdown()


@contextmanager
def open_ray_runtime(root: Path, config: Config, *, provider: Provider | None, spent_before: Usage, workers: int = 1,
                     report: Report) -> Iterator[RayRuntime]:
    """Connect, check every node can run the sandbox, start the head's provider actor; undo it all on exit."""
    if provider is not None and held_secrets(provider):
        raise ConfigError("a provider object holding keys cannot be shipped to the head's provider actor: "
                          "configure [llm] instead, so the head builds it and reads the key from its own environment")
    shipped = pickle.dumps(provider) if provider is not None else None
    budget, prices, limits = run_settings(config)
    warn_if_unsafe(config, report)
    with connected(config.cluster) as ray:
        if why := refusal(node_reports(ray, config.sandbox.backend), config.sandbox.backend):
            raise ClusterError(why)
        actor = start_provider_actor(ray, config.llm, shipped, spent_before, name=f"rsilab-provider-{uuid.uuid4().hex[:8]}")
        try:
            problem, name = ray.get(actor.ready.remote())
            if problem:
                raise ConfigError(f"{problem} (keys are read from the environment of the head node's `ray start --head`)")
            meter = HeadMeter(ray, actor, name)
            spec = ShardSpec(config.sandbox, tuple(config.self_.protected), limits, budget, prices, name)
            executor = RayExecutor(ray, actor, spec, config.cluster.max_retries, workers)
            report("cluster", f"Ray: {executor.workers} CPU(s) over {len(ray.nodes())} node(s); provider {name} on the head")
            socket_dir = Path(tempfile.mkdtemp(prefix="rsilab-"))
            try:
                with ExitStack() as stack:
                    broker = stack.enter_context(Broker(meter, socket_dir / "llm0.sock", budget=budget, prices=prices))
                    sandbox = make_sandbox(config.sandbox, llm_socket=broker.socket_path, protected=config.self_.protected)
                    yield RayRuntime(root, meter, [Slot(broker, sandbox)], limits,  # type: ignore[arg-type]
                                     executor=executor, tasks_per_shard=config.cluster.tasks_per_shard)
            finally:
                shutil.rmtree(socket_dir, ignore_errors=True)
        finally:
            ray.kill(actor)


def _unreachable(address: str | None) -> str | None:
    """Why nothing answers at a "host:port" or "ray://host:port" address, or None (also for "auto" and None)."""
    if address is None or address == "auto":
        return None
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return "not of the form host:port, ray://host:port or auto"
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        return f"no answer at {host}:{port} ({exc.strerror or type(exc).__name__})"
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
