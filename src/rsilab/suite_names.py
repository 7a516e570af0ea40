"""The task suites' names, for the config to check without importing the suites themselves.

rsilab.assess.tasks holds the generators (and imports reasoning-gym); the config sits below
it, so the names it may accept live here, and a test keeps the two in step.
"""

from __future__ import annotations

from rsilab.errors import ConfigError

BUILT_IN = ("arithmetic", "addition", "reasoning")
FAMILY_PREFIX = "rg:"  # `rg:NAME`: one reasoning-gym family
DATASET_SUITE = "jsonl"  # a user's JSONL file (assess.dataset), split by question


def check_name(suite: str) -> str:
    """The suite name if it is one we know, else ConfigError listing the choices."""
    if suite in BUILT_IN or suite == DATASET_SUITE or (suite.startswith(FAMILY_PREFIX) and len(suite) > len(FAMILY_PREFIX)):
        return suite
    raise ConfigError(f"unknown task suite {suite!r}: choose one of {', '.join(sorted(BUILT_IN))}, "
                      f"{DATASET_SUITE} (with assess.dataset) or {FAMILY_PREFIX}NAME (a reasoning-gym family)")
