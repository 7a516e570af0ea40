"""The step profile: what each step of the self's solving costs, and how often it changes the answer.

So the improver can find a redundant step itself (efficiency counts as much as accuracy).
Step names and answers come from the self's own trace (informative: the self wrote them);
tokens and seconds come from the broker (trusted). A trace step marked `"llm"` is paired,
in order, with the task's next broker-counted call; a step carrying `"answer"` states the
answer as of that step, so a later one that differs changed it — towards the expected
answer (fixed) or away from it (broke). Calls no marked step claims are reported apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from rsilab.assess.scoring import is_correct
from rsilab.records import Assessment

MAX_STEPS = 12  # distinct step names reported (the trace is the self's: bound what we echo back)


@dataclass
class StepCost:
    step: str
    ran: int = 0  # times the step appears in traces
    calls: int = 0  # broker-counted model calls paired with it
    tokens: int = 0
    seconds: float = 0.0
    changed: int = 0  # times its answer differed from the answer before it
    fixed: int = 0  # ... to the expected answer
    broke: int = 0  # ... from the expected answer


def step_profile(assessment: Assessment) -> list[dict[str, Any]]:
    """One entry per step name, costliest first, then the model calls no step claimed (if any)."""
    steps: dict[str, StepCost] = {}
    unclaimed = StepCost("(calls no step claimed)")
    for outcome in assessment.outcomes:
        calls = list(outcome.calls)
        answer: str | None = None
        for entry in outcome.trace:
            if not isinstance(entry, dict):
                continue
            name = str(entry.get("step"))[:40]
            if name not in steps and len(steps) >= MAX_STEPS:
                continue
            cost = steps.setdefault(name, StepCost(name))
            cost.ran += 1
            if entry.get("llm") and calls:
                call = calls.pop(0)
                cost.calls, cost.tokens, cost.seconds = cost.calls + 1, cost.tokens + call.tokens_in + call.tokens_out, cost.seconds + call.seconds
            if "answer" in entry:
                given = str(entry["answer"])[:200]
                if answer is not None and given != answer:
                    cost.changed += 1
                    right_now, right_before = (is_correct(a, outcome.expected) for a in (given, answer))
                    cost.fixed += right_now and not right_before
                    cost.broke += right_before and not right_now
                answer = given
        for call in calls:
            unclaimed.calls += 1
            unclaimed.tokens += call.tokens_in + call.tokens_out
            unclaimed.seconds += call.seconds
    found = sorted(steps.values(), key=lambda c: (-c.tokens, -c.ran, c.step)) + ([unclaimed] if unclaimed.calls else [])
    return [{**asdict(c), "seconds": round(c.seconds, 2)} for c in found]

