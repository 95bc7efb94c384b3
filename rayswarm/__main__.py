"""`python -m rayswarm …` is the `rayswarm` command (what `ray job submit` runs on a cluster)."""

import sys

from rayswarm.cli import main

sys.exit(main())
