"""How the agent solves a problem. Returns its answer and a trace of the steps it took."""

import re
import tomllib

import llm
import tools

with open("settings.toml", "rb") as _handle:
    SETTINGS = tomllib.load(_handle)
with open("prompts/solve.md", encoding="utf-8") as _handle:
    SYSTEM_PROMPT = _handle.read()

_PLAIN_ARITHMETIC = re.compile(r"^\s*(?:compute|calculate|what is)?\s*([\d\s+\-*]+?)\s*[?.]?\s*$", re.I)
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


def solve_task(task: dict) -> dict:
    trace = []
    answer = solve(task["question"], task["id"], trace)
    return {"id": task["id"], "answer": answer, "trace": trace, "steps": len(trace)}


def solve(question: str, task_id: str, trace: list) -> str:
    match = _PLAIN_ARITHMETIC.match(question)
    if SETTINGS["use_calculator"] and match:
        expression = match.group(1)
        result = tools.calculate(expression)
        trace.append({"step": "calculator", "input": expression, "output": result})
        return str(result)
    reply = llm.chat(
        [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": question}],
        max_tokens=SETTINGS["max_tokens"],
        task=task_id,
    )
    trace.append({"step": "model", "output": reply[-500:]})
    answer = extract_answer(reply)
    trace.append({"step": "extract", "output": answer})
    return answer


def extract_answer(reply: str) -> str:
    """The last \\boxed{} answer, else the last number, else the last line."""
    boxed = _BOXED.findall(reply)
    if boxed:
        return boxed[-1].strip()
    numbers = re.findall(r"-?\d+(?:\.\d+)?", reply)
    if numbers:
        return numbers[-1]
    lines = [line for line in reply.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
