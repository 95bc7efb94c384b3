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


@pytest.fixture(scope="session")
def ray_local():
    """One embedded Ray for the whole session (2 CPUs, as on the smallest machine CI runs on)."""
    from rayswarm.clusters.connect import connect, shutdown

    context = connect(num_cpus=2)
    yield context
    shutdown()


@pytest.fixture(scope="session")
def chatty_folder(tmp_path_factory):
    """A seeded, untrained tiny llama saved as an ordinary HF folder (a local model source).

    Its larger init (0.3) makes it write varied text instead of one repeated token, so output
    comparisons can actually fail.
    """
    from rayswarm.agents.tiny import build_tiny_model, save_tiny

    model = build_tiny_model("llama", seed=0, initializer_range=0.3)
    return save_tiny(model, tmp_path_factory.mktemp("models") / "chatty-llama")
