"""Does d_e's embedding measure transition similarity? OTC's d_e ranks merged-buffer rows by the l1 distance of a
conditional VAE's mean mu(s, a_i, s') (papers/otc/otc_cvae.py; the paper's E(mu, sigma | s, a_i, s'), D(a_i | s, s',
z)). Its decoder sees s and s', from which a_i follows in deterministic physics, so z need not carry anything: the
encoder may collapse to the prior (one mu for every transition: every distance 0, every rank a tie) or keep only what
(s, s') leave unexplained. This probe reads the cached CVAE of Table 1's bcq_otc_de cell (or, with ``--train-kl``,
trains fresh ones as the offline stage does, for several KL weights) and reports on data rows:

    python papers/otc/cvae_probe.py --env mamujoco/halfcheetah-2x3 --dataset medium-replay --seed 0
    python papers/otc/cvae_probe.py --train-kl 0.5 0.05 0.005 0 --updates 20000 --out kl.json

per agent: distinct mu rows, mu's std per latent dimension (mean over dimensions), the KL to the prior, the
reconstruction MSE with z = mu and with z = 0 (equal: the decoder ignores z), DD = the mean l1 distance of 512 rows to
their nearest of 2,000 others (as Eq. 4's DD^k; 0: collapsed) and its share of exact zeros, and the rank correlation
of the mu-distance with the raw (s, a_i, s') distance on random pairs (near 0: mu does not order transitions by their
features).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from common.algos import build_learner  # noqa: E402
from common.reporting.stats import spearman  # noqa: E402
from common.running.profiles import get_profile  # noqa: E402
from papers.otc import config as C  # noqa: E402
from papers.otc import mujoco_items as M  # noqa: E402
from papers.otc import otc as O  # noqa: E402
from papers.otc.deploy_env import load_dataset  # noqa: E402
from papers.otc.deploy_offline import cvae_path  # noqa: E402
from papers.otc.pi0_probe import emit, probe_parser  # noqa: E402


@torch.no_grad()
def embedding_stats(
    cvae: O.TransitionCVAE, obs: Tensor, next_obs: Tensor, act: Tensor, n_b: int = 512, n_pairs: int = 2000
) -> list[dict[str, float]]:
    """Per member (agent) of ``cvae``: the probe's numbers (module docstring) on rows obs, next_obs [M, R, O], act
    [M, R, A]; the first ``n_b`` rows play B, the next rows (up to 2,000) D; ``n_pairs`` random pairs (seed 0)."""
    mean, log_std = cvae.encode(obs, next_obs, act)  # [M, R, L]
    kl = -0.5 * (1.0 + 2.0 * log_std - mean.square() - log_std.exp().square())
    rec_mu, rec_0 = (
        (lambda out, target: (out - target).square().mean((1, 2)))(
            *cvae.reconstruction(obs, next_obs, act, z)
        )
        for z in (mean, torch.zeros_like(mean))
    )
    r = mean.shape[1]
    if r < n_b + 1:
        raise ValueError(f"embedding_stats needs more than n_b={n_b} rows, got {r}")
    dd = (mean[:, :n_b, None] - mean[:, None, n_b : n_b + 2000]).abs().sum(-1).amin(-1)  # [M, B]
    g = torch.Generator().manual_seed(0)
    pa, pb = (torch.randint(r, (n_pairs,), generator=g) for _ in range(2))
    raw = torch.cat([obs, act, next_obs], dim=-1)
    out = []
    for m in range(mean.shape[0]):
        out.append(
            {
                "distinct_mu": int(torch.unique(mean[m], dim=0).shape[0]),
                "rows": int(r),
                "mu_std": float(mean[m].std(0).mean()),
                "kl": float(kl[m].mean()),
                "recon_mu": float(rec_mu[m]),
                "recon_z0": float(rec_0[m]),
                "dd": float(dd[m].mean()),
                "dd_zero_share": float((dd[m] == 0).float().mean()),
                "rank_corr_raw": spearman(
                    (mean[m, pa] - mean[m, pb]).abs().sum(-1), (raw[m, pa] - raw[m, pb]).norm(dim=-1)
                ),
            }
        )
    return out


def _setup(profile: str, env: str, dataset: str, seed: int) -> tuple[dict, Any, Any, O.OTCConfig]:
    cfg = M.cell_config(get_profile(profile, C.PROFILE_OVERRIDES), env, dataset, "bcq_otc_de")
    data = load_dataset(cfg["dataset"])
    learner = build_learner("bcq", data, dict(cfg["bcq"]), seed, torch.device("cpu"))
    return cfg, data, learner, O.OTCConfig(**cfg["otc"])


def _new_cvae(learner: Any, ocfg: O.OTCConfig, kl_weight: float, form: str) -> O.TransitionCVAE:
    return O.TransitionCVAE(
        learner.n_members,
        learner.obs_dim,
        learner.act_dim,
        hidden=tuple(ocfg.cvae_hidden or learner.cfg.hidden),
        latent=ocfg.latent,
        kl_weight=kl_weight,
        lr=ocfg.cvae_lr,
        form=form,
    )


def probe(
    profile: str,
    env: str,
    dataset: str,
    seed: int,
    train_kl: Sequence[float] = (),
    updates: int = 20_000,
    form: str = "conditional",
) -> dict[str, Any]:
    """The probe's numbers: the cached CVAE of the cell (``train_kl`` empty) or one freshly trained per KL weight
    (in ``form``: otc_cvae.CVAE_FORMS)."""
    cfg, data, learner, ocfg = _setup(profile, env, dataset, seed)
    t = data.to_torch(torch.device("cpu"), keys=("obs", "next_obs", "actions"))
    n_rows = t["obs"].shape[0]
    rows = torch.randint(n_rows, (6000,), generator=torch.Generator().manual_seed(1))
    ev = {k: t[k][rows].transpose(0, 1) for k in ("obs", "next_obs", "actions")}  # members = agents first
    out: dict[str, Any] = {"env": env, "dataset": dataset, "seed": seed, "profile": profile, "models": []}
    if not train_kl:
        path = cvae_path(cfg, data, learner, seed, torch.device("cpu"))
        if not path.exists():
            raise SystemExit(
                f"no cached CVAE for {env} {dataset} seed {seed} at {profile} ({path}); run `python "
                f"papers/otc/table1.py --profile {profile} --env {env} --dataset {dataset} --method bcq_otc_de` "
                "first, or train fresh ones with --train-kl"
            )
        cvae = _new_cvae(learner, ocfg, ocfg.cvae_kl_weight, ocfg.cvae_form)
        cvae.load_state_dict(torch.load(path, map_location="cpu", weights_only=False)["cvae"])
        out["models"].append(
            {"model": f"cached ({path.name})", "form": ocfg.cvae_form, "kl_weight": ocfg.cvae_kl_weight}
        )
        out["models"][-1]["agents"] = embedding_stats(cvae, ev["obs"], ev["next_obs"], ev["actions"])
        return out
    for w in train_kl:
        cvae, gen = _new_cvae(learner, ocfg, w, form), torch.Generator().manual_seed(seed)
        for _ in range(updates):  # as deploy_offline.offline_cvae: uniform |B| batches of the data
            idx = torch.randint(n_rows, (ocfg.big_batch,), generator=gen)
            cvae.update(*(t[k][idx].transpose(0, 1) for k in ("obs", "next_obs", "actions")), generator=gen)
        stats = embedding_stats(cvae, ev["obs"], ev["next_obs"], ev["actions"])
        out["models"].append(
            {"model": f"trained {updates} updates", "form": form, "kl_weight": w, "agents": stats}
        )
    return out


def render(p: dict[str, Any]) -> str:
    lines = [
        f"d_e's CVAE on {p['env']} {p['dataset']} (seed {p['seed']}, {p['profile']}): per agent",
        "model | form | KL weight | agent | distinct mu | mu std | KL | recon (mu / z=0) | DD (zero share) | rank corr",
    ]
    for m in p["models"]:
        for i, a in enumerate(m["agents"]):
            lines.append(
                f"{m['model']} | {m.get('form', 'conditional')} | {m['kl_weight']:g} | {i} | {a['distinct_mu']}/{a['rows']} | {a['mu_std']:.4f} | "
                f"{a['kl']:.4f} | {a['recon_mu']:.5f} / {a['recon_z0']:.5f} | {a['dd']:.5f} "
                f"({a['dd_zero_share']:.2f}) | {a['rank_corr_raw']:+.3f}"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = probe_parser("cvae_probe.py", __doc__)
    ap.add_argument(
        "--train-kl",
        type=float,
        nargs="+",
        default=[],
        help="train a fresh CVAE per KL weight instead of reading the cached one (default: the cached one)",
    )
    ap.add_argument("--updates", type=int, default=20_000, help="updates per fresh CVAE (default 20,000)")
    ap.add_argument(
        "--form",
        choices=O.CVAE_FORMS,
        default="conditional",
        help="the fresh models' form: the paper's conditional VAE or a VAE of the joint transition "
        "(papers/otc/otc_cvae.py; default conditional)",
    )
    ap.add_argument("--out", type=Path, default=None, help="also write the numbers as JSON here")
    a = ap.parse_args(argv)
    if a.updates < 1:
        ap.error(f"--updates must be >= 1, got {a.updates}")
    if any(w < 0 for w in a.train_kl):
        ap.error(f"--train-kl weights must be >= 0, got {a.train_kl}")
    torch.set_num_threads(1)
    if a.form != "conditional" and not a.train_kl:
        ap.error(f"--form {a.form} needs --train-kl (the cached CVAE has the cell's own form)")
    emit(probe(a.profile, a.env, a.dataset, a.seed, a.train_kl, a.updates, a.form), render, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
