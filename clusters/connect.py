"""Where Ray runs: an embedded local instance by default, an existing cluster when given its address.

    connect()                               # ray.init() in this process: a laptop, CI, a test
    connect("ray://head:10001")             # or RAY_ADDRESS=...: join a running cluster
    connect("auto")                         # the cluster this machine's `ray start` belongs to

Calling it again is a no-op while Ray is up, so library code can call it freely. Worker processes
inherit one torch/OpenMP thread each unless told otherwise: with few cores, one thread per actor
is much faster than letting every process spawn a thread per core (DEVELOPERS.md, "torch threads").
"""

from __future__ import annotations

import logging
import os

from rayswarm.graphs.errors import ConfigError

log = logging.getLogger(__name__)

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def worker_env() -> dict[str, str]:
    """Environment for Ray workers: one math thread each, and no per-model-load progress bars,
    unless the caller's environment says otherwise."""
    env = {var: os.environ.get(var, "1") for var in THREAD_VARS}
    env["HF_HUB_DISABLE_PROGRESS_BARS"] = os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    return env


def connect(address: str | None = None, num_cpus: float | None = None, num_gpus: float | None = None):
    """Start or join Ray and return its context; `address` (else RAY_ADDRESS) selects a cluster.

    num_cpus/num_gpus size an embedded instance (default: this machine's); they are ignored when
    joining a cluster, whose resources are its own.
    """
    import ray

    if ray.is_initialized():
        return ray.get_runtime_context()
    address = address or os.environ.get("RAY_ADDRESS") or None
    runtime_env = {"env_vars": worker_env()}
    try:
        if address:
            log.info("connecting to the Ray cluster at %s", address)
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=True)
        else:
            # "local" always starts a fresh instance: a bare ray.init() would join any cluster that
            # `ray start` left on this machine, which is not what "embedded by default" promises.
            ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, runtime_env=runtime_env,
                     include_dashboard=False, log_to_driver=True)
    except ConnectionError as err:
        raise ConfigError(f"cannot connect to Ray at '{address}': {str(err).splitlines()[0]}") from None
    return ray.get_runtime_context()


def shutdown() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()
