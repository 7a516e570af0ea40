"""Entry point the harness calls inside the sandbox: `python main.py plan|answer|generate|train IN OUT`.

The contract: JSON in, JSON out. The base model is a read-only folder named in the request;
adapters come in and go out as safetensors files (one per task family). The harness poses
every problem and scores every answer: the self never sees a target.
"""

import json
import resource
import sys
import tomllib

import data

with open("recipe.toml", "rb") as _handle:
    RECIPE = tomllib.load(_handle)


def main(argv: list[str]) -> int:
    command, source, target = argv[1:4]
    with open(source, encoding="utf-8") as handle:
        request = json.load(handle)
    if command == "plan":  # no model: which weakness to work on, from the harness's report
        result = data.choose_target(request["report"], request["max_problems"])
    elif command in {"answer", "generate", "train"}:
        import train  # torch and transformers load only for the commands that need them

        train.setup(request.get("device", "auto"), RECIPE["cpu_threads"])
        if command == "answer":  # greedy, each family's questions through that family's adapter
            result = {"answers": train.answer(request["base"], request["adapters"], request["questions"])}
        elif command == "generate":  # k sampled answers per problem: the candidates for training data
            result = {"samples": train.sample(request["base"], request.get("adapter"), request["questions"],
                                              request["samples"], request["seed"])}
        else:
            result = {"stats": train.fit(request["base"], request.get("init"), request["examples"],
                                         request["seed"], request["output"])}
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    else:
        print(f"unknown command {command!r}", file=sys.stderr)
        return 2
    with open(target, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
