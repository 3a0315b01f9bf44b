"""Reproduction of the otc paper; see README.md in this folder."""
