"""Open the runtime the configuration names: sandboxes on this machine, or on a Ray cluster."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rsilab.config import Config
from rsilab.llm.base import Provider
from rsilab.records import Usage
from rsilab.rounds import Report
from rsilab.runtime import Runtime, open_local_runtime


def _quiet(stage: str, message: str) -> None:
    pass


@contextmanager
def open_runtime(
    root: Path, config: Config, *, provider: Provider | None, spent_before: Usage, workers: int = 1,
    report: Report = _quiet,
) -> Iterator[Runtime]:
    """Start the provider, `workers` brokers and their sandboxes; stop them all on exit."""
    opener = open_local_runtime
    if config.cluster.backend == "ray":  # lazy: Ray is an extra, and slow to import
        from rsilab.cluster.executor import open_ray_runtime as opener
    with opener(root, config, provider=provider, spent_before=spent_before, workers=workers, report=report) as runtime:
        yield runtime
