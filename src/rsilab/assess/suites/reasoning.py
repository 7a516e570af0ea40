"""Task suites from reasoning-gym: procedurally generated logic and math problems.

`reasoning` is the default mix of seven families (arithmetic, algebra, word problems
and four kinds of logic), each at the three difficulty levels stated in FAMILIES.
`rg:NAME` is one reasoning-gym family alone; a family not in FAMILIES gets
reasoning-gym's own curriculum, level d - 1 for difficulty d.

Targets are checked, not only copied: a task is kept only when its reference answer
passes our own check. (reasoning-gym's basic_arithmetic, for one, evaluates `a + b * c`
left to right when it writes no brackets; such a target is caught here and the task
dropped.) reasoning-gym is imported only when a task is made or scored.
"""

from __future__ import annotations

import ast
import hashlib
import operator
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from typing import Any

from rsilab.errors import ConfigError, RsilabError
from rsilab.records import Task

VERIFIER = "reasoning-gym"  # Task.verifier for families scored by their own exact check


@dataclass(frozen=True)
class Family:
    meaning: str  # what the difficulty knob is, for people
    levels: Mapping[int, Mapping[str, Any]]  # difficulty → reasoning-gym config
    steps: Mapping[int, tuple[int, int]] = field(default_factory=dict)  # difficulty → solution steps (min, max)


_PLAIN = {"operators": ("+", "-"), "allow_parentheses": False, "allow_negation": False}

FAMILIES: dict[str, Family] = {
    "basic_arithmetic": Family(
        "1: 2-3 terms of 1-2 digits, + and -; 2: 4-5 terms of 2-3 digits; 3: 3-5 terms with *, brackets and negatives",
        {1: {**_PLAIN, "min_terms": 2, "max_terms": 3, "min_digits": 1, "max_digits": 2},
         2: {**_PLAIN, "min_terms": 4, "max_terms": 5, "min_digits": 2, "max_digits": 3},
         3: {"operators": ("+", "-", "*"), "allow_parentheses": True, "allow_negation": False,
             "min_terms": 3, "max_terms": 5, "min_digits": 2, "max_digits": 3}},
    ),
    "simple_equations": Family(
        "1: x ± a = b with numbers up to 20; 2: 2-3 terms up to 100; 3: 3-4 terms up to 1000",
        {1: {"min_terms": 2, "max_terms": 2, "max_value": 20, "operators": ("+", "-"), "operators_weights": [0.5, 0.5]},
         2: {"min_terms": 2, "max_terms": 3, "max_value": 100},
         3: {"min_terms": 3, "max_terms": 4, "max_value": 1000}},
    ),
    "gsm_symbolic": Family(
        "steps in the reference solution: 1: two; 2: three; 3: four or more",
        {1: {}, 2: {}, 3: {}},
        steps={1: (1, 2), 2: (3, 3), 3: (4, 1000)},
    ),
    "knights_knaves": Family(
        "people on the island: 1: two; 2: three; 3: four",
        {1: {"n_people": 2}, 2: {"n_people": 3}, 3: {"n_people": 4}},
    ),
    "syllogism": Family(
        "1: 'all' and 'no' premises; 2: every quantifier; 3: every quantifier, half of them inversions",
        {1: {"allow_some": False, "allow_some_not": False, "inversion_probability": 0.0},
         2: {"inversion_probability": 0.0},
         3: {"inversion_probability": 0.5}},
    ),
    "zebra_puzzles": Family(
        "houses × characteristics: 1: 3×2; 2: 3×3; 3: 4×3 (bigger puzzles take seconds each to generate)",
        {1: {"num_people": 3, "num_characteristics": 2},
         2: {"num_people": 3, "num_characteristics": 3},
         3: {"num_people": 4, "num_characteristics": 3}},
    ),
    "propositional_logic": Family(
        "1: 2 variables, 2 premises, depth 1; 2: 2-3 variables and premises, depth ≤ 2; 3: 3-4 of each, depth 2-3",
        {1: {"min_vars": 2, "max_vars": 2, "min_statements": 2, "max_statements": 2, "min_complexity": 1, "max_complexity": 1},
         2: {"min_vars": 2, "max_vars": 3, "min_statements": 2, "max_statements": 3, "min_complexity": 1, "max_complexity": 2},
         3: {"min_vars": 3, "max_vars": 4, "min_statements": 3, "max_statements": 4, "min_complexity": 2, "max_complexity": 3}},
    ),
}
MIX = tuple(FAMILIES)  # the default suite, in this order

# Answers with several right spellings (names in any order; any entailed, non-trivial
# conclusion): scored by reasoning-gym's own check, and only its full score counts.
OWN_CHECK = frozenset({"knights_knaves", "propositional_logic"})

_LONGEST_CHECKED = 300  # characters of an answer a family's own check will look at
_TRIES_PER_TASK = 200  # how far to search for entries that pass the target check before giving up


def reasoning(n: int, seed: int, difficulties: Sequence[int]) -> list[Task]:
    """The default mix: task i is family MIX[i % 7] at difficulties[(i // 7) % len(difficulties)]."""
    plan = [(MIX[i % len(MIX)], difficulties[(i // len(MIX)) % len(difficulties)]) for i in range(n)]
    return _make(plan, seed)


def family_suite(name: str) -> Callable[[int, int, Sequence[int]], list[Task]]:
    """`rg:NAME`: one reasoning-gym family, task i at difficulties[i % len(difficulties)]."""
    if name not in _registered():
        raise ConfigError(f"reasoning-gym has no family {name!r}: see reasoning_gym.factory.DATASETS for the names")

    def suite(n: int, seed: int, difficulties: Sequence[int]) -> list[Task]:
        return _make([(name, difficulties[i % len(difficulties)]) for i in range(n)], seed)

    return suite


def verify(answer: str, task: Task) -> bool:
    """A family's own exact check: right only when reasoning-gym gives full credit."""
    if len(answer) > max(_LONGEST_CHECKED, 4 * len(task.answer)):
        return False  # far longer than any right answer; and some parsers take seconds on long hostile text
    try:
        return _scorer(task.reference["dataset"]).score_answer(answer, task.reference["entry"]) == 1.0
    except Exception:  # the answer is untrusted text: a parser that chokes on it must not stop the harness
        return False


def admissible(name: str, difficulty: int, entry: dict[str, Any]) -> bool:
    """Whether an entry may become a task: its target checks out exactly and it fits the level
    (for gsm_symbolic, by the number of steps in its reference solution)."""
    if name in OWN_CHECK:
        example = entry["answer"] if entry["answer"] is not None else entry["metadata"].get("example_answer")
        return isinstance(example, str) and _scorer(name).score_answer(example, entry) == 1.0
    if not isinstance(entry.get("answer"), str):
        raise ConfigError(f"reasoning-gym family {name} has no single answer and rsilab has no exact check for it: choose another")
    if name == "basic_arithmetic":
        return _evaluates_to(entry["metadata"]["expression"], entry["answer"])
    steps = FAMILIES[name].steps.get(difficulty) if name in FAMILIES else None
    if steps:
        return steps[0] <= _solution_steps(entry) <= steps[1]
    return True


# ---- making tasks ---------------------------------------------------------------------------


def _make(plan: Sequence[tuple[str, int]], seed: int) -> list[Task]:
    wanted = Counter(plan)
    drawn = {key: _entries(key[0], key[1], seed, count) for key, count in wanted.items()}
    used: Counter[tuple[str, int]] = Counter()
    tasks = []
    for name, difficulty in plan:
        index, entry = drawn[(name, difficulty)][used[(name, difficulty)]]
        used[(name, difficulty)] += 1
        tasks.append(_task(name, difficulty, index, entry))
    return tasks


def _entries(name: str, difficulty: int, seed: int, count: int) -> list[tuple[int, dict[str, Any]]]:
    """The first `count` entries of one family and level that pass the target check."""
    size = count * _TRIES_PER_TASK
    dataset = _reasoning_gym().create_dataset(name, seed=_sub_seed(seed, name, difficulty), size=size, **_config(name, difficulty))
    kept = []
    for index in range(size):
        entry = dataset[index]
        if admissible(name, difficulty, entry):
            kept.append((index, entry))
            if len(kept) == count:
                return kept
    raise RsilabError(f"reasoning-gym family {name} at difficulty {difficulty} gave too few tasks with checkable targets")


def _task(name: str, difficulty: int, index: int, entry: dict[str, Any]) -> Task:
    own_check = name in OWN_CHECK
    answer = entry["answer"] if entry["answer"] is not None else entry["metadata"].get("example_answer")
    return Task(
        id=f"{name}-{difficulty}-{index}",
        family=name,
        difficulty=difficulty,
        question=entry["question"],
        answer=str(answer),
        verifier=VERIFIER if own_check else None,
        reference={"dataset": name, "entry": entry} if own_check else {},
    )


def _config(name: str, difficulty: int) -> dict[str, Any]:
    if name in FAMILIES:
        levels = FAMILIES[name].levels
        if difficulty not in levels:
            raise ConfigError(f"reasoning-gym family {name} has difficulties {sorted(levels)}, not {difficulty}: "
                              f"set assess.difficulties to some of them")
        return dict(levels[difficulty])
    factory = _reasoning_gym().factory
    if difficulty < 1:
        raise ConfigError(f"difficulty must be at least 1, got {difficulty}")
    if not factory.has_curriculum(name):
        if difficulty != 1:
            raise ConfigError(f"reasoning-gym family {name} has no difficulty curriculum: use difficulties = [1]")
        return {}
    curriculum = factory.create_curriculum(name)
    curriculum.set_global_level(difficulty - 1)  # reasoning-gym clamps at each attribute's top level
    config = curriculum.generate_configuration({"seed": 0, "size": 1})
    return {k: v for k, v in vars(config).items() if k not in {"seed", "size"}}


def _sub_seed(seed: int, name: str, difficulty: int) -> int:
    """A seed per family and level, the same in every process (unlike hash())."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{name}/{difficulty}".encode()).digest()[:4], "big") % 2**31


def _solution_steps(entry: dict[str, Any]) -> int:
    lines = entry["metadata"].get("answer_cot", "").splitlines()
    return sum(1 for line in lines if line.strip() and not line.startswith("####"))


_OPERATORS: dict[type, Callable[[Any, Any], Any]] = {ast.Add: operator.add, ast.Sub: operator.sub,
                                                     ast.Mult: operator.mul, ast.Div: operator.truediv}


def _evaluates_to(expression: str, answer: str) -> bool:
    """Our own evaluation, with the usual precedence, of an arithmetic target."""
    def value(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return Fraction(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            return -value(node.operand) if isinstance(node.op, ast.USub) else value(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.left), value(node.right))
        raise ValueError(f"unexpected {ast.dump(node)}")

    try:
        return value(ast.parse(expression, mode="eval").body) == Fraction(int(answer))
    except (ValueError, SyntaxError, ZeroDivisionError):
        return False


# ---- reasoning-gym, lazily ------------------------------------------------------------------


def _reasoning_gym() -> Any:
    try:
        import reasoning_gym
        import reasoning_gym.factory
    except ImportError as exc:  # a broken install: it is a core dependency
        raise RsilabError(f"reasoning-gym is not importable ({exc}): reinstall rsilab (`pip install -e .`)") from exc
    return reasoning_gym


@cache
def _registered() -> frozenset[str]:
    return frozenset(_reasoning_gym().factory.DATASETS)


@cache
def _scorer(name: str) -> Any:
    """A dataset object only for its score_answer, which depends on the entry, not the config."""
    return _reasoning_gym().create_dataset(name, seed=0, size=1)
