"""Task-specific LoRA adapters on a Hugging Face causal LM given local weights (extra `lora`).

The base model is read from a local directory only (no hub access); only the adapter is
trained and saved (safetensors), so a version of such a self is its code plus the hash of
a small adapter file. Runs on CUDA when present, else on the CPU, with the same code.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsilab.errors import RsilabError

ADAPTER_FILE = "adapter_model.safetensors"


@dataclass(frozen=True)
class AdapterSettings:
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.0
    steps: int = 100
    batch: int = 16
    lr: float = 3e-3
    seed: int = 0
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")


@dataclass(frozen=True)
class AdapterResult:
    adapter_dir: Path
    first_loss: float
    final_loss: float
    trainable_parameters: int
    total_parameters: int


def train_adapter(
    base_dir: Path, examples: Sequence[tuple[str, str]], out_dir: Path, settings: AdapterSettings = AdapterSettings()
) -> AdapterResult:
    """Fit a LoRA adapter so the base model completes each prompt with its completion; save it to `out_dir`."""
    torch, transformers, peft = _imports()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(settings.seed)
    tokenizer = _tokenizer(transformers, base_dir)
    base = transformers.AutoModelForCausalLM.from_pretrained(str(base_dir), local_files_only=True).to(device)
    config = peft.LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                             target_modules=list(settings.target_modules), task_type="CAUSAL_LM")
    model = peft.get_peft_model(base, config)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=settings.lr)
    rng = random.Random(settings.seed)
    model.train()
    losses = []
    for _ in range(settings.steps):
        chosen = [examples[rng.randrange(len(examples))] for _ in range(settings.batch)]
        ids, labels, mask = _batch(torch, tokenizer, chosen, device)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.item()))
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    return AdapterResult(out_dir, losses[0], sum(losses[-5:]) / len(losses[-5:]), trainable, total)


def complete(base_dir: Path, adapter_dir: Path | None, prompts: Sequence[str], max_new_tokens: int = 8) -> list[str]:
    """Greedy completions from the base model, with the adapter when one is given."""
    torch, transformers, peft = _imports()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = _tokenizer(transformers, base_dir)
    model = transformers.AutoModelForCausalLM.from_pretrained(str(base_dir), local_files_only=True)
    if adapter_dir is not None:
        model = peft.PeftModel.from_pretrained(model, str(adapter_dir), local_files_only=True)
    model = model.to(device).eval()
    answers = []
    with torch.no_grad():
        for prompt in prompts:
            ids = torch.tensor([tokenizer(prompt)["input_ids"]], device=device)
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                 do_sample=False, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
            answers.append(tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True))
    return answers


def _batch(torch: Any, tokenizer: Any, examples: Sequence[tuple[str, str]], device: str) -> tuple[Any, Any, Any]:
    """Right-padded ids; labels are -100 on the prompt and padding, so only completions are learned."""
    rows = []
    for prompt, completion in examples:
        p = tokenizer(prompt)["input_ids"]
        c = tokenizer(completion)["input_ids"] + [tokenizer.eos_token_id]
        rows.append((p + c, [-100] * len(p) + c))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([r + [pad] * (width - len(r)) for r, _ in rows], device=device)
    labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in rows], device=device)
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r, _ in rows], device=device)
    return ids, labels, mask


def _tokenizer(transformers: Any, base_dir: Path) -> Any:
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(base_dir), local_files_only=True)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _imports() -> tuple[Any, Any, Any]:
    try:
        import peft
        import torch
        import transformers
    except ImportError as exc:
        raise RsilabError(f"LoRA adapters need the `lora` extra: pip install 'rsilab[lora]' ({exc.name} is missing)") from None
    return torch, transformers, peft
