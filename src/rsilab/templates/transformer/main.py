"""Entry point the harness calls inside the sandbox: `python main.py train|answer|generate IN OUT`.

The interface is a contract: read JSON from IN, write JSON to OUT; weights come in and
go out as safetensors files named in the request. The harness never gives targets for
new problems: it scores answers and filters labels itself.
"""

import json
import sys
import tomllib
from collections import defaultdict

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import data
from model import Transformer
from train import train

with open("recipe.toml", "rb") as _handle:
    RECIPE = tomllib.load(_handle)


def main(argv: list[str]) -> int:
    command, source, target = argv[1:4]
    with open(source, encoding="utf-8") as handle:
        request = json.load(handle)
    device = pick_device(request.get("device", "auto"))
    if device == "cpu":  # a model this small runs its matrices faster on one thread than fighting over two
        torch.set_num_threads(RECIPE["cpu_threads"])
    if command == "train":
        result = train_command(request, device)
    elif command == "answer":  # one column of answers per weights file
        result = {"answers": [answer(load(w, device), request["questions"], device) for w in request["weights"]]}
    elif command == "generate":
        result = generate_command(request, device)
    else:
        print(f"unknown command {command!r}", file=sys.stderr)
        return 2
    with open(target, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return 0


def train_command(request: dict, device: str) -> dict:
    """Pretrain from scratch (no `init` weights) or refine: kept self-labels mixed with replay."""
    if request.get("init"):
        model, settings = load(request["init"], device), RECIPE["refine"]
        kept = [tuple(e) for e in request["examples"]]
        replay = [tuple(e) for e in request["replay"]]
        # Oversample the scarce new data so each minibatch holds a fixed share of it.
        share = settings["new_data_share"] if kept else 0.0
        copies = max(1, round(share * len(replay) / max(1, (1 - share) * len(kept)))) if kept else 0
        examples = kept * copies + replay
    else:  # seeded before the model exists: its initial weights come from the same generator
        torch.manual_seed(request["seed"])
        model, settings = Transformer(**RECIPE["model"]).to(device), RECIPE["pretrain"]
        examples = [tuple(e) for e in request["replay"]]
    stats = train(model, examples, settings, request["seed"], device)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, request["output"],
              metadata={"config": json.dumps(model.config)})
    return {"weights": request["output"], "stats": stats}


def generate_command(request: dict, device: str) -> dict:
    """Label new problems where the self is weak: at its frontier and just past it."""
    model = load(request["weights"], device)
    questions = data.frontier_questions(request["frontier"], request["n"], RECIPE["generate"], request["seed"])
    return {"examples": [[q, a] for q, a in zip(questions, answer(model, questions, device))]}


def answer(model: Transformer, questions: list[str], device: str) -> list[str]:
    """Greedy answers, decoded in batches of equal prompt length."""
    groups: dict[int, list[int]] = defaultdict(list)
    prompts = [data.encode(data.prompt_text(q)) for q in questions]
    for i, p in enumerate(prompts):
        groups[len(p)].append(i)
    answers = [""] * len(questions)
    for length, members in groups.items():
        for start in range(0, len(members), 1024):
            chunk = members[start : start + 1024]
            tokens = torch.tensor([prompts[i] for i in chunk], device=device)
            positions = torch.tensor([data.prompt_positions(questions[i]) for i in chunk], device=device)
            out = model.complete(tokens, positions, max_new=length // 2 + 3).tolist()
            for i, row in zip(chunk, out):
                answers[i] = data.decode_answer(row)
    return answers


def load(path: str, device: str) -> Transformer:
    with safe_open(path, framework="pt") as handle:
        config = json.loads(handle.metadata()["config"])
    model = Transformer(**config)
    model.load_state_dict(load_file(path))
    return model.to(device).eval()


def pick_device(wanted: str) -> str:
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return wanted


if __name__ == "__main__":
    sys.exit(main(sys.argv))
