"""FlexOlmo's comparison table: every model variant on every domain's task (algorithms.md §4, issue 5 §7).

Variants, each scored by greedy generation through `Agent` exactly as a graph node answers:

    public              the dense public model
    expert:<owner>      an owner's own 2-expert model (public + its expert)
    merged              public + every expert, no joint training
    merged-no-<owner>   the merged model with that owner opted out (its FFN and router rows removed)
    average             weight-averaging merge baseline: the public model with its FFN replaced by
                        the mean of the owners' trained FFNs (a model soup of the dense experts)
    joint-moe           optional: an MoE trained on everybody's data at once, when one is given
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch

from rayswarm.agents.agent import Agent
from rayswarm.agents.flexolmo_model import PUBLIC, expert_ffn, resolve_mask, select_experts
from rayswarm.agents.toyeval import accuracy, answer
from rayswarm.graphs.tasks import Example


def average_merge(public, experts: Sequence):
    """A dense Olmo2: the public model with every FFN the mean of the experts' trained FFNs (slot 1)."""
    model = copy.deepcopy(public)
    intermediate = public.config.intermediate_size
    with torch.no_grad():
        for index, layer in enumerate(model.model.layers):
            gate_up = torch.stack([expert_ffn(e, index, 1)[0] for e in experts]).mean(0)
            down = torch.stack([expert_ffn(e, index, 1)[1] for e in experts]).mean(0)
            layer.mlp.gate_proj.weight.copy_(gate_up[:intermediate])
            layer.mlp.up_proj.weight.copy_(gate_up[intermediate:])
            layer.mlp.down_proj.weight.copy_(down)
    return model.eval()


def variants(public, experts: dict, merged, names: list[str], joint=None) -> dict:
    """name -> model of every variant of the table (built lazily: opt-outs are cheap views)."""
    models = {PUBLIC: lambda: public}
    models.update({f"expert:{owner}": (lambda e=expert: e) for owner, expert in experts.items()})
    models["merged"] = lambda: merged
    for owner in experts:
        models[f"merged-no-{owner}"] = lambda o=owner: select_experts(merged, names, resolve_mask(names, exclude=[o]))
    models["average"] = lambda: average_merge(public, list(experts.values()))
    if joint is not None:
        models["joint-moe"] = lambda: joint
    return models


def score_table(models: dict, tokenizer, tasks: dict[str, list[Example]], progress=None) -> dict[str, dict]:
    """{variant: {domain: accuracy, ..., "mean": ...}}; `progress(variant, row)` after each variant."""
    table = {}
    for name, build in models.items():
        agent = Agent(build(), tokenizer, name=name)
        row = {domain: accuracy(answer(agent, examples), examples) for domain, examples in tasks.items()}
        row["mean"] = sum(row.values()) / len(row)
        table[name] = row
        if progress:
            progress(name, row)
    return table


def format_table(table: dict[str, dict]) -> str:
    columns = list(next(iter(table.values())))
    width = max(len(name) for name in table) + 2
    lines = [f"{'variant':<{width}}" + "".join(f"{c:>10}" for c in columns)]
    for name, row in table.items():
        lines.append(f"{name:<{width}}" + "".join(f"{100 * row[c]:>9.1f}%" for c in columns))
    return "\n".join(lines)
