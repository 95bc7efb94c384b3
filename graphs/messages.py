"""What a node reads: prompt templates and the message passing of Heterogeneous Swarms.

The default templates reproduce the reference prompts of Heterogeneous Swarms exactly
(algorithms.md §2, "Message passing"), so a decoded graph run here is the system the paper scored.
The strings are module constants because other layers (the H-Swarms trainer, the toy world, the
serve app) must produce or parse the very same text.

A template is a `str.format` string over three kinds of field:
  {question}   the question being answered
  {previous}   the predecessors' responses, rendered as "Previous response i: ...\\n" lines
  {<name>}     the response of the predecessor node called <name>
Braces meant literally are doubled, as always with `str.format`; the values themselves may hold
any text.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence

QUESTION_FIELD = "question"
PREVIOUS_FIELD = "previous"
RESERVED_FIELDS = (QUESTION_FIELD, PREVIOUS_FIELD)

SOURCE_INSTRUCTION = "Please answer the following question."
FOLLOWUP_INSTRUCTION = (
    "Please answer the following question with the help of previous responses, "
    "feel free to ignore wrong or unhelpful responses."
)
SOURCE_TEMPLATE = SOURCE_INSTRUCTION + "\nQuestion: {question}"
FOLLOWUP_TEMPLATE = FOLLOWUP_INSTRUCTION + "\n{previous}Question: {question}"
PREVIOUS_LINE = "Previous response {index}: {response}\n"


def flatten(output: str) -> str:
    """An output as it travels along an edge: one line, as in the reference (newlines become spaces)."""
    return output.replace("\n", " ")


def render_previous(responses: Sequence[str]) -> str:
    """The {previous} block: one numbered line per response, numbered from 1."""
    return "".join(PREVIOUS_LINE.format(index=i, response=r) for i, r in enumerate(responses, start=1))


def default_template(has_predecessors: bool) -> str:
    """Source nodes are asked the question; the others also see what came before."""
    return FOLLOWUP_TEMPLATE if has_predecessors else SOURCE_TEMPLATE


def template_fields(template: str) -> list[str]:
    """The field names a template uses, in order; ValueError on a malformed template."""
    return [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]


def render_prompt(template: str, question: str, previous: Sequence[str], named: Mapping[str, str]) -> str:
    """Fill a template. `previous` is what the node's fan-in kept; `named` maps predecessor -> message."""
    return template.format(**named, question=question, previous=render_previous(previous))
