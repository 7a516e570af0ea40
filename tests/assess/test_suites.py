"""The task suites: stated difficulty levels, checked targets, determinism, the digit-length knob."""

from __future__ import annotations

import ast
import random

import pytest

from rsilab.assess.scoring import score
from rsilab.assess.suites import reasoning
from rsilab.assess.suites.addition import addition, operands
from rsilab.assess.tasks import generate
from rsilab.errors import ConfigError


def test_reasoning_suite_covers_every_family_at_every_stated_difficulty_with_targets_that_pass_their_own_check():
    tasks = generate("reasoning", 21, seed=3, difficulties=(1, 2, 3))
    assert {(t.family, t.difficulty) for t in tasks} == {(f, d) for f in reasoning.MIX for d in (1, 2, 3)}
    assert set(reasoning.MIX) >= {"basic_arithmetic", "simple_equations", "gsm_symbolic", "knights_knaves",
                                  "syllogism", "zebra_puzzles", "propositional_logic"}
    assert all(score(t.answer, t) for t in tasks)
    assert len({t.id for t in tasks}) == len(tasks)


def test_the_same_seed_gives_the_same_tasks_and_a_new_seed_fresh_ones():
    first = generate("reasoning", 14, seed=5, difficulties=(1, 2))
    assert generate("reasoning", 14, seed=5, difficulties=(1, 2)) == first
    fresh = generate("reasoning", 14, seed=6, difficulties=(1, 2))
    assert len({t.question for t in first} & {t.question for t in fresh}) <= 2  # yes/no syllogisms may repeat


def test_a_left_to_right_arithmetic_target_from_reasoning_gym_is_caught_and_never_becomes_a_task():
    import reasoning_gym

    plain = {"operators": ("+", "*"), "allow_parentheses": False, "allow_negation": False,
             "min_terms": 3, "max_terms": 3, "min_digits": 1, "max_digits": 1}
    dataset = reasoning_gym.create_dataset("basic_arithmetic", seed=1, size=50, **plain)
    entries = [dataset[i] for i in range(50)]
    wrong = [e for e in entries if _python_value(e["metadata"]["expression"]) != int(e["answer"])]
    assert wrong, "reasoning-gym evaluates `a + b * c` left to right in this mode"
    assert not any(reasoning.admissible("basic_arithmetic", 2, e) for e in wrong)
    right = [e for e in entries if e not in wrong]
    assert all(reasoning.admissible("basic_arithmetic", 2, e) for e in right)
    for task in generate("rg:basic_arithmetic", 30, seed=2, difficulties=(1, 2, 3)):
        assert _python_value(task.question.removeprefix("Calculate ").rstrip(".")) == int(task.answer)


def test_word_problem_difficulty_is_the_number_of_steps_in_the_reference_solution():
    import reasoning_gym

    dataset = reasoning_gym.create_dataset("gsm_symbolic", seed=4, size=60)
    for entry in (dataset[i] for i in range(60)):
        lines = entry["metadata"]["answer_cot"].splitlines()
        steps = len([line for line in lines if line.strip() and not line.startswith("####")])
        levels = [d for d in (1, 2, 3) if reasoning.admissible("gsm_symbolic", d, entry)]
        assert levels == [1 if steps <= 2 else 2 if steps == 3 else 3]


def test_a_family_outside_the_mix_uses_reasoning_gyms_curriculum_levels():
    easy, hard = generate("rg:leg_counting", 2, seed=1, difficulties=(1, 4))
    assert (easy.difficulty, hard.difficulty) == (1, 4)
    assert all(score(t.answer, t) for t in (easy, hard))


def test_unknown_family_and_unstated_difficulty_are_config_errors_that_say_what_to_do():
    with pytest.raises(ConfigError, match="no family 'zebra'"):
        generate("rg:zebra", 1, seed=1, difficulties=(1,))
    with pytest.raises(ConfigError, match="difficulties \\[1, 2, 3\\], not 4"):
        generate("reasoning", 7, seed=1, difficulties=(4,))
    with pytest.raises(ConfigError, match="unknown task suite 'nope'"):
        generate("nope", 1, seed=1, difficulties=(1,))


def test_addition_difficulty_is_the_digit_length_of_both_operands():
    tasks = addition(40, seed=9, difficulties=(1, 3, 7))
    for task in tasks:
        a, b = (int(x) for x in task.question.removeprefix("Compute ").split(" + "))
        assert len(str(a)) == len(str(b)) == task.difficulty
        assert int(task.answer) == a + b
    assert addition(10, seed=9, difficulties=(1, 3, 7)) == tasks[:10]
    assert all(len(str(x)) == 12 for x in operands(random.Random(0), 12))
    with pytest.raises(ConfigError, match="at least 1"):
        addition(1, seed=0, difficulties=(0,))


def _python_value(expression: str) -> int:
    node = ast.parse(expression, mode="eval")
    return eval(compile(node, "<expr>", "eval"), {"__builtins__": {}})  # digits and + - * ( ) only, from a test generator
