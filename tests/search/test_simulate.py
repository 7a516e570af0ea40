"""The acceptance rules keep a round's false-accept rate near alpha however many candidates it tests."""

from __future__ import annotations

import pytest

from rsilab.search.simulate import simulate_acceptance


def test_testing_eight_nulls_at_alpha_each_inflates_false_accepts_but_holm_and_confirm_do_not():
    rates = {rule: simulate_acceptance(rule, candidates=8, trials=600, seed=3).false_accepts
             for rule in ("naive", "holm", "confirm")}
    assert rates["naive"] > 0.1  # about 1 - 0.96^8 with this exact test's real level
    assert rates["holm"] <= 0.07 and rates["confirm"] <= 0.07


def test_confirm_keeps_most_of_the_power_that_holm_loses():
    power = {rule: simulate_acceptance(rule, candidates=8, gain=0.15, trials=300, seed=5).power for rule in ("holm", "confirm")}
    assert power["confirm"] > power["holm"] + 0.1


def test_an_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="unknown rule"):
        simulate_acceptance("vote", candidates=2)
