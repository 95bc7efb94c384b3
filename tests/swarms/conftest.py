"""Shared by the swarm tests: interrupting a real `rayswarm swarm` process and resuming it."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from rayswarm.graphs.rundir import RunDir


def _interrupt_then_resume(config_path, run_root, rounds: int = 2) -> dict:
    """Run `rayswarm swarm`, Ctrl-C it once `rounds` rounds are logged, `rayswarm resume` it; the summary."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    command = [sys.executable, "-m", "rayswarm", "swarm", str(config_path), "--run-dir", str(run_root)]
    driver = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while time.time() < deadline:
        logs = list(run_root.glob("*/log.jsonl"))
        if logs and logs[0].read_text().count('"iteration"') >= rounds:
            break
        time.sleep(0.05)
    driver.send_signal(signal.SIGINT)
    assert driver.wait(timeout=120) == 130, driver.stdout.read().decode()[-2000:]
    (run_dir,) = run_root.iterdir()
    assert not (run_dir / "summary.json").exists(), "interrupted too late: the run had finished"
    resumed = subprocess.run([sys.executable, "-m", "rayswarm", "resume", str(run_dir)], env=env,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert any(row["event"] == "resume" for row in RunDir.existing(run_dir).read_log())
    return json.loads((run_dir / "summary.json").read_text())


@pytest.fixture
def interrupt_then_resume():
    return _interrupt_then_resume
