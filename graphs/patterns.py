"""Ready-made graphs, built with the public Graph API: the usual multi-LLM collaboration shapes.

Each function takes the agent names to place and the `agents` mapping they come from, and returns an
ordinary (validated) Graph, so a pattern can be saved as YAML and edited by hand. Node names are
positional (`step0`, `layer1_2`, `round0_1`, ...) because an agent may appear in several places;
`node.agent` says who answers where.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise

from rayswarm.graphs.errors import GraphError
from rayswarm.graphs.graph import Graph, Node
from rayswarm.graphs.schema import did_you_mean
from rayswarm.graphs.spec import AgentSpec


def chain(agent_names: Sequence[str], *, agents: Mapping[str, AgentSpec]) -> Graph:
    """step0 -> step1 -> ...: each agent answers with the previous answer in view."""
    _need(agent_names, "chain")
    names = [f"step{i}" for i in range(len(agent_names))]
    nodes = [Node(name=name, agent=agent) for name, agent in zip(names, agent_names, strict=True)]
    return Graph(agents=dict(agents), nodes=nodes, edges=list(pairwise(names)))


def mixture_of_agents(layers: Sequence[Sequence[str]], aggregator: str, *,
                      agents: Mapping[str, AgentSpec]) -> Graph:
    """Mixture-of-Agents: every node of a layer reads every node of the layer before; one aggregator
    agent reads the last layer and gives the answer."""
    _need(layers, "mixture_of_agents layers")
    grid = []
    for i, layer in enumerate(layers):
        _need(layer, f"mixture_of_agents layer {i}")
        grid.append([Node(name=f"layer{i}_{j}", agent=agent) for j, agent in enumerate(layer)])
    last = Node(name="aggregator", agent=aggregator)
    nodes = [node for layer in grid for node in layer] + [last]
    edges = [(a.name, b.name) for upper, lower in pairwise([*grid, [last]]) for a in upper for b in lower]
    return Graph(agents=dict(agents), nodes=nodes, edges=edges)


def debate(agent_names: Sequence[str], rounds: int, *, agents: Mapping[str, AgentSpec]) -> Graph:
    """Multi-agent debate, unrolled: round 0 answers alone; in round r each agent reads every agent's
    round r-1 answer (its own included). The last round's answers are settled by majority vote."""
    _need(agent_names, "debate")
    if rounds < 1:
        raise GraphError(f"debate needs at least 1 round, got {rounds}")
    grid = [[f"round{r}_{i}" for i in range(len(agent_names))] for r in range(rounds)]
    nodes = [Node(name=name, agent=agent)
             for row in grid for name, agent in zip(row, agent_names, strict=True)]
    nodes.append(Node(name="vote", fan_in="vote"))
    edges = [(a, b) for earlier, later in pairwise(grid) for a in earlier for b in later]
    edges += [(a, "vote") for a in grid[-1]]
    return Graph(agents=dict(agents), nodes=nodes, edges=edges)


CRITIQUE_INSTRUCTION = "Please point out any mistakes in the answer to the following question, briefly."
REVISE_INSTRUCTION = (
    "Please answer the following question, improving the previous answer with the help of the critique."
)


def refine(agent: str, critic: str, rounds: int, *, agents: Mapping[str, AgentSpec]) -> Graph:
    """Self-refinement, unrolled: answer -> critique1 -> revise1 -> critique2 -> revise2 -> ...

    A critique reads the latest answer; a revision reads the latest answer and its critique.
    """
    if rounds < 1:
        raise GraphError(f"refine needs at least 1 round, got {rounds}")
    nodes = [Node(name="answer", agent=agent)]
    edges = []
    latest = "answer"
    for r in range(1, rounds + 1):
        critique, revise = f"critique{r}", f"revise{r}"
        nodes += [
            Node(name=critique, agent=critic,
                 template=f"{CRITIQUE_INSTRUCTION}\nQuestion: {{question}}\nAnswer: {{{latest}}}"),
            Node(name=revise, agent=agent,
                 template=f"{REVISE_INSTRUCTION}\nPrevious answer: {{{latest}}}\nCritique: {{{critique}}}\n"
                          "Question: {question}"),
        ]
        edges += [(latest, critique), (latest, revise), (critique, revise)]
        latest = revise
    return Graph(agents=dict(agents), nodes=nodes, edges=edges)


def majority_vote(agent_names: Sequence[str], *, agents: Mapping[str, AgentSpec]) -> Graph:
    """Independent answers, settled by majority (ties: the first agent listed)."""
    _need(agent_names, "majority_vote")
    voters = [Node(name=f"voter{i}", agent=agent) for i, agent in enumerate(agent_names)]
    return Graph(agents=dict(agents), nodes=[*voters, Node(name="vote", fan_in="vote")],
                 edges=[(voter.name, "vote") for voter in voters])


FUSE_TEMPLATE = (
    "Please answer the following question by fusing the best candidate answers, ranked best first, "
    "into one answer.\n{previous}Question: {question}"
)


def rank_and_fuse(candidates: Sequence[str], fuser: str, top_k: int = 2, *,
                  agents: Mapping[str, AgentSpec]) -> Graph:
    """LLM-Blender's shape: candidates answer; the `top_k` answers the others agree with most are kept
    (fan_in rank) and the fuser writes one answer from them."""
    _need(candidates, "rank_and_fuse")
    nodes = [Node(name=f"candidate{i}", agent=agent) for i, agent in enumerate(candidates)]
    fuse = Node(name="fuse", agent=fuser, fan_in="rank", top_k=top_k, template=FUSE_TEMPLATE)
    return Graph(agents=dict(agents), nodes=[*nodes, fuse], edges=[(node.name, "fuse") for node in nodes])


CARD_TEMPLATE = "Please write down what you know that helps answer the following question.\nQuestion: {question}"
KNOWLEDGE_TEMPLATE = (
    "Please answer the following question with the help of the knowledge below, "
    "feel free to ignore wrong or unhelpful knowledge.\n{previous}Question: {question}"
)


def knowledge_cards(cards: Sequence[str], answerer: str, *, agents: Mapping[str, AgentSpec]) -> Graph:
    """Knowledge Card: specialised agents each write what they know about the question (a card), and
    the answerer reads every card before it answers."""
    _need(cards, "knowledge_cards")
    nodes = [Node(name=f"card{i}", agent=agent, template=CARD_TEMPLATE) for i, agent in enumerate(cards)]
    answer = Node(name="answer", agent=answerer, template=KNOWLEDGE_TEMPLATE)
    return Graph(agents=dict(agents), nodes=[*nodes, answer], edges=[(node.name, "answer") for node in nodes])


PATTERNS = {
    "chain": chain, "mixture_of_agents": mixture_of_agents, "debate": debate, "refine": refine,
    "majority_vote": majority_vote, "rank_and_fuse": rank_and_fuse, "knowledge_cards": knowledge_cards,
}


def from_pattern(data: Mapping) -> Graph:
    """A graph from its YAML shorthand: `{pattern: debate, agents: {...}, <the pattern's arguments>}`.

        graph: {pattern: debate, agent_names: [codes, capitals, twins], rounds: 2, agents: {...}}
    """
    args = dict(data)
    name = args.pop("pattern")
    if name not in PATTERNS:
        raise GraphError(f"unknown pattern '{name}'{did_you_mean(name, PATTERNS)}; known: {', '.join(PATTERNS)}")
    agents = {key: AgentSpec.model_validate(spec) if isinstance(spec, Mapping) else spec
              for key, spec in (args.pop("agents", None) or {}).items()}
    try:
        return PATTERNS[name](**args, agents=agents)
    except TypeError as err:
        raise GraphError(f"pattern '{name}': {err}") from None


def _need(items: Sequence, what: str) -> None:
    if not items:
        raise GraphError(f"{what} needs at least one agent")
