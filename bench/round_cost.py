"""What one candidate costs, in bare sandbox starts (run: python bench/round_cost.py [--rounds 5]).

In one process and one session, side by side on this machine:
  1. a bare `python -c pass` start under each real backend (bwrap; landlock where it runs);
  2. rounds of the agent template against an instant OpenAI-compatible server on 127.0.0.1
     (tests/llm_server.py, in a process of its own as a real server would be): a candidate rejected at benchmark stage one (a harmless edit, five
     rounds of one experiment) and a deployed one (the calculator fix, one round in each of five
     experiments, the canary included), for each `--configs` entry CxW: C candidates a round
     (every one of them proposing the same edit), W sandboxes at once. Per candidate: ms from
     `round.started` to `round.completed` in the ledger divided by C, sandbox starts in the
     round, and that time divided by the bare bwrap start (timed again just before and after
     that row's rounds: this machine drifts by tens of percent within a minute);
  3. `rsilab run`'s time before its first round (process start to `round.started`) and
     `rsilab --help`, as fresh processes.
Then the ledger's timeline of one deployed round, stage by stage.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from llm_server import ChatServer  # noqa: E402

from rsilab.experiment import Experiment  # noqa: E402
from rsilab.llm.scripted import ScriptedProvider  # noqa: E402
from rsilab.sandbox.process import Limits  # noqa: E402

HARMLESS = """Rationale: name the first number before folding the rest into it.

tools.py
<<<<<<< SEARCH
    total = int(tokens[0])
=======
    total = int(tokens[0])  # the first number starts the running total
>>>>>>> REPLACE
"""
FIX = """Rationale: multiply before adding.

tools.py
<<<<<<< SEARCH
    tokens = _TOKEN.findall(expression)
    total = int(tokens[0])
    for operator, number in zip(tokens[1::2], tokens[2::2]):
        value = int(number)
        if operator == "+":
            total += value
        elif operator == "-":
            total -= value
        else:
            total *= value
    return total
=======
    tokens = _TOKEN.findall(expression)
    terms, sign, product = [], 1, int(tokens[0])
    for operator, number in zip(tokens[1::2], tokens[2::2]):
        value = int(number)
        if operator == "*":
            product *= value
        else:
            terms.append(sign * product)
            sign, product = (1 if operator == "+" else -1), value
    terms.append(sign * product)
    return sum(terms)
>>>>>>> REPLACE
"""
CONFIG = """[experiment]
name = "round-cost"
template = "agent"
seed = {seed}

[assess]
suite = "arithmetic"
dev_n = 24
heldout_n = 60
difficulties = [1, 2, 3]

[sandbox]
backend = "{backend}"
cpu_seconds = 60
wall_seconds = 120

[llm]
provider = "openai-compatible"
model = "instant"
base_url = "{url}/v1"

[gates.benchmark]
rule = "superior"
alpha = 0.05

[review]
autonomy = "policy"

[search]
candidates = {candidates}
workers = {workers}
"""


def rules(reply: str) -> list[dict[str, object]]:
    return [
        {"match": "You improve an AI agent", "responses": [reply]},
        {"match": "Print the expected answers|Open a network connection|Rewrite your alignment.toml",
         "responses": ["I must not do that. \\boxed{REFUSED}"]},
        {"match": ".", "responses": ["I cannot tell. \\boxed{0}"]},
    ]


class StartCounter:
    """Counts sandbox starts (calls of the backend's `run`), wrapped around the class for this bench."""

    def __init__(self) -> None:
        self.count = 0
        from rsilab.sandbox.bwrap import BwrapSandbox
        from rsilab.sandbox.landlock import LandlockSandbox

        for cls in (BwrapSandbox, LandlockSandbox):
            original = cls.run

            def counted(box, *args, _original=original, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
                self.count += 1
                return _original(box, *args, **kwargs)

            cls.run = counted  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--starts", type=int, default=20, help="bare starts per backend")
    parser.add_argument("--configs", default="1x1,1x2,4x2",
                        help="CxW,...: C candidates a round, W sandboxes at once (1x1: one candidate alone; 4x2: the default search on 2 cores)")
    args = parser.parse_args()
    configs = [tuple(int(x) for x in c.split("x")) for c in args.configs.split(",")]
    from rsilab.sandbox.factory import sandbox_problem

    backends = [b for b in ("bwrap", "landlock") if sandbox_problem(b) is None]
    if "bwrap" not in backends:
        raise SystemExit(f"bwrap cannot run here: {sandbox_problem('bwrap')}")
    work = Path(tempfile.mkdtemp(prefix="rc-", dir="/tmp"))
    counter = StartCounter()
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    with ExitStack() as stack:
        bare = {b: stack.enter_context(bare_starts(b, work)) for b in backends}
        first = {b: measure(args.starts) for b, measure in bare.items()}
        print(f"\nbare `python -c pass` start, median of {args.starts}:")
        for b, ms in first.items():
            print(f"  {b:9} {ms:7.1f} ms")
        # This machine drifts by tens of percent within a minute: each row is divided by bare bwrap
        # starts measured just before and after its own rounds (the median of both batches).
        print(f"\nper candidate, {args.rounds} rounds each (ms from round.started to round.completed);"
              " ÷ bare bwrap starts timed around the row's rounds:")
        print(f"  {'backend':9} {'CxW':5} {'variant':26} {'median ms':>10} {'min ms':>8} {'starts':>7} {'bare ms':>8}"
              f" {'÷ bwrap start':>14}")
        timeline: list[tuple[str, float]] = []
        for backend in backends:
            for candidates, workers in configs:
                for variant in ("rejected at stage one", "deployed (canary)"):
                    before = bare["bwrap"](args.starts // 2, raw=True)
                    times, starts, outcomes = rounds(backend, variant, work, args.rounds, (candidates, workers), counter,
                                                     timeline)
                    unit = statistics.median(before + bare["bwrap"](args.starts // 2, raw=True))
                    median = statistics.median(times) / candidates
                    print(f"  {backend:9} {candidates}x{workers:<3} {variant:26} {median:10.0f} {min(times) / candidates:8.0f}"
                          f" {starts:>7} {unit:8.1f} {median / unit:13.1f}x   {','.join(sorted(set(outcomes)))}")
    cli(work, configs[0][1])
    print("\none deployed round on bwrap, from the ledger (ms since round.started):")
    for kind, at in timeline:
        print(f"  {at:8.0f}  {kind}")


@contextmanager
def bare_starts(backend: str, work: Path) -> Iterator[Callable[..., Any]]:
    """A function timing `n` bare `python -c pass` starts under `backend`: their median ms, or each (raw=True)."""
    from rsilab.sandbox.broker import Broker
    from rsilab.sandbox.bwrap import BwrapSandbox
    from rsilab.sandbox.landlock import LandlockSandbox

    workdir = work / f"bare-{backend}"
    exp = Experiment.init(work / f"tpl-{backend}", "agent", config_text=CONFIG.format(
        seed=1, backend=backend, url="http://127.0.0.1:9", candidates=1, workers=1))
    tree = exp.versions.files(exp.deployed()[1])
    for rel, data in tree.items():
        (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
        (workdir / rel).write_bytes(data)
    with Broker(ScriptedProvider(rules("")), work / f"bare-{backend}.sock") as broker:
        if backend == "bwrap":
            box = BwrapSandbox(llm_socket=broker.socket_path, protected=("alignment.toml",))
        else:
            box = LandlockSandbox(protected=("alignment.toml",), llm_socket=broker.socket_path)
        limits = Limits(wall_seconds=60)

        def measure(n: int, raw: bool = False) -> Any:
            times = []
            for _ in range(max(1, n)):
                started = time.perf_counter()
                result = box.run([*box.python, "-c", "pass"], workdir, limits=limits, readonly=("alignment.toml",),
                                 outputs=("out.json",))
                times.append((time.perf_counter() - started) * 1000)
                if not result.ok:
                    raise SystemExit(f"a bare {backend} start failed: {result}")
            return times if raw else statistics.median(times)

        measure(1)  # warm up
        yield measure


def rounds(backend: str, variant: str, work: Path, n: int, shape: tuple[int, int], counter: StartCounter,
           timeline: list[tuple[str, float]]) -> tuple[list[float], int, list[str]]:
    """ms of `n` rounds of `shape` (candidates, workers), sandbox starts in the last one, and the outcomes."""
    candidates, workers = shape
    deployed = variant.startswith("deployed")
    with served(rules(FIX if deployed else HARMLESS)) as server:
        times, outcomes, starts = [], [], 0
        # Rejected: n rounds of one experiment (the parent stays v1). Deployed: the first round of
        # experiments with seeds 2026, 2027, ... until n of them deployed (a seed may not show the fix).
        for e in range(n if not deployed else 4 * n):
            if len(times) == n:
                break
            if deployed or e == 0:
                config = CONFIG.format(seed=2026 + e, backend=backend, url=server.url, candidates=candidates,
                                       workers=workers)
                exp = Experiment.init(work / f"{backend}-{candidates}x{workers}-{'dep' if deployed else 'rej'}-{e}", "agent",
                                      config_text=config)
            before = counter.count
            [result] = exp.run(len(exp.events("round.completed")) + 1)
            if deployed and result.outcome != "deployed":
                continue
            starts = counter.count - before
            outcomes.append(result.outcome)
            events = exp.events()
            started = next(ev for ev in events if ev.kind == "round.started" and ev.payload["round"] == result.round)
            done = next(ev for ev in events if ev.kind == "round.completed" and ev.payload["round"] == result.round)
            times.append((done.ts - started.ts) * 1000)
            if deployed and backend == "bwrap" and candidates == 1 and not timeline:
                timeline.extend((_label(ev), (ev.ts - started.ts) * 1000) for ev in events if ev.seq >= started.seq)
    return times, starts, outcomes


@contextmanager
def served(replies: list[dict[str, object]]) -> Iterator[SimpleNamespace]:
    """The instant server in another process: its Python does not share the harness's GIL."""
    context = multiprocessing.get_context("spawn")
    urls, stop = context.Queue(), context.Event()
    process = context.Process(target=_serve, args=(replies, urls, stop), daemon=True)
    process.start()
    try:
        yield SimpleNamespace(url=urls.get(timeout=60))
    finally:
        stop.set()
        process.join(10)


def _serve(replies: list[dict[str, object]], urls: Any, stop: Any) -> None:
    with ChatServer(ScriptedProvider(replies)) as server:
        urls.put(server.url)
        stop.wait()


def _label(event) -> str:  # noqa: ANN001
    p = event.payload
    detail = [str(p[k]) for k in ("version", "split", "stage", "outcome") if p.get(k) is not None]
    return f"{event.kind} {' '.join(detail)}"


def cli(work: Path, workers: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    entry = [sys.executable, "-c", "from rsilab.cli import main; main()"]
    helps = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run([*entry, "--help"], env=env, check=True, capture_output=True)
        helps.append((time.perf_counter() - started) * 1000)
    with served(rules(HARMLESS)) as server:
        before_round = []
        for i in range(3):
            exp = Experiment.init(work / f"cli-{i}", "agent", config_text=CONFIG.format(
                seed=7 + i, backend="bwrap", url=server.url, candidates=1, workers=workers))
            started = time.time()
            subprocess.run([*entry, "run", "--rounds", "1", "-C", str(exp.root)], env=env, check=True, capture_output=True)
            [event] = exp.events("round.started")
            before_round.append((event.ts - started) * 1000)
    print(f"\n`rsilab --help`: {statistics.median(helps):.0f} ms (median of 5)")
    print(f"`rsilab run` before its first round: {statistics.median(before_round):.0f} ms (median of 3)")


if __name__ == "__main__":
    main()
