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
