"""Entry point the harness calls inside the sandbox: `python main.py solve|improve IN OUT`.

This file is part of the self and may be edited by it, but the interface is a
contract checked before any change is accepted: read JSON from IN, write JSON to OUT.
While solving, it appends one line per finished task to PROGRESS_FILE, which the
harness shows as a progress bar (and uses for nothing else).
"""

import json
import sys

# improve and solve are imported by the command that needs them: a solve run never loads the
# improver (each run starts a fresh Python).

PROGRESS_FILE = "rsilab_progress.txt"


def main(argv: list[str]) -> int:
    command, source, target = argv[1:4]
    with open(source, encoding="utf-8") as handle:
        request = json.load(handle)
    if command == "solve":
        result = {"answers": solve_all(request["tasks"])}
    elif command == "improve":
        import improve

        result = improve.improve(request)
    else:
        print(f"unknown command {command!r}", file=sys.stderr)
        return 2
    with open(target, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return 0


def solve_all(tasks: list) -> list:
    import solve

    answers = []
    with open(PROGRESS_FILE, "a", encoding="utf-8") as progress:
        for task in tasks:
            try:
                answers.append(solve.solve_task(task))
            except Exception:  # one failing task must not lose the answers to all the others
                import traceback

                error = traceback.format_exc(limit=3)
                answers.append({"id": task["id"], "answer": None, "trace": [{"step": "error", "output": error}]})
            progress.write(task["id"] + "\n")
            progress.flush()
    return answers


if __name__ == "__main__":
    sys.exit(main(sys.argv))
