"""Session-wide settings: one torch thread per process (2-core machines), no hub, no Ray auth."""

import os

# Before anything imports torch: with 2 cores, one thread per process was up to 20× faster than two
# when the other core was busy (DEVELOPERS.md).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
