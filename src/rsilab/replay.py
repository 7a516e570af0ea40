"""Replay a recorded experiment offline and compare its decisions with the original's.

A run is reproducible from three inputs the harness keeps: the config (in the ledger),
the round seeds (in the ledger) and the model's answers (in the cassette, when
`llm.cassette` was set). The replay is a new experiment made from the same template
with the same seeds, whose provider answers from the cassette alone; people's
decisions recorded in the original are applied again where the replay waits for one.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from rsilab.config import CONFIG_FILE
from rsilab.errors import RsilabError
from rsilab.experiment import Experiment
from rsilab.round.code import SEED_KEYS



@dataclass(frozen=True)
class ReplayReport:
    source: Path
    replay: Path
    original: list[dict[str, Any]]  # per round: the proposal's outcome at each gate and the decision
    replayed: list[dict[str, Any]]

    @property
    def identical(self) -> bool:
        return self.original == self.replayed

    @property
    def first_difference(self) -> int | None:
        """The index of the first round that differs (or that only one run has), or None."""
        for i, (a, b) in enumerate(zip(self.original, self.replayed, strict=False)):
            if a != b:
                return i
        return None if len(self.original) == len(self.replayed) else min(len(self.original), len(self.replayed))


def replay(source_root: Path, target_root: Path, report: Callable[[str, str], None] = lambda s, m: None) -> ReplayReport:
    source = Experiment(source_root)
    cassette = source.config.llm.cassette
    if cassette is None:
        raise RsilabError(f"{source.root} was not recorded: set llm.cassette in its {CONFIG_FILE} before running it")
    if not cassette.is_file():
        raise RsilabError(f"the cassette {cassette} is missing: nothing to replay from")
    created = source.events("experiment.created")[0].payload
    target = Experiment.init(target_root, created["template"], config_text=_replay_config(source))
    target.seed_plan = {e.payload["round"]: {k: e.payload[k] for k in (*SEED_KEYS, "candidate_seeds") if k in e.payload}
                        for e in source.events("round.started")}
    rounds = len(source.events("round.completed"))
    people = {e.payload["version"]: e.payload for e in source.events("decision.recorded")
              if str(e.payload.get("by", "")).startswith("person:")}
    while True:
        results = target.run(rounds, report=report)
        waiting = results[-1] if results and results[-1].outcome == "awaiting-review" else None
        if waiting is None or waiting.candidate is None or waiting.candidate not in people:
            break
        decision = people[waiting.candidate]
        target.decide(waiting.candidate, decision["approved"], decision["by"], decision["comment"], report=report)
    return ReplayReport(source.root, target.root, decision_trail(source), decision_trail(target))


def decision_trail(experiment: Experiment) -> list[dict[str, Any]]:
    """What each round decided for each candidate, without ids that differ between runs (commits, times, artifacts)."""
    trail: dict[int, dict[str, Any]] = {}
    for event in experiment.events():
        p = event.payload
        if event.kind == "proposal.recorded":
            candidates = trail.setdefault(p["round"], {"candidates": {}})["candidates"]
            candidates[p["version"]] = {"version": p["version"], "rationale": p["rationale"], "edits": p["edits"]}
        elif event.kind == "verdict.recorded":
            trail[p["round"]]["candidates"][p["version"]]["gates"] = [(g["name"], g["passed"]) for g in p["gates"]]
        elif event.kind == "decision.recorded" and p["version"] in trail.get(p["round"], {}).get("candidates", {}):
            trail[p["round"]]["candidates"][p["version"]]["decision"] = {k: p[k] for k in ("approved", "by", "comment")}
        elif event.kind == "round.completed" and p["round"] in trail:
            trail[p["round"]]["outcome"] = p["outcome"]
    return [{"outcome": trail[n].get("outcome"), "candidates": list(trail[n]["candidates"].values())} for n in sorted(trail)]


def _replay_config(source: Experiment) -> str:
    """The source's rsilab.toml, answering from its cassette, with its relative paths made absolute."""
    data = tomllib.loads((source.root / CONFIG_FILE).read_text(encoding="utf-8"))
    llm, resolved = data.setdefault("llm", {}), source.config.llm
    llm["cassette"], llm["cassette_mode"] = str(resolved.cassette), "replay"
    for key in ("script", "model_path"):
        if key in llm:
            llm[key] = str(getattr(resolved, key))
    if source.config.assess.dataset is not None:
        data.setdefault("assess", {})["dataset"] = str(source.config.assess.dataset)
    return tomli_w.dumps(data)
