"""Batched networks: ensemble layers with a leading member axis (``nets``), the policies, critics and models
built from them (``heads``), and MOMA-PPO's history encoder (``history``)."""
