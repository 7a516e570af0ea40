"""What the sandbox costs (run: python bench/sandbox_overhead.py [runs]).

Side by side in one run, on the agent template's tree:
  - start overhead: `python -c pass` as a plain subprocess, under the process backend, under
    bwrap and under landlock (where available): median wall seconds and the ratio to plain;
  - broker overhead per call: the provider called in-process, the same request through the
    broker's Unix socket from the harness, and from inside the bwrap sandbox.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from rsilab.llm.base import ChatMessage, ChatRequest
from rsilab.llm.scripted import ScriptedProvider
from rsilab.sandbox.broker import Broker, chat_via_socket
from rsilab.sandbox.bwrap import BwrapSandbox, bwrap_problem
from rsilab.sandbox.landlock import LandlockSandbox, landlock_problem
from rsilab.sandbox.process import Limits, ProcessSandbox

CALLS = 300


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    with tempfile.TemporaryDirectory(prefix="rsilab-bench-") as tmp:
        root = Path(tmp)
        workdir = root / "self"
        _write_template(workdir)
        provider = ScriptedProvider([{"match": ".", "responses": ["\\boxed{4}"]}])
        with Broker(provider, root / "llm.sock") as broker:
            print(f"sandbox start: `python -c pass`, median of {runs} runs each (agent template tree, {_count(workdir)} files)")
            starts(workdir, runs, broker)
            print(f"\nbroker: one chat call, median of {CALLS} calls each")
            calls(workdir, broker, provider)


def starts(workdir: Path, runs: int, broker: Broker) -> None:
    limits = Limits(wall_seconds=60)
    contenders: dict[str, Callable[[], object]] = {
        "plain subprocess": lambda: subprocess.run([sys.executable, "-E", "-s", "-S", "-c", "pass"], cwd=workdir, check=True),
    }
    process = ProcessSandbox()
    contenders["process backend"] = lambda: _ok(process.run([*process.python, "-c", "pass"], workdir, limits=limits))
    if (problem := bwrap_problem()) is None:
        box = BwrapSandbox(llm_socket=broker.socket_path, protected=("alignment.toml",))
        contenders["bwrap backend"] = lambda: _ok(box.run([*box.python, "-c", "pass"], workdir, limits=limits,
                                                          outputs=("out.json",)))
    else:
        print(f"  (bwrap skipped: {problem})")
    if (problem := landlock_problem()) is None:
        fence = LandlockSandbox(protected=("alignment.toml",))
        contenders["landlock backend"] = lambda: _ok(fence.run([*fence.python, "-c", "pass"], workdir, limits=limits))
    else:
        print(f"  (landlock skipped: {problem})")
    timings: dict[str, list[float]] = {name: [] for name in contenders}
    for name, run in contenders.items():
        run()  # warm up: caches, the interpreter's site-packages probe
    for _ in range(runs):  # interleaved, so drift in the machine's load hits every contender alike
        for name, run in contenders.items():
            started = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - started)
    plain = statistics.median(timings["plain subprocess"])
    print(f"  {'':18} {'median':>9} {'p90':>9} {'vs plain':>9}")
    for name, values in timings.items():
        median = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"  {name:18} {median * 1000:7.1f}ms {p90 * 1000:7.1f}ms {median / plain:8.2f}x")


def calls(workdir: Path, broker: Broker, provider: ScriptedProvider) -> None:
    request = ChatRequest(messages=(ChatMessage(role="user", content="2+2?"),), max_tokens=16)
    messages = [{"role": "user", "content": "2+2?"}]
    direct = _timed(lambda: provider.complete(request))
    via_socket = _timed(lambda: chat_via_socket(broker.socket_path, messages, max_tokens=16))
    print(f"  {'provider in-process':28} {direct * 1e6:8.1f}µs")
    print(f"  {'through the broker (harness)':28} {via_socket * 1e6:8.1f}µs   overhead {(via_socket - direct) * 1e6:8.1f}µs a call")
    if bwrap_problem() is None:
        box = BwrapSandbox(llm_socket=broker.socket_path)
        code = f"""
import json, time, statistics, sys
sys.path.insert(0, "/self")
import llm
times = []
for _ in range({CALLS}):
    started = time.perf_counter()
    llm.chat([{{"role": "user", "content": "2+2?"}}], max_tokens=16)
    times.append(time.perf_counter() - started)
print(json.dumps(statistics.median(times)))
"""
        result = box.run([*box.python, "-c", code], workdir, limits=Limits(wall_seconds=120))
        inside = json.loads(result.stdout)
        print(f"  {'through the broker (sandbox)':28} {inside * 1e6:8.1f}µs   overhead {(inside - direct) * 1e6:8.1f}µs a call"
              " (the agent's own llm.py client)")
    broker.reset()


def _timed(call: Callable[[], object]) -> float:
    times = []
    for _ in range(CALLS):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _ok(result: object) -> None:
    if not getattr(result, "ok", False):
        raise SystemExit(f"a sandboxed run failed: {result}")


def _write_template(dest: Path) -> None:
    source = resources.files("rsilab") / "templates" / "agent"
    for item in _walk(source):
        rel = str(item).split("templates/agent/", 1)[1]
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(item.read_bytes())


def _walk(node):  # noqa: ANN001, ANN202 - importlib Traversable
    for item in node.iterdir():
        if item.is_dir() and item.name != "__pycache__":
            yield from _walk(item)
        elif item.is_file() and not item.name.endswith(".pyc"):
            yield item


def _count(path: Path) -> int:
    return sum(1 for p in path.rglob("*") if p.is_file())


if __name__ == "__main__":
    main()
