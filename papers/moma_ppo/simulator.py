"""The ground-truth simulator ablation of MOMA-PPO (App. B.2, §6.3: "using the ground-truth simulator yielded higher
scores"): a stand-in with ``WorldModelEnsemble.sample``'s interface that steps the true MuJoCo physics.

Paper: Barde et al., AAMAS 2024, §6.3 (the ablation's one sentence; App. B.2 is absent from our copy). Official code
consulted (PBarde/moma-ppo at c276efc, spec §4 "perfect_wm=True"): the env is reset to each start state with
``set_state(qpos, qvel)`` rebuilt from the observation (Ant: qpos = [x, y set to 1, 1, obs[0:13]], qvel =
obs[13:27]), then stepped with the agents' actions; every uncertainty is 0, so there is no penalty and no adaptive
cut (only the k-step time-outs of the rollout generator).

What ``sample(obs, actions)`` does, per transition b (no state is kept between calls):
  state_b   = the env's state rebuilt from the joint observation: every agent's obs scattered back to the state
              indices it was cut from (``MaMuJoCoEnv.obs_index``). FO: each agent holds the whole 27-dim state.
              PO (``partial``): the agents' index sets together cover all 27 dims (agent 0 the torso's 15, every
              agent its leg's 4), so the *joint* PO observation determines the state too. A mode whose agents
              miss a state dim is refused (ValueError naming it).
  qpos, qvel = [1, 1, state[0:13]], state[13:27]   (x, y are not observed; on Ant's flat floor they change
              neither the dynamics nor the reward, whose forward term is a velocity)
  set_state(qpos, qvel); step(join(actions)) on Gymnasium's Ant-v5 (the env MaMuJoCo steps, without its
              time limit) -> next state, the team reward (copied to every agent), terminated (unhealthy ant)
  returns next_obs = the env's per-agent split of the next state, rewards, masks = 1 - terminated, and
              penalty, eps_g, eps_r, aleatoric (clamped and raw) = 0, member = -1.
Reacher (``mamujoco/reacher-2x1``, Table 4a's task; added for the ground-truth probe of the Table 4a MOMA-PPO, README
"Table 4a (quick)"): the 10-dim state is Reacher-v5's observation (cos theta0, cos theta1, sin theta0, sin theta1,
target x, y, omega0, omega1, fingertip - target x, y); qpos = (atan2(sin, cos) of both joints, target x, y),
qvel = (omega0, omega1, 0, 0) (the target does not move), as wm_probe.true_rewards; dims 8-9 follow from qpos, so
only dims 0-7 must be observed (every Reacher obs mode covers them jointly). Reacher never terminates.
One known difference from a live episode: Gymnasium's Ant reads the torso position "before" a step from
``data.xpos``, which after a live step lags the state by one physics substep, while after ``set_state`` it is
current; the forward reward of a step from a rebuilt state therefore differs from the live one by a few 1e-3 (the
next state is the same to float32 precision). The code's ``perfect_wm`` resets the same way, so it has the same
reward. Reacher's reward from a rebuilt state equals the live step's (tests). Shapes: B transitions, N agents, O
padded obs dim, A padded action dim, S state dim (Ant 27, Reacher 10).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor

SUPPORTED_TASKS = ("ant", "reacher")
ANT_XY = (1.0, 1.0)  # [code] perfect_wm: the unobserved torso x, y are set to 1, 1
REACHER_NEEDED = 8  # Reacher state dims the rebuild reads (0-7); 8-9 (fingertip - target) follow from them


def _ant_qpos_qvel(state: np.ndarray, nq: int) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([ANT_XY, state[: nq - 2]]), state[nq - 2 :]


def _reacher_qpos_qvel(state: np.ndarray, nq: int) -> tuple[np.ndarray, np.ndarray]:
    qpos = np.array([np.arctan2(state[2], state[0]), np.arctan2(state[3], state[1]), state[4], state[5]])
    return qpos, np.array([state[6], state[7], 0.0, 0.0])


@dataclass(frozen=True)
class SimulatorConfig:
    """What ``generate_rollouts`` reads from a model's ``cfg``: the adaptive threshold (never reached: eps_g = 0)."""

    threshold: float = 2.0  # l_eps ([code] ensemble_cov_norm_threshold); eps_g = 0 < l_eps, so no cut


class GroundTruthSimulator:
    """``WorldModelEnsemble.sample``'s interface over the true MuJoCo physics of ``env_name`` (module docstring).

    sim = GroundTruthSimulator("mamujoco/ant-4x2", {"obs_mode": "partial"})
    out = sim.sample(obs, actions)     # obs [B, N, O], actions [B, N, A] (Dataset layout) -> dict of tensors
    """

    def __init__(self, env_name: str, env_options: Mapping[str, Any], device: str | torch.device = "cpu"):
        import envs

        self.env = envs.make(env_name, **dict(env_options))
        task = getattr(self.env, "task", None)
        if task not in SUPPORTED_TASKS:
            raise ValueError(
                f"the ground-truth simulator supports the MaMuJoCo tasks {list(SUPPORTED_TASKS)}; "
                f"{env_name!r} is task {task!r}"
            )
        # Gymnasium's Ant-v5 / Reacher-v5, no TimeLimit wrapper
        self.sim = self.env.raw.single_agent_env.unwrapped
        self.state_dim = int(self.env.spec.state_dim)
        self.task = task
        covered = np.zeros(self.state_dim, dtype=bool)
        for ix in self.env.obs_index:
            covered[ix] = True
        needed = self.state_dim if task == "ant" else REACHER_NEEDED
        if not covered[:needed].all():
            raise ValueError(
                f"{env_name} obs_mode={self.env.obs_mode!r}: the agents' observations miss state dims "
                f"{np.flatnonzero(~covered[:needed]).tolist()}, so the state cannot be rebuilt from them"
            )
        nq, nv = int(self.sim.model.nq), int(self.sim.model.nv)
        if task == "ant" and nq - 2 + nv != self.state_dim:
            raise ValueError(
                f"{env_name}: state of {self.state_dim} dims, but qpos[2:] + qvel has {nq - 2 + nv}"
            )
        self.nq = nq
        self._qpos_qvel = _ant_qpos_qvel if task == "ant" else _reacher_qpos_qvel
        self.cfg = SimulatorConfig()
        self.device = torch.device(device)
        self.n_agents = self.env.spec.n_agents

    # ---- the state <-> per-agent observations -------------------------------------------------------------
    def states_of(self, obs: np.ndarray) -> np.ndarray:
        """Joint observations [B, N, O] -> env states [B, S] (each agent's obs scattered to its state indices)."""
        obs = np.asarray(obs, dtype=np.float64)
        out = np.zeros(obs.shape[:-2] + (self.state_dim,), dtype=np.float64)
        for i, ix in enumerate(self.env.obs_index):
            out[..., ix] = obs[..., i, : len(ix)]
        return out

    def step_state(self, state: np.ndarray, joint_action: np.ndarray) -> tuple[np.ndarray, float, bool]:
        """One true step from ``state`` [S] with the joint action [J]: (next state [S], reward, terminated)."""
        qpos, qvel = self._qpos_qvel(state, self.nq)
        self.sim.set_state(qpos, qvel)
        next_state, reward, terminated, _, _ = self.sim.step(np.clip(joint_action, -1.0, 1.0))
        return np.asarray(next_state, dtype=np.float64), float(reward), bool(terminated)

    # ---- WorldModelEnsemble's interface ---------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self, obs: Tensor, actions: Tensor, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """One true step for a batch of joint (o, a): obs [B, N, O], actions [B, N, A] -> next_obs [B, N, O],
        rewards / rewards_clipped / masks [B, N], penalty and the uncertainties [B] (all 0), member [B] (-1).
        ``generator`` is accepted for the interface and unused (the physics is deterministic)."""
        if obs.dim() != 3 or actions.shape[:1] != obs.shape[:1]:
            raise ValueError(
                f"obs [B, N, O] and actions [B, N, A] expected, got {tuple(obs.shape)} and "
                f"{tuple(actions.shape)}"
            )
        states = self.states_of(obs.detach().cpu().numpy())  # [B, S]
        joint = self.env.join(actions.detach().cpu().numpy().astype(np.float64))  # [B, J]
        B = states.shape[0]
        nxt = np.empty_like(states)
        rew = np.empty(B, dtype=np.float64)
        term = np.empty(B, dtype=bool)
        for b in range(B):
            nxt[b], rew[b], term[b] = self.step_state(states[b], joint[b])
        dev = obs.device
        next_obs = torch.as_tensor(self.env.split_obs(nxt), device=dev, dtype=obs.dtype)  # [B, N, O]
        rewards = (
            torch.as_tensor(rew, device=dev, dtype=obs.dtype)[:, None].expand(B, self.n_agents).contiguous()
        )
        masks = (
            torch.as_tensor(~term, device=dev, dtype=obs.dtype)[:, None].expand(B, self.n_agents).contiguous()
        )
        zero = torch.zeros(B, device=dev, dtype=obs.dtype)
        return {
            "next_obs": next_obs,
            "rewards": rewards,
            "rewards_clipped": rewards.clone(),
            "masks": masks,
            "penalty": zero,
            "eps_g": zero,
            "eps_r": zero,
            "aleatoric": zero,
            "eps_g_raw": zero,
            "eps_r_raw": zero,
            "aleatoric_raw": zero,
            "member": torch.full((B,), -1, dtype=torch.long, device=dev),
        }

    # ---- what moma_run's checkpoints and records ask of a model ---------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "simulator": "ground_truth",
            "env": self.env.spec.name,
            "options": dict(self.env.spec.options),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("simulator") != "ground_truth" or state.get("env") != self.env.spec.name:
            raise ValueError(
                f"checkpoint holds {dict(state)!r}, not the ground-truth simulator of {self.env.spec.name}"
            )


HYBRIDS = ("wm_dynamics_true_reward", "true_dynamics_wm_reward")


class HybridModel:
    """A diagnostic model (critic_probe ``--simulator``; no record uses it) that takes the next states from one of
    (world model, true physics) and the reward from the other, to tell which half of a world model MAPPO exploits:

    - ``wm_dynamics_true_reward``: the ensemble's next obs, masks, uncertainties and penalty; the reward the true
      physics gives for a step from the (predicted) state with the action, minus the ensemble's penalty (the state is
      rebuilt from the predicted obs as from a dataset one).
    - ``true_dynamics_wm_reward``: the true next obs and masks; the ensemble's penalized (and clipped) reward and its
      uncertainties (so its adaptive cut still applies).
    """

    def __init__(self, wm, sim: GroundTruthSimulator, kind: str):
        if kind not in HYBRIDS:
            raise ValueError(f"hybrid model {kind!r} is not known; allowed: {', '.join(HYBRIDS)}")
        self.wm, self.sim, self.kind = wm, sim, kind
        self.cfg = wm.cfg  # the adaptive threshold of the ensemble's uncertainty

    @torch.no_grad()
    def sample(
        self,
        obs: Tensor,
        actions: Tensor,
        generator: torch.Generator | None = None,
        choice: Tensor | None = None,
    ) -> dict[str, Tensor]:
        w = self.wm.sample(obs, actions, generator=generator, choice=choice)
        t = self.sim.sample(obs, actions)
        if self.kind == "wm_dynamics_true_reward":
            out = dict(w)
            out["rewards_clipped"] = t["rewards"].to(w["rewards"].dtype)
            out["rewards"] = out["rewards_clipped"] - w["penalty"][:, None]
        else:
            out = {
                **w,
                "next_obs": t["next_obs"].to(w["next_obs"].dtype),
                "masks": t["masks"].to(w["masks"].dtype),
            }
        return out

    def state_dict(self) -> dict[str, Any]:
        raise RuntimeError("HybridModel is a probe's diagnostic: nothing checkpoints it")
