"""Fractional GPUs: two agents of `num_gpus: 0.5` share one GPU, a third is refused.

Ray schedules GPUs as a resource, so a Ray started with one *declared* GPU places actors exactly as
on a GPU machine (each gets the GPU's id; CUDA_VISIBLE_DEVICES is set for it), while torch, finding
no CUDA, keeps the models on the CPU. That checks the placement on any machine; the speed on a real
GPU is a benchmark's business. A Ray of its own is needed (the session's has no GPU), so the check
runs in a subprocess.
"""

import json
import os
import subprocess
import sys

SCRIPT = """
import json, ray
from rayswarm.actors.pool import AgentPool
from rayswarm.clusters.connect import connect
from rayswarm.graphs.errors import ConfigError
from rayswarm.graphs.spec import AgentSpec

connect(num_cpus=2, num_gpus=1)
half = dict(num_gpus=0.5, num_cpus=0.5)
pool = AgentPool({"a": AgentSpec(model="tiny:random-llama", **half),
                  "b": AgentSpec(model="tiny:random-olmo2", **half)})
pool.load_all()
actors = [actor for placement in pool.placements for actor in placement.actors]
gpu_ids = [ray.get(actor.__ray_call__.remote(lambda self: [str(i) for i in ray.get_gpu_ids()])) for actor in actors]
answers = [ray.get(pool.actors(name)[0].generate.remote(name, ["Hello"])) for name in ("a", "b")]
try:
    AgentPool({"c": AgentSpec(model="tiny:random-llama", **half), "d": AgentSpec(model="tiny:random-olmo2", **half),
               "e": AgentSpec(model="smollm2", **half)})
    refused = ""
except ConfigError as err:
    refused = str(err)
print("RESULT " + json.dumps({"gpu_ids": gpu_ids, "free_gpus": ray.available_resources().get("GPU", 0.0),
                              "answers": answers, "refused": refused}))
"""


def test_two_half_gpu_agents_share_one_gpu_and_a_third_is_refused():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["gpu_ids"] == [["0"], ["0"]], "both agents on the one GPU"
    assert result["free_gpus"] == 0.0
    assert all(isinstance(answer[0], str) for answer in result["answers"])
    assert "ask for 1.5 GPUs in all but the cluster has 1" in result["refused"]
