import pytest

from rayswarm.graphs import messages
from rayswarm.graphs.messages import (
    default_template,
    flatten,
    render_previous,
    render_prompt,
    template_fields,
)

# The Heterogeneous Swarms prompts, spelled out (algorithms.md §2) rather than rebuilt from the constants.
INSTR = ("Please answer the following question with the help of previous responses, "
         "feel free to ignore wrong or unhelpful responses.")


def test_source_prompt_is_the_reference_prompt():
    prompt = render_prompt(default_template(False), "What is 2+2?", [], {})
    assert prompt == "Please answer the following question.\nQuestion: What is 2+2?"


def test_followup_prompt_is_the_reference_prompt():
    prompt = render_prompt(default_template(True), "Q?", ["four", "5"], {})
    assert prompt == INSTR + "\nPrevious response 1: four\nPrevious response 2: 5\nQuestion: Q?"


def test_values_with_braces_are_inserted_verbatim():
    prompt = render_prompt("{question}|{previous}|{critic}", "a {b} c", ["{x}"], {"critic": "{question}"})
    assert prompt == "a {b} c|Previous response 1: {x}\n|{question}"


def test_flatten_replaces_each_newline_with_a_space():
    assert flatten("a\nb\n\nc") == "a b  c"
    assert render_previous([]) == ""


def test_template_fields_lists_names_and_rejects_malformed_templates():
    assert template_fields("{question} and {{literal}} and {critic}") == ["question", "critic"]
    with pytest.raises(ValueError):
        template_fields("unclosed {question")


def test_constants_are_importable_by_other_layers():
    assert messages.FOLLOWUP_INSTRUCTION == INSTR
    assert messages.SOURCE_TEMPLATE.format(question="q") == ("Please answer the following question.\n"
                                                              "Question: q")
    assert messages.RESERVED_FIELDS == ("question", "previous")
