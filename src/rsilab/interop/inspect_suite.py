"""An Inspect task's dataset as an rsilab suite: `inspect:PATH[@TASK]` or `inspect:MODULE@TASK`.

The task is built by its own `@task` function (so its dataset loads as Inspect would load it)
and each sample becomes a Task with one exact target, split into dev and held-out by its question
as a JSONL dataset is (rsilab.assess.suites.jsonl). rsilab scores exactly, by its own check, so a
sample it cannot score that way is refused, all of them listed with why: multiple choice (the
choices go with the scorer), images or other non-text input, tool use, a sandbox or files, a
conversation rather than one question, several or no targets. Nothing is dropped silently.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from rsilab.errors import DatasetError
from rsilab.interop import need
from rsilab.records import Task

MAX_LISTED = 20  # refusals listed one per line; the rest counted
_cache: dict[tuple[str, float], list[Task]] = {}  # one load per file version: a round draws several times


def load_tasks(spec: str) -> list[Task]:
    """Every sample of the task named by `spec` ("PATH[@TASK]" or "MODULE@TASK") as a Task, in dataset order."""
    source, _, name = spec.partition("@")
    path = Path(source)
    key = (spec, path.stat().st_mtime if path.is_file() else 0.0)
    if key not in _cache:
        _cache[key] = _tasks(spec, _samples(source, name or None))
    return _cache[key]


def refusal(sample: Any) -> str | None:
    """Why rsilab cannot score `sample` exactly, or None when it can."""
    if sample.choices:
        return f"multiple choice ({len(sample.choices)} choices): rsilab scores one exact answer, not a choice"
    if sample.sandbox is not None or sample.files or sample.setup:
        return "needs a sandbox, files or a setup script (tool use): the self gets a question only"
    if not isinstance(sample.input, str):
        if problem := _messages_problem(sample.input):
            return problem
    targets = [sample.target] if isinstance(sample.target, str) else list(sample.target)
    if len(targets) != 1:
        return f"{len(targets)} targets: rsilab scores against exactly one"
    if not targets[0].strip():
        return "an empty target: nothing to score against exactly"
    if not _question(sample).strip():
        return "an empty input"
    return None


def _tasks(spec: str, samples: list[Any]) -> list[Task]:
    refused = [(i, s, why) for i, s in enumerate(samples) if (why := refusal(s)) is not None]
    if refused:
        lines = [f"inspect:{spec}: sample {_label(i, s)} is refused: {why}" for i, s, why in refused[:MAX_LISTED]]
        if len(refused) > MAX_LISTED:
            lines.append(f"... and {len(refused) - MAX_LISTED} more refused samples")
        lines.append(f"{len(refused)} of {len(samples)} samples cannot be scored exactly: "
                     "remove them from the dataset (or give them one text input and one exact target)")
        raise DatasetError("\n".join(lines))
    tasks: list[Task] = []
    seen: dict[str, tuple[str, str]] = {}  # question → (label, answer)
    for i, sample in enumerate(samples):
        question, answer = _question(sample), sample.target if isinstance(sample.target, str) else sample.target[0]
        label = _label(i, sample)
        if question in seen:
            if seen[question][1] != answer:
                raise DatasetError(f"inspect:{spec}: sample {label} repeats the input of sample {seen[question][0]} "
                                   f"with another target ({answer!r}, not {seen[question][1]!r}); keep one of them")
            continue
        seen[question] = (label, answer)
        metadata = sample.metadata or {}
        family = metadata.get("family") if isinstance(metadata.get("family"), str) else "inspect"
        difficulty = metadata.get("difficulty", 1)
        difficulty = difficulty if isinstance(difficulty, int) and not isinstance(difficulty, bool) else 1
        tasks.append(Task(id=f"sample-{sample.id}" if sample.id is not None else f"sample-{i + 1}",
                          family=family or "inspect", difficulty=difficulty, question=question, answer=answer))
    if not tasks:
        raise DatasetError(f"inspect:{spec}: the task's dataset holds no samples")
    return tasks


def _samples(source: str, name: str | None) -> list[Any]:
    """The samples of the chosen task's dataset, the task built by its own @task function."""
    need("inspect_ai", "inspect", "an inspect: suite")
    from inspect_ai.util import registry_info

    path = Path(source)
    if source.endswith(".py") or path.is_file():
        if not path.is_file():
            raise DatasetError(f"inspect:{source}: no such task file; give a path to a Python file with @task functions")
        module, where = _import_file(path), path.parent
    else:
        if name is None:
            raise DatasetError(f"inspect:{source}: a module needs a task name: inspect:{source}@TASK")
        try:
            module = importlib.import_module(source)
        except ImportError as exc:
            raise DatasetError(f"inspect:{source}: cannot import the module ({exc})") from None
        where = Path(module.__file__ or ".").parent
    found: dict[str, Any] = {}
    for value in vars(module).values():
        with contextlib.suppress(Exception):  # anything that is not a registered object
            info = registry_info(value)
            if info.type == "task":
                found[info.name.split("/")[-1]] = value
    if not found:
        raise DatasetError(f"inspect:{source}: no @task function in it")
    if name is None and len(found) > 1:
        raise DatasetError(f"inspect:{source}: it has {len(found)} tasks ({', '.join(sorted(found))}): "
                           f"name one, e.g. inspect:{source}@{sorted(found)[0]}")
    chosen = name or next(iter(found))
    if chosen not in found:
        raise DatasetError(f"inspect:{source}: no task {chosen!r} in it; it has {', '.join(sorted(found))}")
    with contextlib.chdir(where):  # a task's dataset paths are relative to its file, as `inspect eval` reads them
        try:
            return list(found[chosen]().dataset)
        except Exception as exc:  # the user's own task code: say where it failed
            raise DatasetError(f"inspect:{source}@{chosen}: building the task failed: {type(exc).__name__}: {exc}") from None


def _import_file(path: Path) -> Any:
    path = path.resolve()
    name = "rsilab_inspect_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DatasetError(f"inspect:{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # a task file may import its neighbours
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise DatasetError(f"inspect:{path}: importing it failed: {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.remove(str(path.parent))
    return module


def _messages_problem(messages: list[Any]) -> str | None:
    for message in messages:
        if message.role == "tool" or getattr(message, "tool_calls", None):
            return "tool use in its input messages: the self gets a question only"
        if not isinstance(message.content, str):
            kinds = {c.type for c in message.content if c.type != "text"}
            if kinds:
                return f"{'/'.join(sorted(kinds))} content in its input: rsilab's self reads text only"
    users = [m for m in messages if m.role == "user"]
    if len(messages) != 1 or len(users) != 1:
        return f"a conversation of {len(messages)} messages: rsilab asks one question (give the input as one user message)"
    return None


def _question(sample: Any) -> str:
    if isinstance(sample.input, str):
        return sample.input
    return sample.input[0].text


def _label(index: int, sample: Any) -> str:
    return f"{sample.id!r}" if sample.id is not None else f"#{index + 1}"
