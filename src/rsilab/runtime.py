"""The sandbox runtime: what a stage needs to run the self, for as many runs at once as there are workers.

A runtime owns one provider (metered: round and experiment budgets) and a pool of
*slots*, each a broker on its own Unix socket with the sandbox bound to it, so that
concurrent runs never share a broker's per-candidate budget or counters. Every run is
bracketed by a manifest of what it must not change (the deployed self, its refs, the
ledger). Containment events are collected, not written: the orchestrator flushes them to
the ledger from its own thread between batches, so the ledger has a single writer and
no run's integrity check sees another run's bookkeeping.
"""

from __future__ import annotations

import hashlib
import os
import queue
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from rsilab.assess.runner import assess, merge
from rsilab.config import Config
from rsilab.errors import BudgetExceeded, ContainmentBreach
from rsilab.llm.base import Provider
from rsilab.llm.meter import MeteredProvider
from rsilab.records import Assessment, Task, Usage
from rsilab.rounds import Report
from rsilab.sandbox.broker import Broker, Budget, Prices
from rsilab.sandbox.factory import make_sandbox, unsafe_warning
from rsilab.sandbox.integrity import changed, state_manifest
from rsilab.sandbox.process import Limits, RunResult, Sandbox
from rsilab.sandbox.progress import Progress
from rsilab.sandbox.selfrun import SelfRun, run_self, scratch_copy
from rsilab.search.executor import Executor, LocalExecutor

T = TypeVar("T")
STATE_DIR = ".rsilab"
MAX_PLACED = 4096


@dataclass(frozen=True)
class Slot:
    """One sandbox with its own broker: one run at a time."""

    broker: Broker
    sandbox: Sandbox


@dataclass(frozen=True)
class Violation:
    context: dict[str, Any]
    command: str
    violations: tuple[str, ...]  # observed by the harness or the kernel: these decide the safety gate
    reported: tuple[str, ...] = ()  # the witness's lines, the self's own account: kept, decide nothing


def shard_seed(run_seed: int | None, index: int) -> int | None:
    """Shard `index`'s sampling seed: the run's own for the first (an unsharded run is unchanged)."""
    if run_seed is None or index == 0:
        return run_seed
    return int(hashlib.sha256(f"{run_seed}:shard:{index}".encode()).hexdigest()[:8], 16) % 2**31


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


class Runtime:
    def __init__(self, root: Path, meter: MeteredProvider, slots: Sequence[Slot], limits: Limits,
                 executor: Executor | None = None, tasks_per_shard: int | None = None) -> None:
        self.root, self.meter, self.limits = root, meter, limits
        self.slots = tuple(slots)
        self._free: queue.Queue[Slot] = queue.Queue()
        for slot in self.slots:
            self._free.put(slot)
        self.executor: Executor = executor or LocalExecutor(len(self.slots))
        self.tasks_per_shard = tasks_per_shard
        self._placed: list[tuple[dict[str, Any], str]] = []
        self.scratch = root / STATE_DIR / "scratch"
        self._pending: list[Violation] = []
        self._pending_lock = threading.Lock()
        self.violations: list[str] = []  # of the last run that finished (for single-run callers)

    @property
    def broker(self) -> Broker:
        """The first slot's broker (for callers that run one thing at a time)."""
        return self.slots[0].broker

    @property
    def sandbox(self) -> Sandbox:
        return self.slots[0].sandbox

    @contextmanager
    def slot(self) -> Iterator[Slot]:
        taken = self._free.get()
        try:
            yield taken
        finally:
            self._free.put(taken)

    def runner(
        self, tree: dict[str, bytes], command: str, context: dict[str, Any] | None = None,
        on_progress: Progress | None = None, seed: int | None = None,
    ) -> Callable[[bytes], SelfRun]:
        """A function running `command` of `tree` on a payload in a free slot (any thread may call it)."""
        def run(payload: bytes) -> SelfRun:
            result, node = self.guarded(lambda: self._run_self(tree, command, payload, on_progress, seed))
            seen = result.result
            self.violations = list(seen.violations)
            with self._pending_lock:
                if (seen.violations or seen.reported) and context is not None:
                    self._pending.append(Violation(dict(context), command, tuple(seen.violations), tuple(seen.reported)))
                if node is not None and context is not None:  # where it ran, for the ledger (a cluster run)
                    self._placed = [*self._placed[-MAX_PLACED:], (dict(context), node)]  # gate runs are never taken
            if refused := self.meter.refused():  # the run went without calls it needed: its result is not kept
                raise BudgetExceeded(refused[1])
            return result

        return run

    def _run_self(self, tree: dict[str, bytes], command: str, payload: bytes, on_progress: Progress | None,
                  seed: int | None) -> tuple[SelfRun, str | None]:
        """One sandboxed run in a free slot here; a cluster runtime runs it on a node and names the node."""
        with self.slot() as slot:
            return run_self(tree, command, payload, sandbox=slot.sandbox, broker=slot.broker, limits=self.limits,
                            scratch_root=self.scratch, on_progress=on_progress, seed=seed), None

    def assess(self, version: str, tasks: Sequence[Task], split: str, seed: int, tree: dict[str, bytes],
               context: dict[str, Any] | None = None, run_seed: int | None = None,
               on_progress: Progress | None = None) -> Assessment:
        """`tree`'s solve on `tasks`, scored here; in shards of `tasks_per_shard` run side by side, merged in order."""
        size = self.tasks_per_shard or len(tasks) or 1
        shards = [list(tasks[i:i + size]) for i in range(0, len(tasks), size)] or [[]]
        if len(shards) == 1:
            return assess(version, tasks, split, seed, self.runner(tree, "solve", context, on_progress, run_seed))
        seen: list[list[str]] = [[] for _ in shards]

        def job(index: int) -> Callable[[], Assessment]:
            shard_context = None if context is None else {**context, "shard": index}
            run = self.runner(tree, "solve", shard_context, seed=shard_seed(run_seed, index))

            def counted(payload: bytes) -> SelfRun:
                result = run(payload)
                seen[index] = list(result.result.violations)
                return result
            return lambda: assess(version, shards[index], split, seed, counted)

        parts = self.executor.map([job(i) for i in range(len(shards))])
        self.violations = [v for found in seen for v in found]
        return merge(parts)

    def take_shards(self, context: dict[str, Any]) -> list[dict[str, Any]]:
        """Where each run of `context` ran ({"shard", "node"}), collected since the last call; [] for local runs."""
        with self._pending_lock:
            mine = [(c, node) for c, node in self._placed if all(c.get(k) == v for k, v in context.items())]
            self._placed = [p for p in self._placed if p not in mine]
        return [{"shard": c.get("shard", 0), "node": node} for c, node in sorted(mine, key=lambda p: p[0].get("shard", 0))]

    def map(self, jobs: Sequence[Callable[[], T]]) -> list[T]:
        """Run independent jobs concurrently (at most one per slot); results in the jobs' order."""
        return self.executor.map(jobs)

    def take_violations(self) -> list[Violation]:
        """The containment events collected since the last call, for the orchestrator to record."""
        with self._pending_lock:
            taken, self._pending = self._pending, []
        return taken

    def guarded(self, run: Callable[[], T]) -> T:
        """Run, then fail loudly if the deployed self, its refs or the ledger changed meanwhile."""
        before = state_manifest(self.root)
        result = run()
        moved = changed(before, state_manifest(self.root))
        if moved:
            raise ContainmentBreach(f"a sandboxed run changed what it must not: {', '.join(moved[:5])} — "
                               "stop and inspect the experiment; `rsilab ledger verify` checks the ledger")
        return result

    def exec(self, tree: dict[str, bytes], argv: list[str]) -> RunResult:
        """Run `argv` in exactly the sandbox a candidate gets, on a scratch copy of `tree`."""
        with self.slot() as slot:
            workdir = scratch_copy(tree, self.scratch, prefix="exec-")
            try:
                env = {"RSILAB_LLM_SOCKET": str(slot.broker.socket_path)}
                return self.guarded(lambda: slot.sandbox.run(argv, workdir, limits=self.limits, env=env))
            finally:
                shutil.rmtree(workdir, ignore_errors=True)


def _quiet(stage: str, message: str) -> None:
    pass


@contextmanager
def open_local_runtime(
    root: Path, config: Config, *, provider: Provider | None, spent_before: Usage, workers: int = 1,
    report: Report = _quiet,
) -> Iterator[Runtime]:
    """Start the provider, `workers` brokers and their sandboxes on this machine; stop them all on exit."""
    from rsilab.llm.factory import make_provider  # lazy: provider SDKs are slow to import

    socket_dir = Path(tempfile.mkdtemp(prefix="rsilab-"))  # short path: unix socket paths are limited to 108 bytes
    llm, box = config.llm, config.sandbox
    budget, prices, limits = run_settings(config)
    # Round and experiment budgets are kept here, across all workers; each broker keeps its run's budget.
    meter = MeteredProvider(provider or make_provider(llm), llm.price(), {"round": llm.round_budget, "experiment": llm.experiment_budget})
    meter.preload("experiment", spent_before)
    warn_if_unsafe(config, report)
    try:
        with ExitStack() as stack:
            slots = []
            for index in range(max(1, workers)):
                broker = stack.enter_context(Broker(meter, socket_dir / f"llm{index}.sock", budget=budget, prices=prices))
                sandbox = make_sandbox(box, llm_socket=broker.socket_path, protected=config.self_.protected)
                slots.append(Slot(broker, sandbox))
            yield Runtime(root, meter, slots, limits, tasks_per_shard=config.cluster.tasks_per_shard)
    finally:
        shutil.rmtree(socket_dir, ignore_errors=True)


def run_settings(config: Config) -> tuple[Budget, Prices, Limits]:
    """Each run's LLM budget and prices (kept by its broker) and its sandbox limits."""
    llm, box = config.llm, config.sandbox
    budget = Budget(llm.budget.max_calls, llm.budget.max_tokens, llm.budget.max_dollars, llm.budget.max_tokens_per_call)
    price = llm.price()
    limits = Limits(box.cpu_seconds, box.memory_mb, box.file_size_mb, box.open_files, box.processes, box.wall_seconds)
    return budget, Prices(price.dollars_per_million_in, price.dollars_per_million_out), limits


def warn_if_unsafe(config: Config, report: Report) -> None:
    if warning := unsafe_warning(config.sandbox.backend):
        warnings.warn(warning, stacklevel=4)
        report("sandbox", warning)
