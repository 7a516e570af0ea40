"""The self's data strategy: which weakness to work on, and how a problem is put to the model.

Pure Python (no torch): the harness's `plan` call runs this alone.
"""

import tomllib

with open("recipe.toml", "rb") as _handle:
    RECIPE = tomllib.load(_handle)


def choose_target(report: dict, max_problems: int) -> dict:
    """The weakest (family, difficulty) cell that is not hopeless: the self must get some right to learn.

    `report` maps family → difficulty (as a string) → held-out accuracy on the dev split.
    """
    settings = RECIPE["data"]
    cells = [(acc, family, int(d)) for family, by in report.items() for d, acc in by.items()]
    learnable = [c for c in cells if c[0] >= settings["min_accuracy"] and c[0] < 1.0] or cells
    accuracy, family, difficulty = min(learnable)
    return {"family": family, "difficulty": difficulty, "problems": min(settings["problems"], max_problems),
            "samples": settings["samples"], "why": f"{family} at difficulty {difficulty}: {accuracy:.0%} on dev"}


def messages(question: str) -> list[dict]:
    return [{"role": "system", "content": RECIPE["data"]["system"]}, {"role": "user", "content": question}]


def prompt(tokenizer, question: str) -> str:
    return tokenizer.apply_chat_template(messages(question), tokenize=False, add_generation_prompt=True)
