"""A real Ray head node (`ray start --head`) for the tests that submit jobs to a cluster.

Its Python has the project's dependencies but not rayswarm: a throwaway venv that borrows the
project venv's site-packages through a .pth line, which does not activate the editable install
inside it (a .pth-added path is not a site directory). So a job only runs if it brought rayswarm
along, as on a multi-node cluster whose nodes have only the dependencies.

Stopping it: `ray stop` kills every Ray process on the machine, other tests' embedded instances
and other people's sessions included. Instead the head runs as `ray start --block`, which on
SIGTERM stops the processes it started, and whatever is left of its process tree (workers, job
drivers) is killed after it. Its --temp-dir keeps its address file (ray_current_cluster) out of
/tmp/ray, so a bare `ray.init()` elsewhere never joins it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import tempfile
import time
import urllib.request
import venv
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest


@dataclass
class RayHead:
    address: str  # the dashboard, where jobs are submitted
    temp_dir: Path  # the session's files, runtime_resources/ (what jobs shipped) among them
    python: Path  # the cluster's Python: dependencies only


def free_ports(count: int) -> list[int]:
    """Distinct free ports: every socket stays bound until all are chosen."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def deps_only_python(folder: Path) -> Path:
    venv.create(folder, with_pip=False)
    python = folder / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    probe = subprocess.run([python, "-c", "import ray, rayswarm"], cwd=folder, capture_output=True, text=True)
    assert "No module named 'rayswarm'" in probe.stderr, probe.stderr  # the premise of these tests
    return python


def start_head(python: Path, temp_dir: Path, log: Path) -> tuple[subprocess.Popen, str] | None:
    """Start a head and wait for its job API; None if it did not come up (it is stopped then)."""
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    env.update(
        PATH=f"{python.parent}{os.pathsep}{env.get('PATH', '')}",  # what a job's `python` is
        RAY_AUTH_MODE="disabled", OMP_NUM_THREADS="1",
        # On SIGTERM a head first waits (30 s by default) for its node to drain; nothing to drain here.
        RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",
    )
    gcs, dashboard, client, agent = free_ports(4)
    command = [python, "-m", "ray.scripts.scripts", "start", "--head", "--block", "--disable-usage-stats",
               "--port", str(gcs), "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard),
               "--ray-client-server-port", str(client), "--dashboard-agent-listen-port", str(agent),
               "--num-cpus", "2", "--temp-dir", str(temp_dir)]
    with open(log, "w") as out:
        head = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    address = f"http://127.0.0.1:{dashboard}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and head.poll() is None:
        try:
            with urllib.request.urlopen(f"{address}/api/jobs/", timeout=2):
                return head, address
        except OSError:
            time.sleep(1)
    stop_head(head)
    return None


def stop_head(head: subprocess.Popen) -> None:
    """Stop this head and everything it started, and nothing else."""
    try:
        tree = [psutil.Process(head.pid), *psutil.Process(head.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    head.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(tree, timeout=30)
    for process in alive:
        process.kill()
    psutil.wait_procs(alive, timeout=5)


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    work = tmp_path_factory.mktemp("ray-head")
    python = deps_only_python(work / "venv")
    # Short: Ray's unix socket paths live under it and must stay under ~107 characters.
    temp_dir = Path(tempfile.mkdtemp(prefix="rs-ray-", dir="/tmp"))
    log = work / "head.log"
    # Twice: on a busy machine another process may take one of the chosen ports before Ray binds it.
    started = start_head(python, temp_dir, log) or start_head(python, temp_dir, log)
    if started is None:
        shutil.rmtree(temp_dir, ignore_errors=True)
        pytest.fail(f"the Ray head did not start:\n{log.read_text()[-3000:]}")
    head, address = started
    try:
        yield RayHead(address, temp_dir, python)
    finally:
        stop_head(head)
        shutil.rmtree(temp_dir, ignore_errors=True)
