"""The toy world's offline tokenizer: one token per character, plus a few whole-phrase tokens.

Built locally with `tokenizers` and wrapped as a transformers fast tokenizer, so every toy model
folder loads with plain `AutoTokenizer.from_pretrained(path)` and no hub access.

Characters keep entity names learnable by tiny models (a 0.86M-parameter model cannot learn BPE
pieces of invented names). The fixed phrases of the collaboration prompt (algorithms.md §2) are
single tokens, which shortens graph prompts by ~4× and so makes every forward pass cheaper.
"""

from __future__ import annotations

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from rayswarm.graphs.messages import FOLLOWUP_INSTRUCTION, SOURCE_INSTRUCTION

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")
THINK_TOKENS = ("<think>", "</think>")

# Printable ASCII and newline: everything the toy tasks and graph prompts contain.
ALPHABET = [chr(code) for code in range(32, 127)] + ["\n"]

# The collaboration format's constant phrases, longest first so none shadows a longer one.
PHRASES = sorted(
    {SOURCE_INSTRUCTION, FOLLOWUP_INSTRUCTION, "Previous response", "Question: "},
    key=len,
    reverse=True,
)

# A chat template keeps "where the answer starts" in the tokenizer, so the Agent's generic
# chat path and the zoo's training data format agree by construction.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for m in messages %}"
    "{% if m['role'] == 'assistant' %}<|assistant|>{{ m['content'] }}{{ eos_token }}"
    "{% else %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_char_tokenizer() -> PreTrainedTokenizerFast:
    """A deterministic character tokenizer; the same call always gives the same ids."""
    vocab = {token: index for index, token in enumerate([PAD, BOS, EOS, UNK, *ALPHABET])}
    core = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    core.add_tokens([AddedToken(p, normalized=False) for p in PHRASES + list(THINK_TOKENS)])
    core.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in ROLE_TOKENS])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK, padding_side="left"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer
