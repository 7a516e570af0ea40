"""How the agent improves itself: it asks its model for an edit to its own code.

The harness gives it its own source, a weakness report with failing dev examples
and their traces, and the history of earlier proposals with reviewers' comments.
It returns a rationale and the model's edits as text; the harness parses them.
"""

import json
import pathlib
import re

import llm
from solve import SETTINGS

with open("prompts/improve.md", encoding="utf-8") as _handle:
    SYSTEM_PROMPT = _handle.read()

EXAMPLE_REQUEST = """File greet.py:
def greet(name):
    return "Hello, " + nam

Failure: greet("Ada") raised NameError: name 'nam' is not defined"""

EXAMPLE_REPLY = """Rationale: greet uses an undefined variable; use the parameter name.

greet.py
<<<<<<< SEARCH
    return "Hello, " + nam
=======
    return "Hello, " + name
>>>>>>> REPLACE"""


def improve(request: dict) -> dict:
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": EXAMPLE_REQUEST},
        {"role": "assistant", "content": EXAMPLE_REPLY},
        {"role": "user", "content": describe(request)},
    ]
    reply = llm.chat(messages, max_tokens=SETTINGS["improve_max_tokens"])
    return {"rationale": rationale(reply), "edits": reply}


def describe(request: dict) -> str:
    parts = [f"File {path}:\n{path.read_text(encoding='utf-8')}" for path in own_source()]
    report = request["weakness"]
    parts.append(f"Accuracy on dev problems: {report['accuracy']:.0%}")
    for group in report["groups"]:
        parts.append(f"- {group['family']} difficulty {group['difficulty']}: {group['accuracy']:.0%} of {group['n']}")
    for failure in report["failures"]:
        trace = json.dumps(failure["trace"])[:600]
        parts.append(
            f"Failure: {failure['question']} expected {failure['expected']}, "
            f"answered {failure['answer']}; trace: {trace}"
        )
    for past in request.get("history", [])[-5:]:
        parts.append(f"Earlier proposal {past['version']}: {past['outcome']}. Reviewer: {past['comment']}")
    return "\n\n".join(parts)


def own_source() -> list:
    """The files of the self worth showing the model (its code, prompts and settings)."""
    here = pathlib.Path(".")
    files = sorted(here.glob("*.py")) + sorted(here.glob("prompts/*")) + [here / "settings.toml"]
    return [path for path in files if path.name != "llm.py"]


def rationale(reply: str) -> str:
    match = re.search(r"Rationale:\s*(.+)", reply)
    return match.group(1).strip() if match else reply.strip().split("\n")[0][:300]
