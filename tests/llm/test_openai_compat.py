"""The openai-compatible provider, through the official SDK, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from llm_server import ChatServer

from rsilab.config import ModelPrice, UsageLimit
from rsilab.errors import BudgetExceeded, ProviderError, TransientProviderError
from rsilab.llm.base import ChatMessage, ChatRequest
from rsilab.llm.guard import GuardedProvider
from rsilab.llm.meter import MeteredProvider
from rsilab.llm.openai_compat import OpenAICompatibleProvider
from rsilab.llm.scripted import ScriptedProvider
from rsilab.records import Usage
from rsilab.sandbox.broker import Broker, BrokerHTTPError, Budget, chat_via_socket

ANSWERS = ScriptedProvider([{"match": "capital of France", "responses": ["Paris"]}, {"match": ".", "responses": ["ok"]}])


def ask(text: str, **params: object) -> ChatRequest:
    return ChatRequest(messages=(ChatMessage(role="user", content=text),), **params)  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer(ANSWERS) as running:
        yield running


def provider_for(server: ChatServer, **options: object) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider("local-model", base_url=f"{server.url}/v1", **options)  # type: ignore[arg-type]


class Sleeps(list[float]):
    """Records backoff waits instead of sleeping them, so retry tests stay fast."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_answer_and_token_counts_come_from_the_server(server: ChatServer):
    completion = provider_for(server).complete(ask("What is the capital of France?", stop=("\n",)))
    assert completion.text == "Paris"
    assert (completion.tokens_in, completion.tokens_out) == (6, 1)  # the server's usage, not a local guess
    sent = server.requests[0]["body"]
    assert sent["model"] == "local-model" and sent["max_tokens"] == 1024 and sent["stop"] == ["\n"]
    assert sent["messages"] == [{"role": "user", "content": "What is the capital of France?"}]


def test_transient_errors_are_retried_with_growing_backoff_until_an_answer(server: ChatServer):
    server.fail(503, times=2)
    sleeps = Sleeps()
    guarded = GuardedProvider(provider_for(server), max_retries=3, backoff_seconds=1.0, sleep=sleeps)
    assert guarded.complete(ask("capital of France")).text == "Paris"
    assert len(server.requests) == 3
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1.0 <= sleeps[1] <= 2.0


def test_a_servers_retry_after_is_honoured(server: ChatServer):
    server.fail(429, retry_after=0.25)
    sleeps = Sleeps()
    GuardedProvider(provider_for(server), sleep=sleeps).complete(ask("hi"))
    assert sleeps == [0.25]


def test_retries_give_up_after_max_retries_and_say_so(server: ChatServer):
    server.fail(500, times=10)
    with pytest.raises(ProviderError, match=r"answered 500.*gave up after 3 attempts"):
        GuardedProvider(provider_for(server), max_retries=2, sleep=Sleeps()).complete(ask("hi"))
    assert len(server.requests) == 3


def test_a_bad_request_is_not_retried(server: ChatServer):
    server.fail(400)
    with pytest.raises(ProviderError, match=r"refused the request \(400") as err:
        GuardedProvider(provider_for(server), sleep=Sleeps()).complete(ask("hi"))
    assert not isinstance(err.value, TransientProviderError)
    assert len(server.requests) == 1


def test_a_wrong_key_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LOCAL_KEY", "wrong")
    with ChatServer(ANSWERS, api_key="right") as server:
        provider = provider_for(server, api_key_env="LOCAL_KEY")
        with pytest.raises(ProviderError, match="refused the API key.*llm.api_key_env"):
            GuardedProvider(provider, sleep=Sleeps()).complete(ask("hi"))
        monkeypatch.setenv("LOCAL_KEY", "right")
        assert provider_for(server, api_key_env="LOCAL_KEY").complete(ask("hi")).text == "ok"
        assert server.requests[-1]["headers"]["authorization"] == "Bearer right"


def test_a_stalled_server_times_out_and_the_retry_gets_the_answer(server: ChatServer):
    server.stall(5.0)
    provider = GuardedProvider(provider_for(server, timeout_seconds=0.5), max_retries=1, backoff_seconds=0.0)
    started = time.monotonic()
    assert provider.complete(ask("capital of France")).text == "Paris"
    assert 0.5 <= time.monotonic() - started < 3.0
    assert len(server.requests) == 2


def test_a_timeout_on_every_attempt_is_reported_with_the_limit(server: ChatServer):
    server.stall(5.0, times=2)
    with pytest.raises(ProviderError, match=r"did not answer within 0.3 s.*gave up after 2 attempts"):
        GuardedProvider(provider_for(server, timeout_seconds=0.3), max_retries=1, backoff_seconds=0.0).complete(ask("hi"))


def test_an_unreachable_server_is_a_transient_error_naming_it():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = OpenAICompatibleProvider("m", base_url=f"http://127.0.0.1:{port}/v1", timeout_seconds=2)
    with pytest.raises(TransientProviderError, match=f"cannot reach openai-compatible at http://127.0.0.1:{port}"):
        provider.complete(ask("hi"))


def test_the_concurrency_limit_caps_calls_in_flight():
    with ChatServer(ANSWERS, latency=0.2) as server:
        guarded = GuardedProvider(provider_for(server), max_concurrency=2)
        threads = [threading.Thread(target=guarded.complete, args=(ask(f"q{i}"),)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(server.requests) == 6
    assert server.max_in_flight == 2


def test_experiment_budget_refuses_the_call_after_it_is_spent_and_prices_tokens(server: ChatServer):
    price = ModelPrice(dollars_per_million_in=3.0, dollars_per_million_out=15.0)
    meter = MeteredProvider(provider_for(server), price, {"experiment": UsageLimit(max_calls=2)})
    meter.complete(ask("capital of France"))
    meter.complete(ask("capital of France"))
    with pytest.raises(BudgetExceeded, match="experiment budget spent: 2 of 2 calls"):
        meter.complete(ask("capital of France"))
    assert len(server.requests) == 2  # the refused call never left the harness
    spent = meter.usage("experiment")
    assert (spent.calls, spent.tokens_in, spent.tokens_out) == (2, 6, 2)  # the scripted server counts words
    assert spent.dollars == pytest.approx((6 * 3.0 + 2 * 15.0) / 1e6)
    assert meter.refused() == ("experiment", "experiment budget spent: 2 of 2 calls")


def test_round_budget_counts_tokens_and_starts_afresh_each_round(server: ChatServer):
    meter = MeteredProvider(provider_for(server), ModelPrice(dollars_per_million_in=0, dollars_per_million_out=0),
                            {"round": UsageLimit(max_tokens=4)})
    meter.complete(ask("capital of France"))  # 3 + 1 tokens: the round's budget is spent
    with pytest.raises(BudgetExceeded, match="round budget spent: 4 of 4 tokens"):
        meter.complete(ask("capital of France"))
    meter.start_round()
    assert meter.complete(ask("capital of France")).text == "Paris"
    assert meter.usage("experiment").calls == 2
    meter.start_round(already_spent=Usage(tokens_in=4))  # a round resumed after earlier runs spent its budget
    with pytest.raises(BudgetExceeded, match="round budget spent: 4 of 4 tokens"):
        meter.complete(ask("capital of France"))


def test_the_broker_forwards_to_the_provider_and_enforces_the_candidate_budget(server: ChatServer, tmp_path: Path):
    with Broker(provider_for(server), tmp_path / "llm.sock", budget=Budget(max_calls=1)) as broker:
        reply = chat_via_socket(broker.socket_path, [{"role": "user", "content": "capital of France?"}], task="t1")
        assert reply["choices"][0]["message"]["content"] == "Paris"
        assert reply["usage"]["prompt_tokens"] == 3  # the server's count, passed on
        with pytest.raises(BrokerHTTPError, match="call budget spent"):
            chat_via_socket(broker.socket_path, [{"role": "user", "content": "again"}])
        assert broker.usage.calls == 1
    assert len(server.requests) == 1


def test_openai_itself_needs_a_key_in_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ProviderError, match="set OPENAI_API_KEY in the environment of the harness"):
        OpenAICompatibleProvider("gpt-4o-mini")


class _Fixed(http.server.BaseHTTPRequestHandler):
    """Answers every POST 200 with the body the test set: what a misconfigured or odd server sends."""

    body = b""

    def do_POST(self) -> None:  # noqa: N802 - the http.server name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(("body", "problem"), [
    (b"<html>a login page</html>", r"not a chat completion .*llm.base_url"),
    (b'{"choices": []}', "answered with no choices"),
    (b'{"choices": [{"text": "a legacy completion"}], "usage": {"prompt_tokens": "many"}}', "not a chat completion"),
])
def test_a_reply_that_is_not_a_chat_completion_says_what_came_back(body: bytes, problem: str):
    handler = type("Handler", (_Fixed,), {"body": body})
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as odd:
        threading.Thread(target=odd.serve_forever, daemon=True).start()
        provider = OpenAICompatibleProvider("m", base_url=f"http://127.0.0.1:{odd.server_address[1]}/v1")
        with pytest.raises(ProviderError, match=problem):
            provider.complete(ask("hi"))
        odd.shutdown()


def test_a_reply_without_usage_is_estimated_from_its_text():
    body = json.dumps({"choices": [{"message": {"role": "assistant", "content": "forty-two"}}]}).encode()
    handler = type("Handler", (_Fixed,), {"body": body})
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as bare:
        threading.Thread(target=bare.serve_forever, daemon=True).start()
        completion = OpenAICompatibleProvider("m", base_url=f"http://127.0.0.1:{bare.server_address[1]}/v1").complete(
            ask("What is six times seven?"))
        bare.shutdown()
    assert completion.text == "forty-two" and completion.finish_reason == "stop" and completion.model == "m"
    assert (completion.tokens_in, completion.tokens_out) == (len("What is six times seven?") // 4 + 1, 3)
