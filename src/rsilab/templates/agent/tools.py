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


def run_python(code: str, timeout: float) -> str:
    """Run model-written Python in a child process (inside the sandbox); return what it printed."""
    import subprocess  # only when the tool is used: most solve runs never start a child
    import sys

    try:
        done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"timed out after {timeout} s") from None
    if done.returncode:
        raise RuntimeError(done.stderr.strip()[-300:])
    return done.stdout.strip()
