"""The cluster's pieces that need no Ray: the config, shards on the local backend, and the head's provider actor body."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from cluster.lab import NEEDS_RAY, two_scripted_candidates
from llm_server import ChatServer
from rsilab.assess.splits import draw_tasks
from rsilab.cluster.executor import open_ray_runtime
from rsilab.cluster.provider_actor import ProviderHost, answer
from rsilab.config import LLMConfig, parse_config
from rsilab.errors import ConfigError
from rsilab.experiment import Experiment
from rsilab.llm.base import ChatMessage, ChatRequest
from rsilab.llm.scripted import ScriptedProvider
from rsilab.records import Usage
from rsilab.runtime import Runtime
from rsilab.runtime_open import open_runtime

KEY = "rsk-unit-0123456789abcdef"


def test_an_address_without_the_ray_backend_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match='cluster.address is set but cluster.backend is "local"'):
        parse_config({"cluster": {"address": "auto"}}, tmp_path / "rsilab.toml")
    with pytest.raises(ConfigError, match="cluster.tasks_per_shard = 0"):
        parse_config({"cluster": {"tasks_per_shard": 0}}, tmp_path / "rsilab.toml")


def test_the_ray_backend_without_ray_installed_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as on a machine without the extra
    exp = Experiment.init(tmp_path / "exp", "agent", config_text=two_scripted_candidates() + '\n[cluster]\nbackend = "ray"\n')
    with pytest.raises(ConfigError, match=r"pip install 'rsilab\[cluster\]'"):
        exp.run(1)


def test_a_sharded_local_assessment_runs_one_sandbox_per_shard_and_scores_like_one_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    runs: list[int] = []
    real = Runtime._run_self

    def counted(self, tree, command, payload, on_progress, seed):  # the real run, counted
        runs.append(payload.count(b'"question"'))
        return real(self, tree, command, payload, on_progress, seed)

    exp = Experiment.init(tmp_path / "exp", "agent", config_text=two_scripted_candidates())
    tree = exp.versions.files(exp.commit_of("v1"))
    tasks = draw_tasks(exp.config.assess, "dev", 20, 5)
    context = {"round": 1, "version": "v1", "split": "dev"}
    with open_runtime(exp.root, exp.config, provider=None, spent_before=Usage(), workers=2) as runtime:
        whole = runtime.assess("v1", tasks, "dev", 5, tree, context, 11)
        monkeypatch.setattr(Runtime, "_run_self", counted)
        runtime.tasks_per_shard = 7
        parts = runtime.assess("v1", tasks, "dev", 5, tree, context, 11)
        assert runtime.take_shards(context) == []  # a local run names no node
    assert runs == [7, 7, 6]
    assert [(o.task_id, o.answer, o.correct) for o in parts.outcomes] == [(o.task_id, o.answer, o.correct) for o in whole.outcomes]
    assert parts.run_error is None and whole.correct == parts.correct


def test_the_head_actor_scrubs_its_key_from_answers_and_errors(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RSILAB_UNIT_KEY", KEY)
    echo = ScriptedProvider([{"match": ".", "responses": [f"the key is {KEY}"]}])
    with ChatServer(echo, api_key=KEY) as server:
        llm = LLMConfig(provider="openai-compatible", model="m", base_url=f"{server.url}/v1",
                        api_key_env="RSILAB_UNIT_KEY", max_retries=0)
        host = ProviderHost(llm, None, Usage().model_dump())
        assert host.ready() == (None, host.meter.name)
        request = ChatRequest(messages=(ChatMessage(role="user", content="hi"),)).model_dump()
        kind, value = host.complete(request)
        assert kind == "ok" and KEY not in str(value) and "[redacted]" in answer(kind, value).text
        server.fail(400, message=f"bad key {KEY}")
        kind, value = host.complete(request)
        assert kind == "provider" and KEY not in value
    assert host.usage("round")["calls"] == 1  # the budgets are kept by the actor, on the head


def test_a_provider_object_holding_a_key_is_never_shipped_to_the_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from rsilab.llm.openai_compat import OpenAICompatibleProvider

    monkeypatch.setenv("RSILAB_UNIT_KEY", KEY)
    provider = OpenAICompatibleProvider("m", base_url="http://127.0.0.1:9/v1", api_key_env="RSILAB_UNIT_KEY")
    config = parse_config({"cluster": {"backend": "ray"}}, tmp_path / "rsilab.toml")
    with pytest.raises(ConfigError, match="holding keys cannot be shipped"):
        with open_ray_runtime(tmp_path, config, provider=provider, spent_before=Usage(), report=lambda s, m: None):
            pass


def test_an_address_where_no_cluster_answers_is_refused_at_once_with_what_to_do(tmp_path: Path):
    pytest.importorskip("ray", reason=NEEDS_RAY)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    exp = Experiment.init(tmp_path / "exp", "agent", config_text=two_scripted_candidates()
                          + f'\n[cluster]\nbackend = "ray"\naddress = "127.0.0.1:{port}"\n')
    with pytest.raises(ConfigError, match=f"cannot reach the Ray cluster at cluster.address = '127.0.0.1:{port}'.*ray start --head"):
        exp.run(1)
    assert not exp.events("round.started")
