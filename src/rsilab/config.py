"""Typed configuration loaded from an experiment's rsilab.toml.

One `Config` object is passed down; a bad file raises ConfigError naming the key,
the bad value and what is allowed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rsilab.errors import ConfigError

CONFIG_FILE = "rsilab.toml"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExperimentConfig(Section):
    name: str = "experiment"
    template: str = "agent"
    seed: int = 0


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


class SandboxConfig(Section):
    backend: Literal["process"] = "process"
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


class LLMConfig(Section):
    provider: Literal["scripted"] = "scripted"
    model: str = "scripted"
    script: Path | None = None  # scripted provider: TOML/JSON file of rules
    rules: tuple[ScriptRule, ...] = ()  # scripted provider: rules inline
    budget: BudgetConfig = BudgetConfig()  # per candidate run
    dollars_per_million_in: float = Field(default=0.0, ge=0)
    dollars_per_million_out: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _scripted_needs_rules(self) -> LLMConfig:
        if self.provider == "scripted" and not self.rules and self.script is None:
            raise ValueError("the scripted provider needs `rules` or a `script` file")
        return self


class BenchmarkGateConfig(Section):
    # superior: candidate more accurate (exact McNemar, one-sided p < alpha).
    # noninferior: accuracy not worse by more than `margin`, and fewer tokens (or faster).
    rule: Literal["superior", "noninferior"] = "superior"
    alpha: float = Field(default=0.05, gt=0, lt=1)
    margin: float = Field(default=0.02, ge=0, lt=1)


class GatesConfig(Section):
    benchmark: BenchmarkGateConfig = BenchmarkGateConfig()
    contract_tasks: int = Field(default=3, ge=1)


class ReviewConfig(Section):
    # human: a person decides every change; policy: auto-approve when every gate passed
    # and none asked for a person; auto: approve whatever passed the gates.
    autonomy: Literal["human", "policy", "auto"] = "human"


class WeightsConfig(Section):
    """The weights loop (template "transformer"): assess per length, label, filter, refine."""

    original_digits: int = Field(default=5, ge=1)  # pretraining range; must not regress
    pretrain_examples: int = Field(default=50_000, ge=100)  # labelled original-range problems
    assess_per_length: int = Field(default=100, ge=10)  # fresh held-out problems per length
    lookahead: int = Field(default=3, ge=1)  # lengths assessed past the last known frontier
    threshold: float = Field(default=0.95, gt=0, le=1)  # the frontier: shortest length below this
    generate_n: int = Field(default=2000, ge=1)  # new problems the self labels per round
    replay_n: int = Field(default=20_000, ge=0)  # original-range problems mixed in against forgetting
    # exact: the harness's verifier; length: answer has a plausible length; vote: checkpoints agree.
    filters: tuple[Literal["exact", "length", "vote"], ...] = ("exact",)
    vote_checkpoints: int = Field(default=3, ge=2)  # earlier deployed weights that vote with the parent
    margin: float = Field(default=0.02, ge=0, lt=1)  # allowed drop on the original range
    alpha: float = Field(default=0.05, gt=0, lt=1)  # McNemar at the targeted length
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # None: fresh seeds from the OS; an int: seeds derived from it (reproducible runs that
    # still draw new held-out problems every round).
    seed: int | None = None


class Config(Section):
    experiment: ExperimentConfig = ExperimentConfig()
    self_: SelfConfig = Field(default=SelfConfig(), alias="self")
    assess: AssessConfig = AssessConfig()
    sandbox: SandboxConfig = SandboxConfig()
    llm: LLMConfig = Field(default_factory=lambda: LLMConfig(rules=(ScriptRule(match=".", responses=("",)),)))
    gates: GatesConfig = GatesConfig()
    review: ReviewConfig = ReviewConfig()
    weights: WeightsConfig = WeightsConfig()

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
    if llm.script is not None and not llm.script.is_absolute():
        llm = llm.model_copy(update={"script": base / llm.script})
    if assess.dataset is not None and not assess.dataset.is_absolute():
        assess = assess.model_copy(update={"dataset": base / assess.dataset})
    return config.model_copy(update={"llm": llm, "assess": assess})
