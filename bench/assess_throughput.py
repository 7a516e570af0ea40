"""Assessment throughput: tasks per second with an instant answerer, and the harness's overhead per task.

The self here answers every task at once without thinking (a 10-line main.py), so what
is measured is the harness: drawing tasks, one sandboxed process, reading and scoring
the answers, and watching the progress file. Run side by side in one process:

    .venv/bin/python bench/assess_throughput.py [--n 2000] [--reasoning-n 210]

Columns: `draw` is task generation; `assess` is the whole sandboxed assessment, of which
`self` is the child's own wall time as the sandbox measured it; `harness/task` is
(assess - self) / n, the harness's share per task; `in-process` runs the same answers
through assess() with no process at all, to separate scoring from sandbox start-up.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from rsilab.assess.runner import assess
from rsilab.assess.tasks import generate
from rsilab.llm.scripted import ScriptedProvider
from rsilab.records import Task, Usage
from rsilab.sandbox.broker import Broker
from rsilab.sandbox.process import Limits, ProcessSandbox, RunResult
from rsilab.sandbox.progress import PROGRESS_FILE
from rsilab.sandbox.selfrun import SelfRun, run_self

INSTANT_SELF = f'''import json, sys
request = json.load(open(sys.argv[2]))
answers = []
with open("{PROGRESS_FILE}", "a") as progress:
    for task in request["tasks"]:
        answers.append({{"id": task["id"], "answer": "0", "trace": [], "steps": 1}})
        progress.write(task["id"] + "\\n")
json.dump({{"answers": answers}}, open(sys.argv[3], "w"))
'''.encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="tasks for the arithmetic and addition suites")
    parser.add_argument("--reasoning-n", type=int, default=210, help="tasks for the reasoning-gym mix (slower to draw)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="rsilab-bench-"))
    broker = Broker(ScriptedProvider([{"match": ".", "responses": ["0"]}]), workdir / "llm.sock")
    limits = Limits(cpu_seconds=60, wall_seconds=120)
    rows = []
    try:
        with broker:
            sandboxed = lambda progress: (lambda payload: run_self(
                {"main.py": INSTANT_SELF}, "solve", payload, sandbox=ProcessSandbox(), broker=broker, limits=limits,
                scratch_root=workdir / "scratch", on_progress=progress))
            for suite, n in (("arithmetic", args.n), ("addition", args.n), ("reasoning", args.reasoning_n)):
                generate(suite, 7, 0, (1, 2, 3))  # warm up: imports (reasoning-gym takes seconds) are not throughput
                started = time.perf_counter()
                tasks = generate(suite, n, 1, (1, 2, 3))
                draw = time.perf_counter() - started
                for watch in (False, True):
                    counted: list[int] = []
                    started = time.perf_counter()
                    result = assess("bench", tasks, "heldout", 1, sandboxed(counted.append if watch else None))
                    total = time.perf_counter() - started
                    assert result.n == n and result.run_error is None, result.run_error
                    self_wall = result.wall_seconds
                    rows.append((suite, n, watch, draw, total, self_wall, _in_process(tasks), counted[-1] if counted else None))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    _print(rows)


def _in_process(tasks: list[Task]) -> float:
    """assess() on the same answers with no process: payload, parsing and exact scoring only."""
    def instant(payload: bytes) -> SelfRun:
        answers = [{"id": t["id"], "answer": "0", "trace": [], "steps": 1} for t in json.loads(payload)["tasks"]]
        result = RunResult(returncode=0, stdout="", stderr="", wall_seconds=0.0, cpu_seconds=0.0, timed_out=False, violations=())
        return SelfRun(result=result, output=json.dumps({"answers": answers}).encode(), usage=Usage(), broker_calls=())

    started = time.perf_counter()
    assess("bench", tasks, "heldout", 1, instant)
    return time.perf_counter() - started


def _print(rows: list[tuple[str, int, bool, float, float, float, float, int | None]]) -> None:
    header = f"{'suite':<11}{'n':>6}  {'progress':<9}{'draw s':>8}{'assess s':>10}{'self s':>8}{'tasks/s':>10}" \
             f"{'harness/task':>14}{'in-process/task':>17}{'counted':>9}"
    print(header)
    print("-" * len(header))
    by_suite: dict[str, dict[bool, float]] = {}
    for suite, n, watch, draw, total, self_wall, in_process, counted in rows:
        tasks_per_second = n / (draw + total)
        harness_ms = (total - self_wall) / n * 1000
        by_suite.setdefault(suite, {})[watch] = total
        print(f"{suite:<11}{n:>6}  {'watched' if watch else 'off':<9}{draw:>8.3f}{total:>10.3f}{self_wall:>8.3f}"
              f"{tasks_per_second:>10.0f}{harness_ms:>11.3f} ms{in_process / n * 1e6:>13.1f} µs{counted or '–':>9}")
    print()
    for suite, times in by_suite.items():
        print(f"{suite}: assessment time with the progress watcher / without = {times[True] / times[False]:.2f}")


if __name__ == "__main__":
    main()
