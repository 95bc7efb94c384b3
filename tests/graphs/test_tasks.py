import json

import pytest

from rayswarm.graphs.errors import DataError
from rayswarm.graphs.tasks import (
    Example,
    choice_letter,
    exact_match,
    load_task,
    parse_choice_letter,
    read_examples,
    token_f1,
    write_examples,
)


def test_exact_match_ignores_case_and_spacing_only():
    ex = Example("q", "Bokia, Tamon")
    assert exact_match("  bokia,   TAMON \n", ex) == 1.0
    assert exact_match("Bokia, Tamon.", ex) == 0.0 and exact_match("Bokia", ex) == 0.0


@pytest.mark.parametrize("prediction, letter", [
    ("B", "B"), ("(C) because", "C"), ("I think the answer is D", "D"), ("it is paris", "B"), ("none", "Z"),
])
def test_choice_letters_are_parsed_like_model_swarms(prediction, letter):
    assert parse_choice_letter(prediction, ["London", "Paris", "Rome", "Oslo"]) == letter


def test_choice_metric_accepts_a_letter_or_the_option_text_as_target():
    choices = ("London", "Paris", "Rome")
    assert choice_letter("B", Example("q", "B", choices)) == 1.0
    assert choice_letter("B", Example("q", "Paris", choices)) == 1.0
    assert choice_letter("A", Example("q", "Paris", choices)) == 0.0
    with pytest.raises(DataError, match="needs examples with 'choices'"):
        choice_letter("A", Example("q", "A"))


def test_token_f1():
    ex = Example("q", "the capital is Tamon")
    assert token_f1("the capital is Tamon", ex) == 1.0
    assert token_f1("Tamon", ex) == pytest.approx(2 * 1 * 0.25 / 1.25)
    assert token_f1("nothing shared", ex) == 0.0 and token_f1("", Example("q", "")) == 1.0


def test_a_task_round_trips_and_scores(tmp_path):
    examples = [Example("a?", "1", meta={"domain": "x"}), Example("b?", "B", ("no", "yes"))]
    write_examples(tmp_path / "t" / "dev.jsonl", examples)
    task = load_task(tmp_path / "t", split="dev")
    assert task.name == "t" and task.inputs == ["a?", "b?"] and task.examples[0].meta == {"domain": "x"}
    assert task.score(["1", "2"]) == [1.0, 0.0] and task.accuracy(["1", "1"]) == 0.5
    assert len(load_task(tmp_path / "t" / "dev.jsonl", limit=1).examples) == 1
    # One file is one split: scoring it as test would report a system on the items it was tuned on.
    with pytest.raises(DataError, match="dev.jsonl: one JSONL file is one split"):
        load_task(tmp_path / "t" / "dev.jsonl", split="test")
    with pytest.raises(ValueError, match="1 predictions for 2 examples"):
        task.score(["1"])


def test_bad_task_files_name_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"input": "a", "target": "b"}) + "\n{not json\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:2: not valid JSON"):
        read_examples(path)
    path.write_text('{"input": 3, "target": "b"}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:1: each line needs a string 'input'"):
        read_examples(path)
    path.write_text("\n\n")
    with pytest.raises(DataError, match="the task file is empty"):
        read_examples(path)
    with pytest.raises(DataError, match="no such task file"):
        read_examples(tmp_path / "missing.jsonl")
    with pytest.raises(DataError, match="unknown metric 'exact' \\(did you mean \"exact_match\"\\?\\)"):
        load_task(path, metric="exact")
