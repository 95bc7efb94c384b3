"""A run as a Ray job on an existing cluster: what travels with it, submitting it, following it.

    client, job_id = submit_job(staged, ["run", "config.yaml", "--run-dir", "/shared/runs"], address)
    status = follow(client, job_id)         # streams the job's logs, returns its final JobStatus

The job's runtime_env carries everything the nodes need beyond the dependencies:
  py_modules   rayswarm as its wheel installs it, so the nodes need no checkout and no install of it
  working_dir  a folder the caller staged (rayswarm submit: the config and the task data it names)

Ray installs a .whl in py_modules with `pip install --target`, dependencies included (torch, Ray...),
so the wheel is shipped unpacked: its rayswarm/ folder, built once per content hash of the sources.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import rayswarm
from rayswarm.agents.cache import cache_dir
from rayswarm.graphs.errors import ConfigError

DEFAULT_ADDRESS = "http://127.0.0.1:8265"  # the dashboard of a `ray start --head` on this machine
# What the wheel is built from: pyproject's package-dir folders and the files setup needs.
PACKAGE_FOLDERS = ("rayswarm", "graphs", "agents", "actors", "swarms", "clusters")
BUILD_FILES = ("pyproject.toml", "README.md")


def dashboard_address(address: str | None = None) -> str:
    """The address given, else RAY_ADDRESS, else this machine's dashboard (as `ray job submit` does)."""
    return address or os.environ.get("RAY_ADDRESS") or DEFAULT_ADDRESS


def source_files(checkout: Path) -> list[Path]:
    """Every file the wheel is built from, relative to the checkout, in a stable order."""
    files = [Path(name) for name in BUILD_FILES]
    for folder in PACKAGE_FOLDERS:
        files += [path.relative_to(checkout) for path in (checkout / folder).rglob("*")
                  if path.is_file() and "__pycache__" not in path.parts]
    return sorted(files)


def source_digest(checkout: Path, files: list[Path]) -> str:
    digest = hashlib.sha256()
    for name in files:
        digest.update(str(name).encode() + b"\0" + (checkout / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build_package(checkout: Path, files: list[Path], dest: Path) -> None:
    """Build the wheel from a copy of exactly the hashed files and unpack it into dest.

    A copy, because setuptools builds in place and keeps stale files in build/ across builds.
    """
    with tempfile.TemporaryDirectory(prefix="rayswarm-wheel-") as tmp:
        source = Path(tmp, "src")
        for name in files:
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(checkout / name, source / name)
        result = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
             "-w", str(Path(tmp, "dist")), str(source)],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"building the rayswarm wheel failed:\n{result.stdout}{result.stderr}")
        (wheel,) = Path(tmp, "dist").glob("rayswarm-*.whl")
        shutil.copy2(wheel, dest)
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(dest)


def shipped_package() -> Path:
    """The rayswarm package folder to ship: as installed, or built from this checkout (cached)."""
    package = Path(rayswarm.__file__).resolve().parent
    if (package / "graphs").is_dir():  # an installed wheel: already the layout the nodes need
        return package
    checkout = package.parent
    files = source_files(checkout)
    built = cache_dir("wheels") / source_digest(checkout, files)
    if not built.is_dir():
        # Built beside its final name and renamed, so an interrupted build never looks complete.
        staging = Path(tempfile.mkdtemp(prefix=".building-", dir=built.parent))
        build_package(checkout, files, staging)
        try:
            staging.rename(built)
        except OSError:  # another submit built the same sources meanwhile
            shutil.rmtree(staging)
    return built / "rayswarm"


def submit_job(workdir: Path, arguments: list[str], address: str | None = None, metadata: dict | None = None):
    """Submit `rayswarm <arguments>` as a Ray job running in (an upload of) `workdir`; (client, job id).

    The job's entrypoint is rayswarm.job, which says which rayswarm it imported before running the
    CLI, so the logs show that the shipped code is what ran.
    """
    from ray.job_submission import JobSubmissionClient

    address = dashboard_address(address)
    try:
        client = JobSubmissionClient(address)
    except ConnectionError as err:
        raise ConfigError(f"cannot reach the Ray dashboard at '{address}': {str(err).splitlines()[0]}") from None
    # Ray zips and uploads both folders here, so a temporary workdir may go once this returns.
    job_id = client.submit_job(
        entrypoint=shlex.join(["python", "-m", "rayswarm.job", *arguments]),
        runtime_env={"working_dir": str(workdir), "py_modules": [str(shipped_package())],
                     "excludes": ["__pycache__"]},
        metadata=metadata or {},
    )
    return client, job_id


def follow(client, job_id: str):
    """Stream a job's logs to stdout until it ends; return its final JobStatus."""

    async def tail() -> None:
        async for lines in client.tail_job_logs(job_id):
            print(lines, end="", flush=True)

    asyncio.run(tail())
    # The log stream closes as the job ends; its status may take a moment longer to say so.
    while not (status := client.get_job_status(job_id)).is_terminal():
        time.sleep(0.5)
    return status
