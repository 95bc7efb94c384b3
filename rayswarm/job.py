"""The entrypoint of a submitted job: say which rayswarm this is, then run the CLI.

`rayswarm submit` runs `python -m rayswarm.job <verb> ...` on the cluster, so the job's log shows
that the code it shipped (not some other install on the node) is what ran.
"""

from __future__ import annotations

import sys
from pathlib import Path

import rayswarm
from rayswarm.cli import main

if __name__ == "__main__":
    print(f"rayswarm {rayswarm.__version__} from {Path(rayswarm.__file__).parent}", flush=True)
    sys.exit(main())
