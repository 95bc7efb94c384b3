"""What a Model Swarms iteration costs, and where the time goes.

    RAY_AUTH_MODE=disabled OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_swarm.py [--particles 8]
    python benchmarks/bench_swarm.py --gpu --no-actors     (on a GPU machine; Ray need not be installed)

One iteration = every particle answering the same dev questions (toy:mixed, greedy, 24 new tokens,
the standard zoo's codes/twins/capitals experts topped up by crossover). Measured, median of
`--repeats`, in one process:
  floor      one resident model, particles one after another: write the particle's vector into the
             adapter (in memory), generate its batch; the sequential floor of the issue
  batched    one resident model, ONE mixed-adapter generation over particles × questions
  actors=1/2 the batched iteration through EvaluatorPool with 1 and 2 actors (Ray, rows split)
plus the share of the batched iteration spent inside model forward passes, and the time of one
weight swap (set_vector of one particle's LoRA vector). `--gpu` puts the models on the GPU (the
evaluator actors ask half a GPU each); `--no-actors` skips the Ray part (floor and batched only).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from rayswarm.actors.host import ModelHost
from rayswarm.agents.tasksource import load_task_source
from rayswarm.graphs.messages import SOURCE_TEMPLATE
from rayswarm.graphs.spec import AgentSpec, GenerationOptions
from rayswarm.swarms.experts import Experts
from rayswarm.swarms.pso import populate


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class ForwardTimer:
    """Wall time spent inside the model's forward passes (hooks on the outermost module)."""

    def __init__(self, model):
        self.total, self._start = 0.0, 0.0
        model.register_forward_pre_hook(self._pre)
        model.register_forward_hook(self._post)

    def _pre(self, *args):
        self._start = time.perf_counter()

    def _post(self, *args):
        self.total += time.perf_counter() - self._start


def time_pools(template, vectors, prompts, options, args) -> dict[int, float]:
    """The batched iteration through EvaluatorPools of 1 and 2 actors (imports Ray)."""
    from rayswarm.clusters.connect import connect
    from rayswarm.swarms.evaluator import EvaluatorPool

    connect()
    pools = {k: EvaluatorPool(template, args.particles, actors=k) for k in (1, 2)}
    actor_s = {}
    for k, pool in pools.items():
        pool.outputs(vectors, prompts[:2], options)  # warm: models loaded
        actor_s[k] = median_time(lambda pool=pool: pool.outputs(vectors, prompts, options), args.repeats)
    return actor_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=8)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gpu", action="store_true", help="models on the GPU (half a GPU per evaluator actor)")
    parser.add_argument("--no-actors", action="store_true", help="skip the EvaluatorPool rows (no Ray needed)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    options = GenerationOptions(max_new_tokens=24)
    gpus = 0.5 if args.gpu else 0.0
    experts = {name: AgentSpec(model=f"tiny:{name}", generation=options, num_gpus=gpus)
               for name in ("codes", "twins", "capitals")}
    vectors = populate(Experts.load(experts).vectors, args.particles, seed=0)
    questions = load_task_source("toy:mixed", "dev", "exact_match", args.questions).inputs
    prompts = [SOURCE_TEMPLATE.format(question=q) for q in questions]
    template = experts["codes"]
    slots = [f"particle{i}" for i in range(args.particles)]  # one LoRA slot per particle
    host = ModelHost(dict.fromkeys(slots, template))

    def floor():
        for i in range(args.particles):
            host.set_vector(slots[0], vectors[i])
            host.generate(slots[0], prompts, options, system="")

    def batched():
        for i in range(args.particles):
            host.set_vector(slots[i], vectors[i])
        names = [name for name in slots for _ in prompts]
        host.generate_rows(names, prompts * args.particles, options)

    swap = median_time(lambda: host.set_vector(slots[0], vectors[1]), 20)
    floor_s = median_time(floor, args.repeats)
    batched_s = median_time(batched, args.repeats)
    timer = ForwardTimer(host.agent.model.get_base_model())  # generate() calls the inner model directly
    batched()
    share = timer.total / batched_s
    rows = args.particles * len(prompts)
    print(f"{args.particles} particles x {len(prompts)} questions = {rows} generations per iteration "
          f"(median of {args.repeats}; {host.agent.device})")
    print(f"  sequential floor (one model, swaps):    {floor_s:7.2f} s")
    print(f"  batched, in process:                    {batched_s:7.2f} s  ({batched_s / floor_s:.2f} of the floor)")
    if not args.no_actors:
        actor_s = time_pools(template, vectors, prompts, options, args)
        print(f"  batched, EvaluatorPool 1 actor:         {actor_s[1]:7.2f} s  ({actor_s[1] / floor_s:.2f} of the floor)")
        print(f"  batched, EvaluatorPool 2 actors:        {actor_s[2]:7.2f} s  (speed-up {actor_s[1] / actor_s[2]:.2f}x)")
    print(f"  share inside model forward passes:      {share:7.1%}")
    print(f"  weight swap per particle ({vectors.shape[1]} values): {1e3 * swap:.2f} ms")


if __name__ == "__main__":
    main()
