"""Held-out draws never repeat a dev question, and leave a suite's output alone when nothing clashes."""

from __future__ import annotations

from rsilab.assess.splits import draw_tasks
from rsilab.assess.tasks import generate
from rsilab.config import AssessConfig


def test_with_nothing_to_exclude_a_draw_is_exactly_the_suites_output():
    config = AssessConfig(suite="arithmetic", difficulties=(1, 2, 3))
    assert draw_tasks(config, "heldout", 60, seed=42) == generate("arithmetic", 60, 42, (1, 2, 3))


def test_a_heldout_draw_skips_dev_questions_and_still_gives_n_tasks():
    config = AssessConfig(suite="addition", difficulties=(1,))  # 1-digit sums: only 81 questions exist
    dev = {t.question for t in draw_tasks(config, "dev", 30, seed=1)}
    heldout = draw_tasks(config, "heldout", 30, seed=2, exclude=dev)
    assert len(heldout) == 30
    assert not {t.question for t in heldout} & dev
    assert {t.question for t in generate("addition", 30, 2, (1,))} & dev, "the seeds alone would have clashed"
