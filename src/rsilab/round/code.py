"""The code loop's round: assess → propose N → verify → review → deploy, resumable from the ledger.

A round starts from a parent chosen from the archive (search.parent), asks the parent's own
improver for N candidates, each with a seed the harness drew, judges them side by side
(round/judging.py) and deploys at most one: a candidate that beat the *deployed* version.
Stages never call each other; this module passes records between them.
"""

from __future__ import annotations

from typing import Any

from rsilab.assess.runner import unassessable
from rsilab.assess.splits import draw_tasks
from rsilab.assess.weakness import weakness_report
from rsilab.propose.stage import propose
from rsilab.errors import RoundClosed
from rsilab.interop.mlflow_sink import track_round
from rsilab.records import Assessment, Decision, Proposal, Task
from rsilab.review.policy import decide
from rsilab.round.judging import Candidate, Judge, run_seed
from rsilab.round.records import RoundRecords, dev_questions, history
from rsilab.rounds import Report, RoundResult, round_seed
from rsilab.runtime import Runtime
from rsilab.search.archive import build_archive
from rsilab.search.parents import select_parent
from rsilab.state import ExperimentState
from rsilab.verify.stats import mcnemar

SEED_KEYS = ("dev_seed", "heldout_seed", "confirm_seed", "smoke_seed", "canary_seed", "parent_seed")


def start_round(state: ExperimentState, report: Report, seed_plan: dict[str, Any] | None = None) -> dict[str, Any]:
    """Choose the parent and draw the round's seeds; recorded in `round.started` before anything runs."""
    number = len(state.ledger.events("round.started")) + 1
    base, search = state.config.experiment.seed, state.config.search
    # Fresh seeds each round, drawn by the harness and kept in the ledger, out of the self's reach.
    seeds = {name: round_seed(base, number, name) for name in SEED_KEYS}
    n = search.candidates_for(state.config.llm.provider)
    seeds["candidate_seeds"] = [round_seed(base, number, "candidate", k) for k in range(n)]
    seeds.update(seed_plan or {})
    deployed, deployed_commit = state.deployed()
    selection = select_parent(build_archive(state.ledger.events()), search.parent, deployed, seeds["parent_seed"])
    payload = {"round": number, "parent": selection.version, "commit": state.commit_of(selection.version),
               "deployed": deployed, "deployed_commit": deployed_commit, "selection": selection.record(),
               "candidates": len(seeds["candidate_seeds"]), **seeds}
    state.ledger.append("round.started", payload)
    chosen = f"{selection.version} ({selection.rule}: {selection.reason})"
    report("round", f"round {number} starts from {chosen}, {payload['candidates']} candidate(s)")
    return payload


class CodeRound:
    def __init__(self, state: ExperimentState, runtime: Runtime, rnd: dict[str, Any], report: Report) -> None:
        self.state, self.runtime, self.rnd, self.report = state, runtime, rnd, report
        self.number = rnd["round"]
        self.records = RoundRecords(state, self.number)
        self.parent, self.deployed = rnd["parent"], rnd.get("deployed", rnd["parent"])
        self.deployed_commit = rnd.get("deployed_commit", rnd["commit"])
        self.parent_tree = state.versions.files(rnd["commit"])
        self.deployed_tree = state.versions.files(self.deployed_commit)

    def finish(self) -> RoundResult:
        cfg = self.state.config
        # 1. assess the parent on the dev split: its failures are what the proposer may see.
        dev_tasks = draw_tasks(cfg.assess, "dev", cfg.assess.dev_n, self.rnd["dev_seed"])
        judge = Judge(self.state, self.runtime, self.records, self.rnd, self.report, self.parent_tree, self.deployed_tree)
        dev = self._dev(dev_tasks, judge)
        if why := unassessable(dev):  # nothing to show the improver, nothing to compare with
            return self.close(f"{why}; the round is closed — `rsilab run` goes on with the next one", [])
        # 2. propose: the parent's own improver, in the sandbox, once per harness-drawn seed.
        candidates = self._proposals(dev)
        # 3. verify: every candidate through the gates, side by side; at most one passes.
        try:
            verdicts = judge.judge(candidates)
        except RoundClosed as closed:
            return self.close(str(closed), candidates)
        winner = next((c for c in candidates if verdicts[c.version].passed), None)
        # 4. review: failed gates reject; the winner, if any, goes to the policy or a person.
        recorded = {p["version"]: p for p in self.records.in_round("decision.recorded")}
        for c in candidates:
            if c is not winner and c.version not in recorded:
                self._decided(decide(verdicts[c.version], cfg.review.autonomy))
        shown = winner or candidates[-1]
        if winner is None:
            return self._complete(shown.version, "rejected", candidates)
        if winner.version in recorded:
            decision = Decision.model_validate({k: v for k, v in recorded[winner.version].items() if k != "round"})
        else:
            decision = decide(verdicts[winner.version], cfg.review.autonomy)
            if decision is None:
                if not any(p["version"] == winner.version for p in self.records.in_round("review.requested")):
                    self.state.ledger.append("review.requested", {"round": self.number, "version": winner.version})
                self.report("review", f"{winner.version} passed every gate and awaits a person: run `rsilab review`")
                return RoundResult(self.number, winner.version, "awaiting-review")
            self._decided(decision)
        if not decision.approved:
            return self._complete(winner.version, "rejected", candidates)
        # 5. deploy: the event first, then the ref; a crash between is repaired by the experiment.
        if not self.records.in_round("version.deployed"):
            commit = self.state.commit_of(winner.version)
            self.state.ledger.append("version.deployed", {"round": self.number, "version": winner.version, "commit": commit})
        self.state.versions.set_deployed(self.state.commit_of(winner.version))
        self.report("deploy", f"{winner.version} is deployed")
        outcome = "rolled-back" if self._canary(winner.version, winner.tree or {}) else "deployed"
        return self._complete(winner.version, outcome, candidates)

    def _decided(self, decision: Decision | None) -> None:
        if decision is None:
            return
        self.state.ledger.append("decision.recorded", {"round": self.number, **decision.model_dump()})
        self.report("review", f"{decision.version} {'approved' if decision.approved else 'rejected'} by {decision.by}: {decision.comment}")

    def _complete(self, shown: str | None, outcome: str, candidates: list[Candidate], reason: str | None = None
                  ) -> RoundResult:
        extra = {"reason": reason} if reason else {}
        self.state.ledger.append("round.completed", {
            "round": self.number, "candidate": shown, "candidates": [c.version for c in candidates],
            "outcome": outcome, "usage": self.runtime.meter.usage("round").model_dump(), **extra})
        track_round(self.state, self.number, self.report)  # bounded; a tracking failure never fails the round
        return RoundResult(self.number, shown, outcome)

    def close(self, reason: str, candidates: list[Candidate]) -> RoundResult:
        """End the round without a deployment; every open candidate is rejected with `reason`."""
        recorded = {p["version"] for p in self.records.in_round("decision.recorded")}
        for c in candidates:
            if c.version not in recorded:
                self._decided(Decision(version=c.version, approved=False, by="policy:round-closed", comment=reason))
        self.report("round", f"round {self.number} closed: {reason}")
        return self._complete(candidates[-1].version if candidates else None, "closed", candidates, reason)

    # ---- assess and propose ---------------------------------------------------------------

    def _dev(self, tasks: list[Task], judge: Judge) -> Assessment:
        """The parent on its dev tasks; beside it, in a sandbox of its own, the deployed version's
        held-out stage one where a worker would wait otherwise (Judge.stage_one_beside_dev)."""
        found = self.records.assessment(self.parent, "dev")
        if found is not None:
            return found
        self.report("assess", f"{self.parent} answers {len(tasks)} dev tasks in the sandbox")
        context = {"round": self.number, "version": self.parent, "split": "dev"}
        seed = self.rnd["dev_seed"]
        dev_job = lambda: self.runtime.assess(self.parent, tasks, "dev", seed, self.parent_tree, context,  # noqa: E731
                                              run_seed(seed, self.parent, "dev"))
        beside = judge.stage_one_beside_dev(tasks)
        result, *heldout = self.runtime.map([dev_job] + ([beside] if beside else []))
        self.records.flush_violations(self.runtime)
        figures = self.records.record_assessment(result, shards=self.runtime.take_shards(context))
        self.report("assess", f"{self.parent} dev: {result.correct}/{result.n} correct, {figures['tokens']} tokens"
                    + (f" — {result.run_error}" if result.run_error else ""))
        for stage_one in heldout:  # recorded after the dev run: the held-out draw excludes its questions
            judge.record_beside_dev(stage_one)
        return result

    def _proposals(self, dev: Assessment) -> list[Candidate]:
        """One proposal per candidate seed: read back where recorded, else the improver runs, side by side."""
        seeds: list[int] = self.rnd.get("candidate_seeds") or [self.rnd["dev_seed"]]
        recorded = self.records.in_round("proposal.recorded")
        weakness = weakness_report(dev, self.state.config.assess.failures_shown)
        past = history(self.state)
        missing = [k for k in range(len(seeds)) if k >= len(recorded)]
        if missing:
            self.report("propose", f"{self.parent}'s improver proposes {len(missing)} candidate(s)")

        def job(k: int) -> Any:
            context = {"round": self.number, "version": self.parent, "split": "improve"}
            runner = self.runtime.runner(self.parent_tree, "improve", context, seed=seeds[k] if len(seeds) > 1 else None)
            return lambda: propose(candidate="v?", parent=self.parent, round=self.number, parent_tree=self.parent_tree,
                                   weakness=weakness, history=past, run_improve=runner,
                                   candidate_info={"index": k + 1, "of": len(seeds)} if len(seeds) > 1 else None)

        made = self.runtime.map([job(k) for k in missing])
        self.records.flush_violations(self.runtime)
        for k, (proposal, tree) in zip(missing, made):
            self._record_proposal(k, seeds[k], proposal, tree)
        candidates = []
        for p in self.records.in_round("proposal.recorded"):
            proposal = self.state.artifacts.get_record(p["artifact"], Proposal)
            if p["commit"]:
                self.state.versions.tag(proposal.version, p["commit"])
            candidates.append(Candidate(proposal, self.state.versions.files(p["commit"]) if p["commit"] else None))
        return candidates

    def _record_proposal(self, k: int, seed: int, proposal: Proposal, tree: dict[str, bytes] | None) -> None:
        candidate = f"v{len(self.state.rows()) + 1}"
        proposal = proposal.model_copy(update={"version": candidate})
        commit = None
        if tree is not None:
            message = f"{candidate}: {proposal.rationale or 'proposed by ' + self.parent}"[:2000].replace("\x00", "")
            commit = self.state.versions.commit(tree, parent=self.rnd["commit"], message=message)
            self.state.versions.tag(candidate, commit)
        digest = self.state.artifacts.put_record(proposal)
        self.state.ledger.append(
            "proposal.recorded",
            {"round": self.number, "version": candidate, "parent": self.parent, "commit": commit, "artifact": digest,
             "candidate": k + 1, "seed": seed, "rationale": proposal.rationale, "edits": len(proposal.edits),
             "errors": list(proposal.errors), "usage": proposal.usage.model_dump()},
        )
        detail = f"{len(proposal.edits)} edit(s)" + (f"; problems: {'; '.join(proposal.errors)}" if proposal.errors else "")
        self.report("propose", f"{candidate}: {proposal.rationale or '(no rationale)'} — {detail}")

    # ---- after a deploy -------------------------------------------------------------------

    def _canary(self, version: str, tree: dict[str, bytes]) -> bool:
        """Re-assess the new deployment beside its predecessor on fresh tasks; roll back on a regression."""
        canary, previous = self.state.config.gates.canary, self.deployed
        if canary.tasks == 0:
            return False
        done = self.records.in_round("canary.recorded")
        if done:
            regressed = done[0]["regressed"]
        else:
            seed = self.rnd["canary_seed"]
            tasks = draw_tasks(self.state.config.assess, "heldout", canary.tasks, seed,
                               dev_questions(self.state, up_to_round=self.number))
            new, old = self._canary_runs([(version, tree), (previous, self.deployed_tree)], tasks, seed)
            test = mcnemar([o.correct for o in new.outcomes], [o.correct for o in old.outcomes])
            regressed = test.p_better < canary.alpha or new.run_error is not None
            self.state.ledger.append(
                "canary.recorded",
                {"round": self.number, "version": version, "previous": previous, "regressed": regressed,
                 "p_regression": round(test.p_better, 6), "accuracy": [round(new.accuracy, 4), round(old.accuracy, 4)]},
            )
            self.report("canary", f"{version} {new.correct}/{new.n} vs {previous} {old.correct}/{old.n} on fresh tasks"
                        f" (p regression = {test.p_better:.3g})" + (" — REGRESSION" if regressed else ""))
        if not regressed:
            return False
        if not self.records.in_round("version.rolled_back"):
            self.state.ledger.append(
                "version.rolled_back",
                {"round": self.number, "version": previous, "commit": self.deployed_commit, "by": "policy:canary",
                 "reason": f"{version} regressed on fresh canary tasks"},
            )
        self.state.versions.set_deployed(self.deployed_commit)
        self.report("deploy", f"{version} rolled back to {previous} by the canary")
        return True

    def _canary_runs(self, runs: list[tuple[str, dict[str, bytes]]], tasks: list[Task], seed: int) -> list[Assessment]:
        """Each (version, tree) on the canary tasks: read back where recorded, else run side by side."""
        found = {v: a for v, _ in runs if (a := self.records.assessment(v, "canary")) is not None}
        todo = [(v, tree) for v, tree in runs if v not in found]
        contexts = [{"round": self.number, "version": v, "split": "canary"} for v, _ in todo]
        for v, _ in todo:
            self.report("assess", f"{v} answers {len(tasks)} canary tasks in the sandbox")

        def job(version: str, tree: dict[str, bytes], context: dict[str, Any]) -> Any:
            return lambda: self.runtime.assess(version, tasks, "canary", seed, tree, context,
                                               run_seed(seed, version, "canary"))

        done = self.runtime.map([job(v, tree, c) for (v, tree), c in zip(todo, contexts)])
        self.records.flush_violations(self.runtime)
        self.records.record_assessments(done, shards=[self.runtime.take_shards(c) for c in contexts])
        found.update({r.version: r for r in done})
        return [found[v] for v, _ in runs]
