"""The search's funnel, per round: how many candidates got how far through the gates.

Read from the ledger alone, so it describes any experiment, finished or not
(`rsilab log --funnel`, bench/search_embedded.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rsilab.records import Event

STEPS = ("proposed", "parsed", "applied", "contract", "safety", "benchmark", "deployed")


@dataclass
class RoundFunnel:
    round: int
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STEPS, 0))
    no_op: int = 0  # replies whose edits changed nothing (reported by the harness as such)
    failures: dict[str, int] = field(default_factory=dict)  # first failed gate → candidates


def funnel(events: Iterable[Event]) -> list[RoundFunnel]:
    rounds: dict[int, RoundFunnel] = {}
    for event in events:
        p = event.payload
        number = p.get("round")
        if not isinstance(number, int) or number < 1:
            continue
        row = rounds.setdefault(number, RoundFunnel(number))
        if event.kind == "proposal.recorded":
            row.counts["proposed"] += 1
            row.counts["parsed"] += p.get("edits", 0) > 0  # the harness found edits in the reply
            row.counts["applied"] += p.get("commit") is not None
            row.no_op += any("no-op edit" in error for error in p.get("errors", []))
        elif event.kind == "verdict.recorded":
            passed = {g["name"] for g in p["gates"] if g["passed"]}
            for step in ("contract", "safety", "benchmark"):
                row.counts[step] += step in passed
            if p.get("failed_gate"):
                row.failures[p["failed_gate"]] = row.failures.get(p["failed_gate"], 0) + 1
        elif event.kind == "version.deployed":
            row.counts["deployed"] += 1
    return [rounds[n] for n in sorted(rounds)]
