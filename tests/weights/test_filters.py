"""The harness's filters for self-labelled data: what each keeps, and that labels stay the self's."""

from __future__ import annotations

from rsilab.weights import filters
from rsilab.weights.tasks import addition, exact_sum


def test_exact_filter_keeps_only_right_labels_and_never_relabels():
    examples = [("12+30", "42"), ("12+30", "43"), ("999+1", "1000"), ("5+5", "11")]
    kept, stats = filters.apply(examples, ["exact"])
    assert kept == [("12+30", "42"), ("999+1", "1000")]
    assert stats["generated"] == 4 and stats["kept"] == 2
    assert stats["label_accuracy"] == 0.5 and stats["kept_label_accuracy"] == 1.0


def test_length_filter_drops_answers_of_impossible_length_but_keeps_wrong_plausible_ones():
    examples = [("123+456", "579"), ("123+456", "57"), ("999+999", "1998"), ("123+456", "12345"), ("123+456", "578")]
    kept, stats = filters.apply(examples, ["length"])
    assert kept == [("123+456", "579"), ("999+999", "1998"), ("123+456", "578")]
    assert stats["kept_label_accuracy"] == round(2 / 3, 4)  # unsupervised: a wrong label can pass


def test_vote_filter_keeps_labels_a_majority_of_checkpoints_agree_with():
    examples = [("1+1", "2"), ("2+2", "5"), ("3+3", "6")]
    votes = [["2", "4", "7"], ["3", "4", "6"]]  # two earlier checkpoints, one column each
    kept, _ = filters.apply(examples, ["vote"], votes)
    assert kept == [("1+1", "2"), ("3+3", "6")]


def test_filters_apply_in_sequence_and_stats_are_per_length():
    examples = [("12+34", "46"), ("12+34", "4"), ("123+456", "579"), ("123+456", "578")]
    kept, stats = filters.apply(examples, ["length", "exact"])
    assert kept == [("12+34", "46"), ("123+456", "579")]
    assert stats["by_length"]["2"]["generated"] == 2 and stats["by_length"]["2"]["kept"] == 1
    assert stats["by_length"]["3"]["label_accuracy"] == 0.5


def test_malformed_self_output_is_dropped_and_capped():
    raw = [["1+2", "3"], ["1-2", "3"], ["1+2", "three"], "1+2=3", ["1+2"], ["4+5", "9"], ["6+7", "13"]]
    assert filters.well_formed(raw, limit=2) == [("1+2", "3"), ("4+5", "9")]
    assert filters.well_formed({"not": "a list"}, limit=10) == []


def test_harness_problems_have_exact_targets_and_fresh_seeds_give_fresh_problems():
    problems = addition(20, seed=1, lengths=[1, 7])
    assert {p.difficulty for p in problems} == {1, 7}
    assert all(exact_sum(p.question) == p.answer for p in problems)
    assert all(len(side) == 7 for p in problems if p.difficulty == 7 for side in p.question.split("+"))
    assert addition(20, seed=1, lengths=[7]) == addition(20, seed=1, lengths=[7])
    assert addition(20, seed=2, lengths=[7]) != addition(20, seed=1, lengths=[7])
