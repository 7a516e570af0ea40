"""Achieved LLM-call concurrency versus the ideal, against a local server with a fixed latency.

A real OpenAI-compatible HTTP server on 127.0.0.1 (tests/llm_server.py) answers every
request after exactly LATENCY seconds. Many callers then send requests through the
openai-compatible provider behind the concurrency limit, directly and through the
broker's Unix socket (the path the sandboxed self uses). With limit k the ideal is k
calls in flight, i.e. k / LATENCY calls a second; the figures say how close we get.

    .venv/bin/python bench/llm_concurrency.py [--latency 0.1] [--calls 64] [--callers 16]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from llm_server import ChatServer  # noqa: E402

from rsilab.llm.base import ChatMessage, ChatRequest  # noqa: E402
from rsilab.llm.guard import GuardedProvider  # noqa: E402
from rsilab.llm.openai_compat import OpenAICompatibleProvider  # noqa: E402
from rsilab.llm.scripted import ScriptedProvider  # noqa: E402
from rsilab.sandbox.broker import Broker, chat_via_socket  # noqa: E402

LIMITS = (1, 2, 4, 8, 16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the server takes per answer")
    parser.add_argument("--calls", type=int, default=64, help="requests per measurement")
    parser.add_argument("--callers", type=int, default=16, help="threads sending requests at once")
    args = parser.parse_args()

    answers = ScriptedProvider([{"match": ".", "responses": ["ok"]}])
    print(f"fixed server latency {args.latency * 1000:.0f} ms, {args.calls} calls from {args.callers} callers per row\n")
    print(f"{'path':<8} {'limit':>5} {'wall s':>7} {'calls/s':>8} {'ideal/s':>8} {'in flight':>9} {'ideal':>6} {'ratio':>6}")
    for path in ("direct", "broker"):
        for limit in LIMITS:
            with ChatServer(answers, latency=args.latency) as server:
                provider = GuardedProvider(OpenAICompatibleProvider("bench", base_url=f"{server.url}/v1"),
                                           max_concurrency=limit)
                provider.complete(_request(-1))  # connect and warm up outside the timing
                wall = _measure(provider, path, args.calls, args.callers)
                ideal = min(limit, args.callers)
                achieved = args.calls * args.latency / wall  # average calls in flight
                print(f"{path:<8} {limit:>5} {wall:>7.2f} {args.calls / wall:>8.1f} {ideal / args.latency:>8.1f} "
                      f"{achieved:>9.2f} {ideal:>6} {achieved / ideal:>6.2f}   (server saw at most {server.max_in_flight})")


def _measure(provider: GuardedProvider, path: str, calls: int, callers: int) -> float:
    if path == "direct":
        send = lambda i: provider.complete(_request(i))  # noqa: E731
        return _timed(send, calls, callers)
    with tempfile.TemporaryDirectory(prefix="rsilab-bench-") as folder, Broker(provider, Path(folder) / "llm.sock") as broker:
        send = lambda i: chat_via_socket(broker.socket_path, [{"role": "user", "content": f"q{i}"}])  # noqa: E731
        return _timed(send, calls, callers)


def _timed(send, calls: int, callers: int) -> float:  # noqa: ANN001
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=callers) as pool:
        list(pool.map(send, range(calls)))
    return time.perf_counter() - started


def _request(i: int) -> ChatRequest:
    return ChatRequest(messages=(ChatMessage(role="user", content=f"q{i}"),), max_tokens=4)


if __name__ == "__main__":
    main()
