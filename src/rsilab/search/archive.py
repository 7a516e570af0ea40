"""The archive: every version with a held-out score, read from the ledger.

A version's score is what the harness measured of it on fresh held-out tasks in rounds
(the benchmark's draws and the confirmation draw; never dev tasks, which a proposer saw,
nor a standalone `rsilab assess`). Versions that never ran on held-out tasks (rejected by a
static gate, by the contract or by the safety gate) are not in the archive and cannot be
parents. The archive is a projection, recomputed from events like every other view.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rsilab.records import Event

SCORED_SPLITS = frozenset({"heldout", "confirm"})


@dataclass
class Entry:
    version: str
    parent: str | None
    round: int
    successes: int = 0
    n: int = 0
    children: list[str] = field(default_factory=list)
    reached: str = "proposed"  # the last gate it reached, "deployed", or "initial"
    deployed: bool = False  # deployed at some point
    candidate: tuple[int, int] | None = None  # (k, N): the k-th of the N candidates its round asked for

    @property
    def accuracy(self) -> float:
        return self.successes / self.n if self.n else 0.0


@dataclass(frozen=True)
class Archive:
    entries: dict[str, Entry]  # every version, scored or not, for the lineage tree

    @property
    def scored(self) -> list[Entry]:
        """The versions a round may start from: those with a held-out score."""
        return [e for e in self.entries.values() if e.n > 0]

    def clade(self, version: str) -> list[Entry]:
        """`version` and every descendant of it."""
        found, todo = [], [version]
        while todo:
            entry = self.entries.get(todo.pop())
            if entry is not None:
                found.append(entry)
                todo.extend(entry.children)
        return found

    def clade_score(self, version: str) -> tuple[int, int]:
        """(successes, tasks) over the clade of `version`."""
        members = self.clade(version)
        return sum(e.successes for e in members), sum(e.n for e in members)


def build_archive(events: Iterable[Event]) -> Archive:
    entries: dict[str, Entry] = {}
    asked: dict[int, int] = {}  # round → candidates it asked for
    for event in events:
        p = event.payload
        if event.kind == "round.started":
            asked[p["round"]] = int(p.get("candidates", 1))
        elif event.kind == "version.created":
            entries[p["version"]] = Entry(p["version"], p.get("parent"), p.get("round", 0), reached="initial")
        elif event.kind == "proposal.recorded":
            k = p.get("candidate")
            entries[p["version"]] = Entry(p["version"], p["parent"], p["round"],
                                          candidate=(int(k), asked.get(p["round"], 1)) if k else None)
            if p["parent"] in entries and p.get("commit"):
                entries[p["parent"]].children.append(p["version"])
        elif (event.kind == "assessment.recorded" and p.get("split") in SCORED_SPLITS
              and p.get("round") is not None and p["version"] in entries):
            summary = p.get("summary", {})
            entries[p["version"]].successes += int(summary.get("correct", 0))
            entries[p["version"]].n += int(summary.get("n", 0))
        elif event.kind == "verdict.recorded" and p["version"] in entries:
            entries[p["version"]].reached = "passed" if p["passed"] else str(p.get("failed_gate") or "violations")
        elif event.kind == "version.deployed" and p["version"] in entries:
            entries[p["version"]].deployed = True
            entries[p["version"]].reached = "deployed"
    return Archive(entries)
