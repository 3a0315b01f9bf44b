"""OTC's protocol as data: the MuJoCo items' settings, the methods (base learner x sampler), the base learners'
sections (Table 3), and the profile overrides. [P] = the paper (Jiang & Lu, AAAI 2023; Table 3, Sec. 4.1-4.3,
Algorithm 1), [I] = our choice where it is silent (each listed in papers/otc/README.md with its reason).

A method key reads ``<learner>[_<sampler>]`` (papers/otc/published.py): ``bcq`` / ``awac`` alone = uniform
sampling from the merged offline + online data (the paper's baseline columns); ``_otc_de`` / ``_otc_dq`` = OTC
with the embedding / value distance and the adaptive alpha; ``_otc_de_fixed<a>`` = OTC with a fixed alpha = a;
``_online`` = online data only; ``_br`` = Balanced Replay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

from common.running.profiles import PaperProfiles, PaperSettings

TASK_OF = {
    "mamujoco/halfcheetah-2x3": "halfcheetah",
    "mamujoco/walker2d-2x3": "walker2d",
    "mamujoco/hopper-3x1": "hopper",
}  # Table 1's order [P Sec. 4.2]
MUJOCO_ENVS = tuple(TASK_OF)
MUJOCO_DATASETS = ("random", "medium-replay", "medium")  # Table 1's row groups [P]
OBS_MODE = "otc"  # every agent observes the robot's full state, acts on its own joints [P Sec. 4.2]

# BCQ, AWAC [P Table 1], TD3+BC [P Figs. 7, 8], BREMEN [P Fig. 6ab], discrete CQL [P Fig. 6d] (common/algos/
# cql_discrete.py; its SMAX job is papers/otc/smax_items.py)
LEARNERS = ("bcq", "awac", "td3bc", "bremen", "cql")
SAMPLERS = ("uniform", "otc", "online", "br")

# ---- the online-tuning protocol [P Sec. 4.1-4.2, Algorithm 1] ------------------------------------------------
DEPLOYMENTS = 10  # K [P "K = 10"]
DEPLOY_FRACTION = 0.01  # M = 1 % |B^0| online transitions per deployment [P]
TUNE_UPDATES = {
    "bcq": 4000,
    "awac": 2000,
    "td3bc": 2000,
    "bremen": 2000,
    "cql": 2000,
}  # L per deployment [P Table 3]
# [I C4] BCQ's own MuJoCo length; rlkit AWAC's pretraining; TD3+BC: enough for a Q at gamma 0.99 on 25-step episodes
# BREMEN: BC 1e4 updates, then 5 L policy updates on imagined rollouts after the model fit [I C4, C21]; CQL 1e5 [I C4]
OFFLINE_UPDATES = {"bcq": 300_000, "awac": 25_000, "td3bc": 100_000, "bremen": 20_000, "cql": 100_000}
BREMEN_BC_UPDATES = 10_000
CVAE_OFFLINE_CAP = 100_000  # [I C4] d_e's CVAE trains offline as long as its learner, at most this
EVAL_EPISODES = 10  # [I C3] deterministic episodes per evaluation of pi^k, k = 0..K

# ---- base learners: Table 3's column, the rest from the learners' own papers [P Table 3; I C17, C18] ---------
LEARNER_FIELDS: dict[str, dict[str, Any]] = {
    # BCQ: every network (64, 64) [P Table 3 hidden sizes], actor and critic lr 1e-4 [P], batch 128 [P],
    # VAE lr 1e-3, Phi 0.05, latent 2A, lambda 0.75, 10 target / 100 selection candidates [I C17: Fujimoto et al.]
    "bcq": {
        "hidden": [64, 64],
        "hidden_vae": [64, 64],
        "lr": 1e-4,
        "vae_lr": 1e-3,
        "batch_size": 128,
        "phi": 0.05,
        "view": "independent",
    },
    # AWAC: (256, 256), actor lr 1e-4, critic lr 5e-4, batch 128 [P Table 3]; policy weight decay 1e-4,
    # state-independent log-std [I C18: rlkit's AWAC configs] (AWACConfig's defaults); lambda 2: the paper gives
    # none, rlkit's MuJoCo AWAC (examples/awac/mujoco/awac1.py) sweeps beta over [2] on top of its base beta 1.
    # Measured on Walker2d 2x3 medium (results/quick/otc/pi0_curve/): pi^0 at 25,000 updates 66.7 normalized at
    # lambda 2, 8.6 at lambda 1 (the data 56.1, AWAC's published 72.4). Written as the int 2 so that a curve run
    # with `pi0_curve.py --set lam=2` has this section exactly (its checkpoint key, --cache-for).
    "awac": {"batch_size": 128, "lam": 2},
    # TD3+BC: (256, 256), lr 3e-4 both, batch 128 [P Table 3]; alpha 2.5, target smoothing 0.2 / 0.5, policy delay 2,
    # tau 0.005, states normalized by B^0's statistics (fixed while tuning) [I C19: Fujimoto & Gu's code]
    "td3bc": {"batch_size": 128},
    # BREMEN (papers/otc/bremen.py): (256, 256), actor 1e-4, value 5e-4, batch 128 [P Table 3]; 5 models, horizon 25,
    # PPO-clip instead of TRPO [I C21]; its first bc_updates updates behavior-clone (set per profile, below)
    "bremen": {"batch_size": 128},
    # discrete CQL(H) on SMAX (Figure 6d): (256, 256), lr 1e-4, batch 128, gamma 0.99 [P Table 3; Table 3's "actor lr"
    # has no use: discrete CQL has no actor]; alpha_cql 1.0, Polyak 0.005, the target's max over available actions
    # [I C20] (DiscreteCQLConfig's defaults)
    "cql": {"batch_size": 128},
}
# ---- SMAX 5m_vs_6m (Figure 6d; papers/otc/smax_items.py) [P Sec. 4.6; I C23] -----------------------------------
SMAX_ENV = "smax/5m_vs_6m"  # SMAX substitutes SMAC's 5m_vs_6m (no StarCraft II here)
SMAX_DATA_KIND = "medium"  # "medium policies ... 1 x 10^4 episodes" [P]; common.datasets.smax's rule [I C23]
SMAX_DEPLOY_FRACTION = 0.01  # M = 1 % of the offline episodes per agent and deployment (100 of 10^4) [I C23]
# the collecting agent's epsilon-greedy exploration; the others act greedily [P Sec. 4.6; I C23]
SMAX_EPSILON = 0.1
SMAX_EVAL_EPISODES = 32  # greedy test episodes per evaluation of pi^k: win rate and return [I C23]
# SMAX rewards x 10 = SMAC's scale (returns at most 20, SMAX's ~2) [I; smax_items.py]
SMAX_REWARD_SCALE = 10.0
# ---- cooperative navigation (Figures 7 and 8) ------------------------------------------------------------------
NAV_ENV = "otc/navigation"
NAV_SIZE = 1_000_000  # "uniform random policies, containing 1 x 10^6 transitions" [P Sec. 4.7]
NAV_MAX_ACTION = 0.1  # actions in [-0.1, 0.1]^2 [P appendix]


@dataclass(frozen=True)
class Method:
    """What a method key means: its base learner, its sampler and (OTC) the distance and alpha mode."""

    key: str
    learner: str
    sampler: str  # uniform | otc | online | br
    distance: str | None = None  # embedding | q (OTC only)
    alpha_mode: str | None = None  # adaptive | fixed (OTC only)
    alpha0: float = 1.0  # alpha^0 [P Sec. 4.3] or the fixed alpha
    cvae_form: str = "conditional"  # d_e's model: the paper's CVAE, or "joint" (papers/otc/otc_cvae.py) [I]


_KEY = re.compile(
    r"^(?P<learner>[a-z0-9]+?)(?:_(?P<rest>otc_(?:de(?P<joint>_joint)?|dq)(?:_fixed(?P<alpha>[0-9.]+))?|online|br))?$"
)


def parse_method(key: str) -> Method:
    """The ``Method`` of a key like ``bcq``, ``bcq_otc_de``, ``awac_otc_dq``, ``bcq_otc_de_fixed1.0``,
    ``bcq_online``, ``bcq_br``, ``bcq_otc_de_joint`` (d_e on the joint VAE, ours); a ValueError naming the forms and
    learners for anything else."""
    m = _KEY.match(str(key))
    if m is None or m.group("learner") not in LEARNERS:
        raise ValueError(
            f"unknown OTC method {key!r}; a method is <learner>[_otc_de[_joint]|_otc_dq[_fixed<alpha>]|_online|"
            f"_br] with learner one of {', '.join(LEARNERS)} (e.g. bcq_otc_de, awac, bcq_otc_de_fixed1.0)"
        )
    learner, rest = m.group("learner"), m.group("rest")
    if rest is None:
        return Method(key, learner, "uniform")
    if rest in ("online", "br"):
        return Method(key, learner, rest)
    distance = "embedding" if rest.startswith("otc_de") else "q"
    form = "joint" if m.group("joint") else "conditional"
    if m.group("alpha") is None:
        return Method(key, learner, "otc", distance, "adaptive", 1.0, form)
    try:
        alpha = float(m.group("alpha"))
    except ValueError:
        raise ValueError(f"OTC method {key!r}: fixed alpha {m.group('alpha')!r} is not a number") from None
    return Method(key, learner, "otc", distance, "fixed", alpha, form)


# Profile overrides (merged onto common/running/profiles.py's base profiles), spec Sec. 7.2:
#   quick: MuJoCo items (since 2026-11-28): full's D4RL-protocol datasets, M = 1 % of them, K = 10, the paper's L,
#          offline BCQ 5e4 (pi^0's measured plateau), AWAC 1e4; Figures 7-8 (TD3+BC on navigation, since
#          2026-11-29): the paper's L and 1M data, offline TD3+BC 4e4 (its measured plateau); the other items
#          (Figure 6): L = 1/8 of the paper's (BCQ 500, BREMEN 250), offline BCQ 2e4 / BREMEN 2.5e3 updates,
#          navigation data 250k transitions, 5 evaluation episodes (MuJoCo; 10 on navigation), 3 seeds;
#          Figure 6d: the quick SMAX data (2,500 medium episodes), M = 25 episodes per agent, L = 250 CQL updates,
#          offline CQL 1e4 updates, 32 test episodes (about 15 CPU-min per seed and method on the 2-core machine);
#   smoke: the smoke datasets, K = 2 deployments of max(1 %, 20) steps, L = 10, 50 offline updates, |B| 64,
#          |D| <= 64, batch 32, 1 evaluation episode cut at 50 steps, widths 32 (plumbing, not numbers);
#          Figure 6d: the smoke SMAX data (4 episodes), M = 1 episode per agent, 2 test episodes.
@dataclass(frozen=True)
class OtcSettings(PaperSettings):
    """OTC's own settings per profile (the comment above says why each profile sets what it sets); defaults: the
    protocol's values above, None: the paper's (or the learner's) own."""

    deployments: int = DEPLOYMENTS  # K deployments [P]
    # at least this many online transitions per deployment (smoke: 1 % of tiny data is too few)
    min_deploy: int = 1
    tune_scale: float = 1.0  # fraction of the paper's L fine-tuning updates per deployment (TUNE_UPDATES) [P]
    offline_updates: int | None = None  # offline updates of every learner; None: OFFLINE_UPDATES
    offline_updates_bcq: int | None = None  # offline BCQ updates; None: offline_updates, else 300,000
    offline_updates_awac: int | None = None  # offline AWAC updates; None: offline_updates, else 25,000
    offline_updates_td3bc: int | None = None  # offline TD3+BC updates; None: offline_updates, else 100,000
    # offline BREMEN updates (BC, then policy); None: ..., else 20,000
    offline_updates_bremen: int | None = None
    # offline discrete-CQL updates (Figure 6d); None: ..., else 100,000
    offline_updates_cql: int | None = None
    # the MuJoCo items' own L scale (Table 1, Figures 3-5); None: tune_scale
    mujoco_tune_scale: float | None = None
    # the MuJoCo items' pi^0 BCQ updates; None: offline_updates_of("bcq")
    mujoco_offline_updates_bcq: int | None = None
    # ("task/dataset", updates): the MuJoCo datasets where pi^0's measured curve settled earlier (papers/otc/pi0_curve.py)
    mujoco_bcq_settled: tuple[tuple[str, int], ...] = ()
    # Figures 7-8 (TD3+BC on navigation): their own L scale; None: tune_scale
    nav_td3bc_tune_scale: float | None = None
    # Figures 7-8: their pi^0's TD3+BC updates; None: offline_updates_of("td3bc")
    nav_td3bc_offline_updates: int | None = None
    # Figures 7-8: their uniform-random data's transitions; None: nav_size
    nav_td3bc_size: int | None = None
    # BREMEN's behavior-cloning updates (at most its offline updates)
    bremen_bc_updates: int = BREMEN_BC_UPDATES
    nav_size: int = NAV_SIZE  # transitions of the uniform-random navigation / predator-prey data [P Sec. 4.7]
    big_batch: int | None = None  # |B|; None: OTCConfig's 512 [P]
    match_batch: int | None = None  # |D|; None: OTCConfig's 2000 [P]
    batch_size: int | None = None  # update batch of every learner and of OTC; None: Table 3's 128 [P]
    width: int | None = None  # one width for every hidden layer of the learners and the CVAE; None: Table 3's
    eval_episodes: int = EVAL_EPISODES  # evaluation episodes of each pi^k [I C3]
    # evaluation episodes on the navigation / predator-prey envs; None: eval_episodes
    nav_eval_episodes: int | None = None
    eval_max_steps: int | None = None  # evaluation, and nothing else, cut after this many steps (smoke only)
    n_alpha_draws: int | None = None  # (B, D) draws averaged into DD^k; None: OTCConfig's 20
    # at least this many episodes per agent and deployment on SMAX (smoke: 1 % of 4 is 0)
    smax_min_deploy: int = 1
    smax_eval_episodes: int = SMAX_EVAL_EPISODES  # greedy SMAX test episodes per evaluation of pi^k [I C23]

    def offline_updates_of(
        self, learner: str, paper: int | None = None, mujoco: bool = False, where: str | None = None
    ) -> int:
        """Offline updates of ``learner``: its own setting, else ``offline_updates``, else ``paper`` (default
        OFFLINE_UPDATES[learner]); on a MuJoCo item (``mujoco``) BCQ's ``mujoco_bcq_settled`` entry for ``where``
        ("task/dataset") first, then ``mujoco_offline_updates_bcq``."""
        if mujoco and learner == "bcq":
            settled = dict(self.mujoco_bcq_settled)
            if where in settled:
                return int(settled[where])
            if self.mujoco_offline_updates_bcq is not None:
                return int(self.mujoco_offline_updates_bcq)
        own = {
            "bcq": self.offline_updates_bcq,
            "awac": self.offline_updates_awac,
            "td3bc": self.offline_updates_td3bc,
            "bremen": self.offline_updates_bremen,
            "cql": self.offline_updates_cql,
        }
        if learner not in own:
            raise ValueError(f"unknown OTC learner {learner!r}; valid: {', '.join(own)}")
        for v in (own[learner], self.offline_updates, paper):
            if v is not None:
                return int(v)
        return OFFLINE_UPDATES[learner]

    def tune_updates(self, learner: str, mujoco: bool = False, nav_td3bc: bool = False) -> int:
        """L fine-tuning updates per deployment of ``learner``: the paper's TUNE_UPDATES x ``tune_scale`` (>= 1);
        on a MuJoCo item (``mujoco``) x ``mujoco_tune_scale``, on a TD3+BC navigation item (``nav_td3bc``) x
        ``nav_td3bc_tune_scale``, where set."""
        scale = self.tune_scale
        if mujoco and self.mujoco_tune_scale is not None:
            scale = self.mujoco_tune_scale
        if nav_td3bc and self.nav_td3bc_tune_scale is not None:
            scale = self.nav_td3bc_tune_scale
        return max(1, round(TUNE_UPDATES[learner] * scale))

    def otc_batches(self) -> dict[str, int]:
        """OTC's section fields this profile sets (|B|, |D|, batch, draws), in that order; {}: OTCConfig's own."""
        values = {
            "big_batch": self.big_batch,
            "match_batch": self.match_batch,
            "batch_size": self.batch_size,
            "n_alpha_draws": self.n_alpha_draws,
        }
        return {k: v for k, v in values.items() if v is not None}


PROFILE_OVERRIDES = PaperProfiles(
    OtcSettings,
    by_profile={
        "smoke": {
            "paper": {
                "deployments": 2,
                "min_deploy": 20,
                "tune_scale": 10 / 4000,
                "offline_updates": 50,
                "big_batch": 64,
                "match_batch": 64,
                "batch_size": 32,
                "width": 32,
                "eval_episodes": 1,
                "eval_max_steps": 50,
                "n_alpha_draws": 2,
                "nav_size": 2_000,
                "bremen_bc_updates": 25,
                "smax_min_deploy": 1,
                "smax_eval_episodes": 2,
            }
        },
        "quick": {
            "paper": {
                "tune_scale": 0.125,
                "offline_updates_bcq": 20_000,
                "offline_updates_td3bc": 5_000,
                "offline_updates_bremen": 2_500,
                "bremen_bc_updates": 1_250,
                "nav_size": 250_000,
                "eval_episodes": 5,
                "nav_eval_episodes": 10,
                "offline_updates_cql": 10_000,
                # MuJoCo items on the D4RL-protocol data (issue 65): the paper's L, and pi^0 = BCQ at the protocol's
                # 300,000 updates except where its measured curve settled earlier (results/full/otc/pi0_curve/):
                # Hopper 3x1 medium-replay at 50,000 (3 seeds, plateau from 40k; means 21.5 over 40k-150k, 19.4
                # over 150k-300k; the data 15.4). HalfCheetah 2x3 medium-replay has not settled at 50,000 (2.1-2.3
                # normalized to 150k, then seeds leave the rest state: up to 31.4 by 170k), so it keeps 300,000.
                # HalfCheetah 2x3 medium at 50,000 (AMD, 3 seeds: 35.9 at 10k; means 35.4 / 35.8 / 35.7 over 10-50k /
                # 50-150k / 150-300k, every evaluation 34.2-36.3; the data 33.7). Walker2d 2x3 medium keeps 300,000:
                # its level is 66 from 10k on, but single evaluations fall to 47.0 and 57.2 before 150k (a seed
                # falling), none below 63.5 after. AWAC (Table 1 only) keeps the protocol's 25,000: no curve measured
                "mujoco_tune_scale": 1.0,
                "mujoco_offline_updates_bcq": 300_000,
                "mujoco_bcq_settled": (("hopper/medium-replay", 50_000), ("halfcheetah/medium", 50_000)),
                # Figures 7-8 (TD3+BC on navigation, issue 65): the paper's L and data size, and pi^0 = TD3+BC at
                # 40,000 updates, where its measured curve has settled (results/full/otc/pi0_curve/: 4 agents, the
                # 1M data, 3 seeds; -55.6 at 10k, -42.8 at 20k, -37.0 to -40.1 over 30k-70k)
                "nav_td3bc_tune_scale": 1.0,
                "nav_td3bc_offline_updates": 40_000,
                "nav_td3bc_size": 1_000_000,
            }
        },
    },
)


def learner_section(learner: str, settings: OtcSettings) -> dict[str, Any]:
    """The learner's config section for a cell: Table 3's fields with the profile's batch and width."""
    if learner not in LEARNER_FIELDS:
        raise ValueError(f"unknown OTC learner {learner!r}; valid: {', '.join(LEARNER_FIELDS)}")
    out = dict(LEARNER_FIELDS[learner])
    if learner == "bremen":
        out["bc_updates"] = settings.bremen_bc_updates
    if settings.batch_size is not None:
        out["batch_size"] = settings.batch_size
    if settings.width is not None:
        w = settings.width
        out["hidden"] = [w, w]
        if learner == "bcq":
            out["hidden_vae"] = [w, w]
    return out


def learner_overrides(learner: str, pairs: Sequence[str]) -> dict[str, Any]:
    """``--set FIELD=VALUE`` pairs as {field: value} of ``learner``'s config class (VALUE read as JSON, else as a
    string): a variant of Table 1's learner to measure beside it (e.g. AWAC's ``lam=1e9``, weighted BC). One
    ValueError names a bad pair, an unknown field (with the valid ones) or a value the config refuses."""
    import json

    from common.algos.awac_config import AWACConfig
    from common.algos.bcq_config import BCQConfig
    from common.algos.itd3bc import TD3BCConfig
    from common.running.cli_args import check_fields

    cls = {"bcq": BCQConfig, "awac": AWACConfig, "td3bc": TD3BCConfig}[learner]
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set takes FIELD=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    check_fields(cls, out, f"--set ({learner})")
    cls(**out).validate()
    return out
