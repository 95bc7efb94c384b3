import pytest

from rayswarm.graphs.errors import GraphError
from rayswarm.graphs.fanin import combine, load_aggregator, majority_vote


def test_majority_wins_and_returns_the_first_spelling():
    assert majority_vote(["Lyon", "Paris", " paris ", "PARIS", "Lyon"]) == "Paris"


def test_ties_go_to_the_earliest_predecessor():
    assert majority_vote(["b", "a", "a", "b"]) == "b"
    assert majority_vote(["x", "y", "z"]) == "x"
    assert majority_vote(["y", "x", "x", "y", "z"]) == "y"


def test_combine_keeps_what_the_fan_in_says():
    messages = ["ab1", "ab2", "ab1"]
    assert combine(messages, "concat") == messages
    assert combine(messages, "vote") == ["ab1"]
    assert combine(messages, "custom", "os.path:commonprefix") == ["ab"]


def test_custom_aggregator_must_return_text():
    with pytest.raises(GraphError, match="aggregator 'builtins:len' returned int, expected str"):
        combine(["a"], "custom", "builtins:len")


def test_load_aggregator_errors():
    with pytest.raises(GraphError, match="must look like 'module:function'"):
        load_aggregator("os.path.commonprefix")
    with pytest.raises(GraphError, match=r"cannot import aggregator 'no_such_module_xyz:f' \(ModuleNotFound"):
        load_aggregator("no_such_module_xyz:f")


def test_rank_keeps_the_answers_the_others_agree_with_most_best_first():
    messages = ["Bokia, Tamon", "Ruvia", "Bokia Tamon", "Bokia, Lusk"]
    # "Bokia, Tamon" and "Bokia Tamon" agree fully with each other and half with "Bokia, Lusk".
    assert combine(messages, "rank", top_k=2) == ["Bokia, Tamon", "Bokia Tamon"]
    assert combine(messages, "rank", top_k=3)[2] == "Bokia, Lusk"
    assert combine(["only"], "rank", top_k=2) == ["only"]
    assert combine(["a", "b", "c"], "rank", top_k=2) == ["a", "b"]  # no agreement at all: order kept
