"""Reproduction of the omar paper; see README.md in this folder."""
