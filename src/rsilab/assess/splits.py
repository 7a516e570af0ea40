"""Which tasks an assessment gets: dev and held-out splits that never share a question.

Procedural suites draw each split at its own seed (the round's dev seed; a fresh
held-out seed), and two seeds can still make the same question by chance, so a
held-out draw skips every question in `exclude`: the dev questions a proposer may have
seen. A JSONL dataset (or an Inspect task's) is split by question instead (see suites/jsonl.py).
"""

from __future__ import annotations

from collections.abc import Collection

from rsilab.assess.suites import jsonl
from rsilab.assess.tasks import DATASET_SUITE, INSPECT_PREFIX, generate
from rsilab.config import AssessConfig
from rsilab.errors import ConfigError, RsilabError
from rsilab.records import Task

_MAX_DOUBLINGS = 5  # look at up to 32 n candidates before saying the suite is too small


def draw_tasks(config: AssessConfig, split: str, n: int, seed: int, exclude: Collection[str] = ()) -> list[Task]:
    """n tasks of `split` ("dev", "heldout" or "smoke") at `seed`, none of whose questions is in `exclude`."""
    if config.suite == DATASET_SUITE:
        if config.dataset is None:
            raise ConfigError('assess.suite = "jsonl" needs assess.dataset = "path/to/tasks.jsonl"')
        return jsonl.sample(jsonl.load(config.dataset), split, n, seed, config.dev_fraction, exclude)
    if config.suite.startswith(INSPECT_PREFIX):  # an Inspect task's dataset: split by question like a JSONL file
        from rsilab.interop.inspect_suite import load_tasks

        return jsonl.sample(load_tasks(config.suite.removeprefix(INSPECT_PREFIX)), split, n, seed, config.dev_fraction, exclude)
    excluded = frozenset(exclude)
    wanted = n
    for _ in range(_MAX_DOUBLINGS + 1):
        # The first try is exactly generate(n): a suite's output is unchanged when nothing clashes.
        kept = [t for t in generate(config.suite, wanted, seed, config.difficulties) if t.question not in excluded]
        if len(kept) >= n:
            return kept[:n]
        wanted *= 2
    raise RsilabError(f"suite {config.suite} gave only {len(kept)} {split} tasks that are not dev questions, "
                      f"{n} wanted: lower assess.heldout_n or widen assess.difficulties")
