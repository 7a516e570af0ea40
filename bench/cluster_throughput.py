"""Cluster throughput: tasks per second and the harness's overhead per task, local vs Ray, side by side in one run.

The self is the agent template with a solve that sleeps 50 ms a task (a stand-in for a model
call), so the ideal is `concurrency / 0.05` tasks per second. Both backends run the same
assessment in shards of `--shard` tasks, each shard one bwrap sandbox: local with two slots
on this machine, Ray on a real two-node cluster started here (a head and a worker, one CPU
each, every node its own `ray start`). Run (needs the `cluster` extra):

    PYTHONPATH=src .venv/bin/python bench/cluster_throughput.py [--n 200] [--shard 10] [--repeats 3]

Columns: `open` is starting the runtime (for Ray: connecting, checking every node can sandbox,
starting the provider actor); `wall` the median assessment; `overhead/task` is
(wall × concurrency − n × sleep) / n, the slot-time each task costs beyond its sleep; of it,
`outside sandbox/task` is what is not the sandboxed child's own wall time (shipping, the broker,
scoring, Ray's scheduling), (wall × concurrency − Σ child wall) / n.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from cluster.lab import slow_solve, two_scripted_candidates  # noqa: E402
from cluster.raycluster import start_cluster  # noqa: E402
from rsilab.assess.splits import draw_tasks  # noqa: E402
from rsilab.experiment import Experiment  # noqa: E402
from rsilab.records import Usage  # noqa: E402
from rsilab.runtime_open import open_runtime  # noqa: E402

SLEEP = 0.05
CONCURRENCY = 2  # two local slots; two Ray nodes of one CPU each


def measure(root: Path, n: int, repeats: int) -> dict[str, float]:
    exp = Experiment(root)
    tree = exp.versions.files(exp.commit_of("v1"))
    tasks = draw_tasks(exp.config.assess, "heldout", n, 7)
    started = time.perf_counter()
    with open_runtime(exp.root, exp.config, provider=None, spent_before=Usage(), workers=CONCURRENCY) as runtime:
        opened = time.perf_counter() - started
        runtime.assess("v1", tasks[:CONCURRENCY * 2], "heldout", 7, tree)  # warm: Ray starts its workers once
        walls, child = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            result = runtime.assess("v1", tasks, "heldout", 7, tree, {"round": 0, "version": "v1", "split": "bench"})
            walls.append(time.perf_counter() - started)
            child.append(result.wall_seconds)
            assert result.run_error is None and result.n == n, result.run_error
            runtime.take_shards({"split": "bench"})
    wall = statistics.median(walls)
    inside = statistics.median(child)
    return {"open": opened, "wall": wall, "tasks/s": n / wall,
            "overhead/task": (wall * CONCURRENCY - n * SLEEP) / n, "outside/task": (wall * CONCURRENCY - inside) / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="tasks in the assessment")
    parser.add_argument("--shard", type=int, default=10, help="cluster.tasks_per_shard")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="rsilab-bench-"))
    env = dict(os.environ)
    cluster = start_cluster(head_env=env, worker_env=env)
    try:
        rows = {}
        sections = {"local": f"\n[cluster]\ntasks_per_shard = {args.shard}\n",
                    "ray": f'\n[cluster]\nbackend = "ray"\naddress = "{cluster.address}"\ntasks_per_shard = {args.shard}\n'}
        for name, section in sections.items():
            config = two_scripted_candidates().replace("workers = 2", f"workers = {CONCURRENCY}") + section
            Experiment.init(base / name, "agent", config_text=config, files=slow_solve(SLEEP))
        for name in sections:
            rows[name] = measure(base / name, args.n, args.repeats)
    finally:
        cluster.stop()
    ideal = CONCURRENCY / SLEEP
    print(f"{args.n} tasks, {args.shard} a shard, solve sleeps {SLEEP * 1000:.0f} ms a task, concurrency {CONCURRENCY} "
          f"(ideal {ideal:.0f} tasks/s); median of {args.repeats}")
    print(f"{'backend':8} {'open s':>7} {'wall s':>7} {'tasks/s':>8} {'of ideal':>9} {'overhead/task ms':>17} "
          f"{'outside sandbox/task ms':>24}")
    for name, r in rows.items():
        print(f"{name:8} {r['open']:7.2f} {r['wall']:7.2f} {r['tasks/s']:8.1f} {r['tasks/s'] / ideal:9.0%} "
              f"{r['overhead/task'] * 1000:17.1f} {r['outside/task'] * 1000:24.1f}")


if __name__ == "__main__":
    main()
