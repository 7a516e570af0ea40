"""The LLM broker, served on a real Unix socket and called by real clients."""

from __future__ import annotations

import importlib.util
import shutil
import socket
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

import rsilab
from rsilab.errors import ProviderError, SandboxError
from rsilab.llm.base import ChatRequest, Completion
from rsilab.llm.scripted import ScriptedProvider
from rsilab.sandbox.broker import (
    CHAT_PATH,
    Broker,
    BrokerHTTPError,
    Budget,
    Prices,
    chat_via_socket,
    request_via_socket,
)
from rsilab.sandbox.process import Limits, ProcessSandbox

AGENT_LLM = Path(rsilab.__file__).parent / "templates" / "agent" / "llm.py"
HELLO = [{"role": "user", "content": "say hello to the world"}]  # 5 words in


class Recording:
    """A provider that answers 'hello there' (2 words) and remembers every request."""

    name = "recording"

    def __init__(self, delay: float = 0.0) -> None:
        self.requests: list[ChatRequest] = []
        self.delay = delay
        self._inner = ScriptedProvider([{"match": "", "responses": ["hello there"]}])

    def complete(self, request: ChatRequest) -> Completion:
        self.requests.append(request)
        time.sleep(self.delay)
        return self._inner.complete(request)


class Failing:
    name = "flaky-upstream"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def complete(self, request: ChatRequest) -> Completion:
        raise self.error


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    # Short path: pytest's tmp_path can exceed the 108-byte limit of a Unix socket path.
    path = Path(tempfile.mkdtemp(prefix="rb-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def serve(socket_dir: Path) -> Iterator[Callable[..., Broker]]:
    started: list[Broker] = []

    def start(provider: object, **options: object) -> Broker:
        broker = Broker(provider, socket_dir / f"b{len(started)}" / "llm.sock", **options)  # type: ignore[arg-type]
        broker.start()
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()


def status_of(call: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises(BrokerHTTPError) as caught:
        call()
    return caught.value.status, caught.value.type


def load_agent_llm() -> ModuleType:
    spec = importlib.util.spec_from_file_location("agent_llm", AGENT_LLM)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the self's client -------------------------------------------------------------------


def test_self_client_round_trip_from_a_sandboxed_subprocess(serve: Callable[..., Broker], tmp_path: Path) -> None:
    provider = Recording()
    broker = serve(provider)
    shutil.copy(AGENT_LLM, tmp_path / "llm.py")
    (tmp_path / "ask.py").write_text(
        "import llm\n"
        "print(llm.chat([{'role': 'user', 'content': 'say hello to the world'}], max_tokens=64, temperature=0.5, task='t-7'))\n"
    )
    result = ProcessSandbox().run(
        [sys.executable, "-E", "-s", "ask.py"], tmp_path, limits=Limits(wall_seconds=30),
        env={"RSILAB_LLM_SOCKET": str(broker.socket_path)},
    )
    assert result.ok, result.stderr
    assert result.stdout == "hello there\n"
    assert (provider.requests[0].max_tokens, provider.requests[0].temperature) == (64, 0.5)
    assert broker.usage_for("t-7").calls == 1 and broker.usage.tokens_out == 2


def test_self_client_raises_runtime_error_carrying_the_brokers_message(
    serve: Callable[..., Broker], monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = serve(Recording(), budget=Budget(max_calls=0))
    monkeypatch.setenv("RSILAB_LLM_SOCKET", str(broker.socket_path))
    with pytest.raises(RuntimeError, match=r"429 \(budget_exceeded\): call budget spent"):
        load_agent_llm().chat(HELLO)


def test_self_client_without_socket_variable_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RSILAB_LLM_SOCKET", raising=False)
    with pytest.raises(RuntimeError, match="RSILAB_LLM_SOCKET is not set"):
        load_agent_llm().chat(HELLO)


# --- the endpoint ------------------------------------------------------------------------


def test_chat_response_has_the_openai_shape(serve: Callable[..., Broker]) -> None:
    broker = serve(Recording())
    response = chat_via_socket(broker.socket_path, HELLO, model="ignored-by-the-broker")
    assert response["object"] == "chat.completion" and response["id"].startswith("chatcmpl-")
    assert response["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": "hello there"}, "finish_reason": "stop"}
    ]
    assert response["usage"] == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    assert response["model"] == "scripted"


def test_models_endpoint_lists_the_harness_provider(serve: Callable[..., Broker]) -> None:
    broker = serve(Recording())
    status, body = request_via_socket(broker.socket_path, "GET", "/v1/models")
    assert status == 200 and [m["id"] for m in body["data"]] == ["recording"]


def test_unknown_path_is_404(serve: Callable[..., Broker]) -> None:
    broker = serve(Recording())
    status, body = request_via_socket(broker.socket_path, "POST", "/v1/embeddings", b"{}")
    assert status == 404 and body["error"]["type"] == "not_found"


def test_usage_counts_calls_tokens_and_dollars(serve: Callable[..., Broker]) -> None:
    broker = serve(Recording(), prices=Prices(dollars_per_million_in=1_000_000, dollars_per_million_out=10_000_000))
    for _ in range(3):
        chat_via_socket(broker.socket_path, HELLO)
    usage = broker.usage
    assert (usage.calls, usage.tokens_in, usage.tokens_out) == (3, 15, 6)
    assert usage.dollars == pytest.approx(3 * (5 * 1.0 + 2 * 10.0))
    assert [(c.tokens_in, c.tokens_out, c.error) for c in broker.calls] == [(5, 2, None)] * 3


def test_usage_is_attributed_to_the_task_named_in_the_header(serve: Callable[..., Broker]) -> None:
    broker = serve(Recording())
    for task in ("a", "a", "b", None):
        chat_via_socket(broker.socket_path, HELLO, task=task)
    assert (broker.usage_for("a").calls, broker.usage_for("a").tokens_in) == (2, 10)
    assert broker.usage_for("b").calls == 1
    assert broker.usage_for("never-named").calls == 0
    assert broker.usage.calls == 4
    assert [c.task for c in broker.calls] == ["a", "a", "b", None]


def test_reset_zeroes_usage_and_restores_the_budget(serve: Callable[..., Broker]) -> None:
    broker = serve(Recording(), budget=Budget(max_calls=1))
    chat_via_socket(broker.socket_path, HELLO, task="a")
    broker.reset()
    assert broker.usage.calls == 0 and broker.usage_for("a").calls == 0 and broker.calls == []
    chat_via_socket(broker.socket_path, HELLO)  # the budget is available again
    assert broker.usage.calls == 1



def test_a_call_in_flight_during_reset_is_not_charged_to_the_next_candidate(serve: Callable[..., Broker]) -> None:
    provider = Recording(delay=0.3)
    broker = serve(provider)
    caller = threading.Thread(target=chat_via_socket, args=(broker.socket_path, HELLO))
    caller.start()
    while not provider.requests:  # wait until the provider is working on it
        time.sleep(0.01)
    broker.reset()
    caller.join()
    assert broker.usage.calls == 0 and broker.calls == []

# --- budgets -----------------------------------------------------------------------------


def test_call_budget_spent_is_429_and_the_provider_is_not_called(serve: Callable[..., Broker]) -> None:
    provider = Recording()
    broker = serve(provider, budget=Budget(max_calls=2))
    chat_via_socket(broker.socket_path, HELLO)
    chat_via_socket(broker.socket_path, HELLO)
    assert status_of(lambda: chat_via_socket(broker.socket_path, HELLO)) == (429, "budget_exceeded")
    assert len(provider.requests) == 2 and broker.usage.calls == 2
    assert "budget" in (broker.calls[-1].error or "")


@pytest.mark.parametrize(
    "budget", [Budget(max_tokens=7), Budget(max_dollars=0.5)], ids=["tokens", "dollars"]
)
def test_token_and_dollar_budgets_refuse_calls_once_spent(serve: Callable[..., Broker], budget: Budget) -> None:
    provider = Recording()
    broker = serve(provider, budget=budget, prices=Prices(dollars_per_million_in=100_000))  # $0.50 per call
    chat_via_socket(broker.socket_path, HELLO)  # spends exactly 7 tokens / $0.50
    assert status_of(lambda: chat_via_socket(broker.socket_path, HELLO)) == (429, "budget_exceeded")
    assert len(provider.requests) == 1


def test_per_call_cap_rejects_bigger_requests_and_fills_in_missing_max_tokens(serve: Callable[..., Broker]) -> None:
    provider = Recording()
    broker = serve(provider, budget=Budget(max_tokens_per_call=100))
    assert status_of(lambda: chat_via_socket(broker.socket_path, HELLO, max_tokens=101)) == (429, "budget_exceeded")
    assert provider.requests == []
    chat_via_socket(broker.socket_path, HELLO, max_tokens=50)
    chat_via_socket(broker.socket_path, HELLO)
    assert [r.max_tokens for r in provider.requests] == [50, 100]


def test_concurrent_calls_never_exceed_the_call_budget(serve: Callable[..., Broker]) -> None:
    # A slow provider keeps calls in flight, so a check on finished calls alone would let all 30 through.
    provider = Recording(delay=0.2)
    broker = serve(provider, budget=Budget(max_calls=3))
    statuses: list[int] = []

    def call() -> None:
        try:
            chat_via_socket(broker.socket_path, HELLO)
            statuses.append(200)
        except BrokerHTTPError as e:
            statuses.append(e.status)

    threads = [threading.Thread(target=call) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 3 + [429] * 27
    assert len(provider.requests) == 3 and broker.usage.calls == 3


# --- bad requests never hurt the server ---------------------------------------------------


def test_malformed_json_is_400_and_the_server_still_serves(serve: Callable[..., Broker]) -> None:
    broker = serve(Recording())
    status, body = request_via_socket(broker.socket_path, "POST", CHAT_PATH, b'{"messages": [')
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    assert chat_via_socket(broker.socket_path, HELLO)["choices"][0]["message"]["content"] == "hello there"


@pytest.mark.parametrize(
    "body",
    [
        b"[1, 2]",
        b"\xff\xfe",
        b'{"messages": []}',
        b'{"messages": [{"role": "user"}]}',
        b'{"messages": [{"role": "user", "content": ["parts"]}]}',
        b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": "lots"}',
        b'{"messages": [{"role": "user", "content": "x"}], "stream": true}',
        b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # nested past any parser's stack
        b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 1' + b"0" * 5000 + b"}",
        b'{"messages": [{"role": "user", "content": "x"}], "temperature": NaN}',
    ],
)
def test_request_of_the_wrong_shape_is_400_and_never_reaches_the_provider(
    serve: Callable[..., Broker], body: bytes
) -> None:
    provider = Recording()
    broker = serve(provider)
    status, payload = request_via_socket(broker.socket_path, "POST", CHAT_PATH, body)
    assert status == 400 and payload["error"]["message"]
    assert provider.requests == []


def test_oversize_body_is_413_and_never_reaches_the_provider(serve: Callable[..., Broker]) -> None:
    provider = Recording()
    broker = serve(provider, max_request_bytes=1000)
    big = [{"role": "user", "content": "word " * 400}]
    assert status_of(lambda: chat_via_socket(broker.socket_path, big)) == (413, "request_too_large")
    assert provider.requests == []
    chat_via_socket(broker.socket_path, HELLO)  # small requests still pass


def test_body_without_content_length_is_refused(serve: Callable[..., Broker]) -> None:
    provider = Recording()
    broker = serve(provider)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(broker.socket_path))
        sock.sendall(f"POST {CHAT_PATH} HTTP/1.0\r\nContent-Type: application/json\r\n\r\n".encode())
        sock.shutdown(socket.SHUT_WR)
        reply = b"".join(iter(lambda: sock.recv(4096), b""))
    assert reply.split()[1] == b"411"
    assert provider.requests == []


# --- provider failures --------------------------------------------------------------------


def test_provider_exception_is_502_naming_the_provider_without_its_secrets(serve: Callable[..., Broker]) -> None:
    broker = serve(Failing(ConnectionError("401 from upstream, Authorization: Bearer sk-live-abcdef123456")))
    with pytest.raises(BrokerHTTPError) as caught:
        chat_via_socket(broker.socket_path, HELLO)
    assert (caught.value.status, caught.value.type) == (502, "provider_error")
    assert "flaky-upstream" in caught.value.message
    assert "sk-live" not in caught.value.message and "Bearer" not in caught.value.message
    assert broker.usage.calls == 0
    # the server survives: a second request is answered too
    assert status_of(lambda: chat_via_socket(broker.socket_path, HELLO))[0] == 502


def test_provider_error_message_is_passed_on_with_keys_redacted(serve: Callable[..., Broker]) -> None:
    broker = serve(Failing(ProviderError("rate limited for api_key=sk-abcdef123456, retry later")))
    with pytest.raises(BrokerHTTPError) as caught:
        chat_via_socket(broker.socket_path, HELLO)
    assert "rate limited" in caught.value.message and "retry later" in caught.value.message
    assert "sk-abcdef" not in caught.value.message


# --- the socket ---------------------------------------------------------------------------


def test_socket_is_world_writable_and_removed_on_stop(socket_dir: Path) -> None:
    path = socket_dir / "new-dir" / "llm.sock"
    with Broker(Recording(), path) as broker:
        mode = path.stat().st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o666
        chat_via_socket(broker.socket_path, HELLO)
    assert not path.exists() and not path.parent.exists()  # the dir it made goes too


def test_a_second_broker_cannot_take_over_a_live_socket(serve: Callable[..., Broker]) -> None:
    broker = serve(Recording())
    with pytest.raises(SandboxError, match="another process is serving"):
        Broker(Recording(), broker.socket_path).start()
    chat_via_socket(broker.socket_path, HELLO)  # the first broker still answers


def test_a_stale_socket_file_is_replaced(socket_dir: Path) -> None:
    path = socket_dir / "llm.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens
    with Broker(Recording(), path) as broker:
        assert chat_via_socket(broker.socket_path, HELLO)["choices"][0]["message"]["content"] == "hello there"



def test_the_harness_seeds_every_sampled_call_and_the_self_cannot_choose_the_seed(socket_dir: Path):
    import json

    provider = Recording()
    body = json.dumps({"messages": HELLO, "temperature": 0.8, "seed": 42}).encode()  # the self asks for seed 42
    with Broker(provider, socket_dir / "llm.sock") as broker:
        def run(seed: int) -> list[int | None]:
            broker.reset(seed)
            before = len(provider.requests)
            broker.chat(body, "t0")
            broker.chat(body, "t0")  # the same request again in one run samples afresh
            return [r.seed for r in provider.requests[before:]]

        first, again, other = run(7), run(7), run(8)
    assert 42 not in first + other
    assert first == again and first[0] != first[1]  # a replay of the run asks with the same seeds
    assert set(first).isdisjoint(other)


class Blocking:
    """A provider whose calls wait until released, so connections stay open on purpose."""

    name = "blocking"

    def __init__(self) -> None:
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()

    def complete(self, request: ChatRequest) -> Completion:
        self.entered.release()
        self.release.wait(60)
        return Completion(text="done", tokens_in=1, tokens_out=1, model="blocking")


def test_with_no_budget_a_call_may_not_ask_for_more_than_the_default_ceiling(serve: Callable[..., Broker]):
    from rsilab.sandbox.broker import DEFAULT_MAX_TOKENS_PER_CALL

    provider = Recording()
    broker = serve(provider)
    with pytest.raises(BrokerHTTPError, match=f"over the per-call limit of {DEFAULT_MAX_TOKENS_PER_CALL}") as refused:
        chat_via_socket(broker.socket_path, HELLO, max_tokens=DEFAULT_MAX_TOKENS_PER_CALL + 1)
    assert refused.value.status == 429 and provider.requests == []  # refused before any spend
    chat_via_socket(broker.socket_path, HELLO, max_tokens=DEFAULT_MAX_TOKENS_PER_CALL)
    assert provider.requests[0].max_tokens == DEFAULT_MAX_TOKENS_PER_CALL


def test_connections_beyond_the_cap_are_answered_503_without_a_thread_each(serve: Callable[..., Broker]):
    provider = Blocking()
    broker = serve(provider, max_connections=3)
    answers: list[dict] = []
    held = [threading.Thread(target=lambda: answers.append(chat_via_socket(broker.socket_path, HELLO, timeout=60)))
            for _ in range(3)]
    for thread in held:
        thread.start()
    for _ in held:
        assert provider.entered.acquire(timeout=30)  # all three are inside the provider now
    threads_before = threading.active_count()
    with pytest.raises(BrokerHTTPError) as refused:
        chat_via_socket(broker.socket_path, HELLO, timeout=30)
    assert refused.value.status == 503 and "at most 3 connections" in refused.value.message
    assert threading.active_count() == threads_before
    provider.release.set()
    for thread in held:
        thread.join(30)
    assert [a["choices"][0]["message"]["content"] for a in answers] == ["done"] * 3
    assert chat_via_socket(broker.socket_path, HELLO)["choices"][0]["message"]["content"] == "done"  # slots freed
    assert any(c.error and "too_many_connections" in c.error for c in broker.calls)
