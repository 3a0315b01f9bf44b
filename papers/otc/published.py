"""OTC (Jiang & Lu, AAAI 2023): the items of the paper and their published numbers, as data only.

Typed with common.published (Table, Figure, Entry, Claim), as papers/omar/published.py.
The numbers are entered by the OTC issue.
"""

from common.published import Claim, Entry, Figure, Table

PAPER = "otc"
TITLE = "Online Tuning for Offline Decentralized Multi-Agent Reinforcement Learning (OTC)"

ITEMS = {
    'table1': Table(
        title='Improvement (%) at the last deployment over the offline-trained policies',
        rows=['env', 'dataset'], cols='method', metric='score'),
    'table2': Table(title='Average time taken by one update', rows=['method'], cols='quantity', metric='score'),
    'figure3': Figure(title='Learning curves of OTC on BCQ'),
    'figure4': Figure(title="Adaptive versus fixed alpha; the adaptive alpha's curves"),
    'figure5': Figure(title='OTC vs Balanced Replay, uniform merged sampling, online data only'),
    'figure6': Figure(title='MPE (BREMEN baseline, predator-prey, navigation), single-agent case, SMAC'),
    'figure7': Figure(title='OTC+TD3+BC with 3, 4, 6 agents on cooperative navigation'),
    'figure8': Figure(title='Ablations on cooperative navigation: alpha and sampling strategies'),
}

PUBLISHED: list[Entry] = []
CLAIMS: list[Claim] = []
