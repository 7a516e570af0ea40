"""Tools the agent can use while solving."""

import re

_TOKEN = re.compile(r"\d+|[-+*]")


def calculate(expression: str) -> int:
    """Evaluate an integer expression with + - * (no brackets)."""
    tokens = _TOKEN.findall(expression)
    total = int(tokens[0])
    for operator, number in zip(tokens[1::2], tokens[2::2]):
        value = int(number)
        if operator == "+":
            total += value
        elif operator == "-":
            total -= value
        else:
            total *= value
    return total
