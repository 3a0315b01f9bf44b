"""OMAR (Pan et al., ICML 2022): the items of the paper and their published numbers, as data only.

Schema (consumed by common/report.py): ITEMS maps item id -> layout; PUBLISHED lists
{"item", "keys", "mean", "std"}; CLAIMS lists the stated claims a figure is checked against.
The numbers themselves are entered by the OMAR issue (#3); until then only the items are listed.
"""

PAPER = "omar"
TITLE = "Plan Better Amid Conservatism: Offline Multi-Agent RL with Actor Rectification (OMAR)"

ITEMS = {
    "table1": {"kind": "table", "title": "MA-CQL with a larger actor learning rate (2-agent spread1d, medium-replay)",
               "rows": ["method"], "cols": "actor_lr", "metric": "score"},
    "table2": {"kind": "table", "title": "MA-CQL with more actor updates (2-agent spread1d, medium-replay)",
               "rows": ["method"], "cols": "actor_updates", "metric": "score"},
    "table3": {"kind": "table", "title": "Normalized score in the multi-agent particle environments",
               "rows": ["env", "dataset"], "cols": "method", "metric": "normalized"},
    "table4": {"kind": "table", "title": "Sampling mechanisms of OMAR (cooperative navigation)",
               "rows": ["dataset"], "cols": "sampler", "metric": "normalized"},
    "table5": {"kind": "table", "title": "Centralized critics (MATD3, CTDE)",
               "rows": ["env", "dataset"], "cols": "method", "metric": "normalized"},
    "table6": {"kind": "table", "title": "Multi-agent HalfCheetah 2x3",
               "rows": ["dataset"], "cols": "method", "metric": "normalized"},
    "figure1": {"kind": "figure", "title": "MA-TD3+BC, MA-CQL and OMAR on spread1d medium-replay (b, c, d)"},
    "figure2": {"kind": "figure", "title": "Improvement of OMAR over MA-CQL, n = 1..5 agents"},
    "figure3": {"kind": "figure", "title": "Ablation of the regularization coefficient tau per dataset kind"},
    "figure4": {"kind": "figure", "title": "Sampling hyperparameters (iterations, samples, mu0, sigma0)"},
}

PUBLISHED: list[dict] = []
CLAIMS: list[dict] = []
