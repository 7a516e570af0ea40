"""Parent selection on planted archives: each rule picks what its paper says, from held-out scores only."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest

from rsilab.records import Event
from rsilab.search.archive import build_archive
from rsilab.search.parents import select_parent


class Planted:
    """A ledger's worth of events, written by hand: versions, their parents and held-out scores."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.add("version.created", {"version": "v1", "parent": None})

    def add(self, kind: str, payload: dict[str, Any]) -> None:
        self.events.append(Event(seq=len(self.events), ts=0.0, kind=kind, payload=payload, prev_hash="", hash=""))

    def child(self, version: str, parent: str, round: int = 1, applied: bool = True) -> Planted:
        self.add("proposal.recorded", {"round": round, "version": version, "parent": parent,
                                       "commit": "c" if applied else None})
        return self

    def score(self, version: str, correct: int, n: int, split: str = "heldout", round: int | None = 1) -> Planted:
        self.add("assessment.recorded", {"round": round, "version": version, "split": split,
                                         "summary": {"correct": correct, "n": n}})
        return self


def test_only_held_out_scores_from_rounds_put_a_version_in_the_archive():
    planted = (Planted().child("v2", "v1").child("v3", "v1").child("v4", "v1", applied=False)
               .score("v1", 30, 40).score("v1", 20, 20, split="dev")      # dev tasks: seen by a proposer
               .score("v2", 18, 20, round=None)                           # a standalone `rsilab assess`
               .score("v3", 10, 20).score("v3", 15, 20, split="confirm"))
    archive = build_archive(planted.events)
    assert {e.version: (e.successes, e.n) for e in archive.scored} == {"v1": (30, 40), "v3": (25, 40)}
    assert archive.entries["v1"].children == ["v2", "v3"]  # v4's edits never applied: no child


def test_deployed_rule_ignores_the_archive():
    archive = build_archive(Planted().child("v2", "v1").score("v1", 1, 10).score("v2", 10, 10).events)
    chosen = select_parent(archive, "deployed", deployed="v1", seed=0)
    assert chosen.version == "v1" and chosen.figures == []


def test_best_takes_the_highest_lower_bound_not_the_highest_accuracy():
    planted = (Planted().child("v2", "v1").child("v3", "v1")
               .score("v1", 50, 100).score("v2", 9, 10).score("v3", 80, 100))
    chosen = select_parent(build_archive(planted.events), "best", deployed="v1", seed=0)
    assert chosen.version == "v3"  # 9/10 is more accurate but far less certain than 80/100
    bounds = {f["version"]: f["lower_bound"] for f in chosen.figures}
    assert bounds["v3"] > bounds["v2"] > bounds["v1"]


def test_dgm_draws_in_proportion_to_score_and_penalises_many_children():
    planted = Planted().child("v2", "v1").child("v3", "v1").child("v4", "v2")
    planted.score("v1", 60, 100).score("v2", 60, 100).score("v3", 30, 100).score("v4", 90, 100)
    archive = build_archive(planted.events)
    weight = {v: (1 / (1 + math.exp(-10 * (acc - 0.5)))) / (1 + kids)
              for v, acc, kids in [("v1", 0.6, 2), ("v2", 0.6, 1), ("v3", 0.3, 0), ("v4", 0.9, 0)]}
    picks = Counter(select_parent(archive, "dgm", deployed="v1", seed=s).version for s in range(4000))
    total = sum(weight.values())
    for version, w in weight.items():
        assert picks[version] / 4000 == pytest.approx(w / total, abs=0.03)
    figures = {f["version"]: f["weight"] for f in select_parent(archive, "dgm", "v1", seed=1).figures}
    assert figures == {v: round(w, 4) for v, w in weight.items()}


def test_thompson_samples_each_clade_and_a_seed_replays_its_choice():
    # v2 scored poorly itself, but its child v3 is strong: v2's clade is credited with v3's successes.
    planted = (Planted().child("v2", "v1").child("v3", "v2").child("v4", "v1")
               .score("v1", 20, 40).score("v2", 10, 40).score("v3", 38, 40).score("v4", 12, 40))
    archive = build_archive(planted.events)
    assert archive.clade_score("v2") == (48, 80) and archive.clade_score("v1") == (80, 160)
    again = [select_parent(archive, "thompson", "v1", seed=s) for s in (7, 7)]
    assert again[0] == again[1]
    assert {f["version"]: tuple(f["clade"]) for f in again[0].figures}["v2"] == (48, 80)


def test_thompson_explores_close_versions_in_proportion_to_their_posterior():
    # Beta(21, 21) against Beta(25, 17): the better one usually, the other often enough to explore.
    archive = build_archive(Planted().child("v2", "v1").score("v1", 20, 40).score("v2", 24, 40).events)
    archive.entries["v1"].children.clear()  # two separate clades, so each is scored on its own
    picks = Counter(select_parent(archive, "thompson", deployed="v1", seed=s).version for s in range(2000))
    assert 0.6 < picks["v2"] / 2000 < 0.9 and picks["v1"] > 200


def test_with_nothing_scored_every_rule_starts_from_the_deployed_version():
    archive = build_archive(Planted().child("v2", "v1").events)
    for rule in ("best", "dgm", "thompson"):
        chosen = select_parent(archive, rule, deployed="v1", seed=3)
        assert chosen.version == "v1" and "no version has a held-out score" in chosen.reason
