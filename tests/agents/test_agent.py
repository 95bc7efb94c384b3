"""Agent: batched generation (greedy, seeded sampling, stops, caps), the chat template, scoring."""

import pytest
import torch

from rayswarm.agents.agent import Agent
from rayswarm.agents.tokenizer import build_char_tokenizer
from rayswarm.graphs.errors import ConfigError, DataError
from rayswarm.graphs.spec import AgentSpec, GenerationOptions

PROMPTS = [
    "Hi",
    "What is the capital of France, my friend?",
    "abc def ghi jkl",
    "x",
    "Please answer the following question. 2+2=?",
    "A much longer prompt, so that the batch needs a good deal of left padding on the short rows.",
]


@pytest.fixture(params=["llama", "olmo2"])
def agent(request, chatty_models):
    return Agent(chatty_models[request.param], build_char_tokenizer(), name=request.param)


def test_greedy_batch_equals_one_at_a_time(agent):
    batched = agent.generate(PROMPTS, max_new_tokens=24)
    alone = [agent.generate([prompt], max_new_tokens=24)[0] for prompt in PROMPTS]
    assert batched == alone
    assert len({text for text in batched if text}) >= 4  # varied output, so the comparison can fail


def test_chunking_does_not_change_greedy_output(agent):
    whole = agent.generate(PROMPTS, max_new_tokens=16)
    agent.batch_size = 2
    assert agent.generate(PROMPTS, max_new_tokens=16) == whole


def test_seeded_sampling_reproduces_and_leaves_global_rng_alone(agent):
    state = torch.get_rng_state()
    first = agent.generate(PROMPTS, temperature=1.0, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    assert agent.generate(PROMPTS, temperature=1.0, seed=7) == first
    assert agent.generate(PROMPTS, temperature=1.0, seed=8) != first
    assert agent.generate(PROMPTS, temperature=1.0, top_p=0.5, seed=7) != first


def test_output_is_only_the_new_text(agent):
    text = agent.generate(["Hi"], max_new_tokens=12)[0]
    ids = agent.tokenizer(agent.render("Hi"), add_special_tokens=False, return_tensors="pt")["input_ids"]
    reference = agent.model.generate(input_ids=ids, max_new_tokens=12, do_sample=False, pad_token_id=0)
    assert text == agent.tokenizer.decode(reference[0, ids.shape[1] :], skip_special_tokens=True)
    completion = agent.complete(
        [agent.render("Hi")], agent.options(max_new_tokens=12), add_special_tokens=False
    )[0]
    assert (completion.text, completion.num_tokens, completion.finish) == (text, 12, "length")


def test_stop_strings_cut_and_end_generation_early(agent):
    full = agent.generate(PROMPTS, max_new_tokens=40)
    stop = next(ch for ch in full[1][5:] if ch.isalnum())  # a character the second row writes
    options = agent.options(max_new_tokens=40, stop=[stop])
    cut = agent.generate(PROMPTS, options)
    for text, whole in zip(cut, full, strict=True):
        assert text == whole.split(stop)[0]

    steps = []
    hook = agent.model.register_forward_hook(lambda *args: steps.append(1))
    try:
        completions = agent.complete([agent.render(PROMPTS[1])], options, add_special_tokens=False)
    finally:
        hook.remove()
    assert completions[0].finish == "stop"
    assert (
        completions[0].num_tokens < 40 and len(steps) == completions[0].num_tokens
    )  # no step after the stop


def test_chat_template_system_and_raw_mode(agent):
    rendered = agent.render("Hi", system="You are terse.")
    assert rendered == "<s><|system|>You are terse.\n<|user|>Hi\n<|assistant|>"
    assert agent.render("Hi", system="Be brief.", chat=False) == "Be brief.\n\nHi"
    with_system = agent.generate(PROMPTS[:3], system="You are terse.")
    assert with_system != agent.generate(PROMPTS[:3])
    assert agent.generate(PROMPTS[:3], chat_template=False) != agent.generate(PROMPTS[:3])


def test_spec_supplies_system_and_options(chatty_models):
    spec = AgentSpec(
        model="tiny:random-llama", system="You are terse.", generation=GenerationOptions(max_new_tokens=5)
    )
    agent = Agent(chatty_models["llama"], build_char_tokenizer(), spec=spec)
    plain = Agent(chatty_models["llama"], build_char_tokenizer())
    assert agent.generate(PROMPTS[:2]) == plain.generate(
        PROMPTS[:2], system="You are terse.", max_new_tokens=5
    )
    assert agent.name == "tiny:random-llama"


def test_empty_input_gives_empty_output(agent):
    assert agent.generate([]) == [] and agent.score([], []) == [] and agent.generate_with_budget([]) == []


def test_bad_calls_are_one_line_errors(agent):
    with pytest.raises(ConfigError, match='did you mean "max_new_tokens"'):
        agent.generate(PROMPTS, max_new_token=3)
    with pytest.raises(ConfigError, match="list of strings"):
        agent.generate("Hi")
    with pytest.raises(DataError, match="prompt 0 is empty"):
        agent.generate([""], chat_template=False)
    agent.tokenizer.chat_template = None
    with pytest.raises(ConfigError, match="no chat template"):
        agent.generate(PROMPTS, chat_template=True)


def slow_logprobs(agent, prompt_text: str, continuation: str, add_special_tokens: bool) -> list[float]:
    """Reference: one unpadded forward per continuation token, reading the last position's logits."""
    context = agent.tokenizer(prompt_text, add_special_tokens=add_special_tokens)["input_ids"]
    targets = agent.tokenizer(continuation, add_special_tokens=False)["input_ids"]
    logprobs = []
    with torch.no_grad():
        for target in targets:
            logits = agent.model(input_ids=torch.tensor([context])).logits[0, -1]
            logprobs.append(torch.log_softmax(logits.float(), -1)[target].item())
            context = context + [target]
    return logprobs


CONTINUATIONS = ["Paris", "no", "x", "four, or so it seems to me", "4", "ok then"]


@pytest.mark.parametrize("chat", [True, False])
def test_score_matches_token_by_token_reference(agent, chat):
    agent.batch_size = 4  # two chunks of unequal widths
    reference = [
        slow_logprobs(agent, agent.render(p, chat=chat), c, add_special_tokens=not chat)
        for p, c in zip(PROMPTS, CONTINUATIONS, strict=True)
    ]
    options = GenerationOptions(chat_template=chat)
    per_token = agent.score(PROMPTS, CONTINUATIONS, reduction="none", options=options)
    for got, want in zip(per_token, reference, strict=True):
        assert got == pytest.approx(want, abs=1e-4)
    sums = agent.score(PROMPTS, CONTINUATIONS, options=options)
    means = agent.score(PROMPTS, CONTINUATIONS, reduction="mean", options=options)
    last2 = agent.score(PROMPTS, CONTINUATIONS, reduction="mean", last_k=2, options=options)
    for s, m, l2, want in zip(sums, means, last2, reference, strict=True):
        assert s == pytest.approx(sum(want), abs=1e-3)
        assert m == pytest.approx(sum(want) / len(want), abs=1e-4)
        assert l2 == pytest.approx(sum(want[-2:]) / len(want[-2:]), abs=1e-4)


def test_score_rejects_mismatched_or_empty_input(agent):
    with pytest.raises(DataError, match="2 prompts but 1"):
        agent.score(["a", "b"], ["c"])
    with pytest.raises(DataError, match="continuation 1 is empty"):
        agent.score(["a", "b"], ["c", ""])
    with pytest.raises(ConfigError, match="reduction"):
        agent.score(["a"], ["b"], reduction="max")
