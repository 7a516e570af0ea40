"""Read models over the ledger: versions with their state, metrics and decisions.

The ledger is the source of truth; these are projections recomputed from events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rsilab.intervals import wilson
from rsilab.records import Event, VersionState


@dataclass
class VersionRow:
    id: str
    commit: str | None
    parent: str | None
    round: int
    state: VersionState
    rationale: str = ""
    heldout: dict[str, Any] = field(default_factory=dict)  # summary of its held-out assessment
    failed_gate: str | None = None
    verdict_summary: str = ""
    decided_by: str | None = None
    comment: str = ""
    proposal_artifact: str | None = None
    verdict_artifact: str | None = None
    errors: list[str] = field(default_factory=list)  # why its edits did not parse or apply
    weights: str | None = None  # content hash of a trainable self's weights


def version_rows(events: Iterable[Event]) -> dict[str, VersionRow]:
    rows: dict[str, VersionRow] = {}
    deployed: str | None = None
    for event in events:
        p = event.payload
        if event.kind == "version.created":
            rows[p["version"]] = VersionRow(p["version"], p["commit"], p.get("parent"), p.get("round", 0), VersionState.PROPOSED)
        elif event.kind == "proposal.recorded":
            rows[p["version"]] = VersionRow(
                p["version"], p.get("commit"), p["parent"], p["round"], VersionState.PROPOSED,
                rationale=p.get("rationale", ""), proposal_artifact=p.get("artifact"), errors=list(p.get("errors", [])),
                weights=p.get("weights"),
            )
        elif event.kind == "weights.pretrained" and p["version"] in rows:
            rows[p["version"]].weights = p["weights"]
        elif (event.kind == "assessment.recorded" and p["split"] == "heldout" and p["version"] in rows
              and p.get("round") is not None):  # a standalone `rsilab assess` is not a round's figure
            row = rows[p["version"]]
            # A staged benchmark records one assessment a stage: show the stages together.
            row.heldout = p["summary"] if p.get("stage", 1) in (None, 1) else _combine(row.heldout, p["summary"])
        elif event.kind == "verdict.recorded" and p["version"] in rows:
            row = rows[p["version"]]
            row.state = VersionState.VERIFIED if p["passed"] else VersionState.REJECTED
            row.failed_gate, row.verdict_summary, row.verdict_artifact = p.get("failed_gate"), p.get("summary", ""), p.get("artifact")
        elif event.kind == "decision.recorded" and p["version"] in rows:
            row = rows[p["version"]]
            row.state = VersionState.APPROVED if p["approved"] else VersionState.REJECTED
            row.decided_by, row.comment = p["by"], p.get("comment", "")
        elif event.kind in {"version.deployed", "version.rolled_back"}:
            if deployed and deployed in rows and deployed != p["version"]:
                rows[deployed].state = VersionState.RETIRED
            deployed = p["version"]
            if deployed in rows:
                rows[deployed].state = VersionState.DEPLOYED
    return rows


def _combine(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    correct, n = first.get("correct", 0) + second.get("correct", 0), first.get("n", 0) + second.get("n", 0)
    rate = wilson(correct, n)
    return {
        **first, "correct": correct, "n": n, "accuracy": round(rate.value, 4), "low": round(rate.low, 4),
        "high": round(rate.high, 4), "tokens": first.get("tokens", 0) + second.get("tokens", 0),
        "calls": first.get("calls", 0) + second.get("calls", 0),
    }


def deployed_version(events: Iterable[Event]) -> tuple[str, str] | None:
    """(version, commit) named by the last deploy or rollback event."""
    found = None
    for event in events:
        if event.kind in {"version.deployed", "version.rolled_back"}:
            found = (event.payload["version"], event.payload["commit"])
    return found
