"""Reproduction of the cast_bcq paper; see README.md in this folder."""
