"""What a round reads back from the ledger and writes to it: one place for the round's bookkeeping.

Every step looks for its event before doing the work, so a resumed round redoes only the
step in flight. Everything here runs on the orchestrating thread: the ledger has one writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rsilab.assess.metrics import summary
from rsilab.records import Assessment, GateResult, Verdict
from rsilab.runtime import Runtime
from rsilab.state import ExperimentState


class RoundRecords:
    def __init__(self, state: ExperimentState, number: int) -> None:
        self.state, self.number = state, number

    def in_round(self, kind: str) -> list[dict[str, Any]]:
        return [e.payload for e in self.state.ledger.events(kind) if e.payload.get("round") == self.number]

    # ---- assessments ----------------------------------------------------------------------

    def assessment(self, version: str, split: str, stage: int | None = None) -> Assessment | None:
        for p in self.in_round("assessment.recorded"):
            if (p["version"], p["split"], p.get("stage")) == (version, split, stage):
                return self.state.artifacts.get_record(p["artifact"], Assessment)
        return None

    def record_assessment(self, result: Assessment, stage: int | None = None,
                          shards: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        return self.record_assessments([result], stage, [shards])[0]

    def record_assessments(self, results: Sequence[Assessment], stage: int | None = None,
                           shards: Sequence[Sequence[dict[str, Any]]] = (),
                           shared: Sequence[dict[str, Any] | None] = ()) -> list[dict[str, Any]]:
        """A batch's assessments: their artifacts, then their events in one ledger transaction.
        `shards[i]`: where each run of result i ran on a cluster ({"shard", "node"}); none for a local run.
        `shared[i]`: the run result i was part of, when it shared one ({"splits", "tasks"})."""
        figures = [summary(r) for r in results]
        where = list(shards) + [()] * (len(results) - len(shards))
        runs = list(shared) + [None] * (len(results) - len(shared))
        self.state.ledger.append_many([(
            "assessment.recorded",
            {"round": self.number, "version": r.version, "split": r.split, "stage": stage, "seed": r.seed,
             "artifact": self.state.artifacts.put_record(r), "summary": f, "run_error": r.run_error,
             **({"shards": list(w)} if w else {}), **({"shared_run": run} if run else {})})
            for r, f, w, run in zip(results, figures, where, runs)])
        return figures

    # ---- containment ----------------------------------------------------------------------

    def flush_violations(self, runtime: Runtime) -> None:
        """Write the containment events the runtime collected from its runs (on this thread only)."""
        self.state.ledger.append_many([
            ("sandbox.violation", {**found.context, "command": found.command, "violations": list(found.violations),
                                   "self_reported": list(found.reported)})
            for found in runtime.take_violations()])

    def violations_of(self, version: str) -> list[str]:
        """Every containment event of `version`'s runs in this round (so a resumed round keeps them)."""
        found: list[str] = []
        for p in self.in_round("sandbox.violation"):
            if p["version"] == version:
                found += p["violations"]
        return list(dict.fromkeys(found))

    # ---- verdicts -------------------------------------------------------------------------

    def verdict(self, version: str) -> Verdict | None:
        for p in self.in_round("verdict.recorded"):
            if p["version"] == version:
                return self.state.artifacts.get_record(p["artifact"], Verdict)
        return None

    def record_verdicts(self, gates: dict[str, Sequence[GateResult]]) -> dict[str, Verdict]:
        """Each candidate's verdict: the artifacts, then the events in one ledger transaction."""
        verdicts = {v: Verdict(version=v, gates=tuple(results), violations=tuple(self.violations_of(v)))
                    for v, results in gates.items()}
        events = []
        for version, verdict in verdicts.items():
            failed, results = verdict.failed_gate, verdict.gates
            events.append(("verdict.recorded", {
                "round": self.number, "version": version, "passed": verdict.passed,
                "artifact": self.state.artifacts.put_record(verdict), "failed_gate": failed.name if failed else None,
                "summary": failed.summary if failed else results[-1].summary,
                "gates": [{"name": g.name, "passed": g.passed, "summary": g.summary} for g in results],
                "violations": list(verdict.violations)}))
        self.state.ledger.append_many(events)
        return verdicts


def dev_questions(state: ExperimentState, up_to_round: int | None = None) -> frozenset[str]:
    """Every dev question a proposer may have seen (in rounds up to `up_to_round`)."""
    questions: set[str] = set()
    for event in state.ledger.events("assessment.recorded"):
        p = event.payload
        if p["split"] == "dev" and p.get("round") is not None and (up_to_round is None or p["round"] <= up_to_round):
            questions.update(o.question for o in state.artifacts.get_record(p["artifact"], Assessment).outcomes)
    return frozenset(questions)


def history(state: ExperimentState) -> list[dict[str, Any]]:
    """Past proposals with their outcome, the reviewer's comment and the harness's errors on their
    edits (each phrased for the model, in full): fed to the next proposal."""
    found = []
    for row in state.rows().values():
        if row.round == 0 or row.state == "proposed":
            continue
        # When the edits failed, `errors` says why in full; the gate's summary would repeat it, cut short.
        summary = "" if row.errors else f": {row.verdict_summary}"
        outcome = f"{row.state}" + (f" at gate {row.failed_gate}{summary}" if row.failed_gate else "")
        found.append({"version": row.id, "rationale": row.rationale, "outcome": outcome, "comment": row.comment,
                      "errors": row.errors})
    return found
