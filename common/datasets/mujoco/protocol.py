"""The MuJoCo datasets' protocol: kinds, profiles (scale), the snapshot rules and each kind's rule text.
Pure definitions (no torch, no env): common.datasets.mujoco builds the data by them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from common.behavior.sac import SACConfig

if TYPE_CHECKING:
    import numpy as np

VERSION = 1  # bump when the generation changes: old files are then refused by their card (a profile may bump its own)
KINDS = ("random", "medium", "medium-replay", "full-replay", "expert", "medium-expert", "mixed")
GROUPS = (("halfcheetah", "walker2d"), ("hopper",), ("ant",))  # SAC members trained together
# a long SAC run also checkpoints every 10 minutes (besides every checkpoint_every steps)
CHECKPOINT_SECONDS = 600.0
MEDIUM_FRACTION = 1.0 / 3.0
SMOOTH_EVALS = 5  # "smoothed": the evaluations averaged (full: 50k steps of the run)

# what each paper trains on (the list); `--all` builds these
NEEDED: dict[str, tuple[str, ...]] = {
    "halfcheetah": ("random", "medium", "medium-replay", "full-replay", "expert", "medium-expert", "mixed"),
    "hopper": ("random", "medium", "medium-replay", "expert", "mixed"),
    "walker2d": ("random", "medium", "medium-replay", "expert", "mixed"),
    "ant": ("random", "medium", "full-replay", "expert"),
}


@dataclass(frozen=True)
class MujocoProfile:
    """Scale of one profile. full = D4RL's (1M SAC steps, 1M transitions). ``snapshots``: which evaluation snapshots
    are the medium and expert policies (``SNAPSHOT_RULES``); ``version``: the generation of this profile's files."""

    sac_steps: int
    size: int  # transitions of each collected kind
    eval_every: int
    eval_episodes: int
    checkpoint_every: int
    sac: SACConfig
    snapshots: str = "final"
    version: int = VERSION
    # the replay kinds' policy series: the snapshot at the middle of every segment
    replay_segment: int = 40_000
    medium_reference: str = "own"  # the expert level the medium's 1/3 is taken of: MEDIUM_REFERENCES

    def __post_init__(self) -> None:
        if self.snapshots not in SNAPSHOT_RULES:
            raise ValueError(
                f"snapshots={self.snapshots!r} is not a snapshot rule; allowed: {', '.join(SNAPSHOT_RULES)}"
            )
        if self.medium_reference not in MEDIUM_REFERENCES:
            raise ValueError(
                f"medium_reference={self.medium_reference!r} is not known; allowed: "
                f"{', '.join(MEDIUM_REFERENCES)}"
            )


# The expert level whose third the medium is taken at. "own": this run's expert. "d4rl": the higher of this run's
# expert and D4RL's reference expert return of the task (envs.gym_mujoco.D4RL_REF_SCORES), so that a SAC run that
# falls short of D4RL's expert (full HalfCheetah: ~56 normalized after 1M steps against D4RL's ~88) still gives a
# medium at D4RL's protocol level, random + 1/3 (D4RL's expert - random), i.e. >= 33.3 normalized, instead of a
# third of a weaker expert (~19 normalized, far under D4RL's medium data at ~41). Where our expert beats D4RL's
# (full Hopper) both read the same.
MEDIUM_REFERENCES = {
    "own": "",
    "d4rl": "; the expert level here is the higher of the run's and D4RL's reference expert return of the task",
}


SNAPSHOT_RULES = {
    "final": (
        "the first evaluation snapshot after step 0 whose deterministic return reaches random + 1/3 (expert - "
        "random)",
        "the final SAC policy",
    ),
    "smoothed": (
        "the first evaluation snapshot whose deterministic return averaged with the evaluations before it "
        f"({SMOOTH_EVALS} after step 0 in all) reaches random + 1/3 (expert - random), expert = the "
        f"mean of the run's last {SMOOTH_EVALS} evaluations",
        "the final SAC policy",
    ),
    "best": (
        "the evaluation snapshot after SAC's uniform start steps, not after the expert's, whose deterministic "
        "return is closest to random + 1/3 (expert - random) (the earliest among equals)",
        "the evaluation snapshot after SAC's uniform start steps with the highest deterministic return (the "
        "latest among equals)",
    ),
}


PROFILES: dict[str, MujocoProfile] = {
    "smoke": MujocoProfile(
        1500,
        3000,
        500,
        1,
        500,
        SACConfig(hidden=(32, 32), batch_size=64, start_steps=300, learning_starts=300),
        replay_segment=1000,
    ),
    "full": MujocoProfile(
        1_000_000, 1_000_000, 10_000, 10, 50_000, SACConfig(), snapshots="smoothed", medium_reference="d4rl"
    ),
}
# quick trains on full's datasets: the point of quick is data at the paper's quality with less training. (Until
# 2026-11-27 quick had data of its own, 100k SAC steps and 100k transitions; records trained on them are superseded.)
ALIASES = {"quick": "full"}


def data_profile(profile: str) -> str:
    """The profile whose datasets ``profile`` uses (quick: full's)."""
    name = ALIASES.get(profile, profile)
    if name not in PROFILES:
        raise ValueError(
            f"profile={profile!r} is not known; allowed profiles: {', '.join([*PROFILES, *ALIASES])}"
        )
    return name


def check_profile(profile: str) -> MujocoProfile:
    return PROFILES[data_profile(profile)]


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not a MuJoCo dataset kind; allowed kinds: {', '.join(KINDS)}")
    return kind


def group_of(task: str) -> tuple[str, ...]:
    from envs.gym_mujoco import check_task

    return next(g for g in GROUPS if check_task(task) in g)


def choose_snapshots(
    steps: Sequence[int],
    scores: Sequence[float] | np.ndarray,
    random_return: float,
    rule: str = "final",
    start_steps: int = 0,
    reference_expert: float | None = None,
) -> dict[str, Any]:
    """The medium and expert evaluation snapshots (indices into ``steps``) of one member's evaluations ``scores``
    (``SNAPSHOT_RULES``). "final": expert = the last evaluation; medium = the first after step 0 reaching
    random + MEDIUM_FRACTION·(expert − random) (the last one if none reaches). "smoothed": "final" on the running
    means of SMOOTH_EVALS evaluations after step 0 (a medium only where the window is full), the expert's level the
    mean of the last
    SMOOTH_EVALS: one lucky or unlucky single-episode evaluation decides neither (full Hopper: 1,035 at 20k steps,
    376 at 50k; its single-evaluation "final" medium would be the 20k snapshot). "best": only snapshots taken after
    SAC's ``start_steps`` uniform-action steps (policies the run has acted with; all after step 0 if none is);
    expert = the highest of them (the latest among equals); medium = the one not after the expert's closest to that
    target (the earliest among equals; the expert's own when it is the first candidate). ``reference_expert``
    (MEDIUM_REFERENCES "d4rl"): the target is a third of max(expert level, reference_expert) instead."""
    if rule not in SNAPSHOT_RULES:
        raise ValueError(f"rule={rule!r} is not a snapshot rule; allowed: {', '.join(SNAPSHOT_RULES)}")
    scores = [float(x) for x in scores]
    if len(scores) != len(steps) or len(scores) < 2:
        raise ValueError(
            f"need >= 2 evaluations with one step each, got {len(scores)} scores and {len(steps)} steps"
        )
    # what the rule compares: the evaluations, or their running means after step 0 ("smoothed")
    level = scores
    if rule == "smoothed":
        windows = [scores[max(1, i - SMOOTH_EVALS + 1) : i + 1] for i in range(1, len(scores))]
        level = [scores[0]] + [sum(w) / len(w) for w in windows]
    if rule in ("final", "smoothed"):
        e = len(scores) - 1
    else:
        cand = [i for i in range(1, len(steps)) if steps[i] > start_steps] or list(range(1, len(steps)))
        e = max(cand, key=lambda i: (scores[i], i))
    expert = level[e]
    top = expert if reference_expert is None else max(expert, float(reference_expert))
    target = random_return + MEDIUM_FRACTION * (top - random_return)
    # "smoothed": full windows only (from the SMOOTH_EVALS-th evaluation on)
    if rule in ("final", "smoothed"):
        first = min(SMOOTH_EVALS, len(steps) - 1) if rule == "smoothed" else 1
        k = next((i for i in range(first, len(steps)) if level[i] >= target), len(steps) - 1)
    else:
        k = min((i for i in cand if i <= e), key=lambda i: (abs(scores[i] - target), i))
    return {
        "index": k,
        "step": int(steps[k]),
        "score": scores[k],
        "level": level[k],
        "target": float(target),
        "expert_index": e,
        "expert_step": int(steps[e]),
        "expert_score": scores[e],
        "expert_level": expert,
        "random_return": float(random_return),
        "rule": rule,
        **({} if reference_expert is None else {"reference_expert": float(reference_expert)}),
    }


RULES = {
    "random": "uniform actions in [-1, 1] (D4RL's collect script), whole episodes in start order, last cut",
    "medium": "actions sampled from the first SAC evaluation snapshot after step 0 whose deterministic return "
    "reaches random + 1/3 (expert - random), whole episodes in start order, last cut",
    "medium-replay": "the SAC replay until the medium snapshot's step, rebuilt from the run's policy series: one env "
    "stepping as SAC's did, uniform actions for SAC's start steps, then in each replay segment "
    "actions sampled from the snapshot at its middle",
    "full-replay": "the SAC replay of the whole run, rebuilt from the run's policy series: one env stepping as "
    "SAC's did, uniform actions for SAC's start steps, then in each replay segment actions sampled "
    "from the snapshot at its middle",
    "expert": "actions sampled from the final SAC policy, whole episodes in start order, last cut",
    "medium-expert": "the medium data then the expert data, concatenated (D4RL)",
    "mixed": "uncoordinated (CAST-BCQ): episode j gives agent i of the MaMuJoCo split the level (medium|expert) of "
    "combination j mod 2^N; the agent executes its slice of that level's sampled joint action",
}


def rule_of(kind: str, profile: str) -> str:
    """The card's rule of ``kind`` at ``profile``: RULES, with the medium and expert snapshots of the profile's
    snapshot rule (RULES' own wording at "final")."""
    prof = check_profile(profile)
    extra = MEDIUM_REFERENCES[prof.medium_reference] if kind == "medium" else ""
    if prof.snapshots == "final" or kind not in ("medium", "expert"):
        return RULES[check_kind(kind)] + extra
    medium, expert = SNAPSHOT_RULES[prof.snapshots]
    return f"actions sampled from {medium + extra if kind == 'medium' else expert}, whole episodes in start order, last cut"
