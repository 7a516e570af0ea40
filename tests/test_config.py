"""Config errors name the key, the bad value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from rsilab.config import load_config
from rsilab.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rsilab.toml"
    path.write_text(text)
    return path


def test_out_of_range_value_names_key_value_and_bound(tmp_path: Path):
    path = _write(tmp_path, "[gates.benchmark]\nalpha = 1.5\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "gates.benchmark.alpha = 1.5" in str(err.value)
    assert "must be < 1" in str(err.value)


def test_unknown_choice_lists_the_allowed_ones(tmp_path: Path):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, '[review]\nautonomy = "yolo"\n'))
    assert "review.autonomy = 'yolo'" in str(err.value)
    assert "'human'" in str(err.value) and "'policy'" in str(err.value)


def test_misspelt_key_is_reported_as_unknown(tmp_path: Path):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, "[assess]\nheldot_n = 5\n"))
    assert "assess.heldot_n" in str(err.value) and "unknown key" in str(err.value)


def test_invalid_toml_says_so(tmp_path: Path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, "[assess\n"))


def test_missing_file_says_how_to_make_one(tmp_path: Path):
    with pytest.raises(ConfigError, match="rsilab init"):
        load_config(tmp_path / "rsilab.toml")


def test_template_config_is_valid_and_defaults_to_human_review(tmp_path: Path):
    from importlib import resources

    text = (resources.files("rsilab") / "templates" / "agent.rsilab.toml").read_text()
    config = load_config(_write(tmp_path, text))
    assert config.review.autonomy == "human"
    assert config.self_.protected == ("alignment.toml",)


def test_template_defaults_to_the_embedded_model_with_one_thread(tmp_path: Path):
    from importlib import resources

    text = (resources.files("rsilab") / "templates" / "agent.rsilab.toml").read_text()
    llm = load_config(_write(tmp_path, text)).llm
    assert (llm.provider, llm.threads) == ("embedded", 1)


def test_a_config_without_llm_section_uses_the_embedded_model(tmp_path: Path):
    assert load_config(_write(tmp_path, "")).llm.provider == "embedded"


def test_a_setting_for_another_provider_is_named(tmp_path: Path):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, '[llm]\nprovider = "embedded"\nbase_url = "http://127.0.0.1:8000/v1"\n'))
    assert "llm.base_url is set but provider 'embedded' does not use it" in str(err.value)
    assert "{" not in str(err.value)  # the message names the key, not a dump of the section


def test_remote_providers_need_a_model(tmp_path: Path):
    with pytest.raises(ConfigError, match="llm.model is required for provider 'anthropic'"):
        load_config(_write(tmp_path, '[llm]\nprovider = "anthropic"\n'))


def test_an_api_key_in_the_file_is_refused_with_where_to_put_it(tmp_path: Path):
    text = '[llm]\nprovider = "openai-compatible"\nmodel = "m"\napi_key = "sk-secret"\n'
    with pytest.raises(ConfigError, match="never read from rsilab.toml.*llm.api_key_env") as err:
        load_config(_write(tmp_path, text))
    assert "sk-secret" not in str(err.value)


def test_replay_needs_a_cassette_and_relative_paths_resolve_against_the_config(tmp_path: Path):
    with pytest.raises(ConfigError, match="needs llm.cassette"):
        load_config(_write(tmp_path, '[llm]\ncassette_mode = "replay"\n'))
    llm = load_config(_write(tmp_path, '[llm]\ncassette = "calls.jsonl"\ncassette_mode = "replay"\n')).llm
    assert llm.cassette == tmp_path / "calls.jsonl"


def test_price_comes_from_the_table_for_the_configured_model(tmp_path: Path):
    text = ('[llm]\nprovider = "anthropic"\nmodel = "claude-x"\ndollars_per_million_in = 1.0\n'
            '[llm.prices.claude-x]\ndollars_per_million_in = 3.0\ndollars_per_million_out = 15.0\n')
    price = load_config(_write(tmp_path, text)).llm.price()
    assert (price.dollars_per_million_in, price.dollars_per_million_out) == (3.0, 15.0)


def test_zero_threads_is_refused(tmp_path: Path):
    with pytest.raises(ConfigError, match="llm.threads = 0 — must be >= 1"):
        load_config(_write(tmp_path, "[llm]\nthreads = 0\n"))
