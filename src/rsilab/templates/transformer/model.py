"""A small decoder-only transformer whose positions are coupled to digit significance.

Each digit's position id is its place in its number (units = 1, tens = 2, ...), for both
operands and the answer (position coupling, Cho et al. 2024; abacus embeddings, McLeish
et al. 2024), so the digits to add share an id and attention finds them by matching.
With the default "rope" encoding, attention sees only differences of ids (rotary
embeddings over the coupled ids) and carries over partly to numbers longer than any it
was trained on; how far is its frontier, and training on longer numbers moves it.
No other positional signal: 0.15 M parameters at width 64 and 3 layers.
Part of the self: it may change this.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

VOCAB = "0123456789+=$#^"  # digits, plus, equals, end of answer, padding, start
PAD = VOCAB.index("#")
END = VOCAB.index("$")


class Block(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor, rotary: torch.Tensor | None, cache: list | None = None) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        if rotary is not None:
            q, k = _rotate(q, rotary), _rotate(k, rotary)
        if cache is not None:  # incremental decoding: keys and values of earlier tokens are kept
            if cache:
                k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
            cache[:] = [k, v]
        causal = t > 1  # one new token attends to everything before it
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    def __init__(self, width: int = 64, layers: int = 3, heads: int = 4, positions: int = 128, encoding: str = "learned") -> None:
        super().__init__()
        self.config = {"width": width, "layers": layers, "heads": heads, "positions": positions, "encoding": encoding}
        self.encoding = encoding
        self.embed = nn.Embedding(len(VOCAB), width)
        self.position = nn.Embedding(positions, width) if encoding == "learned" else None
        self.head_dim = width // heads
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, len(VOCAB), bias=False)
        self.apply(_init)
        for name, p in self.named_parameters():  # GPT-2's scaled init of residual projections
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * layers))

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor, caches: list | None = None) -> torch.Tensor:
        x = self.embed(tokens)
        rotary = None
        if self.position is not None:
            x = x + self.position(positions)
        elif self.encoding == "sinusoidal":
            x = x + _sinusoid(positions, x.shape[-1])
        else:  # rope: attention sees only differences of coupled ids
            rotary = _sinusoid(positions, self.head_dim)[:, None]
        for i, block in enumerate(self.blocks):
            x = block(x, rotary, None if caches is None else caches[i])
        return self.head(self.norm(x))

    @torch.no_grad()
    def complete(self, prompts: torch.Tensor, positions: torch.Tensor, max_new: int) -> torch.Tensor:
        """Greedy continuation of equal-length prompts, up to `max_new` tokens each.

        The j-th answer token has position id j + 1 (the prompt's "=" has 1), capped at the table.
        """
        caches: list = [[] for _ in self.blocks]
        logits = self(prompts, positions, caches)[:, -1]
        out = []
        last = self.config["positions"] - 1
        for j in range(1, max_new + 1):
            nxt = logits.argmax(-1)
            out.append(nxt)
            if bool((torch.stack(out, 1) == END).any(1).all()):
                break
            ids = torch.full_like(nxt, min(j + 1, last))[:, None]
            logits = self(nxt[:, None], ids, caches)[:, -1]
        return torch.stack(out, 1)


def _sinusoid(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Angles-as-features for each position id: cos in the first half, sin in the second."""
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(0, dim, 2, device=positions.device) / dim)
    angles = positions[..., None].float() * freqs
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


def _rotate(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    cos, sin = table[..., :half], table[..., half:]
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def _init(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
