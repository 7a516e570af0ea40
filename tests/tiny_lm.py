"""A tiny real causal LM (Qwen2 architecture, character tokenizer, chat template) for fast lm-adapters tests.

Random weights answer nothing, so it is first taught, here in the test, to answer single-digit
sums and products in `\\boxed{}` for a few hundred steps: right often enough to have verified
answers to learn from, wrong often enough to have room to improve.
"""

from __future__ import annotations

import random
from pathlib import Path

CHAT = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def build(folder: Path, system: str, steps: int = 200, seed: int = 0) -> Path:
    import tokenizers
    import torch
    import transformers
    from tokenizers import decoders, models, pre_tokenizers

    torch.manual_seed(seed)
    # Byte-level BPE without merges: one token per byte, as Qwen2's tokenizer class (which transformers
    # picks for a qwen2 folder, whatever tokenizer_config says) pre-tokenizes.
    vocab = {t: i for i, t in enumerate([*SPECIALS, *sorted(pre_tokenizers.ByteLevel.alphabet())])}
    raw = tokenizers.Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<|endoftext|>"))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.add_special_tokens(SPECIALS)
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<|im_end|>",
                                                     pad_token="<|endoftext|>", chat_template=CHAT)
    config = transformers.Qwen2Config(vocab_size=len(vocab), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                                      tie_word_embeddings=False, eos_token_id=vocab["<|im_end|>"],
                                      pad_token_id=vocab["<|endoftext|>"])
    model = transformers.Qwen2ForCausalLM(config)
    # Train with the tokenizer as the self will load it: transformers picks the class from config.json.
    folder.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    losses = []
    for _ in range(steps):
        rows = []
        for _ in range(16):
            a, b = rng.randint(1, 9), rng.randint(1, 9)
            sign, value = ("+", a + b) if rng.random() < 0.5 else ("*", a * b)
            text = tokenizer.apply_chat_template([{"role": "system", "content": system},
                                                  {"role": "user", "content": f"What is {a} {sign} {b}?"}],
                                                 tokenize=False, add_generation_prompt=True)
            p = tokenizer(text, add_special_tokens=False)["input_ids"]
            c = tokenizer(f"\\boxed{{{value}}}", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            rows.append((p + c, [-100] * len(p) + c))
        width = max(len(r) for r, _ in rows)
        ids = torch.tensor([r + [0] * (width - len(r)) for r, _ in rows])
        labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in rows])
        loss = model(input_ids=ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    model.save_pretrained(str(folder), safe_serialization=True)
    for item in folder.iterdir():
        item.chmod(0o644)
    build.losses = losses  # type: ignore[attr-defined]
    return folder
