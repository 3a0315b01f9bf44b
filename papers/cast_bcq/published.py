"""CAST-BCQ (Ma & Wu, AAMAS 2023): the items of the paper and their published numbers, as data only.

Schema: see papers/omar/published.py. The numbers are entered by the CAST-BCQ issue.
"""

PAPER = "cast_bcq"
TITLE = "Learning to Coordinate from Offline Datasets with Uncoordinated Behavior Policies (CAST-BCQ)"

ITEMS = {
    "figure1": {"kind": "figure", "title": "Two-agent 4x6 cliff grid world: learning curves of I-BCQ, I-ICQ and CAST-BCQ"},
    "figure4": {"kind": "figure", "title": "Multi-agent MuJoCo (HalfCheetah 2x3, Walker2d 2x3, Hopper 3x1), uncoordinated datasets"},
    "figure5": {"kind": "figure", "title": "StarCraft II with offline datasets: learning curves"},
    "table1": {"kind": "table", "title": "Test win rates (%) in SMAC micromanagement tasks",
               "rows": ["env"], "cols": "method", "metric": "score"},
    "figure6": {"kind": "figure", "title": "Ablations of the key components in multi-agent MuJoCo"},
    "table2": {"kind": "table", "title": "Average score for datasets of different quality",
               "rows": ["env", "dataset"], "cols": "method", "metric": "score"},
}

PUBLISHED: list[dict] = []
CLAIMS: list[dict] = []
