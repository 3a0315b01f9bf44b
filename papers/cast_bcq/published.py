"""CAST-BCQ (Ma & Wu, AAMAS 2023): the items of the paper and their published numbers, as data only.

Typed with common.published (Table, Figure, Entry, Claim), as papers/omar/published.py.
The numbers are entered by the CAST-BCQ issue.
"""

from common.published import Claim, Entry, Figure, Table

PAPER = "cast_bcq"
TITLE = "Learning to Coordinate from Offline Datasets with Uncoordinated Behavior Policies (CAST-BCQ)"

ITEMS = {
    'figure1': Figure(title='Two-agent 4x6 cliff grid world: learning curves of I-BCQ, I-ICQ and CAST-BCQ'),
    'figure4': Figure(title='Multi-agent MuJoCo (HalfCheetah 2x3, Walker2d 2x3, Hopper 3x1), uncoordinated datasets'),
    'figure5': Figure(title='StarCraft II with offline datasets: learning curves'),
    'table1': Table(
        title='Test win rates (%) in SMAC micromanagement tasks',
        rows=['env'], cols='method', metric='score'),
    'figure6': Figure(title='Ablations of the key components in multi-agent MuJoCo'),
    'table2': Table(
        title='Average score for datasets of different quality',
        rows=['env', 'dataset'], cols='method', metric='score'),
}

PUBLISHED: list[Entry] = []
CLAIMS: list[Claim] = []
