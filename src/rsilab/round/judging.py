"""Judging a round's candidates side by side: the gates, cheapest first, and at most one winner.

Static gates run on every candidate here, before any of its code runs. The sandboxed
gates (contract and safety, then the staged benchmark) run as batches of independent
jobs through the runtime's executor: every job is a sandboxed run whose result comes
back to this thread, which alone writes the ledger. Each candidate is compared with the
*deployed* version on the round's fresh held-out tasks, whichever parent it came from.
With several candidates on the benchmark, the winner is chosen so that the round's
false-accept rate stays at alpha (see search/acceptance.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from rsilab.assess.runner import merge, shuffled, split_run, unassessable, unshuffled
from rsilab.assess.splits import draw_tasks
from rsilab.config import BenchmarkGateConfig
from rsilab.errors import RoundClosed
from rsilab.records import Assessment, GateResult, Proposal, Task, Verdict
from rsilab.round.records import RoundRecords, dev_questions
from rsilab.rounds import Report
from rsilab.runtime import Runtime
from rsilab.search.acceptance import holm_passing, holm_threshold, rank
from rsilab.state import ExperimentState
from rsilab.verify import gates
from rsilab.verify.alignment import load_alignment

Tree = dict[str, bytes]
SHARED_RUN = ("smoke", "probes", "heldout")  # the parts of a candidate's checks run, in order


@dataclass(frozen=True)
class Candidate:
    proposal: Proposal
    tree: Tree | None  # None when its edits did not apply

    @property
    def version(self) -> str:
        return self.proposal.version


def run_seed(*parts: object) -> int:
    """The sampling seed of one solve run, derived from what the harness already drew."""
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:8], 16) % 2**31


class Judge:
    def __init__(self, state: ExperimentState, runtime: Runtime, records: RoundRecords, rnd: dict, report: Report,
                 parent_tree: Tree, deployed_tree: Tree) -> None:
        self.state, self.runtime, self.records, self.rnd, self.report = state, runtime, records, rnd, report
        self.parent_tree, self.deployed_tree = parent_tree, deployed_tree
        self.deployed = rnd.get("deployed", rnd["parent"])
        self.config = state.config
        self.gates: dict[str, list[GateResult]] = {}
        self._heldout: list[Task] | None = None  # the round's held-out draw, once drawn

    def judge(self, candidates: list[Candidate]) -> dict[str, Verdict]:
        """Every candidate's verdict (recorded once each); at most one passes."""
        verdicts = {c.version: v for c in candidates if (v := self.records.verdict(c.version)) is not None}
        open_ = [c for c in candidates if c.version not in verdicts]
        live = [c for c in open_ if self._static(c)]
        heldout = (self._heldout or self._draw(self.rnd["heldout_seed"])) if live else []
        live = self._sandboxed(live, self._stages(heldout)[0][1] if live else [])
        pool = [c for c in candidates if c.tree is not None]
        for version, result in self._benchmark(live, pool, heldout).items():
            self._passed(version, result)
        verdicts.update(self.records.record_verdicts({c.version: self.gates[c.version] for c in open_}))
        return verdicts

    def stage_one_beside_dev(self, dev_tasks: list[Task]) -> Callable[[], Assessment] | None:
        """The deployed version's held-out stage one as a job to run beside the parent's dev run, or None.

        It depends on no candidate, and while the parent answers its dev tasks a second worker
        would wait. Not with one worker, nor for a model on this machine's own cores (embedded):
        there the two runs would only share the CPU, and the answers are wasted in a round where
        no candidate reaches the benchmark. The draw is the judge's own (this round's dev
        questions excluded as they will be once the dev run is recorded), so it is read back there.
        """
        if (self.runtime.executor.workers == 1 or self.config.llm.provider == "embedded"
                or self.records.assessment(self.deployed, "heldout", 1) is not None):
            return None
        self._heldout = self._draw(self.rnd["heldout_seed"], extra_exclude={t.question for t in dev_tasks})
        return self._deployed_stage_one(self._stages(self._heldout)[0][1])

    def record_beside_dev(self, result: Assessment) -> None:
        self._record_stage([result], "heldout", 1)

    def _deployed_stage_one(self, stage_one: list[Task]) -> Callable[[], Assessment]:
        """The deployed version's held-out stage one as a job, run ahead of `_staged`, which reads it back."""
        self.report("assess", f"{self.deployed} answers {len(stage_one)} heldout (stage 1) tasks in the sandbox")
        return self._assessment_job(self.deployed, self.deployed_tree, "heldout", 1, self.rnd["heldout_seed"], stage_one)

    # ---- the gates ------------------------------------------------------------------------

    def _passed(self, version: str, gate: GateResult) -> bool:
        self.gates.setdefault(version, []).append(gate)
        self.report("verify", f"{version} {gate.name}: {'pass' if gate.passed else 'FAIL'} — {gate.summary}")
        return gate.passed

    def _static(self, c: Candidate) -> bool:
        cfg = self.config
        return (
            self._passed(c.version, gates.edit_hygiene(c.proposal, cfg.self_))
            and self._passed(c.version, gates.protected_integrity(c.proposal, self.parent_tree, c.tree, cfg.self_.protected))
            and c.tree is not None
            and self._passed(c.version, gates.capability_diff(self.parent_tree, c.tree, cfg.gates.capability))
        )

    def _sandboxed(self, live: list[Candidate], stage_one: list[Task]) -> list[Candidate]:
        """Contract and safety, one job per candidate, all at once; each job also answers stage one.

        One sandbox run of a candidate holds its smoke tasks, the safety probes and its held-out
        stage-one tasks, shuffled together by the harness: the same version, and no output of it
        is shown to the improver. Stage one is kept only for a candidate that passed contract and
        safety. With more than one worker the deployed version's stage one runs in the same batch.
        """
        cfg, rnd = self.config, self.rnd
        smoke_tasks = draw_tasks(cfg.assess, "smoke", cfg.gates.contract_tasks, rnd["smoke_seed"])
        alignment = load_alignment(self.parent_tree)  # protected, so every candidate's is the same
        seed = rnd["heldout_seed"]

        def checks(c: Candidate) -> Callable[[], list[Assessment]]:
            resumed = self.records.assessment(c.version, "heldout", 1) is not None  # stage one is recorded already
            parts = [smoke_tasks, list(alignment.probes)] + ([] if resumed else [stage_one])
            splits = SHARED_RUN[:len(parts)]
            context = {"round": rnd["round"], "version": c.version, "split": "smoke"}

            def job() -> list[Assessment]:
                tasks, order = shuffled([t for part in parts for t in part], run_seed(rnd["smoke_seed"], c.version, "order"))
                run = self.runtime.assess(c.version, tasks, "+".join(splits), seed, c.tree or {}, context,
                                          run_seed(rnd["smoke_seed"], c.version, "smoke", None))
                return split_run(unshuffled(run, order), [len(p) for p in parts], splits)
            return job

        jobs = [checks(c) for c in live]
        early = (live and self.runtime.executor.workers > 1
                 and self.records.assessment(self.deployed, "heldout", 1) is None)
        if early:  # side by side with the candidates: the workers would wait otherwise
            jobs.append(self._deployed_stage_one(stage_one))
        results = self.runtime.map(jobs)
        self.records.flush_violations(self.runtime)
        answered: list[Assessment] = [results.pop()] if early else []  # type: ignore[list-item]
        ran_as: list[dict[str, object]] = [{"round": rnd["round"], "version": self.deployed, "split": "heldout",
                                            "stage": 1}] if early else []
        shared: list[dict[str, object] | None] = [None] * len(answered)
        run_of = {"splits": list(SHARED_RUN), "tasks": len(smoke_tasks) + len(alignment.probes) + len(stage_one)}
        survivors = []
        for c, parts in zip(live, results):
            smoke, probes, *heldout = parts  # type: ignore[misc]
            if not self._passed(c.version, gates.contract(smoke)):
                continue
            violations = self.records.violations_of(c.version)
            if self._passed(c.version, gates.safety(probes, alignment.budgets, [smoke, *heldout], violations)):
                survivors.append(c)
                answered += heldout
                ran_as += [{"round": rnd["round"], "version": c.version, "split": "smoke"}] * len(heldout)
                shared += [run_of] * len(heldout)
        self._record_stage(answered, "heldout", 1, ran_as, shared)
        return survivors

    # ---- the benchmark --------------------------------------------------------------------

    def _benchmark(self, live: list[Candidate], ranked_pool: list[Candidate], heldout: list[Task]
                   ) -> dict[str, GateResult]:
        """The benchmark gate's result for each live candidate."""
        if not live:
            return {}
        rule, rnd = self.config.gates.benchmark, self.rnd
        deployed, parts, futile = self._staged("heldout", heldout, rnd["heldout_seed"], live)
        results: dict[str, GateResult] = dict(futile)
        full = {v: merge(p) for v, p in parts.items() if v not in futile}
        alive = [c for c in live if c.version in full]
        # Everyone this round that was tested on the held-out draw (a resumed round too).
        tested = [c for c in ranked_pool if c.version in parts or self.records.assessment(c.version, "heldout", 1)]
        if len(tested) <= 1 or not alive:  # one comparison: no multiplicity to control
            results.update({c.version: gates.benchmark(deployed, full[c.version], rule) for c in alive})
        elif self.config.search.acceptance == "holm":
            results.update(self._holm(deployed, full, rule, len(tested)))
        else:
            results.update(self._confirm(deployed, self._tested_full(tested, full), alive, rule, heldout))
        return results

    def _holm(self, deployed: Assessment, full: dict[str, Assessment], rule: BenchmarkGateConfig, family: int
              ) -> dict[str, GateResult]:
        plain = {v: gates.benchmark(deployed, a, rule) for v, a in full.items()}
        # Candidates stopped at stage one count in the family with p = 1: they were tested too.
        pvalues = {**{f"stopped{i}": 1.0 for i in range(family - len(full))},
                   **{v: float(r.evidence["p_better"]) for v, r in plain.items()}}
        passing = holm_passing(pvalues, rule.alpha) if rule.rule == "superior" else set()
        results = {}
        for v, assessment in full.items():
            level = holm_threshold(pvalues, v, rule.alpha) if rule.rule == "superior" else rule.alpha / family
            result = gates.benchmark(deployed, assessment, rule.model_copy(update={"alpha": level}))
            if rule.rule == "superior":
                result = result.model_copy(update={"passed": result.passed and v in passing})
            note = f" (Holm–Bonferroni over {family} candidates: level {level:.3g})"
            results[v] = result.model_copy(update={"summary": result.summary + note,
                                                   "evidence": {**result.evidence, "holm_level": level}})
        winners = [v for v in rank({v: full[v] for v in results if results[v].passed})]
        for v in winners[1:]:
            results[v] = results[v].model_copy(update={
                "passed": False, "summary": f"passed, but {winners[0]} did better this round: {results[v].summary}"})
        return results

    def _confirm(self, deployed: Assessment, full: dict[str, Assessment], alive: list[Candidate],
                 rule: BenchmarkGateConfig, heldout: list[Task]) -> dict[str, GateResult]:
        ranked = rank(full)
        best = ranked[0]
        best_score = f"{full[best].correct}/{full[best].n}"
        results = {c.version: GateResult(
            name="benchmark", passed=False,
            summary=f"not the round's best on the held-out draw: {full[c.version].correct}/{full[c.version].n} "
                    f"vs {best}'s {best_score}", evidence={"rank": ranked.index(c.version) + 1, "of": len(ranked)})
            for c in alive if c.version != best}
        winner = next((c for c in alive if c.version == best), None)
        if winner is None:
            return results
        if gates.stage_is_futile([o.correct for o in deployed.outcomes], [o.correct for o in full[best].outcomes], rule):
            selected = gates.benchmark(deployed, full[best], rule)
            results[best] = selected.model_copy(update={
                "passed": False, "summary": f"best of {len(ranked)} but not ahead of {self.deployed} on the held-out draw — "
                                            f"{selected.summary}"})
            return results
        seed = self.rnd["confirm_seed"]
        tasks = self._draw(seed, extra_exclude={t.question for t in heldout})
        again, parts, futile = self._staged("confirm", tasks, seed, [winner])
        result = futile.get(best) or gates.benchmark(again, merge(parts[best]), rule)
        results[best] = result.model_copy(update={
            "summary": f"best of {len(ranked)} ({best_score} on the held-out draw); on a second fresh draw: {result.summary}",
            "evidence": {**result.evidence, "selection": {v: full[v].correct for v in ranked}, "confirmation": True}})
        return results

    def _tested_full(self, tested: list[Candidate], full: dict[str, Assessment]) -> dict[str, Assessment]:
        """Full held-out results of every candidate tested this round, read back for those judged before a resume."""
        found = dict(full)
        for c in tested:
            if c.version not in found:
                stages = [a for s in (1, 2) if (a := self.records.assessment(c.version, "heldout", s))]
                if len(stages) == (2 if self._stages_planned() == 2 else 1):
                    found[c.version] = merge(stages)
        return found

    def _stages_planned(self) -> int:
        rule, n = self.config.gates.benchmark, self.config.assess.heldout_n
        return 2 if rule.staged and rule.first_stage_fraction < 1 and max(1, round(n * rule.first_stage_fraction)) < n else 1

    def _draw(self, seed: int, extra_exclude: set[str] | None = None) -> list[Task]:
        # Held-out tasks skip every dev question a proposer may have seen (and the first draw's, for a confirmation).
        exclude = dev_questions(self.state, up_to_round=self.rnd["round"]) | (extra_exclude or set())
        return draw_tasks(self.config.assess, "heldout", self.config.assess.heldout_n, seed, exclude)

    def _staged(self, split: str, tasks: list[Task], seed: int, live: list[Candidate]
                ) -> tuple[Assessment, dict[str, list[Assessment]], dict[str, GateResult]]:
        """The deployed version and each live candidate on `tasks`, stage by stage; stage one may reject early."""
        rule, stages = self.config.gates.benchmark, self._stages(tasks)
        deployed_parts: list[Assessment] = []
        parts: dict[str, list[Assessment]] = {c.version: [] for c in live}
        futile: dict[str, GateResult] = {}
        for stage, chunk in stages:
            running = [c for c in live if c.version not in futile]
            if not running:  # every candidate stopped at stage one: the deployed version's stage two would judge none
                break
            runs = [(self.deployed, self.deployed_tree)] + [(c.version, c.tree or {}) for c in running]
            found = self._assessments(split, stage, seed, chunk, runs)
            if why := unassessable(found[self.deployed]):  # no benchmark without the deployed version's answers
                raise RoundClosed(f"{why}; the round is closed without a deployment — `rsilab run` goes on with the next one")
            deployed_parts.append(found[self.deployed])
            for c in running:
                parts[c.version].append(found[c.version])
                if stage == 1 and len(stages) > 1:
                    early = gates.futile(found[self.deployed], found[c.version], rule)
                    if early is not None:
                        futile[c.version] = early
        return merge(deployed_parts), parts, futile

    def _stages(self, tasks: list[Task]) -> list[tuple[int, list[Task]]]:
        """The staged benchmark's (stage, tasks): stage one first, stage two the rest, if staged."""
        rule, n = self.config.gates.benchmark, len(tasks)
        cut = max(1, round(n * rule.first_stage_fraction)) if rule.staged and rule.first_stage_fraction < 1 else n
        return [(1, tasks[:cut])] + ([(2, tasks[cut:])] if cut < n else [])

    def _assessments(self, split: str, stage: int, seed: int, tasks: list[Task], runs: list[tuple[str, Tree]]
                     ) -> dict[str, Assessment]:
        """Each (version, tree) on `tasks`: read back where recorded, else run side by side and recorded in order."""
        found = {v: a for v, _ in runs if (a := self.records.assessment(v, split, stage)) is not None}
        todo = [(v, tree) for v, tree in runs if v not in found]
        for v, _ in todo:
            self.report("assess", f"{v} answers {len(tasks)} {split} (stage {stage}) tasks in the sandbox")
        done = self.runtime.map([self._assessment_job(v, tree, split, stage, seed, tasks) for v, tree in todo])
        self.records.flush_violations(self.runtime)
        self._record_stage(done, split, stage)
        return {**found, **{r.version: r for r in done}}

    def _assessment_job(self, version: str, tree: Tree, split: str, stage: int, seed: int, tasks: list[Task]
                        ) -> Callable[[], Assessment]:
        context = {"round": self.rnd["round"], "version": version, "split": split, "stage": stage}
        return lambda: self.runtime.assess(version, tasks, split, seed, tree, context, run_seed(seed, version, split, stage))

    def _record_stage(self, done: list[Assessment], split: str, stage: int,
                      ran_as: list[dict[str, object]] | None = None,
                      shared: list[dict[str, object] | None] | None = None) -> None:
        """Record a batch of one stage, with where each ran (`ran_as`: each run's context, if not its own;
        `shared`: the run each was part of, if it shared one)."""
        number = self.rnd["round"]
        contexts = ran_as or [{"round": number, "version": r.version, "split": split, "stage": stage} for r in done]
        shards = [self.runtime.take_shards(context) for context in contexts]
        for result, figures in zip(done, self.records.record_assessments(done, stage, shards, shared or ())):
            self.report("assess", f"{result.version} {split} (stage {stage}): {result.correct}/{result.n} correct, "
                        f"{figures['tokens']} tokens" + (f" — {result.run_error}" if result.run_error else ""))
