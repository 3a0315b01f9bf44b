"""Data and datasets: the :class:`~common.datasets.dataset.Dataset` container, its card and on-disk format
(``card``), the runner's data-identity checks (``check``), minibatch sampling and episode returns, and the
datasets several papers share, generated here by the published protocol (the MuJoCo robots by D4RL's, SMAX).

    from common.datasets import mujoco
    ds = mujoco.load("hopper", "medium", "quick")
"""
