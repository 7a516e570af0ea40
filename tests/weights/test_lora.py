"""LoRA adapters on a tiny, randomly initialised Hugging Face causal LM saved locally (no hub)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("peft", reason="needs the `lora` extra")
pytest.importorskip("transformers", reason="needs the `lora` extra")

from safetensors import safe_open  # noqa: E402

from rsilab.weights.lora import ADAPTER_FILE, AdapterSettings, complete, train_adapter  # noqa: E402

CHARS = "0123456789+="


def _tiny_base(path: Path) -> Path:
    """A 2-layer Llama with a character-level tokenizer, written with save_pretrained."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, **{ch: i + 2 for i, ch in enumerate(CHARS)}}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<pad>"))
    core.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64, 
                         initializer_range=0.3,  # large enough that a frozen random base carries signal
                         pad_token_id=0, eos_token_id=1, bos_token_id=1)
    LlamaForCausalLM(config).save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


def adapter_size(directory: Path, key: str) -> int:
    with safe_open(directory / ADAPTER_FILE, framework="pt") as adapter:
        return adapter.get_tensor(key).numel()


@pytest.mark.slow
def test_lora_adapter_learns_a_task_on_a_local_base_and_only_the_adapter_is_saved(tmp_path: Path):
    base = _tiny_base(tmp_path / "base")
    examples = [(f"{a}+{b}=", str(a + b)) for a in range(4) for b in range(4)]
    settings = AdapterSettings(rank=8, alpha=32, steps=60, batch=16, lr=1e-2, target_modules=("q_proj", "v_proj", "o_proj", "up_proj", "down_proj"))

    before = complete(base, None, [p for p, _ in examples], max_new_tokens=2)
    result = train_adapter(base, examples, tmp_path / "adapter", settings)
    after = complete(base, result.adapter_dir, [p for p, _ in examples], max_new_tokens=2)

    right_before = sum(a == c for a, (_, c) in zip(before, examples))
    right_after = sum(a == c for a, (_, c) in zip(after, examples))
    assert result.final_loss < result.first_loss / 3
    assert right_after >= right_before + 8, (before, after)
    assert result.trainable_parameters < result.total_parameters / 3  # an adapter, not a full fine-tune
    with safe_open(result.adapter_dir / ADAPTER_FILE, framework="pt") as adapter:
        keys = list(adapter.keys())
    assert keys and all("lora_" in key for key in keys)  # only the adapter is saved, never the base
    assert sum(adapter_size(result.adapter_dir, k) for k in keys) == result.trainable_parameters
