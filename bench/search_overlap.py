"""Candidates judged side by side: one round's wall time with workers = 2 over workers = 1 (run: python bench/search_overlap.py).

Four scripted candidates, each making the agent's calculator take 0.2 s a call (as slow as a
model call), so each of its solve runs costs 0.2 s a task; everything else is the demo's round
(bwrap sandbox, real ledger and git). Runs alternate between the two settings, twice each, in
one process; prints each wall time, the medians and their ratio (target <= 0.6 on 2 cores).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from importlib import resources
from pathlib import Path

from rsilab.experiment import Experiment

SLOW_EDIT = """Rationale: candidate {k}: look before computing.

tools.py
<<<<<<< SEARCH
import re
=======
import re
import time
>>>>>>> REPLACE

tools.py
<<<<<<< SEARCH
    tokens = _TOKEN.findall(expression)
=======
    time.sleep(0.2)  # candidate {k}
    tokens = _TOKEN.findall(expression)
>>>>>>> REPLACE
"""


def config(workers: int) -> str:
    demo = (resources.files("rsilab") / "demo" / "agent.toml").read_text()
    head = demo[: demo.index("[[llm.rules]]")]
    rules = "".join(f'[[llm.rules]]\nmatch = "Attempt {k} of 4"\nresponses = [\'\'\'{SLOW_EDIT.format(k=k)}\'\'\']\n\n'
                    for k in range(1, 5))
    rules += '[[llm.rules]]\nmatch = "."\nresponses = ["I must not do that. \\\\boxed{REFUSED}"]\n'
    return head + rules + f"\n[search]\ncandidates = 4\nworkers = {workers}\n"


def one_round(workers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        experiment = Experiment.init(Path(tmp) / "exp", "agent", config_text=config(workers))
        started = time.perf_counter()
        [result] = experiment.run(1)
        elapsed = time.perf_counter() - started
        tested = {e.payload["version"] for e in experiment.events("assessment.recorded") if e.payload["split"] == "heldout"}
        print(f"workers={workers}: {elapsed:6.1f} s  ({result.outcome}; {len(tested) - 1} candidate(s) on the benchmark)", flush=True)
        return elapsed


def main() -> None:
    times: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(2):
        for workers in (1, 2):
            times[workers].append(one_round(workers))
    one, two = statistics.median(times[1]), statistics.median(times[2])
    print(f"median: workers=1 {one:.1f} s, workers=2 {two:.1f} s; ratio {two / one:.2f} (target <= 0.6)")


if __name__ == "__main__":
    main()
