"""Datasets that several papers share, generated here by the published protocol (the MuJoCo robots by D4RL's).

    from common.datasets import mujoco
    ds = mujoco.load("hopper", "medium", "quick")
"""
