"""What each page shows, computed per request from the ledger's events and the artifacts.

Nothing is cached: a run may be appending while the page is open, and the ledger is the
truth. Each function takes one list of events read once, so a page is one consistent state.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rsilab.assess.metrics import Rate, by_group, wilson
from rsilab.records import Assessment, Event, Proposal, TaskOutcome, Verdict
from rsilab.store.artifacts import ArtifactStore
from rsilab.store.history import VersionRow, deployed_version, version_rows
from rsilab.store.ledger import LedgerReport
from rsilab.store.versions import VersionStore
from rsilab.web.diffs import FileDiff, side_by_side

# ---- overview ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricPoint:
    """One recorded assessment's summary, as the ledger holds it."""

    seq: int
    version: str
    round: int
    split: str
    summary: dict[str, Any]

    @property
    def per_task(self) -> dict[str, float]:
        n = self.summary.get("n") or 1
        return {
            "tokens": self.summary.get("tokens", 0) / n,
            "cpu_ms": 1000 * self.summary.get("cpu_seconds", 0.0) / n,
            "wall_ms": 1000 * self.summary.get("wall_seconds", 0.0) / n,
        }


@dataclass(frozen=True)
class RoundLine:
    number: int
    parent: str
    candidate: str | None
    outcome: str  # deployed, rejected, awaiting review, in progress
    why: str


@dataclass(frozen=True)
class Overview:
    deployed: str | None
    rounds_started: int
    rounds_completed: int
    rounds: list[RoundLine]
    points: list[MetricPoint]
    rows: dict[str, VersionRow]
    event_count: int


def overview(events: Sequence[Event], pending: set[str]) -> Overview:
    rows = version_rows(events)
    found = deployed_version(events)
    started = [e.payload for e in events if e.kind == "round.started"]
    completed = {e.payload["round"]: e.payload for e in events if e.kind == "round.completed"}
    candidates = {e.payload["round"]: e.payload["version"] for e in events if e.kind == "proposal.recorded"}
    rounds = []
    for rnd in started:
        number = rnd["round"]
        candidate = candidates.get(number)
        row = rows.get(candidate) if candidate else None
        if number in completed:
            outcome = completed[number]["outcome"]
        elif candidate in pending:
            outcome = "awaiting review"
        else:
            outcome = "in progress"
        why = ""
        if row is not None:
            why = f"{row.failed_gate}: {row.verdict_summary}" if row.failed_gate else (row.comment or row.rationale)
        rounds.append(RoundLine(number, rnd["parent"], candidate, outcome, why))
    return Overview(
        deployed=found[0] if found else None,
        rounds_started=len(started),
        rounds_completed=len(completed),
        rounds=rounds,
        points=metric_points(events),
        rows=rows,
        event_count=len(events),
    )


def metric_points(events: Sequence[Event]) -> list[MetricPoint]:
    return [
        MetricPoint(e.seq, e.payload["version"], e.payload["round"], e.payload["split"], e.payload["summary"])
        for e in events
        if e.kind == "assessment.recorded"
    ]


# ---- a proposal and its evidence ----------------------------------------------------------------


@dataclass(frozen=True)
class MetricDelta:
    """A candidate-minus-parent difference on the same held-out tasks, with its 95 % interval."""

    metric: str
    unit: Literal["share", "count", "seconds"]
    parent: float | None
    candidate: float | None
    delta: float | None
    low: float | None = None
    high: float | None = None
    parent_interval: tuple[float, float] | None = None
    candidate_interval: tuple[float, float] | None = None
    note: str = ""


@dataclass(frozen=True)
class ProposalView:
    row: VersionRow
    proposal: Proposal | None
    verdict: Verdict | None
    files: list[FileDiff]
    deltas: list[MetricDelta]
    pending: bool


def proposal_view(
    row: VersionRow, rows: dict[str, VersionRow], events: Sequence[Event], pending: set[str],
    artifacts: ArtifactStore, versions: VersionStore,
) -> ProposalView:
    proposal = artifacts.get_record(row.proposal_artifact, Proposal) if row.proposal_artifact else None
    verdict = artifacts.get_record(row.verdict_artifact, Verdict) if row.verdict_artifact else None
    files: list[FileDiff] = []
    parent = rows.get(row.parent) if row.parent else None
    if row.commit and parent is not None and parent.commit:
        files = side_by_side(versions.changes(parent.commit, row.commit))
    heldout = _heldout_in_round(events, row.round)
    return ProposalView(row, proposal, verdict, files, metric_deltas(verdict, heldout.get(row.parent or ""), heldout.get(row.id)),
                        row.id in pending)


def metric_deltas(verdict: Verdict | None, parent: dict[str, Any] | None, candidate: dict[str, Any] | None) -> list[MetricDelta]:
    """The benchmark gate's paired figures; empty when the candidate never reached it."""
    gate = next((g for g in verdict.gates if g.name == "benchmark"), None) if verdict else None
    if gate is None:
        return []
    ev = gate.evidence
    n = ev.get("n") or 1
    acc, low, high = ev["accuracy_delta"]
    deltas = [
        MetricDelta(
            "accuracy", "share", ev["parent_accuracy"], ev["candidate_accuracy"], acc, low, high,
            parent_interval=_interval(parent), candidate_interval=_interval(candidate),
            note=f"McNemar one-sided p = {ev['p_better']:.3g}; {ev['candidate_only']} fixed, {ev['parent_only']} broken",
        ),
    ]
    if "tokens_per_task_delta" in ev:
        tok, tok_low, tok_high = ev["tokens_per_task_delta"]
        deltas.append(MetricDelta("tokens per task", "count", ev["tokens_parent"] / n, ev["tokens_candidate"] / n,
                                  tok, tok_low, tok_high, note="counted by the broker"))
    if "wall_seconds" in ev:
        before, after = ev["wall_seconds"]
        deltas.append(MetricDelta("wall time (all tasks)", "seconds", before, after, after - before,
                                  note="measured by the harness; one run each, no interval"))
    return deltas


def _heldout_in_round(events: Sequence[Event], number: int) -> dict[str, dict[str, Any]]:
    return {
        e.payload["version"]: e.payload["summary"]
        for e in events
        if e.kind == "assessment.recorded" and e.payload["round"] == number and e.payload["split"] == "heldout"
    }


def _interval(summary: dict[str, Any] | None) -> tuple[float, float] | None:
    return (summary["low"], summary["high"]) if summary else None


# ---- lineage --------------------------------------------------------------------------------------


@dataclass
class Node:
    row: VersionRow
    children: list[Node] = field(default_factory=list)


def lineage(rows: dict[str, VersionRow]) -> list[Node]:
    """Versions as a forest: each child under the version whose improver proposed it."""
    nodes = {vid: Node(row) for vid, row in rows.items()}
    roots: list[Node] = []
    for node in nodes.values():
        parent = nodes.get(node.row.parent) if node.row.parent else None
        (parent.children if parent else roots).append(node)
    return roots


# ---- a version's assessments ----------------------------------------------------------------------


@dataclass(frozen=True)
class GroupLine:
    family: str
    difficulty: int | None  # None: every difficulty of the family
    rate: Rate


@dataclass(frozen=True)
class AssessmentView:
    version: str
    choices: list[MetricPoint]
    chosen: MetricPoint | None
    assessment: Assessment | None
    groups: list[GroupLine]
    failures: list[TaskOutcome]


def assessment_view(events: Sequence[Event], artifacts: ArtifactStore, version: str, seq: int | None) -> AssessmentView:
    """The version's recorded assessments; the chosen one (default: its latest held-out) in detail."""
    choices = [p for p in metric_points(events) if p.version == version]
    chosen = next((p for p in choices if p.seq == seq), None) if seq is not None else _default_choice(choices)
    if chosen is None:
        return AssessmentView(version, choices, None, None, [], [])
    artifact = next(e.payload["artifact"] for e in events if e.seq == chosen.seq)
    assessment = artifacts.get_record(artifact, Assessment)
    return AssessmentView(version, choices, chosen, assessment, group_lines(assessment.outcomes),
                          [o for o in assessment.outcomes if not o.correct])


def group_lines(outcomes: Sequence[TaskOutcome]) -> list[GroupLine]:
    """Accuracy per (family, difficulty), each family followed by its total."""
    lines: list[GroupLine] = []
    per_family: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    cells = by_group(outcomes)
    for (family, difficulty), rate in cells.items():
        lines.append(GroupLine(family, difficulty, rate))
        per_family[family][0] += rate.correct
        per_family[family][1] += rate.n
    out: list[GroupLine] = []
    for family, (correct, n) in per_family.items():
        out += [line for line in lines if line.family == family]
        out.append(GroupLine(family, None, wilson(correct, n)))
    return out


def _default_choice(choices: list[MetricPoint]) -> MetricPoint | None:
    heldout = [p for p in choices if p.split == "heldout"]
    return (heldout or choices)[-1] if choices else None


# ---- the ledger -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerView:
    report: LedgerReport
    events: list[Event]  # newest first, at most `limit`
    total: int
    kinds: list[str]
    kind: str | None


def ledger_view(events: Sequence[Event], report: LedgerReport, kind: str | None, limit: int) -> LedgerView:
    kinds = sorted({e.kind for e in events})
    shown = [e for e in events if kind is None or e.kind == kind]
    return LedgerView(report, shown[::-1][:limit], len(events), kinds, kind)
