"""The weights round: assess → propose (label, filter, refine) → verify → review → deploy.

The same five stages and the same ledger records as the code loop; the proposal is new
weights plus the statistics of the data they were trained on, instead of a code edit.
Every step first looks for its event and does the work only when it is missing, so a
crash loses at most the step in flight. The self's code (training, labelling, answering)
runs in the sandbox; problems, targets, filters, scores and gates stay out here.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rsilab.assess.metrics import summary
from rsilab.errors import RsilabError
from rsilab.interop.mlflow_sink import track_round
from rsilab.records import Assessment, Decision, GateResult, Proposal, Verdict
from rsilab.review.policy import decide
from rsilab.rounds import RoundResult, round_seed
from rsilab.sandbox.factory import make_sandbox
from rsilab.sandbox.process import Limits
from rsilab.weights import filters, frontier, gates, tasks
from rsilab.weights.sandboxed import TrainableRun, run_trainable

if TYPE_CHECKING:
    from rsilab.rounds import Report
    from rsilab.state import ExperimentState

OUTPUT_WEIGHTS = "out/trained.safetensors"  # in a directory: the self's writer replaces files by rename


class WeightsLoop:
    def __init__(self, experiment: ExperimentState, config: Any = None) -> None:
        """`config`: the loop's own section (a subclass passes its own; default `[weights]`)."""
        self.exp = experiment
        self.config = experiment.config.weights if config is None else config
        box = experiment.config.sandbox
        self.limits = Limits(box.cpu_seconds, box.memory_mb, box.file_size_mb, box.open_files, box.processes, box.wall_seconds)
        # The configured sandbox, with the harness's site-packages visible read-only: the self imports torch.
        self.sandbox = make_sandbox(box.model_copy(update={"site_packages": True}), llm_socket=None,
                                    protected=experiment.config.self_.protected)

    # ---- the loop ---------------------------------------------------------------------

    def run(self, rounds: int, report: Report) -> list[RoundResult]:
        """Pretrain v1 if it has no weights yet, finish an open round, then run new ones."""
        if importlib.util.find_spec("torch") is None or importlib.util.find_spec("safetensors") is None:
            raise RsilabError("the transformer self needs torch: install the `weights` extra "
                              "(pip install -e '.[weights]', or `make weights`)")
        self._reconcile_deployed(report)
        self._pretrain(report)
        return self._rounds(rounds, report)

    def _rounds(self, rounds: int, report: Report) -> list[RoundResult]:
        """Finish an open round, then start new ones until `rounds` have completed or one awaits a person."""
        results = []
        while True:
            current = self._open_round()
            if current is None:
                if len(self.exp.events("round.completed")) >= rounds:
                    break
                current = self._start_round(report)
            result = self._finish_round(current, report)
            results.append(result)
            if result.outcome == "awaiting-review":
                break
        return results

    def weights_of(self, version: str) -> str | None:
        """The content hash of a version's weights, from the ledger."""
        for event in self.exp.events():
            if event.kind in {"weights.pretrained", "proposal.recorded"} and event.payload.get("version") == version:
                return event.payload.get("weights")
        return None

    # ---- pretraining: v1's weights, trained from scratch on labelled original-range data ---

    def _pretrain(self, report: Report) -> None:
        if self.exp.events("weights.pretrained"):
            return
        version, _ = self.exp.deployed()
        cfg = self.config
        report("propose", f"{version} trains from scratch on {cfg.pretrain_examples} problems of 1–{cfg.original_digits} digits")
        seed = self._seed("pretrain")
        replay = tasks.mixed_lengths(cfg.pretrain_examples, seed, cfg.original_digits)
        run = self._run(self._tree(version), "train",
                        {"init": None, "examples": [], "replay": replay, "seed": seed, "output": OUTPUT_WEIGHTS},
                        weights_in={}, files_out=(OUTPUT_WEIGHTS,))
        if run.problem or OUTPUT_WEIGHTS not in run.files:
            raise RsilabError(f"the self could not pretrain its weights: {run.problem or 'it wrote no weights file'}; "
                              "see its train command in self/main.py")
        weights = run.files[OUTPUT_WEIGHTS]
        stats = _self_stats(run.output)
        self.exp.ledger.append("weights.pretrained", {"version": version, "weights": weights, "seed": seed,
                                                      "stats": stats, "wall_seconds": round(run.result.wall_seconds, 2)})
        report("deploy", f"{version} has weights {weights[:12]} ({run.result.wall_seconds:.0f} s of training)")

    # ---- the round, step by step --------------------------------------------------------

    def _open_round(self) -> dict[str, Any] | None:
        done = {e.payload["round"] for e in self.exp.events("round.completed")}
        open_rounds = [e.payload for e in self.exp.events("round.started") if e.payload["round"] not in done]
        return open_rounds[-1] if open_rounds else None

    def _start_round(self, report: Report) -> dict[str, Any]:
        number = len(self.exp.events("round.started")) + 1
        parent, commit = self.exp.deployed()
        seeds = {name: self._seed(number, name) for name in ("dev_seed", "heldout_seed", "generate_seed", "train_seed")}
        payload = {"round": number, "parent": parent, "commit": commit, "weights": self.weights_of(parent), **seeds}
        self.exp.ledger.append("round.started", payload)
        report("round", f"round {number} starts from {parent}")
        return payload

    def _finish_round(self, rnd: dict[str, Any], report: Report) -> RoundResult:

        number, parent = rnd["round"], rnd["parent"]
        cfg = self.config

        # 1. assess: where is the parent weak? Its last measured frontier; when none was measured,
        # or every length it was tried on passed (a lower bound only), a wider dev assessment.
        known = self._known_frontier(parent, before_round=number)
        if known is not None and known[1]:
            target = known[0]
        else:
            start = known[0] if known else cfg.original_digits + 1
            lengths = range(1, start + 2 * cfg.lookahead)
            dev = self._assess(number, [(parent, rnd["weights"])], "dev", rnd["dev_seed"], lengths, report)[0]
            target = frontier.frontier(frontier.by_length(dev), cfg.threshold)
        report("assess", f"{parent}'s frontier is {target} digits: it labels problems there and just past it")

        # 2. propose: the parent labels new problems, the harness filters, the parent refines itself.
        proposal, candidate_commit, candidate_weights = self._propose(rnd, target, report)

        # 3. verify: held-out accuracy on the original range and at the targeted length.
        verdicts = self._in_round(number, "verdict.recorded")
        if verdicts:
            verdict = self.exp.artifacts.get_record(verdicts[0]["artifact"], Verdict)
        else:
            verdict = self._verify(rnd, target, proposal, candidate_weights, report)

        # 4. review: a failed gate rejects; otherwise policy or a person decides.
        decisions = self._in_round(number, "decision.recorded")
        if decisions:
            decision = Decision.model_validate({k: v for k, v in decisions[0].items() if k != "round"})
        else:
            decision = decide(verdict, self.exp.config.review.autonomy)
            if decision is None:
                if not self._in_round(number, "review.requested"):
                    self.exp.ledger.append("review.requested", {"round": number, "version": proposal.version})
                report("review", f"{proposal.version} passed every gate and awaits a person: run `rsilab review`")
                return RoundResult(number, proposal.version, "awaiting-review")
            self.exp.ledger.append("decision.recorded", {"round": number, **decision.model_dump()})
        report("review", f"{decision.version} {'approved' if decision.approved else 'rejected'} by {decision.by}: {decision.comment}")

        # 5. deploy: the event first, then the ref; a crash between is repaired on the next run.
        outcome = "rejected"
        if decision.approved and candidate_commit and candidate_weights:
            if not self._in_round(number, "version.deployed"):
                self.exp.ledger.append("version.deployed", {"round": number, "version": proposal.version,
                                                            "commit": candidate_commit, "weights": candidate_weights})
            self.exp.versions.set_deployed(candidate_commit)
            outcome = "deployed"
            report("deploy", f"{proposal.version} is deployed (weights {candidate_weights[:12]})")
        now_deployed = proposal.version if outcome == "deployed" else parent
        reached, found = self._known_frontier(now_deployed, before_round=number + 1) or (target, True)
        self.exp.ledger.append("round.completed", {"round": number, "candidate": proposal.version, "outcome": outcome,
                                                   "target": target, "frontier": reached, "frontier_found": found})
        track_round(self.exp, number, report)  # bounded; a tracking failure never fails the round
        shown = f"{reached}" if found else f"≥{reached}"
        report("round", f"round {number}: frontier {target} → {shown} digits ({now_deployed} deployed)")
        return RoundResult(number, proposal.version, outcome)

    def _propose(self, rnd: dict[str, Any], target: int, report: Report) -> tuple[Proposal, str | None, str | None]:
        number, parent, cfg = rnd["round"], rnd["parent"], self.config
        recorded = self._in_round(number, "proposal.recorded")
        if recorded:
            p = recorded[0]
            proposal = self.exp.artifacts.get_record(p["artifact"], Proposal)
            if p["commit"]:
                self.exp.versions.tag(proposal.version, p["commit"])
            return proposal, p["commit"], p["weights"]
        candidate = f"v{len(self.exp.rows()) + 1}"
        kept, stats, data_digest = self._labelled_data(rnd, candidate, target, report)

        report("propose", f"{parent} refines itself on {len(kept)} kept self-labels mixed with "
               f"{cfg.replay_n} original-range problems")
        replay = tasks.mixed_lengths(cfg.replay_n, rnd["train_seed"], cfg.original_digits)
        request = {"init": "parent.safetensors", "examples": [list(e) for e in kept], "replay": replay,
                   "seed": rnd["train_seed"], "output": OUTPUT_WEIGHTS}
        run = self._run(self._tree(parent), "train", request, weights_in={"parent.safetensors": rnd["weights"]},
                        files_out=(OUTPUT_WEIGHTS,), charge=(number, [candidate]))
        weights = run.files.get(OUTPUT_WEIGHTS) if not run.problem else None
        errors = () if weights else (f"training failed: {run.problem or 'no weights file written'}",)
        commit = None
        if weights:  # same code, new weights: a commit whose message pins the weights hash
            message = f"{candidate}: weights {weights} refined from {parent} on {len(kept)} self-labels at {target}+ digits"
            commit = self.exp.versions.commit(self._tree(parent), parent=rnd["commit"], message=message)
            self.exp.versions.tag(candidate, commit)
        rationale = (f"refine {parent} on {len(kept)} of {stats['generated']} self-labelled problems at "
                     f"{target}+ digits (filters: {', '.join(cfg.filters) or 'none'}) mixed with {len(replay)} original-range problems")
        train_stats = _self_stats(run.output)
        proposal = Proposal(version=candidate, parent=parent, round=number, rationale=rationale, edits=(),
                            raw=json.dumps({"train": train_stats, "data": stats})[:100_000], errors=errors)
        self.exp.ledger.append("proposal.recorded", {
            "round": number, "version": candidate, "parent": parent, "commit": commit,
            "artifact": self.exp.artifacts.put_record(proposal), "rationale": rationale, "edits": 0,
            "errors": list(errors), "usage": proposal.usage.model_dump(), "weights": weights, "data": data_digest,
            "data_stats": {k: v for k, v in stats.items() if k != "by_length"}, "train_stats": train_stats,
        })
        report("propose", f"{candidate}: {rationale}" + (f" — {errors[0]}" if errors else ""))
        return proposal, commit, weights

    def _labelled_data(self, rnd: dict[str, Any], candidate: str, target: int,
                       report: Report) -> tuple[list[filters.Example], dict[str, Any], str]:
        """The parent labels new problems of its choosing at its frontier; the harness filters them."""
        number, parent, cfg = rnd["round"], rnd["parent"], self.config
        for p in self._in_round(number, "data.generated"):
            data = self.exp.artifacts.get_json(p["artifact"])
            return [tuple(e) for e in data["kept"]], data["stats"], p["artifact"]  # type: ignore[misc]
        request = {"weights": "parent.safetensors", "frontier": target, "n": cfg.generate_n, "seed": rnd["generate_seed"]}
        run = self._run(self._tree(parent), "generate", request, weights_in={"parent.safetensors": rnd["weights"]},
                        charge=(number, [candidate]))
        raw = run.output.get("examples") if isinstance(run.output, dict) and not run.problem else None
        examples = filters.well_formed(raw, cfg.generate_n)
        votes = self._votes(parent, [q for q, _ in examples]) if "vote" in cfg.filters else []
        kept, stats = filters.apply(examples, cfg.filters, votes)
        stats["problem"] = run.problem
        digest = self.exp.artifacts.put_json({"kept": [list(e) for e in kept], "stats": stats})
        self.exp.ledger.append("data.generated", {"round": number, "version": candidate, "artifact": digest,
                                                  **{k: v for k, v in stats.items() if k != "by_length"}})
        report("propose", f"{parent} labelled {stats['generated']} problems (label accuracy {_pct(stats['label_accuracy'])}); "
               f"kept {stats['kept']} ({_pct(stats['kept_label_accuracy'])} right) by {', '.join(cfg.filters) or 'no filter'}")
        return kept, stats, digest

    def _votes(self, parent: str, questions: list[str]) -> list[list[str]]:
        """Answers from earlier deployed checkpoints (not the parent): the voters of the vote filter."""
        voters = [w for v, w in self._deployed_lineage() if v != parent and w][-self.config.vote_checkpoints + 1 :]
        if not voters or not questions:
            return []
        names = {f"voter{i}.safetensors": w for i, w in enumerate(voters)}
        run = self._run(self._tree(parent), "answer", {"weights": list(names), "questions": questions}, weights_in=names)
        answers = run.output.get("answers") if isinstance(run.output, dict) and not run.problem else None
        if not isinstance(answers, list) or len(answers) != len(voters):
            return []
        return [[a if isinstance(a, str) else "" for a in column][: len(questions)] for column in answers]

    def _verify(self, rnd: dict[str, Any], target: int, proposal: Proposal, weights: str | None, report: Report) -> Verdict:
        cfg, number, version = self.config, rnd["round"], proposal.version
        results: list[GateResult] = []

        def passed(gate: GateResult) -> bool:
            results.append(gate)
            report("verify", f"{version} {gate.name}: {'pass' if gate.passed else 'FAIL'} — {gate.summary}")
            return gate.passed

        if passed(gates.weights_present(proposal, weights)) and weights is not None:
            lengths = range(1, max(cfg.original_digits, target) + cfg.lookahead + 1)
            parent_heldout, candidate_heldout = self._assess(
                number, [(rnd["parent"], rnd["weights"]), (version, weights)], "heldout", rnd["heldout_seed"], lengths, report
            )
            if passed(gates.answers(candidate_heldout)):
                if passed(gates.original_range(parent_heldout, candidate_heldout, cfg.original_digits, cfg.margin, cfg.threshold)):
                    passed(gates.targeted_length(parent_heldout, candidate_heldout, target, cfg.alpha))
        verdict = Verdict(version=version, gates=tuple(results), violations=self._violations_of(number, version))
        failed = verdict.failed_gate
        self.exp.ledger.append("verdict.recorded", {
            "round": number, "version": version, "passed": verdict.passed,
            "artifact": self.exp.artifacts.put_record(verdict), "failed_gate": failed.name if failed else None,
            "summary": failed.summary if failed else results[-1].summary,
            "gates": [{"name": g.name, "passed": g.passed, "summary": g.summary} for g in results],
        })
        return verdict

    # ---- assessment -------------------------------------------------------------------

    def _assess(self, number: int, models: Sequence[tuple[str, str]], split: str, seed: int,
                lengths: Sequence[int], report: Report) -> list[Assessment]:
        """Each (version, weights) answers the same fresh problems in one sandboxed run; the harness scores."""
        found: dict[str, Assessment] = {}
        for event in self.exp.events("assessment.recorded"):
            p = event.payload
            if p["round"] == number and p["split"] == split:
                found[p["version"]] = self.exp.artifacts.get_record(p["artifact"], Assessment)
        missing = [(v, w) for v, w in models if v not in found]
        if missing:
            problems = tasks.addition(self.config.assess_per_length, seed, lengths)
            names = {f"model{i}.safetensors": w for i, (_, w) in enumerate(missing)}
            report("assess", f"{', '.join(v for v, _ in missing)} answer {len(problems)} fresh {split} problems "
                   f"of {lengths[0]}–{lengths[-1]} digits in the sandbox")
            run = self._run(self._tree(missing[0][0]), "answer", {"weights": list(names), "questions": [t.question for t in problems]},
                            weights_in=names, charge=(number, [v for v, _ in missing]))
            columns = run.output.get("answers") if isinstance(run.output, dict) and not run.problem else None
            problem = run.problem or (None if isinstance(columns, list) else "output is not {\"answers\": [[...], ...]}")
            for i, (version, _) in enumerate(missing):
                column = columns[i] if isinstance(columns, list) and i < len(columns) and isinstance(columns[i], list) else None
                result = frontier.score(version, problems, column, split, seed, run.result.wall_seconds,
                                        run.result.cpu_seconds, problem)
                found[version] = result
                self._record_assessment(number, result)
                report("assess", f"{version} {split}: " + _by_length_text(result)
                       + f" → frontier {frontier.frontier(frontier.by_length(result), self.config.threshold)}")
        return [found[v] for v, _ in models]

    def _record_assessment(self, number: int, result: Assessment) -> None:
        accuracy = frontier.by_length(result)
        self.exp.ledger.append("assessment.recorded", {
            "round": number, "version": result.version, "split": result.split, "seed": result.seed,
            "artifact": self.exp.artifacts.put_record(result), "summary": summary(result),
            "by_length": {str(k): round(v, 4) for k, v in accuracy.items()},
            "frontier": frontier.frontier(accuracy, self.config.threshold), "run_error": result.run_error,
            # False when every assessed length passed: the frontier is then only a lower bound.
            "frontier_found": any(a < self.config.threshold for a in accuracy.values()),
        })

    def _known_frontier(self, version: str, before_round: int) -> tuple[int, bool] | None:
        """(frontier, found) from the version's latest assessment before `before_round`; None if never assessed.

        `found` is False when every assessed length passed, so the frontier is only a lower bound.
        """
        known = None
        for event in self.exp.events("assessment.recorded"):
            p = event.payload
            if p["version"] == version and p["round"] < before_round and not p.get("run_error") and "frontier" in p:
                known = (p["frontier"], p.get("frontier_found", True))
        return known

    # ---- helpers ------------------------------------------------------------------------

    def _seed(self, *parts: object) -> int:
        return round_seed(self.config.seed, *parts)

    def _run(self, tree: dict[str, bytes], command: str, request: dict[str, Any], *,
             weights_in: dict[str, str], files_out: Sequence[str] = (), charge: tuple[int, Sequence[str]] | None = None,
             ) -> TrainableRun:
        """One sandboxed run of the self; its limit hits go to the ledger, charged to (round, versions)."""
        request = {**request, "device": self.config.device}
        run = run_trainable(tree, command, request, store=self.exp.artifacts, weights_in=weights_in, files_out=files_out,
                            sandbox=self.sandbox, limits=self.limits, scratch_root=self.exp.root / ".rsilab" / "scratch")
        seen = run.result
        if charge is not None and (seen.violations or seen.reported):
            number, versions = charge
            # Training and labelling count as much as answering: a CPU or wall hit there is the candidate's.
            self.exp.ledger.append("sandbox.violation", {"round": number, "version": ",".join(versions),
                                                         "versions": list(versions), "command": command,
                                                         "violations": list(seen.violations),
                                                         "self_reported": list(seen.reported)})
        return run

    def _violations_of(self, number: int, version: str) -> tuple[str, ...]:
        """What the harness or kernel saw in any run charged to `version` this round (survives a resume)."""
        found = [v for p in self._in_round(number, "sandbox.violation") if version in p.get("versions", ())
                 for v in p["violations"]]
        return tuple(dict.fromkeys(found))

    def _tree(self, version: str) -> dict[str, bytes]:
        return self.exp.versions.files(self.exp.commit_of(version))

    def _in_round(self, number: int, kind: str) -> list[dict[str, Any]]:
        return [e.payload for e in self.exp.events(kind) if e.payload.get("round") == number]

    def _deployed_lineage(self) -> list[tuple[str, str | None]]:
        """Every deployed (version, weights), oldest first."""
        seen: list[tuple[str, str | None]] = []
        for event in self.exp.events():
            if event.kind in {"version.deployed", "version.rolled_back"}:
                version = event.payload["version"]
                if all(v != version for v, _ in seen):
                    seen.append((version, self.weights_of(version)))
        return seen

    def _reconcile_deployed(self, report: Report) -> None:
        """The ledger is the truth: make the `deployed` ref agree with it after a crash."""
        version, commit = self.exp.deployed()
        if self.exp.versions.deployed() != commit:
            self.exp.versions.set_deployed(commit)
            report("recover", f"deployed ref moved to {version} to match the ledger")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _by_length_text(result: Assessment) -> str:
    return " ".join(f"{length}:{acc:.0%}" for length, acc in frontier.by_length(result).items())


MAX_STATS_CHARS = 10_000


def _self_stats(output: object) -> object:
    """The self's own training figures for the ledger: informative only, so kept only while small."""
    stats = output.get("stats") if isinstance(output, dict) else None
    if stats is None or len(json.dumps(stats)) <= MAX_STATS_CHARS:
        return stats
    return f"(the self's stats were over {MAX_STATS_CHARS} characters of JSON and are not kept)"
