"""The anthropic provider, through the official SDK, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llm_server import ChatServer

from rsilab.errors import ProviderError
from rsilab.llm.base import ChatMessage, ChatRequest
from rsilab.llm.claude import AnthropicProvider
from rsilab.llm.guard import GuardedProvider
from rsilab.llm.scripted import ScriptedProvider

KEY = "sk-ant-local-test"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatServer]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    answers = ScriptedProvider([{"match": "Be terse.*two plus two", "responses": ["4"]}])
    with ChatServer(answers, api_key=KEY) as running:
        yield running


def request() -> ChatRequest:
    return ChatRequest(
        messages=(ChatMessage(role="system", content="Be terse."), ChatMessage(role="user", content="What is two plus two?")),
        max_tokens=20, stop=("\n\n",),
    )


def test_system_message_goes_to_the_system_field_and_usage_is_counted(server: ChatServer):
    completion = AnthropicProvider("claude-test", base_url=server.url).complete(request())
    assert completion.text == "4" and completion.finish_reason == "stop"
    assert (completion.tokens_in, completion.tokens_out) == (7, 1)
    sent = server.requests[0]
    assert sent["path"] == "/v1/messages"
    headers = sent["headers"]  # SDK versions differ in which header carries the key
    assert KEY in (headers.get("x-api-key"), headers.get("authorization", "").removeprefix("Bearer "))
    assert sent["body"]["system"] == "Be terse."
    assert sent["body"]["messages"] == [{"role": "user", "content": "What is two plus two?"}]
    assert sent["body"]["max_tokens"] == 20 and sent["body"]["stop_sequences"] == ["\n\n"]


def test_overloaded_529_is_retried(server: ChatServer):
    server.fail(529)
    provider = GuardedProvider(AnthropicProvider("claude-test", base_url=server.url), backoff_seconds=0.0)
    assert provider.complete(request()).text == "4"
    assert len(server.requests) == 2


def test_a_stalled_server_times_out(server: ChatServer):
    server.stall(5.0, times=1)
    provider = GuardedProvider(AnthropicProvider("claude-test", base_url=server.url, timeout_seconds=0.3),
                               max_retries=0)
    with pytest.raises(ProviderError, match="did not answer within 0.3 s"):
        provider.complete(request())


def test_a_refused_key_is_not_retried_and_says_where_keys_come_from(server: ChatServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-wrong")
    provider = GuardedProvider(AnthropicProvider("claude-test", base_url=server.url), backoff_seconds=0.0)
    with pytest.raises(ProviderError, match="refused the API key .401.*llm.api_key_env"):
        provider.complete(request())
    assert len(server.requests) == 1


def test_without_a_key_in_the_environment_it_says_which_variable_to_set(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ProviderError, match="set ANTHROPIC_API_KEY in the environment of the harness"):
        AnthropicProvider("claude-test")
