"""PIC: prompts, the metric on hand-made cases (edge cases included), bad claim lists, preference data."""

import json
import math
import random

import pytest

from rayswarm.agents import pic
from rayswarm.agents.tokenizer import build_char_tokenizer
from rayswarm.graphs.errors import DataError

CLAIMS = ["The capital of Avalon is Lune.", "Avalon's code is AVL.", "Avalon borders Brume."]


def scores(response: str, claims=CLAIMS, judge=None):
    per_item, summary = pic.evaluate([response], [claims], judge or pic.MatchJudge())
    return per_item[0], summary


def test_prompts_name_the_setting_and_list_the_claims():
    full, partial = pic.format_prompt("Describe Avalon.", CLAIMS, "full"), pic.format_prompt("Q", CLAIMS, "partial")
    assert "exactly all" in full and "any subset" in partial
    assert "Instruction: Describe Avalon.\nClaims:\n- The capital of Avalon is Lune.\n- Avalon's code" in full
    assert full.endswith("Response:")


def test_perfect_partial_and_unsupported_responses():
    perfect, _ = scores("The capital of Avalon is Lune. Avalon's code is AVL. Avalon borders Brume.")
    assert (perfect.precision, perfect.recall, perfect.f1) == (1.0, 1.0, 1.0)
    half, _ = scores("the capital of avalon is lune!\nAvalon has ten rivers.")  # case and punctuation ignored
    assert half.precision == 0.5 and half.recall == pytest.approx(1 / 3) and half.unsupported == 1
    assert half.f1 == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))


def test_edge_cases_empty_output_no_claims_and_repeats():
    empty, _ = scores("")
    assert (empty.precision, empty.recall, empty.f1, empty.claims) == (0.0, 0.0, 0.0, 0)
    no_input, _ = scores("The capital of Avalon is Lune.", claims=[])
    assert (no_input.precision, no_input.recall, no_input.f1) == (0.0, 0.0, 0.0)  # K = 0
    repeated, _ = scores("The capital of Avalon is Lune. " * 3)
    assert repeated.claims == 1 and repeated.precision == 1.0 and repeated.recall == pytest.approx(1 / 3)
    doubled_input, _ = scores(" ".join(CLAIMS), claims=CLAIMS + [CLAIMS[0].upper()])
    assert doubled_input.recall == 1.0  # a repeated input claim does not raise K


def test_summary_rates_and_an_nli_like_judge():
    responses = [" ".join(CLAIMS), "The capital of Avalon is Lune.", "Avalon is purple."]
    per_item, summary = pic.evaluate(responses, [CLAIMS] * 3, pic.MatchJudge())
    assert summary["perfect_precision"] == pytest.approx(2 / 3) and summary["perfect_f1"] == pytest.approx(1 / 3)
    assert summary["precision"] == pytest.approx((1 + 1 + 0) / 3)
    assert summary["unsupported"] == pytest.approx(1 / 3) and summary["count"] == 3
    loose, _ = scores("Avalon's capital is Lune.", judge=pic.MatchJudge(threshold=0.75))
    assert loose.precision == 1.0  # 3 of its 4 words occur in the first claim
    assert scores("Avalon's capital is Lune.")[0].precision == 0.0  # the exact judge says no


def test_llm_judge_answers_are_parsed_strictly():
    assert pic.parse_claims("- A is B.\n- \nnoise\n  - C is D.") == ["A is B.", "C is D."]
    assert pic.parse_claims("No verifiable claim.") == []
    assert pic.parse_support("supported <1, 3>", 3) == [0, 2]
    assert pic.parse_support("supported <4>", 3) == []  # out of range
    assert pic.parse_support("unsupported <1>", 3) == []
    assert pic.parse_support("I think so", 3) == []


def test_llm_judge_runs_on_a_real_agent(make_agent):
    per_item, summary = pic.evaluate(["Avalon is far.", ""], [CLAIMS, CLAIMS],
                                     pic.LLMJudge(make_agent(), max_new_tokens=8))
    assert len(per_item) == 2 and 0.0 <= summary["f1"] <= 1.0


def test_bad_claim_lists_name_the_file_and_line(tmp_path):
    good = {"instruction": "Describe Avalon.", "claims": CLAIMS, "setting": "partial"}
    cases = {
        "'claims' must be a list": {**good, "claims": "Avalon is far."},
        "claim 1 must be non-empty text": {**good, "claims": ["a", ""]},
        "claim 0 must be non-empty text": {**good, "claims": [3]},
        "'setting' must be full or partial": {**good, "setting": "some"},
        "'instruction' must be non-empty text": {"claims": CLAIMS},
        "unknown key 'claim'": {**good, "claim": []},
    }
    for problem, row in cases.items():
        path = tmp_path / "items.jsonl"
        path.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
        with pytest.raises(DataError) as err:
            pic.read_items(path)
        assert str(err.value).startswith(f"{path}:2: ") and problem in str(err.value), str(err.value)
    path.write_text(json.dumps(good) + "\n{broken\n")
    with pytest.raises(DataError, match=r":2: not valid JSON"):
        pic.read_items(path)
    path.write_text(json.dumps(good) + "\n")
    assert pic.read_items(path) == [pic.PICItem("Describe Avalon.", tuple(CLAIMS), "partial")]


def test_drop_bounds_follow_pic_lm():
    rng = random.Random(0)
    assert pic.drop_claims(["only"], "full", rng) is None
    for n in range(2, 12):
        claims = [f"c{i}" for i in range(n)]
        for setting, low in (("full", 0.1), ("partial", 0.4)):
            kept = [len(pic.drop_claims(claims, setting, rng)) for _ in range(40)]
            dropped = [n - k for k in kept]
            assert min(dropped) >= max(1, math.floor(low * n)) or n == 2
            assert max(dropped) <= max(max(1, math.floor(low * n)), min(n - 1, math.floor(0.8 * n)))
            assert all(1 <= k < n for k in kept)
    subset = pic.drop_claims(CLAIMS, "full", random.Random(1))
    assert subset == [c for c in CLAIMS if c in subset]  # order kept


def test_preference_data_ranks_by_the_reference_log_prob(make_agent):
    generator, reference = make_agent(seed=1), make_agent(seed=2)
    items = [pic.PICItem(f"Describe country {i}.", tuple(CLAIMS), setting, " ".join(CLAIMS))
             for i, setting in enumerate(["full", "partial", "full", "partial"])]
    items.append(pic.PICItem("No response.", tuple(CLAIMS)))  # skipped: nothing to compare with
    items.append(pic.PICItem("One claim.", ("a",), "full", "a"))  # skipped: nothing to drop
    rows = pic.preference_data(generator, reference, items, seed=0, generation={"max_new_tokens": 24})
    assert 1 <= len(rows) <= 4
    tokenizer = build_char_tokenizer()
    for row in rows:
        original_chosen = row.chosen == " ".join(CLAIMS)
        setting = "full" if "exactly all" in row.prompt else "partial"
        assert original_chosen == (1 / (1 + math.exp(-row.drop)) > pic.TAU[setting])
        # The prompt carries the context claims: all of them when y is chosen, the reduced set when y′ is.
        assert (row.claims == CLAIMS) == original_chosen and set(row.claims) <= set(CLAIMS)
        assert row.prompt.startswith(tokenizer.bos_token) and row.prompt.endswith("<|assistant|>")
        assert set(row.pair()) == {"prompt", "chosen", "rejected"}
    instruction = [items[i].instruction for i in range(4) if f"country {i}." in rows[0].prompt]
    y, y2 = (rows[0].chosen, rows[0].rejected) if rows[0].chosen == " ".join(CLAIMS) else (rows[0].rejected,
                                                                                           rows[0].chosen)
    a, b = reference.score(instruction * 2, [y, y2], reduction="mean", last_k=20)
    assert rows[0].drop == pytest.approx(a - b)


def test_pair_prompts_are_rendered_as_the_policy_sees_them(make_agent):
    """The pairs train the policy, so their prompts take its chat template, not the reference's."""
    policy, reference = make_agent(seed=1), make_agent(seed=2)
    reference.tokenizer.chat_template = "[INST] {{ messages[-1]['content'] }} [/INST]"  # another model family
    items = [pic.PICItem(f"Describe country {i}.", tuple(CLAIMS), "full", " ".join(CLAIMS)) for i in range(2)]
    rows = pic.preference_data(policy, reference, items, seed=0, generation={"max_new_tokens": 16})
    assert rows
    for row in rows:
        (item,) = [item for item in items if f"Instruction: {item.instruction}\n" in row.prompt]
        assert row.prompt == policy.render(item.prompt(row.claims))  # <s><|user|>…<|assistant|>
        assert "[INST]" not in row.prompt
