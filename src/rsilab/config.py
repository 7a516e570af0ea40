"""Typed configuration loaded from an experiment's rsilab.toml.

One `Config` object is passed down; a bad file raises ConfigError naming the key,
the bad value and what is allowed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from rsilab.config_sections import AdaptersConfig, ClusterConfig, Section, TrackingConfig, WeightsConfig
from rsilab.errors import ConfigError

__all__ = ["AdaptersConfig", "ClusterConfig", "Config", "Section", "TrackingConfig", "WeightsConfig"]

CONFIG_FILE = "rsilab.toml"


class ExperimentConfig(Section):
    name: str = "experiment"
    template: str = "agent"
    # None: fresh seeds from the OS every round; an int: each round's task seeds derived from it
    # (a reproducible run; the tasks are still held out from the self). The weights loop has its own.
    seed: int | None = None


class SelfConfig(Section):
    # Paths (relative to self/) the self may never change; hashed outside the sandbox.
    protected: tuple[str, ...] = ("alignment.toml",)
    max_edit_files: int = Field(default=8, ge=1)
    max_edit_bytes: int = Field(default=50_000, ge=1)


class AssessConfig(Section):
    suite: str = "arithmetic"
    dev_n: int = Field(default=24, ge=1)
    heldout_n: int = Field(default=60, ge=2)
    difficulties: tuple[int, ...] = (1, 2, 3)
    dataset: Path | None = None  # a user's JSONL file, used when suite = "jsonl"
    failures_shown: int = Field(default=6, ge=0)  # dev failures given to the proposer
    dev_fraction: float = Field(default=0.3, gt=0, lt=1)  # share of a JSONL dataset's questions in the dev split

    @field_validator("suite")
    @classmethod
    def _known_suite(cls, suite: str) -> str:
        # Imported here, not moved below the config: code may register its own suite in
        # assess.tasks.SUITES before loading a config that names it (tests/e2e/test_recursion.py).
        from rsilab.assess.tasks import check_name

        try:
            return check_name(suite)
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix(f"unknown task suite {suite!r}: ")) from None

    @model_validator(mode="after")
    def _jsonl_needs_a_file(self) -> AssessConfig:
        if self.suite == "jsonl" and self.dataset is None:
            raise ValueError('suite "jsonl" needs dataset = "path/to/tasks.jsonl"')
        return self


class SandboxConfig(Section):
    # bwrap: namespaces, read-only root, no network (the default). landlock: the fallback where
    # bubblewrap is missing. process and none-UNSAFE: rlimits only, NO isolation (warned on every run).
    backend: Literal["bwrap", "landlock", "process", "none-UNSAFE"] = "bwrap"
    # As root, each run leases its own unprivileged uid from uid .. uid + uid_pool - 1 (sandbox/uids.py),
    # so concurrent sandboxes cannot see, signal or clean up each other's processes.
    uid: int = Field(default=61000, ge=1)
    uid_pool: int = Field(default=1000, ge=1, le=60000)
    disk_mb: int = Field(default=256, ge=1)  # size of the self's writable copy and of its /tmp
    site_packages: bool = False  # expose the harness's site-packages read-only (a self that imports torch)
    cpu_seconds: int = Field(default=120, ge=1)
    memory_mb: int = Field(default=2048, ge=64)
    file_size_mb: int = Field(default=64, ge=1)
    open_files: int = Field(default=256, ge=16)
    processes: int = Field(default=256, ge=1)
    wall_seconds: float = Field(default=600.0, gt=0)


class ScriptRule(Section):
    match: str
    responses: tuple[str, ...]


class BudgetConfig(Section):
    max_calls: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_dollars: float | None = Field(default=None, gt=0)
    max_tokens_per_call: int | None = Field(default=None, ge=1)


class UsageLimit(Section):
    """A cap on LLM use over a round or a whole experiment; None means unlimited."""

    max_calls: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_dollars: float | None = Field(default=None, gt=0)


class ModelPrice(Section):
    dollars_per_million_in: float = Field(ge=0)
    dollars_per_million_out: float = Field(ge=0)


ProviderName = Literal["embedded", "openai-compatible", "anthropic", "scripted"]

# Settings that only some providers read: setting one for another provider is a mistake worth naming.
_PROVIDER_KEYS: dict[str, tuple[str, ...]] = {
    "base_url": ("openai-compatible", "anthropic"),
    "api_key_env": ("openai-compatible", "anthropic"),
    "threads": ("embedded",),
    "context_tokens": ("embedded",),
    "model_path": ("embedded",),
    "script": ("scripted",),
    "rules": ("scripted",),
}


class LLMConfig(Section):
    # embedded: a small model on this machine's CPU, no keys, no network (`make embedded`).
    provider: ProviderName = "embedded"
    model: str | None = None  # the provider's model name; embedded and scripted have their own default
    # openai-compatible (OpenAI, vLLM, SGLang, Ollama, llama.cpp server) and anthropic:
    base_url: str | None = None  # None: the vendor's own API
    api_key_env: str | None = None  # the harness's environment variable holding the key (never the key itself)
    timeout_seconds: float = Field(default=120.0, gt=0)  # per attempt; the embedded model is bounded by max_tokens
    max_retries: int = Field(default=3, ge=0)  # on timeouts, dropped connections, 429 and 5xx
    retry_backoff_seconds: float = Field(default=1.0, ge=0)  # doubled after each failed attempt
    max_concurrency: int = Field(default=4, ge=1)  # calls in flight at once, whatever the self asks
    default_max_tokens: int = Field(default=1024, ge=1)  # when a request names no max_tokens
    # embedded:
    threads: int = Field(default=1, ge=1)  # more than the free cores slows it down badly
    context_tokens: int = Field(default=8192, ge=256)
    model_path: Path | None = None  # any GGUF file instead of the built-in model
    # scripted:
    script: Path | None = None  # scripted provider: TOML/JSON file of rules
    rules: tuple[ScriptRule, ...] = ()  # scripted provider: rules inline
    # record/replay: every call is appended to the cassette, or answered from it offline
    cassette: Path | None = None
    cassette_mode: Literal["record", "replay"] = "record"
    # budgets and prices
    budget: BudgetConfig = BudgetConfig()  # per candidate run
    round_budget: UsageLimit = UsageLimit()
    experiment_budget: UsageLimit = UsageLimit()
    dollars_per_million_in: float = Field(default=0.0, ge=0)
    dollars_per_million_out: float = Field(default=0.0, ge=0)
    prices: dict[str, ModelPrice] = Field(default_factory=dict)  # by model name; overrides the two above

    @model_validator(mode="before")
    @classmethod
    def _no_keys_in_files(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(k in data for k in ("api_key", "key", "token")):
            raise ValueError(
                "API keys are never read from rsilab.toml: export the key in the harness's environment "
                "and name the variable in llm.api_key_env (default OPENAI_API_KEY or ANTHROPIC_API_KEY)"
            )
        return data

    @model_validator(mode="after")
    def _settings_fit_the_provider(self) -> LLMConfig:
        for key, providers in _PROVIDER_KEYS.items():
            if key in self.model_fields_set and self.provider not in providers:
                raise ValueError(f"llm.{key} is set but provider {self.provider!r} does not use it "
                                 f"(it is for {' and '.join(providers)})")
        if self.provider == "scripted" and not self.rules and self.script is None:
            raise ValueError("the scripted provider needs `rules` or a `script` file")
        if self.provider in ("openai-compatible", "anthropic") and not self.model:
            example = "claude-sonnet-4-5" if self.provider == "anthropic" else "gpt-4o-mini"
            raise ValueError(f"llm.model is required for provider {self.provider!r} (e.g. model = {example!r})")
        if self.cassette_mode == "replay" and self.cassette is None:
            raise ValueError("llm.cassette_mode = 'replay' needs llm.cassette: the file recorded earlier")
        return self

    def price(self) -> ModelPrice:
        """Dollars per million tokens for the configured model: the table's entry, else the flat prices."""
        flat = ModelPrice(dollars_per_million_in=self.dollars_per_million_in,
                          dollars_per_million_out=self.dollars_per_million_out)
        return self.prices.get(self.model or "", flat)


class BenchmarkGateConfig(Section):
    # superior: candidate more accurate (exact McNemar, one-sided p < alpha).
    # noninferior: accuracy not worse by more than `margin`, and fewer tokens (or faster).
    rule: Literal["superior", "noninferior"] = "superior"
    alpha: float = Field(default=0.05, gt=0, lt=1)
    margin: float = Field(default=0.02, ge=0, lt=1)
    # Staged: the first `first_stage_fraction` of the held-out tasks first; a candidate that is
    # not ahead there is rejected early (binding futility: the false-accept rate stays <= alpha).
    staged: bool = True
    first_stage_fraction: float = Field(default=0.34, gt=0, le=1)


class CanaryConfig(Section):
    # After a deploy: re-assess the new and the previous version on fresh tasks; a significant
    # regression (McNemar p < alpha in favour of the previous one) rolls back automatically.
    tasks: int = Field(default=40, ge=0)  # 0 turns the canary off
    alpha: float = Field(default=0.05, gt=0, lt=1)


class GatesConfig(Section):
    benchmark: BenchmarkGateConfig = BenchmarkGateConfig()
    contract_tasks: int = Field(default=3, ge=1)
    # What a new capability (network, subprocess, ctypes, eval...) in a candidate leads to.
    capability: Literal["require-person", "block"] = "require-person"
    canary: CanaryConfig = CanaryConfig()


class ReviewConfig(Section):
    # human: a person decides every change; policy: auto-approve when every gate passed
    # and none asked for a person; auto: approve whatever passed the gates.
    autonomy: Literal["human", "policy", "auto"] = "human"


class SearchConfig(Section):
    """A round as a search step: a parent from the archive, several sampled candidates, one winner at most."""

    # Candidates a round asks the parent's improver for, each with its own harness-drawn seed.
    # None: by provider — 1 scripted, 2 embedded (each embedded proposal costs minutes of CPU), 4 servers.
    candidates: int | None = Field(default=None, ge=1, le=64)
    # deployed: today's self; best: highest lower bound of the held-out interval; dgm: score-proportional
    # with a penalty for many children; thompson: a Beta draw over the held-out successes of each clade.
    parent: Literal["deployed", "best", "dgm", "thompson"] = "deployed"
    # Concurrent sandboxes for a round's independent runs. None: this machine's cores.
    workers: int | None = Field(default=None, ge=1, le=64)
    # How one winner among many keeps the round's false-accept rate at gates.benchmark.alpha:
    # confirm: the best on the held-out draw must pass the benchmark again on a second fresh draw;
    # holm: every candidate tested on one draw, Holm-Bonferroni over their p-values.
    acceptance: Literal["confirm", "holm"] = "confirm"

    def candidates_for(self, provider: str) -> int:
        if self.candidates is not None:
            return self.candidates
        return {"scripted": 1, "embedded": 2}.get(provider, 4)


class Config(Section):
    experiment: ExperimentConfig = ExperimentConfig()
    self_: SelfConfig = Field(default=SelfConfig(), alias="self")
    assess: AssessConfig = AssessConfig()
    sandbox: SandboxConfig = SandboxConfig()
    llm: LLMConfig = LLMConfig()
    gates: GatesConfig = GatesConfig()
    review: ReviewConfig = ReviewConfig()
    search: SearchConfig = SearchConfig()
    cluster: ClusterConfig = ClusterConfig()
    weights: WeightsConfig = WeightsConfig()
    adapters: AdaptersConfig = AdaptersConfig()
    tracking: TrackingConfig = TrackingConfig()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def load_config(path: Path) -> Config:
    """Read and validate rsilab.toml; relative paths in it are resolved against its folder."""
    if not path.is_file():
        raise ConfigError(f"no {path.name} at {path.parent}: run `rsilab init DIR` or `cd` into an experiment")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config error in {path}: not valid TOML — {exc}") from exc
    return parse_config(data, source=path)


def parse_config(data: dict[str, Any], source: Path) -> Config:
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, data, source)) from None
    return _resolve_paths(config, source.parent)


def _explain(exc: ValidationError, data: dict[str, Any], source: Path) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
        value = _lookup(data, err["loc"])
        if isinstance(value, dict):  # a check over a whole section: its message names the keys
            lines.append(f"config error in {source.name}: [{key}] — {_allowed(err)}")
            continue
        shown = "(missing)" if value is _MISSING else repr(value)
        lines.append(f"config error in {source.name}: {key} = {shown} — {_allowed(err)}")
    return "\n".join(lines)


_MISSING = object()


def _lookup(data: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, (list, tuple)) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return data if isinstance(data, dict) and str(part).startswith("function") else _MISSING
    return data


def _allowed(err: Any) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see `rsilab config check --help`)"
    if kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        bounds = {"greater_than": "> ", "greater_than_equal": ">= ", "less_than": "< ", "less_than_equal": "<= "}
        return f"must be {bounds[kind]}{next(iter(ctx.values()))}"
    return str(err["msg"]).removeprefix("Value error, ")


def _resolve_paths(config: Config, base: Path) -> Config:
    llm, assess = config.llm, config.assess
    for key in ("script", "cassette", "model_path"):
        value = getattr(llm, key)
        if value is not None and not value.is_absolute():
            llm = llm.model_copy(update={key: base / value})
    if assess.dataset is not None and not assess.dataset.is_absolute():
        assess = assess.model_copy(update={"dataset": base / assess.dataset})
    if assess.suite.startswith("inspect:"):  # an Inspect task file, like any path here, is relative to rsilab.toml
        assess = assess.model_copy(update={"suite": _inspect_spec(assess.suite, base)})
    tracking = config.tracking
    if tracking.mlflow and tracking.mlflow.startswith("file:") and not tracking.mlflow.startswith("file:/"):
        tracking = tracking.model_copy(update={"mlflow": (base / tracking.mlflow.removeprefix("file:")).resolve().as_uri()})
    return config.model_copy(update={"llm": llm, "assess": assess, "tracking": tracking})


def _inspect_spec(suite: str, base: Path) -> str:
    source, at, task = suite.removeprefix("inspect:").partition("@")
    if source.endswith(".py") and not Path(source).is_absolute():
        source = str(base / source)
    # The task file runs in the harness and holds the targets: never where the self can write it.
    if source.endswith(".py") and Path(source).resolve().is_relative_to((base / "self").resolve()):
        raise ConfigError(f"assess.suite = {suite!r}: the task file is inside self/, which the self can edit; "
                          "keep it beside rsilab.toml")
    return f"inspect:{source}{at}{task}"
