"""Published single-agent levels of OTC's offline learners (BCQ, AWAC) on the D4RL locomotion datasets of Table 1,
D4RL-normalized (100 x (return - random) / (expert - random)), as data only: the reference of the precondition
check ``t1_pi0_reasonable`` (papers/otc/claims.py). OTC's agents see the full state and only split the actions, so
the single-agent offline learner on the same dataset is the natural yardstick for its offline-trained pi^0.

Only numbers read in a public source are stored, each with its source; ``None`` where no source read here prints
one. None of them was computed, recalled or averaged here.

Sources read:

- AWAC on medium and medium-replay (-v2): the AWAC column of IQL's Table 1 (Kostrikov, Nair and Levine, "Offline
  Reinforcement Learning with Implicit Q-Learning", arXiv:2110.06169), read where the X-QL paper ("Extreme
  Q-Learning: MaxEnt RL without Entropy", its double-blind review version, Table 1) reprints IQL's baseline columns
  (header "BC | 10%BC | DT | AWAC | Onestep RL | TD3+BC | CQL | IQL"), in a stored text copy of that paper. Its BC
  and 10%BC columns sum to 466.7 and 666.2, the "locomotion-v2 total" of IQL's Table 1 as another public file
  quotes it, so the columns are IQL's. IQL's table has no random rows: AWAC on random is ``None``.
- BCQ on medium: robomimic's "D4RL Results" table, its BCQ column, on the page
  github.com/ARISE-Initiative/robomimic/blob/fd329f8280f770482fcbb990f9bc363b67087b6b/docs/datasets/d4rl.md:
  robomimic's own runs (mean of the final 10 evaluations, 50 rollouts each; gym 0.17.3, mujoco-py 2.0.2.13, d4rl
  commit 9b68f31). The table prints no dataset version; the page's commands use -v0.
- BCQ on random and medium-replay (D4RL's "mixed"): ``None``. The D4RL paper (Fu et al. 2020, arXiv:2004.07219,
  Table 2) has a BCQ column on these datasets, but no copy of that table could be read here (the stored copies of
  the paper give only its opening pages), so none of its numbers is stored.

Protocol differences, for reading the check's verdicts: the published runs train one policy on the gym MuJoCo
environments (-v2, or -v0) with their own update budgets; our pi^0 trains the profile's updates
(papers/otc/config.py) on data that follow D4RL's protocol on Gymnasium's v4/v5 MuJoCo (common.datasets.mujoco).
"""

from __future__ import annotations

TASKS = ("halfcheetah", "walker2d", "hopper")  # papers/otc/config.py TASK_OF's values, Table 1's order
DATASETS = ("random", "medium-replay", "medium")
LEARNERS = ("bcq", "awac")

_IQL = (
    "IQL (Kostrikov et al., arXiv:2110.06169) Table 1, AWAC column, D4RL {}-v2; read in the X-QL paper's Table 1 "
    "('Extreme Q-Learning: MaxEnt RL without Entropy', review version), which reprints IQL's baseline columns"
)
_ROBOMIMIC = (
    "github.com/ARISE-Initiative/robomimic/blob/fd329f82/docs/datasets/d4rl.md, 'D4RL Results' table, BCQ column, "
    "{} (robomimic's own runs; dataset version not printed, the page's commands use -v0)"
)

# (task, dataset, learner) -> (D4RL-normalized score, source) or None where no source read here prints one
OFFLINE_LEVELS: dict[tuple[str, str, str], tuple[float, str] | None] = {
    ("halfcheetah", "random", "bcq"): None,
    ("walker2d", "random", "bcq"): None,
    ("hopper", "random", "bcq"): None,
    ("halfcheetah", "medium-replay", "bcq"): None,
    ("walker2d", "medium-replay", "bcq"): None,
    ("hopper", "medium-replay", "bcq"): None,
    ("halfcheetah", "medium", "bcq"): (40.8, _ROBOMIMIC.format("HalfCheetah-Medium")),
    ("walker2d", "medium", "bcq"): (66.4, _ROBOMIMIC.format("Walker2d-Medium")),
    ("hopper", "medium", "bcq"): (36.9, _ROBOMIMIC.format("Hopper-Medium")),
    ("halfcheetah", "random", "awac"): None,
    ("walker2d", "random", "awac"): None,
    ("hopper", "random", "awac"): None,
    ("halfcheetah", "medium-replay", "awac"): (40.5, _IQL.format("halfcheetah-medium-replay")),
    ("walker2d", "medium-replay", "awac"): (27.0, _IQL.format("walker2d-medium-replay")),
    ("hopper", "medium-replay", "awac"): (37.2, _IQL.format("hopper-medium-replay")),
    ("halfcheetah", "medium", "awac"): (43.5, _IQL.format("halfcheetah-medium")),
    ("walker2d", "medium", "awac"): (72.4, _IQL.format("walker2d-medium")),
    ("hopper", "medium", "awac"): (57.0, _IQL.format("hopper-medium")),
}


def offline_level(task: str, dataset: str, learner: str) -> float | None:
    """The published D4RL-normalized level of ``learner`` on ``task``-``dataset`` (None: no source read here)."""
    if (task, dataset, learner) not in OFFLINE_LEVELS:
        raise KeyError(
            f"no entry ({task!r}, {dataset!r}, {learner!r}); tasks {TASKS}, datasets {DATASETS}, learners {LEARNERS}"
        )
    entry = OFFLINE_LEVELS[(task, dataset, learner)]
    return None if entry is None else entry[0]
