"""The embedded model's load time, memory and speed on this machine, per thread count.

For each thread count: the time to load the model, the process's resident memory after
a call, prompt processing speed on a long prompt like the improver's (the agent's own
source), and generation speed on the agent's solve prompt; with --accuracy N, the
share of N tasks of the `arithmetic` suite it answers right with that prompt (the
self's solve path, minus the calculator) at the difficulties given.

    .venv/bin/python bench/embedded_speed.py [--threads 1 2] [--accuracy 10 --difficulties 1 2]
"""

from __future__ import annotations

import argparse
import os
import re
import time
from importlib import resources

from rsilab.assess.tasks import arithmetic
from rsilab.llm.base import ChatMessage, ChatRequest, Completion
from rsilab.llm.embedded import EmbeddedProvider

SOLVE_PROMPT = (resources.files("rsilab") / "templates" / "agent" / "prompts" / "solve.md").read_text()
QUESTION = "A shop sells 17 boxes of 3 pens and 25 loose pens. How many pens does it sell in all?"
AGENT = resources.files("rsilab") / "templates" / "agent"
SOURCE = "\n\n".join(f"File {name}:\n{(AGENT / name).read_text()}" for name in ("main.py", "solve.py", "improve.py", "tools.py"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tokens", type=int, default=128, help="tokens to generate for the speed figure")
    parser.add_argument("--accuracy", type=int, default=0, metavar="N", help="also score N arithmetic tasks")
    parser.add_argument("--difficulties", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (other work slows these figures)")
    print(f"{'threads':>7} {'load s':>7} {'RSS MB':>7} {'prompt tok':>10} {'prompt tok/s':>12} "
          f"{'gen tok':>7} {'gen tok/s':>9}")
    for threads in args.threads:
        started = time.perf_counter()
        provider = EmbeddedProvider(threads=threads)
        load = time.perf_counter() - started
        long_prompt = (ChatMessage(role="user", content=SOURCE + "\n\nWhat does this agent do?"),)
        prompt_seconds, prompt = _timed(provider, ChatRequest(messages=long_prompt, max_tokens=1))
        messages = (ChatMessage(role="system", content=SOLVE_PROMPT), ChatMessage(role="user", content=QUESTION))
        first_token = _timed(provider, ChatRequest(messages=messages, max_tokens=1))
        full = _timed(provider, ChatRequest(messages=messages, max_tokens=args.tokens))
        generated = full[1].tokens_out
        print(f"{threads:>7} {load:>7.1f} {_rss_mb():>7.0f} {prompt.tokens_in:>10} {prompt.tokens_in / prompt_seconds:>12.1f} "
              f"{generated:>7} {(generated - 1) / max(full[0] - first_token[0], 1e-9):>9.1f}")
        if args.accuracy:
            _accuracy(provider, args.accuracy, tuple(args.difficulties))
        del provider
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def _timed(provider: EmbeddedProvider, request: ChatRequest) -> tuple[float, Completion]:
    started = time.perf_counter()
    completion = provider.complete(request)
    return time.perf_counter() - started, completion


def _accuracy(provider: EmbeddedProvider, n: int, difficulties: tuple[int, ...]) -> None:
    tasks = arithmetic(n, seed=7, difficulties=difficulties)
    correct, started, tokens = 0, time.perf_counter(), 0
    for task in tasks:
        messages = (ChatMessage(role="system", content=SOLVE_PROMPT), ChatMessage(role="user", content=task.question))
        completion = provider.complete(ChatRequest(messages=messages, max_tokens=512))
        boxed = re.findall(r"\\boxed\{([^{}]*)\}", completion.text)
        correct += bool(boxed) and boxed[-1].strip() == task.answer
        tokens += completion.tokens_out
    seconds = time.perf_counter() - started
    print(f"        arithmetic (difficulties {difficulties}, {n} tasks): {correct}/{n} correct, "
          f"{tokens / n:.0f} tokens and {seconds / n:.1f} s a task")


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    main()
