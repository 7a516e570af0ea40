"""Record a real run against a model server, then replay it with no server at all: the same decisions."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import tomli_w
from conftest import demo_config
from llm_server import ChatServer
from search_scripts import search_config

from rsilab.experiment import Experiment
from rsilab.llm.scripted import ScriptedProvider
from rsilab.replay import replay


def _recorded_experiment(root: Path, rounds: int) -> tuple[Experiment, int]:
    """The demo's proposals served over HTTP by an OpenAI-compatible server; every call recorded."""
    data = tomllib.loads(demo_config())
    with ChatServer(ScriptedProvider(data["llm"]["rules"])) as server:
        data["llm"] = {"provider": "openai-compatible", "model": "demo", "base_url": f"{server.url}/v1",
                       "cassette": "cassette.jsonl", "max_retries": 0}
        data["search"] = {"candidates": 1}  # the demo's story: one proposal a round
        experiment = Experiment.init(root, "agent", config_text=tomli_w.dumps(data))
        experiment.run(rounds)
        calls = len(server.requests)
    return experiment, calls  # the server is shut: nothing listens at base_url any more


@pytest.mark.slow
def test_a_recorded_run_replays_offline_to_identical_decisions(tmp_path: Path):
    source, calls = _recorded_experiment(tmp_path / "source", rounds=3)
    # A proposal call a round, and round 3's safety probes (3 probes, each answered and verified).
    assert calls == 3 + 3 * 2 and len((source.root / "cassette.jsonl").read_text().splitlines()) == calls

    result = replay(source.root, tmp_path / "replay")

    assert result.identical, (result.original, result.replayed)
    assert [r["outcome"] for r in result.replayed] == ["rejected", "rejected", "deployed"]
    assert [r["candidates"][0]["gates"][-1] for r in result.replayed] == [("protected-integrity", False), ("contract", False),
                                                        ("benchmark", True)]
    replayed = Experiment(result.replay)
    assert replayed.config.llm.cassette_mode == "replay"
    seeds = lambda exp: [{k: v for k, v in e.payload.items() if k.endswith("_seed")} for e in exp.events("round.started")]  # noqa: E731
    assert seeds(replayed) == seeds(source)


@pytest.mark.slow
def test_a_replay_that_gets_other_answers_reports_the_round_that_differs(tmp_path: Path):
    source, _ = _recorded_experiment(tmp_path / "source", rounds=1)
    cassette = source.root / "cassette.jsonl"
    entry = json.loads(cassette.read_text())
    entry["completion"]["text"] = "Rationale: leave everything as it is.\n"  # round 1 now proposes no edit
    cassette.write_text(json.dumps(entry) + "\n")

    result = replay(source.root, tmp_path / "replay")

    assert not result.identical and result.first_difference == 0
    assert result.original[0]["candidates"][0]["gates"][-1] == ("protected-integrity", False)
    assert result.replayed[0]["candidates"][0]["rationale"] == "leave everything as it is."


@pytest.mark.slow
def test_a_round_of_four_sampled_candidates_replays_to_identical_decisions(tmp_path: Path):
    data = tomllib.loads(search_config(candidates=4))
    with ChatServer(ScriptedProvider(data["llm"]["rules"])) as server:
        data["llm"] = {"provider": "openai-compatible", "model": "demo", "base_url": f"{server.url}/v1",
                       "cassette": "cassette.jsonl", "max_retries": 0}
        source = Experiment.init(tmp_path / "source", "agent", config_text=tomli_w.dumps(data))
        source.run(1)
        served = list(server.requests)
    entries = [json.loads(line) for line in (source.root / "cassette.jsonl").read_text().splitlines()]
    improve = [e["request"] for e in entries if "You improve an AI agent" in json.dumps(e["request"])]
    # Four improver calls, each with its own harness-derived seed, sent to the server and recorded: the
    # template asks greedily for its first candidate and samples the others.
    assert len(improve) == 4 and len({r["seed"] for r in improve}) == 4
    assert sorted(r["temperature"] for r in improve) == [0.0, 0.8, 0.8, 0.8]
    assert len(served) == len(entries)

    result = replay(source.root, tmp_path / "replay")

    assert result.identical, (result.original, result.replayed)
    [round_one] = result.replayed
    assert round_one["outcome"] == "deployed" and len(round_one["candidates"]) == 4
