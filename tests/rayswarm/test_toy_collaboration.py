"""The toy world makes collaboration pay: on composed questions only a graph of experts can answer."""

from collections import defaultdict

from rayswarm.config import RunConfig
from rayswarm.graphs.patterns import chain
from rayswarm.graphs.spec import AgentSpec
from rayswarm.runner import evaluate_graph, graph_backend

CHAIN = ("codes", "twins", "capitals")


def accuracy_by_type(task, predictions) -> dict[str, float]:
    groups = defaultdict(list)
    for example, score in zip(task.examples, task.score(predictions), strict=True):
        groups[example.meta.get("type") or example.meta.get("domain")].append(score)
    return {kind: sum(v) / len(v) for kind, v in groups.items()}


def test_the_expert_chain_beats_every_model_alone_on_composed_questions(quick_zoo):
    agents = {name: AgentSpec(model=f"tiny:quick/{name}") for name in ("base", *CHAIN)}
    systems = {"chain": chain(list(CHAIN), agents=agents), **{name: chain([name], agents=agents) for name in agents}}
    configs = {name: RunConfig(task={"name": "toy:quick/mixed", "split": "test"}, graph=graph)
               for name, graph in systems.items()}
    task = configs["chain"].load_task()
    with graph_backend(agents, local=True) as backend:
        scores = {name: accuracy_by_type(task, evaluate_graph(config, task, backend).result.final)
                  for name, config in configs.items()}
    assert scores["chain"]["capital_of_code"] > max(scores[name]["capital_of_code"] for name in agents)
