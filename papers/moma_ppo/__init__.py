"""Reproduction of the moma_ppo paper; see README.md in this folder."""
