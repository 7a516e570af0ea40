"""Sections of rsilab.toml for the trainable loops, scale-out and tracking (see `rsilab.config`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClusterConfig(Section):
    """Where a round's sandboxed runs happen: this machine, or a Ray cluster (the `cluster` extra)."""

    # local: sandboxes on this machine. ray: each run is a Ray task in the same sandbox on the node it
    # lands on; the ledger, targets, scoring and the provider with its keys stay on the head.
    backend: Literal["local", "ray"] = "local"
    # "auto" (the cluster this machine belongs to), "ray://host:10001" (Ray Client), "host:port" (the
    # head's GCS); None starts a Ray on this machine for this run alone.
    address: str | None = None
    # Tasks of one assessment per sandboxed run; None: one run per assessment. Any backend honours it.
    tasks_per_shard: int | None = Field(default=None, ge=1)
    # Tries after the first when a worker or node dies mid-run (not when the self's run fails).
    max_retries: int = Field(default=3, ge=0, le=10)

    @model_validator(mode="after")
    def _address_needs_ray(self) -> ClusterConfig:
        if self.address is not None and self.backend != "ray":
            raise ValueError('cluster.address is set but cluster.backend is "local": set backend = "ray" or drop address')
        return self


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


class AdaptersConfig(Section):
    """The lm-adapters loop (template "lm-adapters"): per-family LoRA adapters on a read-only base LM."""

    base: str = "qwen2.5-coder-0.5b-instruct"  # a prepared model (`rsilab adapters prepare`) or a HF folder
    families: tuple[str, ...] = ("addition", "multiplication")  # own generators or reasoning-gym names
    difficulties: tuple[int, ...] = (2, 3)  # assessed for every family
    dev_per_cell: int = Field(default=20, ge=1)  # fresh problems per family and difficulty the self plans from
    heldout_per_cell: int = Field(default=50, ge=5)  # fresh held-out problems per cell, parent and candidate
    max_train_problems: int = Field(default=200, ge=1)  # the most problems the harness poses for sampling
    max_samples: int = Field(default=8, ge=1)  # the most answers sampled per problem
    margin: float = Field(default=0.05, ge=0, lt=1)  # allowed held-out drop on each other family
    alpha: float = Field(default=0.05, gt=0, lt=1)  # McNemar on the targeted family
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int | None = None


class TrackingConfig(Section):
    # An MLflow tracking URI ("file:./mlruns" is relative to the experiment; extra `mlflow`): each
    # round is logged as it completes, within `timeout_seconds`; what fails is replayed by `rsilab export mlflow`.
    mlflow: str | None = None
    timeout_seconds: float = Field(default=10.0, gt=0, le=600)
