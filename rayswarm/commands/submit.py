"""`rayswarm submit <config.yaml>`: run a config on a Ray cluster as a Ray job and follow it."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import yaml


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "submit",
        help="run a config (graph run, swarm or train) on a Ray cluster as a Ray job, streaming its logs",
        description="Validate a run, swarm or train config here, then submit `rayswarm run` (or `rayswarm "
        "swarm`, `rayswarm train <recipe>`) of it to a Ray cluster through "
        "its dashboard (Ray's job API) and stream the job's logs until it ends; the exit code is 0 when the "
        "job succeeds, 1 otherwise. The job carries rayswarm itself (its wheel), the config and the local "
        "data it names, so the cluster's nodes need only the dependencies. See docs/cluster.md.",
    )
    parser.add_argument("config", help="run, swarm or train config YAML (see examples/)")
    parser.add_argument("--address",
                        help="the cluster's dashboard (default: RAY_ADDRESS, else http://127.0.0.1:8265)")
    parser.add_argument("--run-dir", default="runs",
                        help="where the job writes run directories, made absolute here (default: ./runs; "
                        "it must be a path the cluster can write, e.g. a shared filesystem)")
    parser.add_argument("--no-wait", action="store_true", help="print the job id and return at once")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from rayswarm.clusters.submit import dashboard_address, follow, submit_job
    from rayswarm.config import load_any_config

    verb, config = load_any_config(args.config, kinds=("run", "swarm", "train"))  # a bad config fails here, before anything reaches the cluster
    address = dashboard_address(args.address)
    # The job runs in a temporary folder on the cluster: a relative run root would land there.
    run_root = Path(args.run_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="rayswarm-job-") as workdir:
        stage_job(args.config, config.task.name if verb != "train" else None, Path(workdir))
        command = [verb, *([config.recipe] if verb == "train" else []), "config.yaml", "--run-dir", str(run_root)]
        client, job_id = submit_job(Path(workdir), command, address, metadata={"rayswarm_config": config.name})
    if args.no_wait:
        print(job_id)
        return 0
    print(f"rayswarm: submitted job {job_id} to {address}", file=sys.stderr, flush=True)
    try:
        status = follow(client, job_id)
    except KeyboardInterrupt:
        print(f"rayswarm: stopped following job {job_id}, which keeps running "
              f"(`ray job stop {job_id} --address {address}` ends it)", file=sys.stderr)
        return 130
    print(f"rayswarm: job {job_id} {status.value}", file=sys.stderr)
    return 0 if status.value == "SUCCEEDED" else 1


TRAIN_DATA_KEYS = ("corpus", "heldout", "pairs", "items", "eval_items")  # the files a train config names


def stage_job(config_path: str, task: str | None, workdir: Path) -> None:
    """Write the config, and the local data it names (its task; a train config's data files), into the job's
    working_dir.

    Data keeps its relative path (so summaries read the same as a local run); an absolute path or
    one that leaves the current folder moves under task/.
    """
    from rayswarm.agents.tasksource import TOY_PREFIX

    data = yaml.safe_load(Path(config_path).read_text())
    if task is None:  # a train config: its data files, wherever a key names a local one
        for key in TRAIN_DATA_KEYS:
            if isinstance(data.get(key), str) and Path(data[key]).is_file():
                data[key] = str(ship(Path(data[key]), workdir))
    elif not task.startswith(TOY_PREFIX):
        shipped = ship(Path(task), workdir)
        if isinstance(data["task"], str):
            data["task"] = str(shipped)
        else:
            data["task"]["name"] = str(shipped)
    (workdir / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def ship(name: Path, workdir: Path) -> Path:
    """Copy a local file or folder into the job's working_dir; returns its path there."""
    shipped = name if not name.is_absolute() and ".." not in name.parts else Path("task", name.name)
    (workdir / shipped).parent.mkdir(parents=True, exist_ok=True)
    if name.is_dir():
        shutil.copytree(name, workdir / shipped)
    else:
        shutil.copy2(name, workdir / shipped)
    return shipped
