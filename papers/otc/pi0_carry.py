"""Carry Table 1's cached pi^0 from one session to the next through git (issue 65).

    python papers/otc/pi0_carry.py export --env mamujoco/walker2d-2x3 --dataset random --seeds 0 1 2
    python papers/otc/pi0_carry.py import --env mamujoco/walker2d-2x3 --dataset random

Why: this project's machines keep no user cache between sessions, and one OTC Table 1 row (pi^0 = 300,000 BCQ
updates per seed, then three tuning columns) costs more than one session's two cores. ``export`` copies the cell's
cached pi^0 (papers/otc/deploy_offline.py, ``offline_paths``) with a card (the data's sha256, the cache key, the CPU,
the exporting commit, S(pi^0)) to ``papers/otc/committed/<profile>/pi0/``; ``import`` stores it as the cached pi^0 of the same
cell on this machine's data (built first: ``python -m common.datasets.mujoco``). The data are rebuilt from the same
committed policies and seeds, but on another CPU type not to the same bytes, so the cache key (which holds the data's
sha256) may differ: the imported blob then keeps the card as ``carried``, and every tuning record on it names it in
``extra["pi0_carried"]`` (deploy.tuning_metrics). Every column of a seed still tunes the one pi^0 [I C5]. An entry
already cached is kept; a card for another learner section or update count than the cell's is refused.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any, Sequence

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from common.running.atomic import atomic_torch_save, atomic_write_text  # noqa: E402
from common.running.profiles import PROFILE_NAMES, get_profile  # noqa: E402
from common.running.runtime import cpu_model, current_threads, git_commit  # noqa: E402
from papers.otc import config as C  # noqa: E402
from papers.otc import deploy as D  # noqa: E402
from papers.otc import mujoco_items as M  # noqa: E402

COMMITTED = Path(__file__).resolve().parent / "committed"
LEARNERS = ("bcq", "awac")


def carry_dir(profile: str, root: Path | None = None) -> Path:
    return (COMMITTED if root is None else Path(root)) / profile / "pi0"


def carry_base(
    env: str, dataset: str, learner: str, seed: int, profile: str, root: Path | None = None
) -> Path:
    """The committed pair's path without suffix (``.pt``: the blob, ``.json``: its card)."""
    return carry_dir(profile, root) / f"{C.TASK_OF[env]}_{dataset}_{learner}_seed{seed}"


def _cell(env: str, dataset: str, learner: str, profile: str) -> tuple[dict[str, Any], Any]:
    cfg = M.cell_config(get_profile(profile, C.PROFILE_OVERRIDES), env, dataset, learner)
    return cfg, D.load_dataset(cfg["dataset"])


def export_pi0(
    env: str,
    dataset: str,
    seeds: Sequence[int],
    profile: str,
    learner: str = "bcq",
    root: Path | None = None,
    log=print,
) -> list[Path]:
    """Copy each seed's cached pi^0 of the cell with its card; a seed without a cached pi^0 is an error."""
    cfg, data = _cell(env, dataset, learner, profile)
    out = []
    for seed in seeds:
        path = D.offline_paths(cfg, data, seed, "cpu")[0]
        if not path.exists():
            raise FileNotFoundError(
                f"no cached pi^0 for {env} {dataset} {learner} seed {seed} at {profile} with {current_threads()} "
                f"thread(s) ({path}); train it first: python papers/otc/table1.py --profile {profile} --env {env} "
                f"--dataset {dataset} --method {learner} --seeds {seed}"
            )
        blob = torch.load(path, map_location="cpu", weights_only=False)
        base = carry_base(env, dataset, learner, seed, profile, root)
        base.parent.mkdir(parents=True, exist_ok=True)
        card = {
            "env": env,
            "dataset": dataset,
            "learner": learner,
            "seed": int(seed),
            "profile": profile,
            "section": cfg[learner],
            "offline_updates": int(cfg["offline_updates"]),
            "threads": current_threads(),
            "s0": float(blob["s0"]),
            "data_sha256": data.card.get("sha256"),
            "cache_key": path.stem.split("-", 1)[1],
            "cpu": cpu_model(),
            "exported_at_commit": git_commit(),  # the commit that trained pi^0: its bcq record (same S(pi^0))
            "carried_from": blob.get("carried"),  # a pi^0 imported before: its first card
        }
        tmp = base.with_suffix(".pt.tmp")
        shutil.copyfile(path, tmp)
        tmp.replace(base.with_suffix(".pt"))
        atomic_write_text(base.with_suffix(".json"), json.dumps(card, indent=1, sort_keys=True) + "\n")
        log(
            f"exported pi^0 seed {seed} (S(pi^0) {card['s0']:.1f}, data {str(card['data_sha256'])[:12]}): {base}.pt"
        )
        out.append(base.with_suffix(".pt"))
    return out


def import_pi0(
    env: str, dataset: str, profile: str, learner: str = "bcq", root: Path | None = None, log=print
) -> list[Path]:
    """Store every committed pi^0 of the cell as this machine's cached pi^0 (module docstring); returns the entries."""
    cfg, data = _cell(env, dataset, learner, profile)
    cards = sorted(carry_dir(profile, root).glob(f"{C.TASK_OF[env]}_{dataset}_{learner}_seed*.json"))
    if not cards:
        raise FileNotFoundError(
            f"no committed pi^0 for {env} {dataset} {learner} at {profile} in {carry_dir(profile, root)}"
        )
    out = []
    for card_path in cards:
        card = json.loads(card_path.read_text())
        if card["section"] != cfg[learner] or card["offline_updates"] != int(cfg["offline_updates"]):
            raise ValueError(
                f"{card_path.name}: its {learner} section / updates ({card['section']}, {card['offline_updates']}) "
                f"are not the cell's ({cfg[learner]}, {cfg['offline_updates']}) at {profile}"
            )
        path = D.offline_paths(cfg, data, int(card["seed"]), "cpu")[0]
        if path.exists():
            log(f"seed {card['seed']}: pi^0 already cached, kept ({path})")
        else:
            blob = torch.load(card_path.with_suffix(".pt"), map_location="cpu", weights_only=False)
            same = card["data_sha256"] == data.card.get("sha256")
            blob["carried"] = card.get("carried_from") or {
                k: v for k, v in card.items() if k != "carried_from"
            }
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_torch_save(blob, path)
            at = str((card.get("exported_at_commit") or {}).get("commit"))[:7]
            log(
                f"seed {card['seed']}: pi^0 from {card['cpu']} (exported at {at}) cached; "
                + (
                    "the same data bytes"
                    if same
                    else f"trained on data {card['data_sha256'][:12]}, "
                    f"these are {str(data.card.get('sha256'))[:12]}"
                )
            )
        out.append(path)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("action", choices=("export", "import"))
    ap.add_argument("--env", required=True, choices=list(C.TASK_OF))
    ap.add_argument("--dataset", required=True, choices=list(C.MUJOCO_DATASETS))
    ap.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="export: the seeds (default 0 1 2)"
    )
    ap.add_argument("--profile", default="quick", choices=PROFILE_NAMES)
    ap.add_argument("--learner", default="bcq", choices=LEARNERS)
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads of the tuning runs (part of the key)"
    )
    ap.add_argument(
        "--root", type=Path, default=COMMITTED, help="where the pairs are committed (default: %(default)s)"
    )
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.action == "export":
        export_pi0(a.env, a.dataset, a.seeds, a.profile, a.learner, a.root)
    else:
        import_pi0(a.env, a.dataset, a.profile, a.learner, a.root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
