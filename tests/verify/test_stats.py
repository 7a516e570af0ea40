"""The acceptance statistics: exact McNemar without scipy, and a vectorised paired bootstrap."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
from scipy.stats import binomtest

from rsilab.verify.stats import binomial_tail, mcnemar, paired_bootstrap_interval


@pytest.mark.parametrize("n", [1, 2, 7, 30, 61, 200, 1500])
def test_binomial_tail_equals_scipys_exact_binomial_test(n: int):
    for k in range(0, n + 1, max(1, n // 25)):
        expected = binomtest(k, n, 0.5, alternative="greater").pvalue if k else 1.0
        assert binomial_tail(k, n) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_mcnemar_counts_discordant_pairs_and_gives_the_one_sided_p():
    parent = [True] * 10 + [False] * 12 + [True] * 3
    candidate = [True] * 10 + [True] * 12 + [False] * 3
    test = mcnemar(parent, candidate)
    assert (test.parent_only, test.candidate_only) == (3, 12)
    assert test.p_better == pytest.approx(binomtest(12, 15, 0.5, alternative="greater").pvalue, rel=1e-12)
    assert mcnemar([True, False], [True, False]).p_better == 1.0


def test_bootstrap_is_seeded_and_brackets_the_mean():
    rng = random.Random(3)
    diffs = [float(rng.choice((-1, 0, 0, 1, 1))) for _ in range(60)]
    mean, low, high = paired_bootstrap_interval(diffs)
    assert (mean, low, high) == paired_bootstrap_interval(diffs)
    assert mean == pytest.approx(sum(diffs) / 60)
    assert low < mean < high
    # The percentile interval of a mean of 60 draws is about ±1.96 standard errors.
    se = (sum((d - mean) ** 2 for d in diffs) / 59 / 60) ** 0.5
    assert high - low == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert paired_bootstrap_interval([2.5] * 9) == (2.5, 2.5, 2.5)
    assert paired_bootstrap_interval([]) == (0.0, 0.0, 0.0)


def test_the_gates_import_neither_scipy_nor_numpy():
    code = "import sys, rsilab.verify.gates; print(sorted(m for m in ('scipy', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
