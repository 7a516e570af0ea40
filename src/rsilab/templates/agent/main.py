"""Entry point the harness calls inside the sandbox: `python main.py solve|improve IN OUT`.

This file is part of the self and may be edited by it, but the interface is a
contract checked before any change is accepted: read JSON from IN, write JSON to OUT.
"""

import json
import sys

import improve
import solve


def main(argv: list[str]) -> int:
    command, source, target = argv[1:4]
    with open(source, encoding="utf-8") as handle:
        request = json.load(handle)
    if command == "solve":
        result = {"answers": [solve.solve_task(task) for task in request["tasks"]]}
    elif command == "improve":
        result = improve.improve(request)
    else:
        print(f"unknown command {command!r}", file=sys.stderr)
        return 2
    with open(target, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
