"""ParaPO's paraphrases and pairs: cleaning, the usability filter, what the paraphraser is asked, both variants.

The paraphraser here is a scripted stand-in with the `generate` of an Agent: the paraphraser is not
what these tests are about (tests/clusters/test_serve.py paraphrases through a served graph, and
tests/rayswarm/test_train.py with a tiny model), the filtering and pairing around it are.
"""

import pytest

from rayswarm.agents import paraphrase as para
from rayswarm.graphs.errors import DataError

TEXT = "The old river sang at dawn near the hill."  # 41 characters


class Scripted:
    """Answers prompt i with outputs[i]; keeps what it was asked."""

    def __init__(self, outputs):
        self.outputs, self.calls = list(outputs), []

    def generate(self, prompts, **overrides):
        self.calls.append((list(prompts), overrides))
        return self.outputs[: len(prompts)]


def test_clean_strips_whitespace_and_quotes():
    assert para.clean('  "A river sang at sunrise."\n') == "A river sang at sunrise."
    assert para.clean('"" ') == ""
    assert para.clean("it's 'fine'") == "it's 'fine'"  # only double quotes are a wrapper


def test_keep_drops_empty_unchanged_and_wrong_length_outputs():
    assert para.keep(TEXT, "A river by the hill sang as day broke.", 1.5)
    assert not para.keep(TEXT, "", 1.5)
    assert not para.keep(TEXT, TEXT, 1.5)
    assert not para.keep(TEXT, f"  {TEXT}\n", 1.5)  # unchanged up to surrounding whitespace
    # The length ratio may be 1/tolerance … tolerance, both ends included.
    assert para.keep("x" * 20, "y" * 30, 1.5) and not para.keep("x" * 20, "y" * 31, 1.5)
    assert para.keep("x" * 30, "y" * 20, 1.5) and not para.keep("x" * 30, "y" * 19, 1.5)
    assert para.keep("x" * 20, "y" * 31, 2.0)  # a looser tolerance keeps it


def test_paraphrase_asks_once_per_text_and_keeps_only_usable_answers():
    texts = [TEXT, "Two owls kept watch over the barn.", "Short one.", "A fox ran home.", "Gone."]
    outputs = ['  "A river by the hill sang as day broke."  ',  # kept, cleaned
               "Two owls kept watch over the barn.",  # unchanged
               "This answer is far, far longer than the ten characters it was asked to rewrite.",
               "",  # empty
               '""']  # empty once cleaned
    paraphraser = Scripted(outputs)
    result = para.paraphrase(paraphraser, texts, length_tolerance=1.5, max_new_tokens=64, seed=3)
    assert result == ["A river by the hill sang as day broke.", None, None, None, None]
    ((prompts, options),) = paraphraser.calls
    assert prompts == [para.PARAPHRASE_PROMPT.format(text=t) for t in texts]
    assert prompts[0].endswith(f"Text:\n{TEXT}") and "Preserve the original length" in prompts[0]
    assert options == {"max_new_tokens": 64, "temperature": 0.6, "top_p": 0.9, "seed": 3}  # ParaPO's sampling


def test_a_custom_prompt_must_have_a_place_for_the_text():
    custom = para.paraphrase(Scripted(["A river by the hill sang as day broke."]), [TEXT], prompt="Reword: {text}")
    assert custom == ["A river by the hill sang as day broke."]
    with pytest.raises(DataError, match=r"must contain \{text\}"):
        para.paraphrase(Scripted([""]), [TEXT], prompt="Reword this.")


def test_prompt_less_pairs_prefer_the_paraphrase_and_skip_missing_ones():
    pairs = para.parapo_pairs(["verbatim a", "verbatim b", "verbatim c"], ["reworded a", None, "reworded c"], "<s>")
    assert pairs == [{"prompt": "<s>", "chosen": "reworded a", "rejected": "verbatim a"},
                     {"prompt": "<s>", "chosen": "reworded c", "rejected": "verbatim c"}]
    assert para.parapo_pairs(["v"], ["p"], "")[0]["prompt"] == ""  # a tokenizer that adds its own BOS


def test_system_variant_pairs_mirror_each_other_under_the_yes_and_no_flags():
    pairs = para.parapo_pairs(["verbatim a", "verbatim b"], [None, "reworded b"], "<s>", system=True)
    assert pairs == [
        {"prompt": "<s>Copying: No\n", "chosen": "reworded b", "rejected": "verbatim b"},
        {"prompt": "<s>Copying: Yes\n", "chosen": "verbatim b", "rejected": "reworded b"},
    ]
    # The measurement prompts the model under the same lines the pairs were built with.
    assert [pair["prompt"] for pair in pairs] == ["<s>" + para.flag_line(flag) for flag in para.FLAGS]


def test_no_usable_paraphrase_is_an_error():
    for system in (False, True):
        with pytest.raises(DataError, match="no usable paraphrase"):
            para.parapo_pairs(["verbatim a", "verbatim b"], [None, None], "<s>", system=system)
    unusable = para.paraphrase(Scripted([TEXT, ""]), [TEXT, "Two owls kept watch."])
    with pytest.raises(DataError, match="no usable paraphrase"):
        para.parapo_pairs([TEXT, "Two owls kept watch."], unusable, "<s>")
