"""How the agent improves itself: it shows its model its failures with their traces,
earlier proposals with their outcome and its own files, and returns the model's edits."""

import ast
import json
import pathlib
import re

import llm
from solve import SETTINGS

SYSTEM_PROMPT = pathlib.Path("prompts/improve.md").read_text()
# main.py (the entry point) and llm.py (the broker client) are plumbing: not worth the tokens.
SHOWN = [p for p in sorted(pathlib.Path(".").glob("*.py")) if p.name not in ("main.py", "llm.py")]
SHOWN += sorted(pathlib.Path("prompts").glob("*")) + [pathlib.Path("settings.toml")]
ASK = ("Compare each wrong answer with the expected one. Which function gives these wrong answers? "
       "Answer with that function rewritten so it gives the expected answers, complete, in one ```python "
       "block, then one line \"Rationale: what was wrong\".")
_PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def improve(request: dict) -> dict:
    # Candidate 1 of a round is greedy; the others sample (the harness seeds each).
    k, n = (request.get("candidate") or {"index": 1, "of": 1}).values()
    temperature = 0.0 if k == 1 else SETTINGS["improve_temperature"]
    prompt = describe(request) + (f"\n\n(Attempt {k} of {n}.)" if n > 1 else "")
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}]
    reply = llm.chat(messages, max_tokens=SETTINGS["improve_max_tokens"], temperature=temperature)
    rationale = re.search(r"Rationale:\s*(.+)", reply)
    return {"rationale": rationale.group(1) if rationale else reply.strip()[:200], "edits": as_edits(reply)}


def describe(request: dict) -> str:
    # Failures first: a small model reads them before it is anchored by the code.
    report = request["weakness"]
    groups = [f"{g['family']} level {g['difficulty']}: {g['accuracy']:.0%} of {g['n']}" for g in report["groups"]]
    parts = [f"Accuracy on dev problems: {report['accuracy']:.0%} ({'; '.join(groups)})"]
    for failure in report["failures"]:
        trace = json.dumps(failure["trace"])[:400]
        parts.append(f"Failure: {failure['question']} expected {failure['expected']}, "
                     f"answered {failure['answer']}; trace: {trace}")
    for s in report.get("steps", []):  # tokens and seconds counted by the harness
        parts.append(f"Step {s['step']}: ran {s['ran']} times, {s['tokens']} tokens, {s['seconds']} s; "
                     f"changed the answer {s['changed']} times ({s['fixed']} fixed, {s['broke']} broke)")
    for past in request.get("history", [])[-4:]:
        parts.append(f"Earlier proposal {past['version']}: {past['rationale']} "
                     f"Outcome: {past['outcome']}. Reviewer: {past['comment']}")
        parts += [f"  Error in its edits: {error}" for error in past.get("errors", [])[:3]]
    parts += [f"File {p}:\n{p.read_text()}" for p in SHOWN]
    parts.append(ASK)
    return "\n\n".join(parts)


def as_edits(reply: str) -> str:
    """The reply's edits. Whole functions in a python block become SEARCH/REPLACE edits of the
    functions of the same name; new helpers and imports go just before the first one."""
    if "<<<<<<< SEARCH" in reply or "\n@@" in reply:
        return reply
    defined = {}  # function or class name -> (the file that defines it first, its source there)
    for path in (p for p in SHOWN if p.suffix == ".py"):
        for name, old in top_level(path.read_text()):
            if name is not None:
                defined.setdefault(name, (path, old))
    edits, unchanged = [], []
    for block in _PYTHON_BLOCK.findall(reply):
        lead = []
        for name, new in top_level(block):
            if name not in defined:
                lead.append(new)  # a helper or an import the new function needs
                continue
            path, old = defined[name]
            edit = f"{path}\n<<<<<<< SEARCH\n{old}\n=======\n" + "\n\n".join(lead + [new]) + "\n>>>>>>> REPLACE"
            (unchanged if new == old and not lead else edits).append(edit)
            lead = []
    # All unchanged: send them anyway, so the harness tells the next round they changed nothing.
    return "\n\n".join(edits or unchanged) or reply


def top_level(source: str) -> list:
    """(name, exact source) of each top-level statement, in order; only functions and classes have a name."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    lines = source.splitlines()
    return [(getattr(node, "name", None), "\n".join(lines[node.lineno - 1:node.end_lineno])) for node in tree.body]
