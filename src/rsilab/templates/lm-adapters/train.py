"""The self's model code: load the read-only base, answer, sample, and train a LoRA adapter (PyTorch + PEFT)."""

import json
import random
import time
import tomllib

import peft
import torch
import transformers
from safetensors import safe_open
from safetensors.torch import save_file

import data

with open("recipe.toml", "rb") as _handle:
    RECIPE = tomllib.load(_handle)
DEVICE = "cpu"


def setup(wanted: str, threads: int) -> None:
    global DEVICE
    DEVICE = ("cuda" if torch.cuda.is_available() else "cpu") if wanted == "auto" else wanted
    if DEVICE == "cpu":
        torch.set_num_threads(threads)
    transformers.logging.set_verbosity_error()


def load_base(base: str, dtype: str = "bfloat16"):
    tokenizer = transformers.AutoTokenizer.from_pretrained(base, local_files_only=True)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = transformers.AutoModelForCausalLM.from_pretrained(base, local_files_only=True, dtype=getattr(torch, dtype))
    # generate() feeds lm_head the last position's hidden state, a strided slice. On a CPU, torch's
    # bfloat16 linear of a strided input by a weight that needs no grad (PEFT freezes the base) takes
    # a slow path: 9 s instead of 18 ms for 16 rows of the 0.5B, so answering with an adapter ran ~4x
    # slower than without. A contiguous input takes the fast one.
    model.get_output_embeddings().register_forward_pre_hook(lambda module, args: (args[0].contiguous(), *args[1:]))
    return tokenizer, model.to(DEVICE)


def with_adapter(model, path: str | None):
    """The base with the adapter in `path` applied (its LoRA settings are in the file's metadata)."""
    if path is None:
        return model
    with safe_open(path, framework="pt") as handle:
        settings = json.loads(handle.metadata()["lora"])
        # In the base's dtype, so no layer computes in float32 (with an adapter, answering ran ~4x slower).
        state = {k: handle.get_tensor(k).to(model.dtype) for k in handle.keys()}
    lora = peft.get_peft_model(model, peft.LoraConfig(task_type="CAUSAL_LM", **settings))
    peft.set_peft_model_state_dict(lora, state)
    return lora


def answer(base: str, adapters: dict, questions: list[dict]) -> list[str]:
    tokenizer, model = load_base(base)
    out = [""] * len(questions)
    by_family: dict = {}
    for i, q in enumerate(questions):
        by_family.setdefault(q["family"] if q["family"] in adapters else None, []).append(i)
    for family, members in by_family.items():
        routed = with_adapter(model, adapters.get(family) if family else None)
        texts = generate(tokenizer, routed, [questions[i]["question"] for i in members], greedy=True)
        for i, text in zip(members, texts):
            out[i] = text
        model = routed.unload() if routed is not model else model  # back to the bare base
    return out


def sample(base: str, adapter: str | None, questions: list[str], k: int, seed: int) -> list[list[str]]:
    torch.manual_seed(seed)
    tokenizer, model = load_base(base)
    model = with_adapter(model, adapter)
    flat = generate(tokenizer, model, [q for q in questions for _ in range(k)], greedy=False)
    return [flat[i * k:(i + 1) * k] for i in range(len(questions))]


@torch.no_grad()
def generate(tokenizer, model, questions: list[str], greedy: bool) -> list[str]:
    settings = RECIPE["generate"]
    model.eval()
    texts = []
    for start in range(0, len(questions), settings["batch"]):
        prompts = [data.prompt(tokenizer, q) for q in questions[start:start + settings["batch"]]]
        batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(DEVICE)
        options = {"do_sample": False} if greedy else {"do_sample": True, "temperature": RECIPE["data"]["temperature"], "top_p": 1.0}
        # Each answer ends at the brace that closes its \boxed{}: a batch stops when every row has answered.
        out = model.generate(**batch, max_new_tokens=settings["max_new_tokens"], pad_token_id=tokenizer.pad_token_id,
                             stop_strings=settings["stop_strings"], tokenizer=tokenizer, **options)
        texts += tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    return texts


def fit(base: str, init: str | None, examples: list[list[str]], seed: int, output: str) -> dict:
    """Train this family's adapter (continuing from `init` when it has one) on the kept answers."""
    settings, lora = RECIPE["train"], RECIPE["lora"]
    torch.manual_seed(seed)
    tokenizer, model = load_base(base, settings["dtype"])
    if settings["gradient_checkpointing"]:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    config = {"r": lora["rank"], "lora_alpha": lora["alpha"], "lora_dropout": lora["dropout"],
              "target_modules": lora["target_modules"]}
    model = with_adapter(model, init) if init else peft.get_peft_model(model, peft.LoraConfig(task_type="CAUSAL_LM", **config))
    for name, p in model.named_parameters():
        if "lora_" in name:
            p.requires_grad_(True)
            p.data = p.data.float()  # adapter weights and their optimizer state in float32
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=settings["lr"])
    rows = [_row(tokenizer, q, a) for q, a in examples]
    rng, losses, tokens, started = random.Random(seed), [], 0, time.time()
    model.train()
    for _ in range(settings["epochs"]):
        rng.shuffle(rows)
        for start in range(0, len(rows), settings["batch"]):
            ids, labels, mask = _pad(tokenizer, rows[start:start + settings["batch"]])
            with torch.autocast(DEVICE, dtype=getattr(torch, settings["dtype"]), enabled=settings["dtype"] != "float32"):
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(round(float(loss.item()), 4))
            tokens += int(mask.sum())
    state = {k: v.detach().to(torch.float32).cpu().contiguous() for k, v in peft.get_peft_model_state_dict(model).items()}
    save_file(state, output, metadata={"lora": json.dumps(config)})
    seconds = time.time() - started
    return {"examples": len(rows), "steps": len(losses), "tokens": tokens, "seconds": round(seconds, 1),
            "tokens_per_second": round(tokens / max(seconds, 1e-9), 1), "first_loss": losses[0] if losses else None,
            "last_loss": losses[-1] if losses else None}


def _row(tokenizer, question: str, completion: str) -> tuple[list[int], list[int]]:
    """Prompt then completion; only the completion (and its end token) is learned."""
    p = tokenizer(data.prompt(tokenizer, question), add_special_tokens=False)["input_ids"]
    c = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return p + c, [-100] * len(p) + c


def _pad(tokenizer, rows):
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (width - len(r)) + r for r, _ in rows], device=DEVICE)
    labels = torch.tensor([[-100] * (width - len(lab)) + lab for _, lab in rows], device=DEVICE)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r, _ in rows], device=DEVICE)
    return ids, labels, mask
