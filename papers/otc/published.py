"""OTC (Jiang & Lu, AAAI 2023): the items of the paper and their published numbers, as data only.

Schema: see papers/omar/published.py. The numbers are entered by the OTC issue.
"""

PAPER = "otc"
TITLE = "Online Tuning for Offline Decentralized Multi-Agent Reinforcement Learning (OTC)"

ITEMS = {
    "table1": {"kind": "table", "title": "Improvement (%) at the last deployment over the offline-trained policies",
               "rows": ["env", "dataset"], "cols": "method", "metric": "score"},
    "table2": {"kind": "table", "title": "Average time taken by one update",
               "rows": ["method"], "cols": "quantity", "metric": "score"},
    "figure3": {"kind": "figure", "title": "Learning curves of OTC on BCQ"},
    "figure4": {"kind": "figure", "title": "Adaptive versus fixed alpha; the adaptive alpha's curves"},
    "figure5": {"kind": "figure", "title": "OTC vs Balanced Replay, uniform merged sampling, online data only"},
    "figure6": {"kind": "figure", "title": "MPE (BREMEN baseline, predator-prey, navigation), single-agent case, SMAC"},
    "figure7": {"kind": "figure", "title": "OTC+TD3+BC with 3, 4, 6 agents on cooperative navigation"},
    "figure8": {"kind": "figure", "title": "Ablations on cooperative navigation: alpha and sampling strategies"},
}

PUBLISHED: list[dict] = []
CLAIMS: list[dict] = []
