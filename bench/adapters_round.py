"""Rounds of the lm-adapters loop on the real base model, with the figures the issue asks for.

    python bench/adapters_round.py DIR [--rounds 1] [--problems 80] [--samples 2] [--heldout 60]

Prints, per round: the family targeted, problems sampled, answers kept, training tokens/s,
held-out accuracy of parent and candidate on that family and on the others, the McNemar
p-value, seconds per stage (from the ledger's timestamps) and the self-reported peak RSS.
Needs `rsilab adapters prepare` first.
"""

from __future__ import annotations

import argparse
import json
import time
import tomllib
from importlib import resources
from pathlib import Path

import tomli_w

from rsilab.experiment import Experiment
from rsilab.intervals import wilson

CONFIG = """
[experiment]
template = "lm-adapters"

[adapters]
base = "{base}"
families = [{families}]
difficulties = [{difficulties}]
dev_per_cell = {dev}
heldout_per_cell = {heldout}
max_train_problems = {problems}
max_samples = {samples}
device = "auto"

[sandbox]
cpu_seconds = 14400
memory_mb = 24576
wall_seconds = 3600

[review]
autonomy = "policy"
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dir", type=Path)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--base", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--families", default="addition,multiplication")
    parser.add_argument("--difficulties", default="3")
    parser.add_argument("--dev", type=int, default=10)
    parser.add_argument("--heldout", type=int, default=60)
    parser.add_argument("--problems", type=int, default=80)
    parser.add_argument("--samples", type=int, default=2)
    args = parser.parse_args()
    if args.dir.exists():
        exp = Experiment(args.dir)
    else:
        config = CONFIG.format(base=args.base, families=", ".join(f'"{f}"' for f in args.families.split(",")),
                               difficulties=args.difficulties, dev=args.dev, heldout=args.heldout,
                               problems=args.problems, samples=args.samples)
        recipe = tomllib.loads((resources.files("rsilab") / "templates" / "lm-adapters" / "recipe.toml").read_text())
        recipe["data"].update(problems=args.problems, samples=args.samples)
        exp = Experiment.init(args.dir, "lm-adapters", config_text=config, files={"recipe.toml": tomli_w.dumps(recipe).encode()})
    started = time.time()
    exp.run(args.rounds, lambda stage, text: print(f"[{time.time() - started:7.1f} s] {stage}: {text}", flush=True))
    for number in range(1, len(exp.events("round.completed")) + 1):
        print(json.dumps(figures(exp, number), indent=1))


def figures(exp: Experiment, number: int) -> dict:
    events = [e for e in exp.events() if e.payload.get("round") == number]
    first = {e.kind: e for e in reversed(events)}
    stamps = {e.kind: e.ts for e in events}
    plan = first["plan.recorded"].payload["plan"]
    data = first["data.generated"].payload
    proposal = first["proposal.recorded"].payload
    verdict = first["verdict.recorded"].payload
    heldout = [e.payload for e in events if e.kind == "assessment.recorded" and e.payload["split"] == "heldout"]
    out = {"round": number, "family": plan["family"], "difficulty": plan["difficulty"], "problems_sampled": data["problems"],
           "answers_sampled": data["sampled"], "answers_kept": data["kept"], "train": proposal.get("train_stats"),
           "train_peak_rss_mb": proposal.get("peak_rss_mb"), "gates": {g["name"]: g["summary"] for g in verdict["gates"]},
           "passed": verdict["passed"]}
    for gate in verdict["gates"]:
        if gate["name"] == "targeted-family":
            ev = gate["evidence"]
            n = ev["n"]
            out["targeted"] = {"n": n, "parent": ev["parent_accuracy"], "candidate": ev["candidate_accuracy"],
                               "parent_95": str(wilson(round(ev["parent_accuracy"] * n), n)),
                               "candidate_95": str(wilson(round(ev["candidate_accuracy"] * n), n)),
                               "fixed": ev["candidate_only"], "broken": ev["parent_only"], "p": ev["p_better"]}
        if gate["name"] == "other-families":
            out["others"] = gate["evidence"]["families"]
    out["heldout_by_family"] = {p["version"]: p["by_family"] for p in heldout}
    order = ["round.started", "assessment.recorded", "plan.recorded", "data.generated", "proposal.recorded", "verdict.recorded", "round.completed"]
    times = [stamps[k] for k in order if k in stamps]
    dev_done = next(e.ts for e in events if e.kind == "assessment.recorded")
    out["seconds"] = {"assess_dev": round(dev_done - stamps["round.started"], 1),
                      "plan": round(stamps["plan.recorded"] - dev_done, 1),
                      "sample": round(stamps["data.generated"] - stamps["plan.recorded"], 1),
                      "train": round(stamps["proposal.recorded"] - stamps["data.generated"], 1),
                      "verify": round(stamps["verdict.recorded"] - stamps["proposal.recorded"], 1),
                      "round": round(times[-1] - times[0], 1)}
    out["peak_rss_mb"] = {f"{p['version']}-{p['split']}": p.get("peak_rss_mb") for p in
                          (e.payload for e in events if e.kind == "assessment.recorded")}
    return out


if __name__ == "__main__":
    main()
