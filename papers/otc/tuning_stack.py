"""OTC's online tuning of several runs as ONE stacked learner (cells as members, common/running/grouping.py, issue 26).

``deploy.tuning_run_group`` trains the pi^0 of a group as one stack (the offline stage), then hands the runs that
share their whole cell config but the seed (one cell's seeds) and can stack here, the rest to ``tuning_run``
alone. Here each deployment phase k of those runs is:

    deploy     each run's pi^{k-1} on its own env seeds, from its own learner (``deploy.deploy``: exactly alone)
    stack      the runs' learners as one (common.algos.members.StackableLearner.stack: each run's modules, Adam
               moments and training stream), the runs' merged data B^k side by side (``stack_data``: each run
               draws its rows)
    alpha      OTC: DD^k from the stacked networks, each run's alpha^k from its own ``AdaptiveAlpha``
    L updates  one batch for all runs: each run's draws (rows, tie-breaks, the value's noise, the prioritized
               draw, the CVAE's noise) from its own sampler's and CVAE's streams, in the order its sampler alone
               draws them; every network call (Q1, V, the CVAE's embedding and step, the learner's update) batched
               over all runs' members
    evaluate   S(pi^k) of every run in one vectorised rollout (each on its own evaluation episodes)
    split      each run's learner (and CVAE) back from the stack, logged and checkpointed in the format of a run
               alone

So a run's record equals its run alone's up to the float rounding of kernels whose results depend on the member
count (tests/test_otc_tuning_stack.py). What runs alone instead (``stackable``): the ``br`` sampler (Balanced
Replay keeps a density net and a priority table per run, not stacked), a learner that draws its own rows
(``attach``: BREMEN), and runs whose cell configs differ beyond the seed (different datasets give different row
counts and deployment sizes) or whose checkpoints stand at different phases (those stack by phase).

Shapes: R runs, M members of the stack (sum of the runs' members), m members of one run, T rows, B / D the OTC
pair's sizes, n rows drawn.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import Tensor

from common.algos import build_learner
from common.algos.state import (
    slice_module_state,
    slice_optimizer_state,
    stack_module_states,
    stack_optimizer_states,
)
from common.datasets.sampling import gather_members
from common.running.records import canonical_json, to_jsonable
from common.running.runtime import seed_everything
from papers.otc import otc as O
from papers.otc.sampler import matched_values

__all__ = ["stackable", "tune_key", "StackedSampler", "tuning_run_stack"]

STACKED_SAMPLERS = ("uniform", "online", "otc")  # "br" runs alone (its replay and density nets are per run)


def stackable(cfg: Mapping[str, Any]) -> bool:
    """Whether a run of this cell may tune stacked: a sampler of STACKED_SAMPLERS (not Balanced Replay)."""
    return str(cfg.get("sampler")) in STACKED_SAMPLERS


def tune_key(cfg: Mapping[str, Any]) -> str:
    """Runs with equal keys (one cell's seeds) tune as one stack."""
    return canonical_json(to_jsonable(cfg))


def _slices(sizes: Sequence[int]) -> list[slice]:
    out, at = [], 0
    for n in sizes:
        out.append(slice(at, at + n))
        at += n
    return out


def _cat_members(parts: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


class StackedCVAE:
    """The runs' d_e CVAEs as one TransitionCVAE of all their members (modules and Adam moments side by side);
    ``split`` writes each run's part back into its own CVAE."""

    def __init__(self, cvaes: Sequence[O.TransitionCVAE]):
        first = cvaes[0]
        if len({c.form for c in cvaes}) != 1:
            raise ValueError(f"a CVAE stack holds one form, got {sorted({c.form for c in cvaes})}")
        self.cvaes = list(cvaes)
        param = next(first.vae.parameters())
        with torch.random.fork_rng(
            devices=[]
        ):  # its initial weights are overwritten: leave the global stream alone
            self.big = O.TransitionCVAE(
                sum(c.n_members for c in cvaes),
                first.obs_dim,
                first.act_dim,
                hidden=first.hidden,
                latent=first.latent,
                kl_weight=first.kl_weight,
                lr=first.lr,
                max_action=first.max_action,
                device=param.device,
                dtype=param.dtype,
                form=first.form,
            )
        stack_module_states(self.big.vae, [c.vae for c in cvaes])
        self.big.opt.load_state_dict(stack_optimizer_states([c.opt.state_dict() for c in cvaes]))

    def split(self) -> None:
        R, opt = len(self.cvaes), self.big.opt.state_dict()
        for r, c in enumerate(self.cvaes):
            own = slice(r, r + 1)
            c.load_state_dict(
                {"vae": slice_module_state(self.big.vae, own, R), "opt": slice_optimizer_state(opt, own, R)}
            )


class StackedSampler:
    """The update batches of a stack of runs, from their ``deploy.Sampler`` objects (their streams, alpha and
    CVAEs) and the stacked learner: ``Sampler.batch`` / ``start_phase`` of each run, drawn as alone, with the
    networks called once for all runs."""

    def __init__(
        self,
        samplers: Sequence[Any],
        stack,
        merged: Sequence[Mapping[str, Tensor]],
        newest: Sequence[Mapping[str, Tensor]],
        n_offline: int,
    ):
        kinds = {s.kind for s in samplers}
        if len(kinds) != 1 or next(iter(kinds)) not in STACKED_SAMPLERS:
            raise ValueError(f"a stack tunes one sampler of {list(STACKED_SAMPLERS)}, got {sorted(kinds)}")
        self.kind = next(iter(kinds))
        self.samplers, self.stack, self.merged, self.newest, self.n0 = (
            list(samplers),
            stack,
            merged,
            newest,
            n_offline,
        )
        self.sizes = [s.learner.n_members for s in samplers]
        self.sl = _slices(self.sizes)
        # the runs' B^k side by side; stack.stream_rows: (start, count)
        self.data = stack.stack_data(list(merged))
        self.ocfg = samplers[0].ocfg
        self.cvae = None
        if self.kind == "otc" and self.ocfg.distance == "embedding":
            self.cvae = StackedCVAE([s.cvae for s in samplers])

    def _gens(self) -> list[torch.Generator]:
        return [s.gen for s in self.samplers]

    def _pair(self) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Each run's (B, D) pair drawn as ``Sampler._pair`` alone, concatenated on the member axis."""
        pairs = [s._pair(m, n) for s, m, n in zip(self.samplers, self.merged, self.newest)]
        return _cat_members([p[0] for p in pairs]), _cat_members([p[1] for p in pairs])

    def similarity(self, bb: Mapping[str, Tensor], bd: Mapping[str, Tensor]) -> Tensor:
        """``Sampler.similarity`` of every run [M, |B|]: the networks once, each run's tie-breaks from its stream."""
        gens = self._gens()
        if self.ocfg.distance == "embedding":
            mu_b, mu_d = O.embed_pair(self.cvae.big, bb, bd)
            return torch.cat([O.embedding_distance(mu_b[sl], mu_d[sl], g) for sl, g in zip(self.sl, gens)])
        lr = self.stack
        q_b, q_d = lr.q1(bb["obs"], bb["actions"]), lr.q1(bd["obs"], bd["actions"])  # [M, B], [M, D]
        # each run: B's, then D's
        z_b, z_d = (lr.value_noise(x["next_obs"], generator=gens) for x in (bb, bd))
        idx = torch.cat([O.q_match(q_b[sl], q_d[sl], g)[0] for sl, g in zip(self.sl, gens)])  # [M, B]
        norm = self.ocfg.dq_norm
        return O.q_deviation_distance(
            idx,
            q_b,
            q_d,
            lr.value(bb["next_obs"], noise=z_b),
            bb["rewards"],
            bd["rewards"],
            bb["terminals"],
            bd["terminals"],
            self.samplers[0].gamma,
            norm,
            **matched_values(lr, bd["next_obs"], z_d, idx, norm),
        )

    @torch.no_grad()
    def start_phase(self) -> list[dict[str, list[float]]]:
        """Each run's ``Sampler.start_phase`` output (OTC: DD^k and alpha^k; {} otherwise)."""
        if self.kind != "otc":
            return [{} for _ in self.samplers]
        dd = torch.stack(
            [self.similarity(*self._pair()).double().mean(-1) for _ in range(self.ocfg.n_alpha_draws)]
        ).mean(0)  # [M]
        out = []
        for s, sl in zip(self.samplers, self.sl):
            alpha = s.alpha.step(dd[sl])
            out.append({"alpha": alpha.tolist(), "dd": dd[sl].tolist()})
        return out

    def batch(self) -> dict[str, Tensor]:
        """One update batch [M, n, ...] of every run (``Sampler.batch`` of each, side by side)."""
        lr, gens = self.stack, self._gens()
        if self.kind == "uniform":
            return lr.sample_batch(self.data, generator=gens)
        if (
            self.kind == "online"
        ):  # each run's rows after its B^0 in the stacked data, from its sampler's stream
            online = [(start + self.n0, count - self.n0) for start, count in lr.stream_rows]
            idx = lr.streams.indices(
                self.data["obs"].shape[0], lr.cfg.batch_size, replace=True, rows=online, generator=gens
            )
            return gather_members(
                {k: self.data[k] for k in ("obs", "actions", "rewards", "next_obs", "terminals")},
                idx,
                lr.agents,
            )
        bb, bd = self._pair()
        with torch.no_grad():
            d = self.similarity(bb, bd)  # [M, |B|]
            alpha = torch.cat([s.alpha.alpha for s in self.samplers]).to(d.dtype).to(d.device)
            probs = O.rank_probabilities(d, alpha)  # [M, |B|]
            sel = torch.cat(
                [O.prioritized_draw(probs[sl], self.ocfg.batch_size, g) for sl, g in zip(self.sl, gens)]
            )
        if self.cvae is not None:  # one CVAE step on this update's B, each run's noise from its CVAE stream
            eps = torch.cat(
                [
                    torch.randn(
                        (m, bb["actions"].shape[1], self.cvae.big.latent),
                        generator=s.cvae_gen,
                        device=bb["actions"].device,
                        dtype=bb["actions"].dtype,
                    )
                    for s, m in zip(self.samplers, self.sizes)
                ]
            )
            self.cvae.big.update(bb["obs"], bb["next_obs"], bb["actions"], eps=eps)
        m = torch.arange(sel.shape[0], device=sel.device)[:, None]
        return {k: v[m, sel] for k, v in bb.items()}

    def finish(self) -> None:
        """Each run's CVAE back from the stack (the learners: ``stack.split_state``)."""
        if self.cvae is not None:
            self.cvae.split()


def tuning_run_stack(runs: Sequence[tuple[Any, int, Any]], D) -> list[dict[str, Any]]:
    """The runs ``[(cell, seed, ctx)]`` of one ``tune_key`` (``stackable``), each built and resumed as
    ``deploy.tuning_run`` does (pi^0 from the cache, its CVAE, its sampler, its checkpoint), tuned phase by phase as
    one stack (module docstring); each run's curve, checkpoints and metrics as ``tuning_run``'s. ``D``: the module
    papers.otc.deploy, whose building blocks this uses (passed in by ``deploy.tuning_run_group``, so that the two
    modules do not import each other)."""
    cfg = runs[0][0].config
    device = runs[0][2].device
    data = D.load_dataset(cfg["dataset"])
    tensors0 = {k: v.to(device) for k, v in data.to_torch(device, keys=D.BATCH_KEYS).items()}
    kind = str(cfg["sampler"])
    n0 = data.size
    m_steps = D.deploy_size(n0, cfg["deploy_fraction"], cfg.get("min_deploy", 1))
    K, L = int(cfg["deployments"]), int(cfg["tune_updates"])
    sizes = {"n_offline": n0, "capacity": n0 + K * m_steps}
    name = str(cfg["learner"])
    parts = []
    for _, seed, ctx in runs:
        seed_everything(seed)  # as the run alone starts: d_e's CVAE is initialised from the global stream
        learner, s0, cvae, cvae_gen, offline_s = D.offline_stage(
            cfg, data, tensors0, seed, device, ctx.progress
        )
        if hasattr(learner, "attach"):
            raise ValueError(f"learner {name!r} draws its own rows (attach): its runs tune alone")
        sampler = D.Sampler(kind, learner, {**cfg, **sizes}, seed, device, cvae, cvae_gen)
        merged, newest, k0 = D.resume_state(ctx, learner, sampler, tensors0, s0, device)
        parts.append(
            {
                "learner": learner,
                "s0": s0,
                "offline_s": offline_s,
                "carried": D.pi0_carried(cfg, data, seed, device),
                "sampler": sampler,
                "merged": merged,
                "newest": newest,
                "k": int(k0),
            }
        )
    by_phase: dict[int, list[int]] = {}
    for r, p in enumerate(parts):
        by_phase.setdefault(p["k"], []).append(r)
    for k0, rs in by_phase.items():
        for k in range(k0 + 1, K + 1):
            for r in rs:  # deployments: each run's pi^{k-1} alone
                p, seed = parts[r], runs[r][1]
                d_k = D.deploy(p["learner"], cfg, seed, k, m_steps)
                p["newest"] = {
                    key: v.to(device) for key, v in d_k.to_torch(device, keys=D.BATCH_KEYS).items()
                }
                p["merged"] = D._cat(p["merged"], p["newest"])
                p["deploy_return"] = float(d_k.card["returns"]["mean"])
            learners = [parts[r]["learner"] for r in rs]
            stack = type(learners[0]).stack(learners)
            sampler = StackedSampler(
                [parts[r]["sampler"] for r in rs],
                stack,
                [parts[r]["merged"] for r in rs],
                [parts[r]["newest"] for r in rs],
                n0,
            )
            infos = sampler.start_phase()
            with runs[rs[0]][2].progress(L, f"deployment {k}/{K}: stack of {len(rs)}") as bar:
                for _ in range(L):
                    stack.update(sampler.batch())
                    bar.update(1)
            sampler.finish()
            # S(pi^k), one vectorised rollout
            scores = D.evaluate_learners(stack, cfg, [runs[r][1] for r in rs], k)
            for r, state in zip(rs, stack.split_state()):
                parts[r]["learner"] = own = build_learner(name, data, dict(cfg[name]), runs[r][1], device)
                own.load_state_dict(state)
                parts[r]["sampler"].learner = own
            del stack, sampler
            for r, info, score in zip(rs, infos, scores):
                p, (_, seed, ctx) = parts[r], runs[r]
                ctx.log(
                    k,
                    score=score,
                    deploy_return=p["deploy_return"],
                    online_rows=int(p["merged"]["obs"].shape[0] - n0),
                    **info,
                )
                # every phase, the last too: a run that finished inside a group whose other runs are still going
                # resumes at its end if the group is killed (its record is written when the whole group ends)
                ctx.save_checkpoint(
                    {
                        "k": k,
                        "learner": p["learner"].state_dict(),
                        "sampler": p["sampler"].state_dict(),
                        "online": {key: v[n0:].cpu() for key, v in p["merged"].items()},
                        "newest": {key: v.cpu() for key, v in p["newest"].items()},
                    },
                    step=k,
                )
    return [
        D.tuning_metrics(ctx, data, parts[r]["s0"], m_steps, parts[r]["offline_s"], parts[r]["carried"])
        for r, (_, _, ctx) in enumerate(runs)
    ]
