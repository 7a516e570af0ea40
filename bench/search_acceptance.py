"""Acceptance among N candidates, by simulation (run: python bench/search_acceptance.py [--trials 2000]).

For N = 1, 4, 16 candidates against a deployed version answering 60 % of 60 held-out tasks,
prints each rule's family-wise false-accept rate (every candidate as good as the deployed one)
and its power (one candidate 15 points better, the rest equal), and the held-out tasks each
round spends. naive tests every candidate at alpha = 0.05; holm and confirm are rsilab's two
`search.acceptance` rules.
"""

from __future__ import annotations

import argparse
import time

from rsilab.search.simulate import RULES, simulate_acceptance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--gain", type=float, default=0.15)
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"alpha 0.05, 60 held-out tasks, deployed accuracy 60 %, {args.trials} trials per cell")
    print(f"{'N':>3} {'rule':>8} {'false accepts':>14} {'power (+' + format(args.gain, '.0%') + ')':>12} {'tasks/round':>12}")
    for n in (1, 4, 16):
        for rule in RULES:
            null = simulate_acceptance(rule, candidates=n, trials=args.trials, seed=n)
            better = simulate_acceptance(rule, candidates=n, gain=args.gain, trials=args.trials, seed=100 + n)
            print(f"{n:>3} {rule:>8} {null.false_accepts:>14.3f} {better.power:>12.3f} {better.tasks:>12.0f}")
    print(f"(false accepts at or below 0.05 mean the round's stated rate holds; {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
