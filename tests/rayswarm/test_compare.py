"""`rayswarm compare`: one table of many methods on the same agents and task, honest token counts."""

import json

import pytest

from rayswarm.cli import main
from rayswarm.compare import agent_name

QUICK = ["tiny:quick/codes", "tiny:quick/capitals", "tiny:quick/base"]


def test_agent_names_come_from_the_source_or_are_given():
    assert agent_name("tiny:quick/codes")[0] == "codes"
    assert agent_name("/models/base/")[0] == "base"
    name, spec = agent_name("small=tiny:quick/base")
    assert (name, spec.model) == ("small", "tiny:quick/base")


@pytest.mark.parametrize("argv, message", [
    (["toy:quick/mixed", *QUICK, "--methods", "single,debat"], "unknown method 'debat' (did you mean \"debate\"?)"),
    (["toy:quick/mixed", "tiny:quick/codes", "--methods", "debate"], "collaboration needs at least two agents"),
    (["toy:quick/mixed", "tiny:quick/codes", "tiny:codes"], "two agents are named alike"),
    (["toy:quick/mixed", *QUICK, "tiny:nope"], "agent 'nope'"),
    (["toy:nope", *QUICK], "nope"),
    (["toy:quick/mixed", *QUICK, "--methods", "uniform_soup", "--local"], "uniform_soup runs on Ray actors"),
])
def test_bad_input_is_one_line_before_any_model_loads(argv, message, tmp_path, capsys):
    assert main(["compare", *argv, "--run-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len([line for line in err if line.startswith("rayswarm:")]) == 1 and message in err[-1]
    assert not list(tmp_path.iterdir())


def test_text_methods_share_the_agents_and_count_their_tokens(quick_zoo, tmp_path, capsys):
    methods = "single,majority_vote,debate,rank_and_fuse,knowledge_cards"
    assert main(["compare", "toy:quick/mixed", *QUICK, "--methods", methods, "--limit", "12", "--local",
                 "--run-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "toy:quick/mixed [test, 12 examples, exact_match]" in printed
    (run_dir,) = tmp_path.iterdir()
    rows = {row["method"]: row for row in json.loads((run_dir / "summary.json").read_text())["rows"]}
    assert list(rows) == ["single:codes", "single:capitals", "single:base", "majority_vote", "debate",
                          "rank_and_fuse", "knowledge_cards"]
    singles = [rows[f"single:{name}"] for name in ("codes", "capitals", "base")]
    # The voters are the single agents asked the same prompts: exactly their tokens, nothing more.
    assert rows["majority_vote"]["tokens"] == sum(row["tokens"] for row in singles) > 0
    # A debate's first round is that vote's work again; its second round adds more.
    assert rows["debate"]["tokens"] > rows["majority_vote"]["tokens"]
    assert rows["majority_vote"]["level"] == "text" and singles[0]["level"] == "single"
    assert all(0.0 <= row["score"] <= 1.0 and row["seconds"] > 0 for row in rows.values())


def test_ensembles_and_a_merge_run_on_actors_in_one_table(quick_zoo, ray_local, tmp_path, capsys):
    two = QUICK[:2]
    assert main(["compare", "toy:quick/mixed", *two, "--methods",
                 "single,router_prompted,router_trained,cascade,fusion,uniform_soup",
                 "--limit", "8", "--run-dir", str(tmp_path)]) == 0
    assert "uniform_soup" in capsys.readouterr().out
    (run_dir,) = [path for path in tmp_path.iterdir() if path.name.startswith("compare-")]
    rows = {row["method"]: row for row in json.loads((run_dir / "summary.json").read_text())["rows"]}
    assert [rows[m]["level"] for m in ("cascade", "fusion", "uniform_soup")] == ["api", "logit", "weight"]
    # The cascade's first member answers every question as that agent alone does, then some escalate.
    assert rows["cascade"]["tokens"] >= rows["single:codes"]["tokens"] > 0
    assert rows["fusion"]["tokens"] > 0 and rows["uniform_soup"]["tokens"] > 0
    # Each router is its own: the trained one pays for its training answers on dev in its own row.
    singles = rows["single:codes"]["tokens"] + rows["single:capitals"]["tokens"]
    assert rows["router_trained"]["tokens"] > singles > rows["router_prompted"]["tokens"] - 16 * 8
    (merge_run,) = (run_dir / "swarms").iterdir()
    summary = json.loads((merge_run / "summary.json").read_text())
    (merged,) = summary["systems"].values()  # no baselines: the other rows are the baselines
    assert rows["uniform_soup"]["score"] == merged["test"]
