"""The search on a real model: the agent template on the embedded Qwen2.5-Coder-1.5B, N sampled
candidates a round, and the funnel of each round (run: python bench/search_embedded.py DIR [--rounds 3] [--candidates 4]).

The task is the template's own: its calculator ignores operator precedence. Prints, per round,
how many replies the harness could read edits from, how many applied, passed the contract and
safety gates and the benchmark, and whether a fix was deployed; then the wall time.
"""

from __future__ import annotations

import argparse
import time
from importlib import resources
from pathlib import Path

from rsilab.experiment import Experiment
from rsilab.search.funnel import STEPS, funnel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    if not (args.directory / "rsilab.toml").exists():
        template = (resources.files("rsilab") / "templates" / "agent.rsilab.toml").read_text()
        config = template.replace('autonomy = "human"', 'autonomy = "policy"').replace(
            'template = "agent"', f'template = "agent"\nseed = {args.seed}')
        config += f"\n[search]\ncandidates = {args.candidates}\nworkers = {args.workers}\n"
        Experiment.init(args.directory, "agent", config_text=config)
    experiment = Experiment(args.directory)
    started = time.perf_counter()
    experiment.run(args.rounds, report=lambda stage, message: print(f"[{time.perf_counter() - started:7.1f}s] {stage}: {message[:300]}", flush=True))
    print(f"\n{'round':>5} " + " ".join(f"{s:>9}" for s in STEPS) + "   no-op  first failed gates")
    for row in funnel(experiment.events()):
        print(f"{row.round:>5} " + " ".join(f"{row.counts[s]:>9}" for s in STEPS) + f"   {row.no_op:>5}  {row.failures}")
    print(f"wall time {time.perf_counter() - started:.0f} s for {args.rounds} round(s)")


if __name__ == "__main__":
    main()
