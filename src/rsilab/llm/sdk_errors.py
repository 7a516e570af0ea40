"""Turn the official SDKs' exceptions into ours: transient (retried) or not.

The openai and anthropic SDKs share one exception layout (APITimeoutError,
APIConnectionError, APIStatusError with `.status_code` and `.response`), so one
mapping serves both.
"""

from __future__ import annotations

from types import ModuleType

from rsilab.errors import ProviderError, TransientProviderError

TRANSIENT_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504, 529}


def translate(error: Exception, sdk: ModuleType, provider: str, where: str, timeout: float) -> ProviderError:
    """A ProviderError that says what failed and what to do; TransientProviderError if a retry may help."""
    if isinstance(error, sdk.APITimeoutError):  # a subclass of APIConnectionError: test it first
        return TransientProviderError(f"{provider} at {where} did not answer within {timeout:g} s (llm.timeout_seconds)")
    if isinstance(error, sdk.APIConnectionError):
        return TransientProviderError(f"cannot reach {provider} at {where}: {_cause(error)}")
    if isinstance(error, sdk.APIStatusError):
        status, message = error.status_code, _message(error)
        if status in TRANSIENT_STATUSES:
            return TransientProviderError(f"{provider} answered {status}: {message}", _retry_after(error))
        if status in (401, 403):
            return ProviderError(f"{provider} refused the API key ({status}: {message}); "
                                 "check the environment variable named by llm.api_key_env")
        if status == 404:
            return ProviderError(f"{provider} answered 404 ({message}); check llm.base_url and llm.model")
        return ProviderError(f"{provider} refused the request ({status}: {message})")
    return ProviderError(f"{provider} failed: {type(error).__name__}: {error}")


def _message(error: Exception) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"][:500]
    return str(error)[:500]


def _cause(error: Exception) -> str:
    cause = error.__cause__ or error.__context__
    return f"{type(cause).__name__}: {cause}"[:300] if cause else str(error)


def _retry_after(error: Exception) -> float | None:
    response = getattr(error, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from these APIs; fall back to our own backoff
