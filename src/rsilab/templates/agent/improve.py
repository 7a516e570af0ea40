"""How the agent improves itself: it shows its model its own files, its failures with
their traces and earlier proposals with their outcome, and returns the model's edits."""

import json
import pathlib
import re

import llm
from solve import SETTINGS

SYSTEM_PROMPT = pathlib.Path("prompts/improve.md").read_text()
# A worked example as its own chat turn: small models copy its form.
EXAMPLE_REQUEST = "File a.py:\nx = 1 +\n\nFailure: SyntaxError"
EXAMPLE_REPLY = "Rationale: finish the sum.\n\na.py\n<<<<<<< SEARCH\nx = 1 +\n=======\nx = 1 + 2\n>>>>>>> REPLACE"


def improve(request: dict) -> dict:
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": EXAMPLE_REQUEST},
        {"role": "assistant", "content": EXAMPLE_REPLY},
        {"role": "user", "content": describe(request)},
    ]
    reply = llm.chat(messages, max_tokens=SETTINGS["improve_max_tokens"])
    rationale = re.search(r"Rationale:\s*(.+)", reply)
    return {"rationale": rationale.group(1) if rationale else reply.strip()[:200], "edits": reply}


def describe(request: dict) -> str:
    here = pathlib.Path(".")
    files = sorted(here.glob("*.py")) + sorted(here.glob("prompts/*")) + [here / "settings.toml"]
    # main.py (the entry point) and llm.py (the broker client) are plumbing: not worth the tokens.
    parts = [f"File {p}:\n{p.read_text()}" for p in files if p.name not in ("main.py", "llm.py")]
    report = request["weakness"]
    groups = [f"{g['family']} level {g['difficulty']}: {g['accuracy']:.0%} of {g['n']}" for g in report["groups"]]
    parts.append(f"Accuracy on dev problems: {report['accuracy']:.0%} ({'; '.join(groups)})")
    for failure in report["failures"]:
        trace = json.dumps(failure["trace"])[:400]
        parts.append(f"Failure: {failure['question']} expected {failure['expected']}, "
                     f"answered {failure['answer']}; trace: {trace}")
    for past in request.get("history", [])[-4:]:
        parts.append(f"Earlier proposal {past['version']}: {past['rationale']} "
                     f"Outcome: {past['outcome']}. Reviewer: {past['comment']}")
        parts += [f"  Error in its edits: {error}" for error in past.get("errors", [])[:3]]
    return "\n\n".join(parts)
