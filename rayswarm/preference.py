"""The engine behind `rayswarm train parapo|pic`: build the pairs, measure, DPO on Ray Train, measure again.

A run directory holds config.yaml, pairs.jsonl (and ParaPO's mined.jsonl), train/ (Ray Train's
checkpoints), adapter/ (the trained LoRA, PEFT format), log.jsonl (the DPO log history) and
summary.json (before/after numbers). Resuming a run directory reuses its pairs and continues
the DPO job from its last checkpoint.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from rayswarm.agents import paraphrase as para
from rayswarm.agents import pic
from rayswarm.agents import regurgitation as rg
from rayswarm.agents.agent import Agent
from rayswarm.agents.pairs import bos_prompt, read_pairs, write_pairs
from rayswarm.agents.sources import resolve_source
from rayswarm.clusters.dpo import DPOResult, export, train_dpo
from rayswarm.clusters.endpoint import ChatEndpoint, EndpointSpec
from rayswarm.graphs.rundir import RunDir
from rayswarm.graphs.spec import AgentSpec
from rayswarm.train_config import ParaPOConfig, PICConfig, load_corpus


def tuned_agent(spec: AgentSpec, adapter: Path) -> Agent:
    """The model as trained: its starting weights (an expert's adapter merged in) plus the DPO adapter."""
    from peft import PeftModel

    start = Agent.from_spec(spec)
    model = start.model.merge_and_unload() if hasattr(start.model, "merge_and_unload") else start.model
    return Agent(PeftModel.from_pretrained(model, str(adapter)).eval(), start.tokenizer, name=f"{start.name}+dpo",
                 spec=spec)


def run_dpo(spec: AgentSpec, pairs: list[dict], config, run_dir: RunDir, address: str | None) -> DPOResult:
    from rayswarm.clusters.connect import connect

    connect(address)
    resolved = resolve_source(spec.model)
    start = time.perf_counter()
    result = train_dpo(resolved.path, pairs, config.dpo, storage=run_dir.path / "train", name="dpo",
                       adapter=spec.adapter or resolved.adapter)
    export(result, run_dir.path / "adapter")
    logged = [{k: v for k, v in row.items() if k != "time"} for row in run_dir.read_log()]
    for row in result.history:  # a resumed job's history starts with the rows its first run logged
        if row not in logged:
            run_dir.log(**row)
    print(f"DPO: {len(result.metric('loss'))} steps in {time.perf_counter() - start:.0f} s; "
          f"adapter in {run_dir.path / 'adapter'}", flush=True)
    return result


def dpo_summary(result: DPOResult) -> dict:
    losses, chosen = result.metric("loss"), result.metric("rewards/chosen")
    return {"steps": len(losses), "loss_first": losses[0], "loss_last": losses[-1],
            "rewards_chosen_first": chosen[0], "rewards_chosen_last": chosen[-1]}


def open_run_dir(config, run_root: str | Path, resume: str | Path | None) -> RunDir:
    if resume is not None:
        return RunDir.existing(resume)
    run_dir = RunDir(run_root, config.name)
    run_dir.write_config(config.model_dump(mode="json", exclude_none=True))
    return run_dir


# ---- ParaPO ------------------------------------------------------------------------------------


def paraphraser(spec: AgentSpec | EndpointSpec):
    """The paraphraser a config names: an agent loaded here, or a client of a remote model."""
    return ChatEndpoint(spec) if isinstance(spec, EndpointSpec) else Agent.from_spec(spec)


def check_paraphraser(config: ParaPOConfig, resume: str | Path | None) -> None:
    """A remote paraphraser must answer and serve its model before anything loads, if pairs are to be built."""
    if not isinstance(config.paraphraser, EndpointSpec) or config.pairs:
        return
    if resume is None or not (Path(resume) / "pairs.jsonl").is_file():
        ChatEndpoint(config.paraphraser).check()


def parapo_pairs(config: ParaPOConfig, model: Agent, run_dir: RunDir) -> tuple[list[dict], list[rg.Window]]:
    """The run's pairs and the windows regurgitation is measured on (mined now, or read back on resume)."""
    pairs_file, mined_file = run_dir.path / "pairs.jsonl", run_dir.path / "mined.jsonl"
    if pairs_file.is_file():
        windows = [rg.Window(**json.loads(line)) for line in mined_file.read_text().splitlines()] \
            if mined_file.is_file() else []
        return read_pairs(pairs_file), windows
    m = config.mining
    windows = rg.mine(model, load_corpus(config.corpus), m.top, m.min_score, m.prefix_tokens,
                      m.continuation_tokens) if config.corpus else []
    run_dir.write_jsonl("mined.jsonl", [w.to_dict() for w in windows])
    print(f"ParaPO: {len(windows)} memorized windows mined", flush=True)
    if config.pairs:
        pairs = read_pairs(config.pairs)
    else:
        p = config.paraphrase
        paraphrases = para.paraphrase(paraphraser(config.paraphraser), [w.text for w in windows],
                                      p.length_tolerance, p.max_new_tokens, p.temperature, p.top_p, config.seed)
        pairs = para.parapo_pairs([w.text for w in windows], paraphrases, bos_prompt(model.tokenizer),
                                  system=config.variant == "system")
    write_pairs(pairs_file, pairs)
    print(f"ParaPO: {len(pairs)} preference pairs", flush=True)
    return pairs, windows


def parapo_measure(agent: Agent, config: ParaPOConfig, windows: list[rg.Window]) -> dict:
    """Regurgitation on the windows (the system variant: also under each flag line) and held-out perplexity."""
    scores = {}
    if windows:
        _, summary = rg.evaluate(agent, windows, config.mining.continuation_tokens)
        scores["regurgitation"] = summary
    if windows and config.variant == "system":  # "Copying: No" should lower it, "Copying: Yes" keep it
        scores["regurgitation_by_flag"] = {
            flag: rg.evaluate(agent, windows, config.mining.continuation_tokens, para.flag_line(flag))[1]
            for flag in para.FLAGS}
    if config.corpus or config.heldout:
        texts = load_corpus(config.heldout or config.corpus, heldout=config.heldout is None)
        scores["heldout_perplexity"] = rg.perplexity(agent, texts)
    return scores


def execute_parapo(config: ParaPOConfig, run_root: str | Path = "runs", address: str | None = None,
                   resume: str | Path | None = None) -> tuple[dict, RunDir]:
    check_paraphraser(config, resume)
    run_dir = open_run_dir(config, run_root, resume)
    model = Agent.from_spec(config.model)
    pairs, windows = parapo_pairs(config, model, run_dir)
    before = parapo_measure(model, config, windows)
    result = run_dpo(config.model, pairs, config, run_dir, address)
    after = parapo_measure(tuned_agent(config.model, run_dir.path / "adapter"), config, windows)
    summary = {"recipe": "parapo", "pairs": len(pairs), "windows": len(windows), "before": before, "after": after,
               "dpo": dpo_summary(result)}
    if "heldout_perplexity" in before:
        rise = after["heldout_perplexity"] / before["heldout_perplexity"] - 1
        summary["utility"] = {"perplexity_rise": rise, "tolerance": config.utility_tolerance,
                              "within_tolerance": rise <= config.utility_tolerance}
    run_dir.write_summary(summary)
    return summary, run_dir


# ---- PIC ---------------------------------------------------------------------------------------


def pic_measure(agent: Agent, items: list[pic.PICItem], judge) -> dict:
    """Greedy responses to the items' PIC prompts, scored by the judge."""
    responses = agent.generate([item.prompt() for item in items], max_new_tokens=128, temperature=0.0)
    return pic.evaluate(responses, [list(item.claims) for item in items], judge)[1]


def execute_pic(config: PICConfig, run_root: str | Path = "runs", address: str | None = None,
                resume: str | Path | None = None) -> tuple[dict, RunDir]:
    items = pic.read_items(config.items)
    eval_items = pic.read_items(config.eval_items) if config.eval_items else items
    run_dir = open_run_dir(config, run_root, resume)
    policy = Agent.from_spec(config.model)
    judge = config.judge.build(Agent.from_spec)
    pairs_file = run_dir.path / "pairs.jsonl"
    if pairs_file.is_file():
        pairs = read_pairs(pairs_file)
    else:
        reference = Agent.from_spec(config.reference) if config.reference else policy
        options = config.generation.model_dump(exclude={"budget"})
        options["seed"] = config.seed if options["seed"] is None else options["seed"]
        rows = pic.preference_data(policy, reference, items, seed=config.seed, generation=options)
        pairs = [row.pair() for row in rows]
        write_pairs(pairs_file, pairs)
        run_dir.write_jsonl("preference.jsonl", [asdict(row) for row in rows])
        print(f"PIC: {len(pairs)} preference pairs from {len(items)} items", flush=True)
    before = pic_measure(policy, eval_items, judge)
    result = run_dpo(config.model, pairs, config, run_dir, address)
    after = pic_measure(tuned_agent(config.model, run_dir.path / "adapter"), eval_items, judge)
    summary = {"recipe": "pic", "pairs": len(pairs), "before": before, "after": after, "dpo": dpo_summary(result)}
    run_dir.write_summary(summary)
    return summary, run_dir
