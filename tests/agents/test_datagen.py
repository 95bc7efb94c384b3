"""Data Swarms' text formats: the generation prompt, parsing generators' output, answer keys, the judge."""

import pytest

from rayswarm.agents.datagen import (
    GENERATION_PROMPT,
    Item,
    PromptFormat,
    judge_prompt,
    judge_score,
    parse_items,
    sort_answer,
    with_targets,
)
from rayswarm.agents.generators import length_clusters, sft_items
from rayswarm.graphs.errors import ConfigError
from rayswarm.graphs.tasks import Example


def test_the_prompt_is_the_references_with_numbered_examples():
    fmt = PromptFormat("sorting letters", shots=2, items=3)
    prompt = fmt.prompt([Example("Sort the letters: dcba", "abcd"), Example("Sort\nthe letters: qp", "pq")])
    assert prompt == GENERATION_PROMPT.format(domain="sorting letters", shots=2, items=3, examples=(
        "1. Sort the letters: dcba\n2. Sort the letters: qp"))
    assert "generate 3 more examples" in prompt
    shown = PromptFormat("x", show_answers=True).listing([Example("What is 2+2?", "4")])
    assert shown == "1. What is 2+2? Answer: 4"


def test_numbered_items_are_kept_and_stray_text_is_not():
    text = ("Sure! Here are more examples:\n\n1. Sort the letters: qwe\n"
            "2) **Sort the letters: abc** Answer: abc\n"
            "Example 3: What is 2+2?\nAnswer: 4\n"
            "some stray line\n4.   \n5. \"Sort the letters: zz\"\n6. one too many")
    assert parse_items(text, limit=5) == [
        Item("Sort the letters: qwe"), Item("Sort the letters: abc", "abc"), Item("What is 2+2?", "4"),
        Item("Sort the letters: zz"), Item("one too many")]  # "4." was empty, so the sixth line fits
    assert parse_items(text, limit=2) == [Item("Sort the letters: qwe"), Item("Sort the letters: abc", "abc")]


@pytest.mark.parametrize("text", ["", "no numbers at all", "Sort the letters: abc", "\n\n   \n"])
def test_output_without_a_numbered_line_is_unparseable(text):
    assert parse_items(text, limit=5) == []


def test_the_sort_key_answers_only_sort_questions_and_overrides_written_answers():
    assert sort_answer("Sort the letters: qxab") == "abqx"
    assert sort_answer("  Sort the letters: zzab ") == "abzz"
    for other in ("Sort the letters: ab1", "Sort the letters: a", "Sort the letters: ABC", "What is 2+2?",
                  "Sort the letters: abcdefghijklm"):
        assert sort_answer(other) is None, other
    items = [Item("Sort the letters: cba", "wrong"), Item("What is 2+2?", "4")]
    assert with_targets(items, "sort") == [Item("Sort the letters: cba", "abc"), Item("What is 2+2?", None)]
    assert with_targets(items, None) == items  # no key: the generators' own answers


def test_the_judge_reads_the_last_score_and_falls_back_to_half():
    assert "Question: q" in judge_prompt("q", "r") and "Response: r" in judge_prompt("q", "r")
    assert judge_score("Reasoning... Score: 7") == 0.7
    assert judge_score("Score: 3. On reflection, score: 8.5") == 0.85
    assert judge_score("Score: 42") == 1.0 and judge_score("score 0") == 0.1  # clamped to 1-10
    assert judge_score("I cannot rate this.") == 0.5


def test_clusters_are_length_quantiles_and_sft_pairs_use_the_generation_format():
    examples = [Example("x" * n, "t") for n in (5, 1, 4, 2, 3, 6)]
    clusters = length_clusters(examples, 3)
    assert [[len(ex.input) for ex in cluster] for cluster in clusters] == [[1, 2], [3, 4], [5, 6]]
    with pytest.raises(ConfigError, match="at least 7 dev examples"):
        length_clusters(examples, 7)
    fmt = PromptFormat("x", shots=1, items=1)
    (item,) = sft_items(clusters[0], fmt, count=1, seed=0)
    shown, written = item.prompt.rsplit("1. ", 1)[1], item.target.removeprefix("1. ")
    assert {shown, written} == {"x", "xx"}  # shots + items examples of the cluster, drawn without repeats
    assert item.prompt == fmt.prompt([Example(shown, "t")])
