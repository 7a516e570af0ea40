"""The [assess] section names a suite we know, and a JSONL suite names its file."""

from __future__ import annotations

from pathlib import Path

import pytest

from rsilab.config import parse_config
from rsilab.errors import ConfigError


@pytest.mark.parametrize("suite", ["arithmetic", "addition", "reasoning", "rg:zebra_puzzles"])
def test_known_suites_are_accepted(suite: str):
    assert parse_config({"assess": {"suite": suite}}, Path("/x/rsilab.toml")).assess.suite == suite


def test_an_unknown_suite_names_the_key_and_the_choices():
    with pytest.raises(ConfigError, match=r"assess.suite = 'riddles' — choose one of addition, arithmetic, reasoning"):
        parse_config({"assess": {"suite": "riddles"}}, Path("/x/rsilab.toml"))


def test_a_jsonl_suite_needs_a_dataset_resolved_next_to_the_config():
    with pytest.raises(ConfigError, match='needs dataset = "path/to/tasks.jsonl"'):
        parse_config({"assess": {"suite": "jsonl"}}, Path("/x/rsilab.toml"))
    config = parse_config({"assess": {"suite": "jsonl", "dataset": "data/mine.jsonl"}}, Path("/x/rsilab.toml"))
    assert config.assess.dataset == Path("/x/data/mine.jsonl")
