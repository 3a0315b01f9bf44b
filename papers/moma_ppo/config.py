"""MOMA-PPO's protocol as data: the Iterated Coordination Game items (Tables 1 and 3), the Reacher data and Table 4a,
the paper's (or, where it is silent, the official code's [C] or our [I]) choices, and the profile overrides. The
learners' hyperparameters live in their config dataclasses (common/algos/iql.py IQLConfig, common/algos/mappo.py
MAPPOConfig, papers/moma_ppo/worldmodel.py WorldModelConfig), each field citing its source; here are only the
departures from them of the ICG and of Reacher (Table 4a). The MaMuJoCo data (the Reacher experts and expert-mix, the
Ant datasets' constants): papers/moma_ppo/data_config.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from common.running.profiles import PaperProfiles, PaperSettings

ICG_ENV = "games/coordination"
# Table 1 (§5.2): behavior probabilities of going right (→, action 1) of agents 1 and 2
ICG_BEHAVIOR = {"favorable": (0.75, 0.75), "neutral": (0.5, 0.5), "unfavorable": (0.25, 0.75)}
ICG_PLAYS = 10_000  # [I] the dataset size is not published; 10,000 plays give an SE of ~0.005 on the means
ICG_DATA_SEED = 0  # [I] one dataset per kind, shared by every seed of every method

# Table 3 (§6): 10 seeds; "Evaluation is done for 100 episodes using the greedy policies"
ICG_SEEDS = 10
ICG_EVAL_EPISODES = 100
T3_METHODS = ("iql", "maiql", "ibc", "moma_ppo")
BASELINE_METHOD = {"iql": "iql", "maiql": "maiql", "ibc": "bc"}  # column -> common.algos.iql IQLConfig.method
# Baselines [C] train_agents.py: 1e6 + 1 updates, an evaluation every 50 updates (5 greedy episodes). [I] full:
# 1e5 updates (the one-state game converges in a few thousand, spec §7); we evaluate with the final protocol's 100
# greedy episodes at every evaluation (the game is deterministic, so 5 or 100 episodes read the same).
BASELINE_UPDATES = 100_000
BASELINE_EVAL_EVERY = 50
# MOMA-PPO on the ICG ([C] train_rl_model_based.py 'toy' branches): k = 1, no history, no clipping, no penalty;
# an evaluation every 50 iterations [C]. [I] full: 1,000 iterations (spec §7: "until 1.0, <= 1e3").
MOMA_ITERATIONS = 1_000
MOMA_EVAL_EVERY = 50
# [C] k_steps_rollouts forced to 1 for 'toy'; 2000 transitions per batch
MOMA_ROLLOUT = {"k": 1, "batch": 2_000}
# [C] 'toy' skips clip_to_dataset and correct_rewards: no clipping and no penalty
WM_ICG = {"clip_to_dataset": False, "lambda_g": 0.0, "lambda_r": 0.0}
WM_SEED = 0  # [C] one world model per task, shared by every MOMA-PPO seed (load_wm_ensemble)
# [C] CategoricalPolicy for 'toy'; the other MAPPOConfig fields as the code
MAPPO_ICG = {"policy": "categorical"}

# ---- Table 4a: 2-agent Reacher expert-mix x 3 observation functions x 8 methods (§6, Table 4a; spec §2, §5, §7) ----
# Columns (published.T4A_METHODS) -> how each runs. The baselines are common.running.offline's generic job on a registered
# learner (papers/moma_ppo/jobs.py reacher_baseline_config); MOMA-PPO is jobs.moma_run (world model + MAPPO).
T4A_SEEDS = (0, 1, 2)  # §6: "3 seeds" on MaMuJoCo
T4A_EVAL_EPISODES = 100  # §6: "Evaluation is done for 100 episodes using the greedy policies"
# §5.3: the mixture of the two elbow conventions' experts (papers/moma_ppo/reacher.py)
T4A_DATASET = "expert-mix"
T4A_ROWS_OF = {"iql": ("full",)}  # IQL executes centrally: FO row only (Table 4a prints '—' in the PO rows)
# column -> (learner, its config section). IQL: the code's single-agent learner on the full observation and the
# joint action ([code] train_agents.py alg_name iql on reacher 2x1_full: central_obs "agent0" = the 10-dim state);
# MAIQL / IBC: alg_name ma-iql / bc; MATD3+BC: [inferred] design (common/algos/matd3bc.py); ITD3+BC, ICQL, IOMAR:
# papers/moma_ppo/td3_presets.py moma_ppo_preset (the code's TD3Learner settings; configs [inferred], spec Q12).
T4A_LEARNERS = {
    "iql": ("iql_continuous", {"method": "iql", "central_obs": "agent0"}),
    "maiql": ("iql_continuous", {"method": "maiql"}),
    "matd3bc": ("matd3bc", {}),
    "ibc": ("iql_continuous", {"method": "bc"}),
    "itd3bc": ("itd3", "itd3bc"),
    "icql": ("itd3", "icql"),
    "iomar": ("itd3", "iomar"),
}
# [code] train_agents.py max_training_step int(1e6 + 1) (spec §5; the paper: "to convergence")
T4A_UPDATES = 1_000_001
# [I] evaluations per run (spec §2: "~50 points per run"; the code: 5 episodes every 50 updates)
T4A_EVALS = 50
T4A_MEMORY = {"full": 10, "po": 10}  # [code] memory_len 10 in every row (ITD3: none, td3_presets.py)
MOMA_REACHER_ITERATIONS = 100_001  # [code] train_rl_model_based.py max_training_step int(1e5 + 1)
MOMA_REACHER_ROLLOUT = {"k": 10, "batch": 2_000}  # [code] k_steps_rollouts 10; 2000 transitions per PPO batch
# [I] deviation (README "Table 4a"): normalized MAPPO inputs (common/behavior/mappo_online.py's docstring: on raw
# Reacher observations online MAPPO diverged), the statistics frozen from the dataset's observations; no history
# histories: MOMA_MEMORY below, per profile
MAPPO_REACHER = {"obs_norm": True}
# MOMA-PPO's MAPPO history length on MaMuJoCo ([code] memory_len 10): the dataset's histories of the start states move
# on through the synthetic rollouts (papers/moma_ppo/moma_ppo.py); profiles override it (t4a_/t4b_moma_memory)
MOMA_MEMORY = 10

# Table 4a's profile scales (MomaSettings' t4a_* fields). quick (costs measured on one loaded core in
# papers/moma_ppo/README.md "Table 4a": ≈ 5.5 core-hours in all): baselines 2 x 128 networks, 10,000 updates (spec
# §7), no histories in any row (spec §7 proposes 10 in the PO rows: they cost 4-14x per update, ≈ +6 core-hours even
# with 32-dim embeddings; MOMA-PPO runs without them too), 10 evaluations of 100 episodes; MOMA-PPO the code's
# world model (QUICK_WM_NOTE; 4 x 256 before 2026-11-28), 2 x 128 MAPPO, 300 iterations of 2,000 transitions.
# smoke: seconds, plumbing only (histories of 2 in the PO rows exercise the encoders).
# QUICK_WM_NOTE (issue 64): quick trains the code's world model since 2026-11-28. MOMA-PPO on Reacher FO (README "The
# world model, not MAPPO"): 4 x 256 -1.62, 4 x 512 0.00 (seed 0), the code's 4 x 1024 0.49 +- 0.02 (3 seeds), true
# physics 0.99: no cheaper model matched it. ~2.3-4 h of one CPU thread per ensemble (README "Costs"), cached per dataset and obs mode.
T4A_SMOKE = {
    "t4a_updates": 20,
    "t4a_evals": 1,
    "t4a_eval_episodes": 4,
    "t4a_width": 32,
    "t4a_memory": {"full": 0, "po": 2},
    "t4a_moma_iterations": 2,
    "t4a_moma_batch": 200,
    "t4a_mappo_width": 32,
    "t4a_wm_width": 32,
    "t4a_wm_layers": 2,
    "t4a_wm_updates": 30,
    "t4a_moma_memory": 2,
}
T4A_QUICK = {
    "t4a_updates": 10_000,
    "t4a_evals": 10,
    "t4a_width": 128,
    "t4a_memory": {"full": 0, "po": 0},
    "t4a_moma_memory": 0,
    "t4a_moma_iterations": 300,
    "t4a_mappo_width": 128,
    "t4a_wm_width": None,  # the code's 4 x 1024 (since 2026-11-28; 256 before): see QUICK_WM_NOTE
}

# ---- Table 4b: 4-agent Ant x 4 D4RL-protocol datasets x FO/PO x 8 methods (§6, Table 4b; spec §2-§3, §5, §7) --
# Columns (published.T4B_METHODS): Table 4a's learners without MATD3+BC, plus MAIQL-ft. Rows: obs_mode {full (FO: the
# 27-dim state for every agent), partial (PO: each agent its leg's 4 dims, agent 0 also the torso's 15)} x dataset.
T4B_SEEDS = (0, 1, 2)  # §6: "3 seeds" on MaMuJoCo
T4B_EVAL_EPISODES = 100  # §6: 100 greedy episodes (of 1,000 steps, ending early when the ant is unhealthy)
T4B_ROWS_OF = {"iql": ("full",)}  # IQL executes centrally: FO rows only (Table 4b prints '—' in the PO rows)
# MAIQL-ft (README "Table 4b"; papers/moma_ppo/maiql_ft.py): [code] train_model_based_agent.py with mb_finetuning and
# perfect_wm: MAIQL's offline updates, then a fine-tuning phase in which every 10 updates one dataset start state is
# rolled 10 steps in the true simulator and stored in an online buffer mixed into the minibatches. [I] MAIQL's
# defaults (expectile 0.7, beta 3) in both phases: the spec records no change of settings for the fine-tuning run, and
# Kostrikov et al.'s 0.9 / 10 are their AntMaze settings for both phases, not fine-tuning ones (maiql_ft.py).
T4B_MAIQL_FT = {"method": "maiql"}
# the fine-tuning section (maiql_ft.FineTuneConfig: rollout_every 10 [code], rollout_len 10 [code], capacity 1e6
# [code]); F = 1e6 updates [inferred spec §5: "for the same number of training steps", 1e6 online transitions = as
# many as D4RL's 1e6 offline ones]; profiles override F (t4b_ft_updates)
T4B_FT_UPDATES = 1_000_000
T4B_LEARNERS = {k: v for k, v in T4A_LEARNERS.items() if k != "matd3bc"} | {
    "maiql_ft": ("iql_continuous", T4B_MAIQL_FT)
}
# [code] check_algo_for_reward_normalization: on Ant, IQL / MAIQL(-ft) / BC train on rewards x 1000 / (max - min
# episode return of the dataset) (spec §3); the ITD3 family and MOMA-PPO (world model included) see raw rewards.
T4B_REWARD_SCALED = ("iql", "maiql", "maiql_ft", "ibc")
T4B_REWARD_SCALE = 1000.0
# [code] train_agents.py max_training_step (MAIQL-ft: its offline phase; + T4B_FT_UPDATES)
T4B_UPDATES = 1_000_001
T4B_EVALS = 50  # [I] as Table 4a
T4B_MEMORY = {"full": 10, "po": 10}  # [code] memory_len 10 (ITD3: none)
MOMA_ANT_ITERATIONS = 100_001  # [code] max_training_step int(1e5 + 1)
MOMA_ANT_ROLLOUT = {"k": 10, "batch": 2_000}  # [code] k 10, 2000 transitions per PPO batch
# [I] as Reacher (README "Table 4a"): normalized MAPPO inputs frozen from the dataset; histories: MOMA_MEMORY
MAPPO_ANT = {"obs_norm": True}
# spec §7's quick cells: PO medium and full-replay have the largest published gaps; FO full-replay is shared with
# Figure 6 / B.2. The rest are "not run at quick" (the script runs any cell: --obs-mode / --dataset / --method).
T4B_QUICK_CELLS = (("full", "full-replay"), ("partial", "medium"), ("partial", "full-replay"))

# Table 4b's profile scales (keys t4b_*). smoke: seconds, plumbing only (evaluation episodes cut at 50 steps).
# quick (README "Table 4b", estimated from Table 4a's measured per-update costs scaled to 4 agents): as Table 4a's
# quick (2 x 128, 10,000 updates, no histories; MOMA-PPO the code's 4 x 1024 world model, 10,001 updates, 300
# iterations of 2,000 transitions, 2 x 128 MAPPO); MAIQL-ft 10,000 offline + 10,000 fine-tuning updates (the
# paper's "same number of training steps"; 10,000 online transitions); 5 evaluations per run (MAIQL-ft: per phase)
# of 100 full episodes (an Ant episode is 1,000 steps: ≈ 25 s per 100-episode evaluation here, measured).
T4B_SMOKE = {
    "t4b_updates": 20,
    "t4b_ft_updates": 20,
    "t4b_evals": 1,
    "t4b_eval_episodes": 2,
    "t4b_eval_max_steps": 50,
    "t4b_width": 32,
    "t4b_memory": {"full": 0, "po": 2},
    "t4b_moma_iterations": 2,
    "t4b_moma_batch": 200,
    "t4b_mappo_width": 32,
    "t4b_wm_width": 32,
    "t4b_wm_layers": 2,
    "t4b_wm_updates": 30,
    "t4b_moma_memory": 2,
}
# MOMA-PPO on Ant keeps the code's 10-step histories at quick (since 2026-11-26; 0 before): the code's setting, and
# without them MAPPO's critic diverged on the quick world model in 3 of 3 seeds by iteration 300; with them it still
# diverged on seed 0 and later on seed 1 (README "Table 4b", "Why the critic diverged": histories delay it, they do not
# prevent it). An iteration costs ~5x more (8.5 s vs 1.5 s on one loaded core; ~55 min per seed and cell).
T4B_QUICK = {
    "t4b_updates": 10_000,
    "t4b_ft_updates": 10_000,
    "t4b_evals": 5,
    "t4b_width": 128,
    "t4b_memory": {"full": 0, "po": 0},
    "t4b_moma_iterations": 300,
    "t4b_mappo_width": 128,
    "t4b_wm_width": None,  # the code's 4 x 1024 (since 2026-11-28; 256 before): see QUICK_WM_NOTE
}

# ---- Figure 6 and the App. B.2 ablations: MOMA-PPO variants on Ant full-replay (§6.3; spec §2, §7) ---------------
# Every cell is Table 4b's MOMA-PPO cell at the same profile (t4b_* scales, the same cached world model) with one
# change (jobs.ant_moma_variant_config): ``wm_sampling`` overrides of the ensemble's sample (WorldModelConfig fields
# read by sample only; threshold "inf" = l_eps = inf, no adaptive cut), another k, or the ground-truth simulator.
F6_DATASET = "full-replay"  # [paper] §6.3 "Ant-full-replay"; the ablations' task is not named: the same [I]
F6_SEEDS = T4B_SEEDS  # [I] 3 seeds, as Table 4
# penalty (published.FIGURE6_PENALTIES): MOMA-PPO's epistemic lambda_g eps_g + lambda_r eps_r (0.1, 0.05: the
# WorldModelConfig defaults) or MOPO's aleatoric lambda max_m ||Sigma_m||_F with lambda in {1, 5} ("[67]'s parameter
# search procedure") and no epistemic term [I: the text replaces the penalty]
F6_PENALTIES = {
    "epistemic": {},
    "aleatoric_1": {"lambda_aleatoric": 1.0, "lambda_g": 0.0, "lambda_r": 0.0},
    "aleatoric_5": {"lambda_aleatoric": 5.0, "lambda_g": 0.0, "lambda_r": 0.0},
}
# rollouts (published.FIGURE6_ROLLOUTS): adaptive length (cut where eps_g >= l_eps = 2) or fixed (l_eps = inf)
F6_ROLLOUTS = {"adaptive": {}, "fixed": {"threshold": "inf"}}
# ablation variant (published.ABLATION_VARIANTS) -> jobs.ant_moma_variant_config keywords; default = Table 4b's cell
ABLATIONS = {
    "default": {},
    "ground_truth": {"simulator": "ground_truth"},
    "no_clip": {"wm_sampling": {"clip_to_dataset": False}},
    "no_lambda_g": {"wm_sampling": {"lambda_g": 0.0}},
    "no_adaptive": {"wm_sampling": {"threshold": "inf"}},
    "k5": {"k": 5},
    "k20": {"k": 20},
    "k50": {"k": 50},
}
# Ablations of ours (not in the paper's App. B.2, no published number, no claim): monotonic_mixer = MAPPO's V mixer
# with |w| ([paper] §3.2 "QMIX") instead of the code's unconstrained w (MixerNetwork.mix), added 2026-11-26: without
# histories, on the quick world model, the code's mixer let the critic diverge and the monotonic one did not
# (critic_probe.py, README "Why the critic diverged"). In the smoke grid only (tests); add it to a profile's
# ABLATION_VARIANTS_OF entry to run it there.
OUR_ABLATIONS = {"monotonic_mixer": {"mappo": {"mixer": "monotonic"}}}
ABLATIONS = {**ABLATIONS, **OUR_ABLATIONS}
# The grids per profile. spec §7: "Figure 6 and B.2: PO only, ablation (b) and k in {5, 10, 20}" at quick, plus
# (a) ground_truth (added 2026-11-25: MAPPO's critic diverges on the quick world model, README "Table 4b"; the true
# simulator tells whether it diverges without one); the default (k = 10) is Table 4b's PO full-replay cell and
# no_adaptive is Figure 6's (epistemic, fixed) cell, both reused when those ran. full (and smoke, seconds): FO and
# PO, every variant, k in {5, 10, 20, 50} [I].
F6_OBS = {"smoke": ("full", "partial"), "quick": ("partial",), "full": ("full", "partial")}
ABLATION_OBS = F6_OBS
ABLATION_VARIANTS_OF = {
    "smoke": tuple(ABLATIONS),
    "quick": ("default", "ground_truth", "no_clip", "no_adaptive", "k5", "k20"),
    # ours: smoke (or add it)
    "full": tuple(v for v in ABLATIONS if v not in OUR_ABLATIONS),
}


# Profile overrides (merged onto common/running/profiles.py's base profiles):
#   full:  10 seeds (§6), the sizes above, the world model as the code (4 x 1024 T/R heads, 2 x 1024 mask head,
#          1e4 + 1 updates);
#   quick: the ICG is tiny, so quick runs the full data and seed protocol (10,000 plays, 10 seeds, 100 greedy
#          episodes) with shorter training and narrower networks (one CPU core: a 2 x 256 network at batch 256
#          costs ~30 ms per IQL update here): baselines 2 x 64 networks, 2,000 updates; MOMA-PPO 2 x 64 actors /
#          critics / mixer, 30 iterations (it coordinates within ~20 on every dataset), a toy world model
#          (2 x 64 layers [I]: the toy config is unpublished) trained 2,000 updates;
#   smoke: 500 plays, 2 seeds, 2 x 32 networks, baselines 100 updates, MOMA-PPO 3 iterations, world model 50
#          updates.
@dataclass(frozen=True)
class TableScale:
    """One MaMuJoCo table's sizes at a profile, each resolved (the profile's setting, else the code's): Table 4a's on
    Reacher (``MomaSettings.t4a``), Table 4b's on Ant (``MomaSettings.t4b``)."""

    updates: int  # gradient steps of the baselines
    evals: int  # evaluations per run (baselines and MOMA-PPO)
    eval_episodes: int  # greedy episodes per evaluation
    eval_max_steps: int | None  # evaluation episodes cut after this many steps; None: whole episodes
    width: int | None  # hidden width of the baselines' networks; None: the code's 256
    # {"full": L, "po": L}: the baselines' history length in the FO row and the PO rows
    memory: Mapping[str, int]
    memory_dim: int | None  # embedding size of the baselines' history encoders; None: the code's 128
    moma_iterations: int  # MOMA-PPO iterations
    moma_batch: int  # synthetic transitions per MOMA-PPO iteration
    mappo_width: int | None  # hidden width of MOMA-PPO's actors, critics and mixer; None: the code's 256
    moma_memory: int  # history length of MOMA-PPO's MAPPO (0: none)
    wm_width: int | None  # hidden width of the world model's heads; None: the code's 1024
    wm_layers: int | None  # hidden layers of the world model's T and R heads; None: the code's 4
    wm_updates: int | None  # world-model updates; None: the code's 10,001
    ft_updates: int | None = None  # MAIQL-ft's fine-tuning updates (Table 4b only)


@dataclass(frozen=True)
class MomaSettings(PaperSettings):
    """MOMA-PPO's own settings per profile (the comment above says why each profile sets what it sets); defaults: the
    protocol's values above, None: the code's (or the config dataclass's) own. ``t4a`` / ``t4b`` give a table's
    sizes resolved as one ``TableScale``."""

    # the Iterated Coordination Game (Table 3)
    icg_plays: int = ICG_PLAYS  # plays per ICG dataset [I]
    icg_updates: int = BASELINE_UPDATES  # gradient steps of the ICG baselines (IQL, MAIQL, IBC) [I]
    icg_eval_every: int = BASELINE_EVAL_EVERY  # updates between the ICG baselines' evaluations [C]
    icg_width: int | None = None  # hidden width of the ICG baselines' networks; None: the code's 256
    # hidden width of MOMA-PPO's actors, critics and mixer; None: the code's 256
    icg_mappo_width: int | None = None
    icg_moma_iterations: int = MOMA_ITERATIONS  # MOMA-PPO iterations on the ICG [I]
    icg_moma_eval_every: int = MOMA_EVAL_EVERY  # MOMA-PPO iterations between evaluations [C]
    icg_wm_width: int | None = None  # hidden width of every world-model head; None: the code's 1024
    icg_wm_layers: int | None = None  # hidden layers of the world model's T and R heads; None: the code's 4
    icg_wm_updates: int | None = None  # world-model updates; None: the code's 10,001
    # Table 4a (Reacher expert-mix)
    t4a_updates: int = T4A_UPDATES  # gradient steps of the Table 4a baselines [C]
    t4a_evals: int = T4A_EVALS  # evaluations per Table 4a run (baselines and MOMA-PPO) [I]
    t4a_eval_episodes: int = T4A_EVAL_EPISODES  # greedy episodes per Table 4a evaluation [P]
    t4a_width: int | None = None  # hidden width of the Table 4a baselines' networks; None: the code's 256
    # {"full": L, "po": L}: baselines' history lengths; None: T4A_MEMORY
    t4a_memory: dict[str, int] | None = None
    # embedding size of the baselines' history encoders; None: the code's 128
    t4a_memory_dim: int | None = None
    t4a_moma_iterations: int = MOMA_REACHER_ITERATIONS  # MOMA-PPO iterations on Reacher [C]
    t4a_moma_batch: int = MOMA_REACHER_ROLLOUT["batch"]  # synthetic transitions per MOMA-PPO iteration [C]
    t4a_mappo_width: int | None = None  # hidden width of MOMA-PPO's MAPPO on Reacher; None: the code's 256
    t4a_moma_memory: int = MOMA_MEMORY  # history length of MOMA-PPO's MAPPO on Reacher (0 = none) [C]
    t4a_wm_width: int | None = None  # hidden width of the Reacher world model's heads; None: the code's 1024
    t4a_wm_layers: int | None = None  # hidden layers of its T and R heads; None: the code's 4
    t4a_wm_updates: int | None = None  # Reacher world-model updates; None: the code's 10,001
    # Table 4b (Ant)
    t4b_updates: int = T4B_UPDATES  # gradient steps of the Table 4b baselines (MAIQL-ft: offline ones) [C]
    t4b_ft_updates: int = T4B_FT_UPDATES  # MAIQL-ft's fine-tuning updates after its offline ones [inferred]
    t4b_evals: int = T4B_EVALS  # evaluations per Table 4b run (baselines and MOMA-PPO) [I]
    t4b_eval_episodes: int = T4B_EVAL_EPISODES  # greedy episodes per Table 4b evaluation [P]
    # Table 4b evaluation episodes cut after this many steps (smoke only)
    t4b_eval_max_steps: int | None = None
    t4b_width: int | None = None  # hidden width of the Table 4b baselines' networks; None: the code's 256
    # {"full": L, "po": L}: IQL-family history lengths; None: T4B_MEMORY
    t4b_memory: dict[str, int] | None = None
    # embedding size of the baselines' history encoders; None: the code's 128
    t4b_memory_dim: int | None = None
    t4b_moma_iterations: int = MOMA_ANT_ITERATIONS  # MOMA-PPO iterations on Ant [C]
    t4b_moma_batch: int = MOMA_ANT_ROLLOUT["batch"]  # synthetic transitions per MOMA-PPO iteration on Ant [C]
    t4b_mappo_width: int | None = None  # hidden width of MOMA-PPO's MAPPO on Ant; None: the code's 256
    t4b_moma_memory: int = MOMA_MEMORY  # history length of MOMA-PPO's MAPPO on Ant (0 = none) [C]
    t4b_wm_width: int | None = None  # hidden width of the Ant world model's heads; None: the code's 1024
    t4b_wm_layers: int | None = None  # hidden layers of its T and R heads; None: the code's 4
    t4b_wm_updates: int | None = None  # Ant world-model updates; None: the code's 10,001

    @property
    def t4a(self) -> TableScale:
        """Table 4a's sizes at this profile."""
        return TableScale(
            self.t4a_updates,
            self.t4a_evals,
            self.t4a_eval_episodes,
            None,
            self.t4a_width,
            T4A_MEMORY if self.t4a_memory is None else self.t4a_memory,
            self.t4a_memory_dim,
            self.t4a_moma_iterations,
            self.t4a_moma_batch,
            self.t4a_mappo_width,
            self.t4a_moma_memory,
            self.t4a_wm_width,
            self.t4a_wm_layers,
            self.t4a_wm_updates,
        )

    @property
    def t4b(self) -> TableScale:
        """Table 4b's sizes at this profile."""
        return TableScale(
            self.t4b_updates,
            self.t4b_evals,
            self.t4b_eval_episodes,
            self.t4b_eval_max_steps,
            self.t4b_width,
            T4B_MEMORY if self.t4b_memory is None else self.t4b_memory,
            self.t4b_memory_dim,
            self.t4b_moma_iterations,
            self.t4b_moma_batch,
            self.t4b_mappo_width,
            self.t4b_moma_memory,
            self.t4b_wm_width,
            self.t4b_wm_layers,
            self.t4b_wm_updates,
            self.t4b_ft_updates,
        )


PROFILES = PaperProfiles(
    MomaSettings,
    by_profile={
        "smoke": {
            "n_seeds": 2,
            "paper": {
                "icg_plays": 500,
                "icg_updates": 100,
                "icg_width": 32,
                "icg_moma_iterations": 3,
                "icg_moma_eval_every": 1,
                "icg_mappo_width": 32,
                "icg_wm_width": 32,
                "icg_wm_layers": 2,
                "icg_wm_updates": 50,
                **T4A_SMOKE,
                **T4B_SMOKE,
            },
        },
        "quick": {
            "n_seeds": ICG_SEEDS,
            "paper": {
                "icg_updates": 2_000,
                "icg_width": 64,
                "icg_moma_iterations": 30,
                "icg_moma_eval_every": 5,
                "icg_mappo_width": 64,
                "icg_wm_width": 64,
                "icg_wm_layers": 2,
                "icg_wm_updates": 2_000,
                **T4A_QUICK,
                **T4B_QUICK,
            },
        },
        "full": {"n_seeds": ICG_SEEDS},
    },
)
