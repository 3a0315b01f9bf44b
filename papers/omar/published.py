"""OMAR (Pan et al., ICML 2022): the items of the paper and their published numbers, as data only.

Typed (common.reporting.published, which checks every field): ITEMS maps item id -> Table | Figure; PUBLISHED
lists Entry(item, keys, mean, std) (mean ± std over 5 seeds, as printed; normalized scores, or raw
returns for Tables 1 and 2). The stated claims a figure is checked against (the figures have no numbers in our
copy of the paper) are in claims.py, each beside its rule. These numbers are never used to produce ours; they are
only shown beside them.
"""

from common.reporting.published import Entry, Figure, Table, check_paper

PAPER = "omar"
TITLE = "Plan Better Amid Conservatism: Offline Multi-Agent RL with Actor Rectification (OMAR)"

DATASETS = ("random", "medium-replay", "medium", "expert")
METHODS = ("ma_icq", "ma_td3bc", "ma_cql", "omar")

ITEMS = {
    "table1": Table(
        title="MA-CQL with a larger actor learning rate (2-agent spread1d, medium-replay)",
        rows=["method"],
        cols="actor_lr",
        metric="score",
    ),
    "table2": Table(
        title="MA-CQL with more actor updates (2-agent spread1d, medium-replay)",
        rows=["method"],
        cols="actor_updates",
        metric="score",
    ),
    "table3": Table(
        title="Normalized score in the multi-agent particle environments",
        rows=["dataset", "env"],
        cols="method",
        metric="normalized",
    ),
    "table4": Table(
        title="Sampling mechanisms of OMAR (cooperative navigation)",
        compare="sampler",
        rows=["sampler"],
        cols="dataset",
        metric="normalized",
    ),
    "table5": Table(
        title="Centralized critics (MATD3, CTDE)",
        compare="method",
        rows=["method"],
        cols="dataset",
        metric="normalized",
        # each published number averages over tasks; ours pools these three (see NOTES)
        pool={"env": ["omar/spread", "omar/tag", "omar/world"]},
    ),
    "table6": Table(
        title="Multi-agent HalfCheetah 2x3",
        compare="method",
        rows=["method"],
        cols="dataset",
        metric="normalized",
    ),
    "figure1": Figure(
        title="MA-TD3+BC, MA-CQL and OMAR on spread1d medium-replay (b, c, d)",
        pngs=["figure1_b.png", "figure1_c.png", "figure1_d.png"],
    ),
    "figure2": Figure(title="Improvement of OMAR over MA-CQL, n = 1..5 agents", pngs=["figure2_gain.png"]),
    "figure3": Figure(
        title="Ablation of the regularization coefficient tau per dataset kind", pngs=["figure3_tau.png"]
    ),
    "figure4": Figure(
        title="Sampling hyperparameters (iterations, samples, mu0, sigma0)", pngs=["figure4_sampling.png"]
    ),
}


def _rows(item, fixed, col_key, cols, values):
    """One PUBLISHED entry per (column, 'mean ± std') pair of a printed row."""
    out = []
    for col, text in zip(cols, values, strict=True):
        mean, std = (float(x) for x in text.split("±"))
        out.append(Entry(item=item, keys={**fixed, col_key: col}, mean=mean, std=std))
    return out


PUBLISHED: list[Entry] = [
    # Table 1 / Table 2: raw return on 2-agent spread1d, medium-replay (Section 3.1)
    *_rows(
        "table1",
        {"method": "ma_cql"},
        "actor_lr",
        ("1e-2", "5e-2", "1e-1"),
        ("267.9 ± 19.0", "202.0 ± 38.9", "100.1 ± 36.4"),
    ),
    *_rows(
        "table2",
        {"method": "ma_cql"},
        "actor_updates",
        ("1", "5", "20"),
        ("267.9 ± 19.0", "278.6 ± 14.8", "263.7 ± 23.1"),
    ),
    # Table 3: normalized score, decentralized critics
    *_rows(
        "table3",
        {"dataset": "random", "env": "omar/spread"},
        "method",
        METHODS,
        ("6.3 ± 3.5", "9.8 ± 4.9", "24.0 ± 9.8", "34.4 ± 5.3"),
    ),
    *_rows(
        "table3",
        {"dataset": "random", "env": "omar/tag"},
        "method",
        METHODS,
        ("2.2 ± 2.6", "5.7 ± 3.5", "5.0 ± 8.2", "11.1 ± 2.8"),
    ),
    *_rows(
        "table3",
        {"dataset": "random", "env": "omar/world"},
        "method",
        METHODS,
        ("1.0 ± 3.2", "2.8 ± 5.5", "0.6 ± 2.0", "5.9 ± 5.2"),
    ),
    *_rows(
        "table3",
        {"dataset": "medium-replay", "env": "omar/spread"},
        "method",
        METHODS,
        ("13.6 ± 5.7", "15.4 ± 5.6", "20.0 ± 8.4", "37.9 ± 12.3"),
    ),
    *_rows(
        "table3",
        {"dataset": "medium-replay", "env": "omar/tag"},
        "method",
        METHODS,
        ("34.5 ± 27.8", "28.7 ± 20.9", "24.8 ± 17.3", "47.1 ± 15.3"),
    ),
    *_rows(
        "table3",
        {"dataset": "medium-replay", "env": "omar/world"},
        "method",
        METHODS,
        ("12.0 ± 9.1", "17.4 ± 8.1", "29.6 ± 13.8", "42.9 ± 19.5"),
    ),
    *_rows(
        "table3",
        {"dataset": "medium", "env": "omar/spread"},
        "method",
        METHODS,
        ("29.3 ± 5.5", "29.3 ± 4.8", "34.1 ± 7.2", "47.9 ± 18.9"),
    ),
    *_rows(
        "table3",
        {"dataset": "medium", "env": "omar/tag"},
        "method",
        METHODS,
        ("63.3 ± 20.0", "65.1 ± 29.5", "61.7 ± 23.1", "66.7 ± 23.2"),
    ),
    *_rows(
        "table3",
        {"dataset": "medium", "env": "omar/world"},
        "method",
        METHODS,
        ("71.9 ± 20.0", "73.4 ± 9.3", "58.6 ± 11.2", "74.6 ± 11.5"),
    ),
    *_rows(
        "table3",
        {"dataset": "expert", "env": "omar/spread"},
        "method",
        METHODS,
        ("104.0 ± 3.4", "108.3 ± 3.3", "98.2 ± 5.2", "114.9 ± 2.6"),
    ),
    *_rows(
        "table3",
        {"dataset": "expert", "env": "omar/tag"},
        "method",
        METHODS,
        ("113.0 ± 14.4", "115.2 ± 12.5", "93.9 ± 14.0", "116.2 ± 19.8"),
    ),
    *_rows(
        "table3",
        {"dataset": "expert", "env": "omar/world"},
        "method",
        METHODS,
        ("109.5 ± 22.8", "110.3 ± 21.3", "71.9 ± 28.1", "110.4 ± 25.7"),
    ),
    # Table 4: sampling mechanisms on cooperative navigation
    *_rows(
        "table4",
        {"sampler": "random"},
        "dataset",
        DATASETS,
        ("24.3 ± 7.0", "23.5 ± 5.3", "41.2 ± 11.1", "101.0 ± 5.2"),
    ),
    *_rows(
        "table4",
        {"sampler": "cem"},
        "dataset",
        DATASETS,
        ("25.8 ± 7.3", "32.6 ± 5.1", "45.0 ± 13.3", "106.4 ± 13.8"),
    ),
    *_rows(
        "table4",
        {"sampler": "softmax"},
        "dataset",
        DATASETS,
        ("34.4 ± 5.3", "37.9 ± 12.3", "47.9 ± 18.9", "114.9 ± 2.6"),
    ),
    # Table 5: centralized critics (MATD3)
    *_rows(
        "table5",
        {"method": "ma_icq"},
        "dataset",
        DATASETS,
        ("5.2 ± 5.5", "10.1 ± 4.6", "27.4 ± 5.3", "96.7 ± 4.1"),
    ),
    *_rows(
        "table5",
        {"method": "ma_td3bc"},
        "dataset",
        DATASETS,
        ("7.9 ± 2.2", "9.3 ± 9.1", "29.4 ± 3.7", "108.1 ± 3.3"),
    ),
    *_rows(
        "table5",
        {"method": "ma_cql"},
        "dataset",
        DATASETS,
        ("12.8 ± 4.9", "11.2 ± 6.6", "26.3 ± 13.3", "69.5 ± 15.7"),
    ),
    *_rows(
        "table5",
        {"method": "omar"},
        "dataset",
        DATASETS,
        ("21.6 ± 4.6", "19.1 ± 9.2", "33.7 ± 14.5", "105.9 ± 3.6"),
    ),
    # Table 6: 2-agent HalfCheetah
    *_rows(
        "table6",
        {"method": "ma_icq"},
        "dataset",
        DATASETS,
        ("7.4 ± 0.0", "35.6 ± 2.7", "73.6 ± 5.0", "110.6 ± 3.3"),
    ),
    *_rows(
        "table6",
        {"method": "ma_td3bc"},
        "dataset",
        DATASETS,
        ("7.4 ± 0.0", "27.1 ± 5.5", "75.5 ± 3.7", "114.4 ± 3.8"),
    ),
    *_rows(
        "table6",
        {"method": "ma_cql"},
        "dataset",
        DATASETS,
        ("7.4 ± 0.0", "41.2 ± 10.1", "50.4 ± 10.8", "64.2 ± 24.9"),
    ),
    *_rows(
        "table6",
        {"method": "omar"},
        "dataset",
        DATASETS,
        ("15.4 ± 12.3", "57.7 ± 5.1", "80.7 ± 10.2", "113.5 ± 4.3"),
    ),
]

NOTES = {
    "table1": [
        "Raw return (sum over 25 steps of the mean agent reward) on our 2-agent spread1d; the paper's "
        "1-D world is not specified beyond 'n agents and n landmarks with 1-D actions' (papers/omar/README.md)."
    ],
    "table2": [
        "Each extra actor update reuses the critic step's minibatch (the paper does not say; "
        "ITD3Config.actor_updates)."
    ],
    "table5": [
        "The paper reports 'the averaged normalized score in each kind of dataset' without naming the "
        "tasks; ours pools the three particle tasks (spread, tag, world): mean ± std over tasks × seeds."
    ],
}

check_paper(ITEMS, PUBLISHED, notes=NOTES)
