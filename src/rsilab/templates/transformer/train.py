"""The training recipe: from scratch on the original range, or refining on self-labelled data.

Settings come from recipe.toml (part of the self). Labels are whatever the harness
hands in: ground truth for the original range, the self's own outputs beyond it.
"""

import math
import random
import time

import torch

from data import batch
from model import Transformer


def train(
    model: Transformer, examples: list[tuple[str, str]], settings: dict, seed: int, device: str
) -> dict:
    """AdamW with warm-up and cosine decay on minibatches drawn from `examples`."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    steps, size, lr = settings["steps"], settings["batch"], settings["lr"]
    warmup = max(1, int(steps * settings.get("warmup", 0.05)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=settings.get("weight_decay", 0.1), betas=(0.9, 0.98))
    # Train every position id up to the longest number seen plus a little slack: ids past that
    # stay untrained, which is what bounds the lengths the model can add.
    longest = max(len(part) for q, a in examples for part in (*q.split("+"), a))
    max_position = min(model.config["positions"] - 1, longest + 1 + settings.get("position_slack", 0))
    model.train()
    started, losses = time.monotonic(), []
    for step in range(steps):
        scale = (step + 1) / warmup if step < warmup else 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))
        for group in optimizer.param_groups:
            group["lr"] = lr * max(scale, settings.get("min_lr_fraction", 0.1))
        tokens, positions, mask = batch([examples[rng.randrange(len(examples))] for _ in range(size)], rng, max_position)
        tokens, positions, mask = tokens.to(device), positions.to(device), mask.to(device)
        logits = model(tokens[:, :-1], positions[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits[mask[:, :-1]], tokens[:, 1:][mask[:, :-1]])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    tail = losses[-50:]
    return {"steps": steps, "examples": len(examples), "max_position": max_position, "final_loss": sum(tail) / len(tail), "seconds": time.monotonic() - started}
