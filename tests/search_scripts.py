"""The demo's scripted model re-keyed for a search: four candidates a round, one of them the real fix."""

from __future__ import annotations

from conftest import demo_config

# The demo's scripted replies, re-keyed by the "(Attempt k of 4.)" line the template's improver adds:
# a protected edit, a breaking edit, the real fix, and a harmless edit that fixes nothing.
ATTEMPTS = {
    "You improve an AI agent": "Attempt 1 of 4",
    "Earlier proposal v2": "Attempt 2 of 4",
    "Earlier proposal v3": "Attempt 3 of 4",
}
HARMLESS = """[[llm.rules]]
match = "Attempt 4 of 4"
responses = ['''Rationale: name the first number before folding the rest into it.

tools.py
<<<<<<< SEARCH
    total = int(tokens[0])
=======
    total = int(tokens[0])  # the first number starts the running total
>>>>>>> REPLACE
''']

"""


def search_config(candidates: int = 4, parent: str = "deployed", acceptance: str = "confirm") -> str:
    text = demo_config()
    for old, new in ATTEMPTS.items():
        text = text.replace(f'match = "{old}"', f'match = "{new}"')
    first_rule = text.index("[[llm.rules]]")
    text = text[:first_rule] + HARMLESS + text[first_rule:]
    return text + f'\n[search]\ncandidates = {candidates}\nparent = "{parent}"\nworkers = 2\nacceptance = "{acceptance}"\n'
