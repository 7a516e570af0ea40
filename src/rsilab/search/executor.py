"""Executors: how independent sandboxed jobs of a round run side by side.

A job is a function with no ledger writes of its own (the orchestrator records what it
returns), so any executor may run it on any thread, or, for a cluster executor, ship its
inputs to another machine. The local executor is a thread pool as wide as the runtime's
sandbox slots: the threads only wait on sandboxed processes and the broker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

T = TypeVar("T")


class Executor(Protocol):
    workers: int

    def map(self, jobs: Sequence[Callable[[], T]]) -> list[T]:
        """Run every job; results in the jobs' order; the first job's exception is raised after all finished."""
        ...


class LocalExecutor:
    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)

    def map(self, jobs: Sequence[Callable[[], T]]) -> list[T]:
        if self.workers == 1 or len(jobs) <= 1:
            return [job() for job in jobs]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(jobs)), thread_name_prefix="rsilab-job") as pool:
            futures = [pool.submit(job) for job in jobs]
            errors = [f.exception() for f in futures]  # waits for all: none is left running behind a failure
        for error in errors:
            if error is not None:
                raise error
        return [f.result() for f in futures]
