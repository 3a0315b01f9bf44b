"""ITD3Config fields of MOMA-PPO's three TD3-based baselines, as its official code runs them.

MOMA-PPO (Barde, Foerster, Nowrouzezahrai, Zhang, AAMAS 2024), Sec. 6 baselines ITD3+BC, ICQL and IOMAR; official
code PBarde/moma-ppo: one class ``single_agent/td3.py`` ``TD3Learner`` per agent (``multi_agent/itd3.py``) with the
defaults of ``train_agents.py``: hidden 2 x 256, Adam 3e-4 everywhere, batch 256 (one row set for all agents),
gamma 0.99, Polyak 0.005 (targets only on actor steps), target noise 0.2 clipped at 0.5, policy delay 2, no grad
clip, no input normalization, the actor's default init. The class's CQL term is on only when ``td3_omar_coeff > 0``
and its BC term whenever ``td3_bc_coeff > 0`` (default 2.5). The method configs below are [inferred] (the paper and
code do not print them; docs/moma_ppo_official_code.md, reference spec Sec. 5 and Q12):
  itd3bc  td3_omar_coeff 0, td3_bc_coeff 2.5: lambda (-Q1) + sum_dims (pi - a)^2, lambda = 2.5 / mean|Q1|; no CQL.
  icql    td3_omar_coeff 0.9, td3_shortcut_omar, td3_bc_coeff 0: actor -Q1 (the code's CEM is computed but unused:
          we skip it, so only the random stream differs); CQL alpha 1, T 1, 10 samples per group x 3 groups
          (cql_proposal="mujoco", noise 0.2).
  iomar   td3_omar_coeff 0.9, td3_bc_coeff 0 (the default 2.5 would add TD3+BC's lambda and BC term: set
          omar_bc_alpha=2.5 for that variant): 0.1 (-Q1) + 0.9 MSE(pi, a_hat) + 1e-3 mean pi^2; CEM 2 iterations x
          20 samples, 5 elites, mu0 0, sigma0 2, sigma = unbiased std + 1e-6; CQL as icql.
The history encoder (memory_len 10) of the code is not reproduced by ITD3 (no history inputs).
"""

from __future__ import annotations

from typing import Any

from common.algos.itd3_config import ITD3Config

__all__ = ["MOMA_PPO_METHODS", "MOMA_PPO_TD3", "moma_ppo_preset"]

# TD3Learner's shared settings (train_agents.py defaults)
MOMA_PPO_TD3: dict[str, Any] = dict(
    hidden=256,  # hidden_size 256, 2 layers
    actor_lr=3e-4,  # lr_pi
    critic_lr=3e-4,  # lr_q
    batch_size=256,  # batch_size
    replace=True,  # the dataset's sample_indexes: np.random.randint, i.e. with replacement
    shared_rows=True,  # --centralized_training True (default): one index set for all agents
    gamma=0.99,  # discount_factor
    tau_target=0.005,  # target_update_coef
    grad_clip=None,  # TD3Learner clips no gradient
    input_norm=False,  # no BatchNorm, no obs normalization
    actor_last_init=None,  # TD3Actor: torch's default nn.Linear init
    target_noise=0.2,  # td3_policy_noise
    target_noise_clip=0.5,  # td3_noise_clip
    policy_delay=2,  # td3_policy_freq (targets move only on actor steps)
)

_CQL: dict[str, Any] = dict(
    critic_reg="cql",
    # uniform + pi(o) + noise + pi(o') + noise, all at o; Gaussian pdf subtracted (the code)
    cql_proposal="mujoco",
    cql_alpha=1.0,  # td3_omar_cql_alpha
    cql_temp=1.0,  # td3_omar_cql_lse_temp
    cql_n_actions=10,  # td3_omar_cql_num_sampled_actions
    cql_noise=0.2,  # td3_omar_cql_sample_noise_level
)

_METHODS: dict[str, dict[str, Any]] = {
    "itd3bc": dict(actor_reg="td3bc", td3bc_alpha=2.5, bc_reduce="sum"),
    "icql": dict(_CQL, actor_reg="none", action_reg=0.0),  # shortcut: loss = -Q1, no pi^2 term
    "iomar": dict(
        _CQL,
        actor_reg="omar",
        omar_tau=0.9,
        omar_sampler="cem",
        omar_iters=2,
        omar_n_samples=20,
        omar_n_elites=5,
        omar_mu0=0.0,
        omar_sigma0=2.0,
        cem_std="unbiased",
        omar_bc_alpha=0.0,
        action_reg=1e-3,
    ),
}
MOMA_PPO_METHODS = tuple(_METHODS)


def moma_ppo_preset(method: str, **overrides: Any) -> dict[str, Any]:
    """ITD3Config keyword arguments of MOMA-PPO's baseline ``method`` ("itd3bc", "icql", "iomar"), with
    ``overrides`` on top (e.g. a profile's batch size), checked by ``ITD3Config.validate``."""
    if method not in _METHODS:
        raise ValueError(
            f"moma_ppo_preset: method={method!r} is not allowed; choose one of {list(MOMA_PPO_METHODS)}"
        )
    kw = {**MOMA_PPO_TD3, **_METHODS[method], **overrides}
    ITD3Config(**kw).validate()
    return kw
