"""Offline learners and losses shared by two or more papers (TD3+BC, CQL, ICQ, BCQ, IQL, AWAC, BC)."""
