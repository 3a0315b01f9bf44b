"""``python -m common.datasets.mujoco``: the datasets' command line (common.datasets.mujoco.cli)."""

from common.datasets.mujoco.cli import main

raise SystemExit(main())
