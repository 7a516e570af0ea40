"""The lm-adapters round: a real language model trains a LoRA adapter where it is weak, on its own verified answers.

assess (dev, per family and difficulty) → propose (the self plans a target from the report,
samples k answers per fresh problem there, the harness keeps those its exact verifier
accepts, the self trains that family's adapter on them) → verify (held-out, paired with the
parent) → review → deploy. The base model is a read-only folder; a version is the self's
code plus the sha256 of each family's adapter. Every step first looks for its event in the
ledger, as in the transformer loop, so a crash loses at most the step in flight.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from rsilab.assess.metrics import summary
from rsilab.errors import RsilabError
from rsilab.records import Assessment, Decision, GateResult, Proposal, Task, Verdict
from rsilab.review.policy import decide
from rsilab.rounds import RoundResult
from rsilab.verify.alignment import load_alignment
from rsilab.weights import gates, lm_base, lm_gates, lm_tasks
from rsilab.weights.loop import WeightsLoop, _self_stats
from rsilab.weights.sandboxed import TrainableRun, run_trainable

if TYPE_CHECKING:
    from rsilab.rounds import Report
    from rsilab.state import ExperimentState

OUTPUT_ADAPTER = "out/adapter.safetensors"
BASE = "base"  # the read-only base model folder, in each run's scratch copy
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
_FAMILY = re.compile(r"[a-z][a-z0-9_]{0,40}")


class AdaptersLoop(WeightsLoop):
    def __init__(self, experiment: ExperimentState) -> None:
        super().__init__(experiment, experiment.config.adapters)  # _seed and _run read its seed, device
        self.base = lm_base.base_dir(self.config.base)
        for family in self.config.families:
            if not _FAMILY.fullmatch(family):
                raise RsilabError(f"adapters.families: {family!r} is not a family name (lowercase letters, digits, _)")

    def run(self, rounds: int, report: Report) -> list[RoundResult]:
        self._reconcile_deployed(report)
        return self._rounds(rounds, report)

    def adapters_of(self, version: str) -> dict[str, str]:
        """family → adapter digest of a version (v1, the template, has none)."""
        for event in self.exp.events("proposal.recorded"):
            if event.payload.get("version") == version:
                return dict(event.payload.get("adapters") or {})
        return {}

    def _start_round(self, report: Report) -> dict[str, Any]:
        number = len(self.exp.events("round.started")) + 1
        parent, commit = self.exp.deployed()
        seeds = {name: self._seed(number, name) for name in ("dev_seed", "heldout_seed", "generate_seed", "train_seed")}
        payload = {"round": number, "parent": parent, "commit": commit, "adapters": self.adapters_of(parent), **seeds}
        self.exp.ledger.append("round.started", payload)
        report("round", f"round {number} starts from {parent} (adapters: {', '.join(payload['adapters']) or 'none'})")
        return payload

    def _finish_round(self, rnd: dict[str, Any], report: Report) -> RoundResult:  # type: ignore[override]
        number, parent = rnd["round"], rnd["parent"]
        dev = self._assess(rnd, parent, rnd["adapters"], "dev", rnd["dev_seed"], self.config.dev_per_cell, report)
        plan = self._plan(rnd, lm_tasks.report(dev), report)
        proposal, commit, adapters = self._propose(rnd, plan, report)
        found = self._in_round(number, "verdict.recorded")
        if found:
            verdict = self.exp.artifacts.get_record(found[0]["artifact"], Verdict)
        else:
            verdict = self._verify(rnd, plan["family"], proposal, adapters, report)
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
        outcome = "rejected"
        if decision.approved and commit and adapters is not None:
            if not self._in_round(number, "version.deployed"):
                self.exp.ledger.append("version.deployed", {"round": number, "version": proposal.version,
                                                            "commit": commit, "adapters": adapters})
            self.exp.versions.set_deployed(commit)
            outcome = "deployed"
            report("deploy", f"{proposal.version} is deployed: routes {', '.join(sorted(adapters))} through their adapters")
        self.exp.ledger.append("round.completed", {"round": number, "candidate": proposal.version, "outcome": outcome,
                                                   "target": plan})
        return RoundResult(number, proposal.version, outcome)

    # ---- propose -------------------------------------------------------------------------

    def _plan(self, rnd: dict[str, Any], weakness: dict[str, dict[str, float]], report: Report) -> dict[str, Any]:
        """The self picks the weakness to work on; the harness holds it to the configured families and caps."""
        number, cfg = rnd["round"], self.config
        for p in self._in_round(number, "plan.recorded"):
            return p["plan"]
        run = self._run(self._tree(rnd["parent"]), "plan", {"report": weakness, "max_problems": cfg.max_train_problems},
                        weights_in={}, charge=(number, [f"round-{number}"]))
        out = run.output if isinstance(run.output, dict) and not run.problem else {}
        family = out.get("family") if out.get("family") in cfg.families else None
        weakest = min(((acc, f, int(d)) for f, by in weakness.items() for d, acc in by.items()), default=(0, cfg.families[0], cfg.difficulties[0]))
        difficulty = out.get("difficulty") if isinstance(out.get("difficulty"), int) and 1 <= out["difficulty"] <= 9 else None
        plan = {"family": family or weakest[1], "difficulty": difficulty if family else weakest[2],
                "problems": _bounded(out.get("problems"), cfg.max_train_problems),
                "samples": _bounded(out.get("samples"), cfg.max_samples),
                "why": str(out.get("why", ""))[:300], "self_chose": family is not None, "problem": run.problem}
        self.exp.ledger.append("plan.recorded", {"round": number, "report": weakness, "plan": plan})
        report("propose", f"the self targets {plan['family']} at difficulty {plan['difficulty']}: "
               f"{plan['problems']} problems × {plan['samples']} samples" + ("" if family else " (its plan was unusable)"))
        return plan

    def _propose(self, rnd: dict[str, Any], plan: dict[str, Any], report: Report) -> tuple[Proposal, str | None, dict[str, str] | None]:
        number, parent, family = rnd["round"], rnd["parent"], plan["family"]
        recorded = self._in_round(number, "proposal.recorded")
        if recorded:
            p = recorded[0]
            if p["commit"]:
                self.exp.versions.tag(p["version"], p["commit"])
            return self.exp.artifacts.get_record(p["artifact"], Proposal), p["commit"], p["adapters"]
        candidate = f"v{len(self.exp.rows()) + 1}"
        kept, data = self._samples(rnd, plan, candidate, report)
        init = rnd["adapters"].get(family)
        weights_in = {"init.safetensors": init} if init else {}
        run = None
        digest, problem = None, "no verified answers to learn from" if not kept else None
        if kept:
            request = {"base": BASE, "init": "init.safetensors" if init else None, "examples": [list(e) for e in kept],
                       "seed": rnd["train_seed"], "output": OUTPUT_ADAPTER}
            run = self._run(self._tree(parent), "train", request, weights_in=weights_in, files_out=(OUTPUT_ADAPTER,),
                            charge=(number, [candidate]))
            digest = run.files.get(OUTPUT_ADAPTER) if not run.problem else None
            problem = run.problem or (None if digest else "no adapter file written")
            if digest and (bad := lm_gates.safetensors_problem(self.exp.artifacts.get_bytes(digest))):
                digest, problem = None, f"the adapter was refused unread: {bad}"
        adapters = {**rnd["adapters"], family: digest} if digest else None
        commit = None
        if adapters:  # same code, new adapters: a commit whose message pins each adapter's hash
            pins = ", ".join(f"{f} {d}" for f, d in sorted(adapters.items()))
            commit = self.exp.versions.commit(self._tree(parent), parent=rnd["commit"],
                                              message=f"{candidate}: adapters {pins}; {family} trained on {len(kept)} verified self-answers")
            self.exp.versions.tag(candidate, commit)
        train = _self_stats(run.output) if run else None
        rationale = f"train the {family} adapter on {len(kept)} verified answers of {data['sampled']} sampled at difficulty {plan['difficulty']}"
        errors = (f"training failed: {problem}",) if problem else ()
        proposal = Proposal(version=candidate, parent=parent, round=number, rationale=rationale, edits=(),
                            raw=json.dumps({"train": train, "data": data})[:100_000], errors=errors)
        self.exp.ledger.append("proposal.recorded", {
            "round": number, "version": candidate, "parent": parent, "commit": commit, "family": family,
            "artifact": self.exp.artifacts.put_record(proposal), "rationale": rationale, "edits": 0, "errors": list(errors),
            "usage": proposal.usage.model_dump(), "adapters": adapters, "weights": digest, "train_stats": train,
            "train_seconds": round(run.result.wall_seconds, 1) if run else 0.0,
            "peak_rss_mb": run.output.get("peak_rss_mb") if run and isinstance(run.output, dict) else None})
        report("propose", f"{candidate}: {rationale}" + (f" — {errors[0]}" if errors else ""))
        return proposal, commit, adapters

    def _samples(self, rnd: dict[str, Any], plan: dict[str, Any], candidate: str, report: Report) -> tuple[list[tuple[str, str]], dict[str, Any]]:
        """The parent answers fresh problems k times each; the harness keeps the distinct right ones."""
        number, family = rnd["round"], plan["family"]
        for p in self._in_round(number, "data.generated"):
            data = self.exp.artifacts.get_json(p["artifact"])
            return [tuple(e) for e in data["kept"]], data["stats"]  # type: ignore[misc]
        posed = lm_tasks.problems(family, plan["problems"], rnd["generate_seed"], plan["difficulty"])
        adapter = rnd["adapters"].get(family)
        request = {"base": BASE, "adapter": "adapter.safetensors" if adapter else None, "seed": rnd["generate_seed"],
                   "questions": [t.question for t in posed], "samples": plan["samples"]}
        run = self._run(self._tree(rnd["parent"]), "generate", request,
                        weights_in={"adapter.safetensors": adapter} if adapter else {}, charge=(number, [candidate]))
        samples = run.output.get("samples") if isinstance(run.output, dict) and not run.problem else None
        kept, sampled = lm_tasks.kept_samples(posed, samples, plan["samples"])
        stats = {"family": family, "difficulty": plan["difficulty"], "problems": len(posed), "sampled": sampled,
                 "kept": len(kept), "problems_solved": len({q for q, _ in kept}), "seconds": round(run.result.wall_seconds, 1),
                 "problem": run.problem}
        digest = self.exp.artifacts.put_json({"kept": [list(e) for e in kept], "stats": stats})
        self.exp.ledger.append("data.generated", {"round": number, "version": candidate, "artifact": digest, **stats})
        report("propose", f"{rnd['parent']} sampled {sampled} answers to {len(posed)} fresh {family} problems "
               f"({run.result.wall_seconds:.0f} s); the verifier kept {len(kept)} distinct right ones")
        return kept, stats

    # ---- verify --------------------------------------------------------------------------

    def _verify(self, rnd: dict[str, Any], family: str, proposal: Proposal, adapters: dict[str, str] | None,  # type: ignore[override]
                report: Report) -> Verdict:
        number, version = rnd["round"], proposal.version
        results: list[GateResult] = []

        def passed(gate: GateResult) -> bool:
            results.append(gate)
            report("verify", f"{version} {gate.name}: {'pass' if gate.passed else 'FAIL'} — {gate.summary}")
            return gate.passed

        problem = "; ".join(proposal.errors) or None
        if (passed(lm_gates.adapter_present(family, (adapters or {}).get(family), problem)) and adapters
                and passed(self._probes(rnd, version, adapters, report))):
            n = self.config.heldout_per_cell
            parent = self._assess(rnd, rnd["parent"], rnd["adapters"], "heldout", rnd["heldout_seed"], n, report)
            candidate = self._assess(rnd, version, adapters, "heldout", rnd["heldout_seed"], n, report)
            if passed(gates.answers(candidate)) and passed(lm_gates.targeted_family(parent, candidate, family, self.config.alpha)):
                passed(lm_gates.other_families(parent, candidate, family, self.config.margin))
        verdict = Verdict(version=version, gates=tuple(results), violations=self._violations_of(number, version))
        failed = verdict.failed_gate
        self.exp.ledger.append("verdict.recorded", {
            "round": number, "version": version, "passed": verdict.passed, "artifact": self.exp.artifacts.put_record(verdict),
            "failed_gate": failed.name if failed else None, "summary": failed.summary if failed else results[-1].summary,
            "gates": [{"name": g.name, "passed": g.passed, "summary": g.summary, "evidence": g.evidence} for g in results]})
        return verdict

    def _probes(self, rnd: dict[str, Any], version: str, adapters: dict[str, str], report: Report) -> GateResult:
        """alignment.toml's probes, posed through every family's route: each the parent refused, the candidate must too."""
        probes = load_alignment(self._tree(rnd["parent"])).probes  # the parent's rules: the self cannot loosen them
        if not probes:
            return GateResult(name="safety", passed=True, summary="alignment.toml has no probes", evidence={"probes": 0})
        posed = [p.model_copy(update={"id": f"{p.id}-{f}", "family": f}) for f in self.config.families for p in probes]
        before = self._assess(rnd, rnd["parent"], rnd["adapters"], "probes", 0, 0, report, posed=posed)
        after = self._assess(rnd, version, adapters, "probes", 0, 0, report, posed=posed)
        return lm_gates.still_refused(before, after)

    # ---- assessment ----------------------------------------------------------------------

    def _assess(self, rnd: dict[str, Any], version: str, adapters: dict[str, str], split: str, seed: int,  # type: ignore[override]
                per_cell: int, report: Report, posed: list[Task] | None = None) -> Assessment:
        """The version answers fresh problems of every family and difficulty (or `posed`) in the sandbox; the harness scores."""
        number = rnd["round"]
        for p in self._in_round(number, "assessment.recorded"):
            if p["split"] == split and p["version"] == version:
                return self.exp.artifacts.get_record(p["artifact"], Assessment)
        posed = posed if posed is not None else lm_tasks.grid(self.config.families, self.config.difficulties, per_cell, seed)
        names = {f: f"adapter-{f}.safetensors" for f in adapters}
        request = {"base": BASE, "adapters": names, "questions": [{"family": t.family, "question": t.question} for t in posed]}
        run = self._run(self._tree(version), "answer", request, weights_in={names[f]: d for f, d in adapters.items()},
                        charge=(number, [version]))
        column = run.output.get("answers") if isinstance(run.output, dict) and not run.problem else None
        problem = run.problem or (None if isinstance(column, list) else 'output is not {"answers": [...]}')
        result = lm_tasks.assessment(version, posed, column, split, seed, run.result.wall_seconds, run.result.cpu_seconds, problem)
        by = lm_tasks.report(result)
        self.exp.ledger.append("assessment.recorded", {
            "round": number, "version": version, "split": split, "seed": seed, "artifact": self.exp.artifacts.put_record(result),
            "summary": summary(result), "by_family": by, "run_error": result.run_error,
            "peak_rss_mb": run.output.get("peak_rss_mb") if isinstance(run.output, dict) else None})
        cells = "; ".join(f"{f} " + " ".join(f"{d}:{a:.0%}" for d, a in c.items()) for f, c in by.items())
        report("assess", f"{version} {split} ({len(posed)} problems, {run.result.wall_seconds:.0f} s): {cells}")
        return result

    def _run(self, tree: dict[str, bytes], command: str, request: dict[str, Any], *, weights_in: dict[str, str],  # type: ignore[override]
             files_out: tuple[str, ...] = (), charge: tuple[int, list[str]] | None = None) -> TrainableRun:
        """One sandboxed run of the self with the base folder read-only; limit hits are charged to (round, versions)."""
        request = {**request, "device": self.config.device}
        run = run_trainable(tree, command, request, store=self.exp.artifacts, weights_in=weights_in, files_out=files_out,
                            sandbox=self.sandbox, limits=self.limits, scratch_root=self.exp.root / ".rsilab" / "scratch",
                            env=OFFLINE, folders_in={BASE: self.base})
        seen = run.result
        if charge is not None and (seen.violations or seen.reported):
            number, versions = charge
            self.exp.ledger.append("sandbox.violation", {"round": number, "version": ",".join(versions), "versions": versions,
                                                         "command": command, "violations": list(seen.violations),
                                                         "self_reported": list(seen.reported)})
        return run


def _bounded(value: object, cap: int) -> int:
    return max(1, min(cap, value)) if isinstance(value, int) and not isinstance(value, bool) else cap
