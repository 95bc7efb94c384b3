"""Session-wide settings: one torch thread per process (2-core machines), no hub, no Ray auth."""

import os

import pytest

# Before anything imports torch: with 2 cores, one thread per process was up to 20× faster than two
# when the other core was busy (DEVELOPERS.md).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


@pytest.fixture(scope="session")
def quick_cache(tmp_path_factory):
    """RAYSWARM_CACHE pointed at a fresh folder for the rest of the session (restored afterwards)."""
    before = os.environ.get("RAYSWARM_CACHE")
    os.environ["RAYSWARM_CACHE"] = str(tmp_path_factory.mktemp("rayswarm-cache"))
    yield os.environ["RAYSWARM_CACHE"]
    if before is None:
        os.environ.pop("RAYSWARM_CACHE", None)
    else:
        os.environ["RAYSWARM_CACHE"] = before


@pytest.fixture(scope="session")
def quick_zoo(quick_cache):
    """The quick preset's zoo (~1 min on one thread), built once per session in a fresh cache."""
    from rayswarm.agents import zoo

    return zoo.build_zoo("quick", progress=False)
