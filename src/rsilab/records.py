"""The record types of DESIGN.md: one immutable, JSON-serialisable model per concept.

Stages take and return these; the experiment passes them between stages and the
store persists them (as ledger events and content-addressed artifacts).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

VersionId = str  # short id, "v7"


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VersionState(StrEnum):
    PROPOSED = "proposed"
    VERIFIED = "verified"
    APPROVED = "approved"
    REJECTED = "rejected"
    DEPLOYED = "deployed"
    RETIRED = "retired"


class Version(Record):
    id: VersionId
    commit: str | None  # None when the proposal's edits never applied to a tree
    parent: VersionId | None
    round: int
    state: VersionState
    weights: str | None = None  # content hash of a trainable self's weights


class Task(Record):
    """One problem. `answer` is a target: trusted, it never enters the sandbox."""

    id: str
    family: str
    difficulty: int
    question: str
    answer: str  # the target; where several spellings are right, one right answer
    # A family's own exact check (see rsilab.assess.scoring), for answers with several
    # right spellings; None means the normalised answer must equal `answer`.
    verifier: str | None = None
    reference: dict[str, Any] = Field(default_factory=dict)  # what the verifier needs; trusted, never shown

    def public(self) -> dict[str, str]:
        """What the self is allowed to see of this task (the runner also swaps the id for an opaque one)."""
        return {"id": self.id, "question": self.question}


class Usage(Record):
    """Trusted LLM accounting, counted by the broker, never by the self."""

    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    dollars: float = 0.0

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            calls=self.calls + other.calls,
            tokens_in=self.tokens_in + other.tokens_in,
            tokens_out=self.tokens_out + other.tokens_out,
            dollars=self.dollars + other.dollars,
        )


class CallCost(Record):
    """One model call of a task as the broker counted it (trusted), in the order the calls came."""

    tokens_in: int
    tokens_out: int
    seconds: float


class TaskOutcome(Record):
    task_id: str
    family: str
    difficulty: int
    question: str
    expected: str
    answer: str | None
    correct: bool
    usage: Usage = Usage()  # calls the broker attributed to this task
    calls: tuple[CallCost, ...] = ()  # the same calls one by one (the step profile pairs them with the trace)
    trace: list[Any] = Field(default_factory=list)  # the self's own account: informative only
    self_reported_steps: int | None = None
    error: str | None = None


class Assessment(Record):
    version: VersionId
    split: str  # "dev" (failures may be shown to the proposer) or "heldout"
    seed: int
    outcomes: tuple[TaskOutcome, ...]
    usage: Usage
    wall_seconds: float
    cpu_seconds: float
    run_error: str | None = None  # set when the self crashed or timed out as a whole

    @property
    def n(self) -> int:
        return len(self.outcomes)

    @property
    def correct(self) -> int:
        return sum(o.correct for o in self.outcomes)

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else math.nan


class Edit(Record):
    """Replace the single exact occurrence of `search` in `path` with `replace`.

    An empty `search` creates `path` (which must not exist yet) with `replace` as content.
    """

    path: str
    search: str
    replace: str


class Proposal(Record):
    version: VersionId  # the candidate this proposal becomes
    parent: VersionId
    round: int
    rationale: str
    edits: tuple[Edit, ...]
    raw: str  # the improver's output exactly as returned
    errors: tuple[str, ...] = ()  # parse or run problems, fed back to the next proposal
    usage: Usage = Usage()


class GateResult(Record):
    name: str
    passed: bool
    summary: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    needs_person: bool = False  # passed, but policy wants a human to look


class Verdict(Record):
    version: VersionId
    gates: tuple[GateResult, ...]
    violations: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates) and not self.violations

    @property
    def failed_gate(self) -> GateResult | None:
        return next((g for g in self.gates if not g.passed), None)

    @property
    def needs_person(self) -> bool:
        return any(g.needs_person for g in self.gates)


class Decision(Record):
    version: VersionId
    approved: bool
    by: str  # "person:NAME" or "policy:NAME"
    comment: str = ""


class Event(Record):
    seq: int
    ts: float
    kind: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str
