"""MOMA-PPO (Barde et al., AAMAS 2024): the items of the paper and their published numbers, as data only.

Typed with common.published (Table, Figure, Entry, Claim), as papers/omar/published.py.
The numbers are entered by the MOMA-PPO issue.
"""

from common.published import Claim, Entry, Figure, Table

PAPER = "moma_ppo"
TITLE = "A Model-Based Solution to the Offline Multi-Agent RL Coordination Problem (MOMA-PPO)"

ITEMS = {
    'table1': Table(
        title='Iterated Coordination Game: behavior policies and dataset scores',
        rows=['dataset'], cols='quantity', metric='score'),
    'table2': Table(
        title='Normalized dataset score distributions',
        rows=['env', 'dataset'], cols='quantity', metric='normalized'),
    'table3': Table(
        title='Iterated Coordination Game: team performance',
        rows=['dataset'], cols='method', metric='score'),
    'table4a': Table(
        title='Two-agent Reacher, mixture-of-experts dataset, observation functions',
        rows=['obs_mode'], cols='method', metric='normalized'),
    'table4b': Table(
        title='Four-agent Ant, datasets and observability',
        rows=['dataset', 'obs_mode'], cols='method', metric='normalized'),
}

PUBLISHED: list[Entry] = []
CLAIMS: list[Claim] = []
