"""Throughput of the package's hot paths, each against a comparison measured in the same run (issue 63).

    python -m common.bench --all [--quick] [--device cpu|cuda] [--baseline REV] [--out DIR]
    python -m common.bench [--quick] [--reps R] [--updates U] [--device cpu|cuda]
                           [--sac [--baseline REV] | --members [--batch B]]

Method. Everything runs in one process on one thread (``torch.set_num_threads(1)``; a ``--baseline`` tree in a
worker process of one thread of its own), the variants interleaved round by round, and each rate is the median over
the rounds, so that a busy second core shifts all variants alike. Every printed ratio has both sides measured in
that run: nothing is set against a number from another day (dated numbers, e.g. the official OMAR update's, stay
as text in docs/stack.md). GFLOP/s are counted with ``torch.utils.flop_counter.FlopCounterMode`` and set against
this run's matmul peak: the median of at least 30 readings of a [10240 x 256] @ [256 x 256] fp32 product
(``core.Peak``), read before, between and after the hot paths and printed with its spread (min, IQR, max); a
5-reading peak once came out a third low and printed 100 % where 73 % was true.

--all (common/bench/suite.py) runs every paper's entry and writes ``results/bench/<machine>.md`` (CPU model or GPU
name, versions, load average before and after, date, commit): OMAR / MA-CQL / MA-TD3+BC at MPE size and OMAR at
MuJoCo size against the per-member reference loop; SAC against a loop of one-member learners; members as cells
(15 and 150 members on a CPU, up to 1,500 on cuda) against a loop over the runs; MOMA-PPO's world-model update and
iteration (papers/moma_ppo/bench.py); CAST-BCQ at the code's sizes (papers/cast_bcq/bench.py); OTC's Table 2
sampling overhead over BCQ (papers/otc/table2.py). ``--quick`` runs them all at tiny sizes (a plumbing check).
``--baseline REV`` (common/bench/baseline.py) adds the SAC and OMAR updates, MOMA-PPO's iteration and CAST-BCQ's
update of this tree against commit REV's.

Without --all (the older views, kept):
(a) MPE size, as OMAR's official MPE code: 3 agents x 5 seeds = 15 members, obs 18, act 2, hidden 64, batch 1024.
    OMAR (CQL 10 uniform actions + softmax search 3 x 10), MA-CQL, MA-TD3+BC: batched, batched without member
    chunking (``common.networks.chunking.CHUNK_BYTES = 0``: one baddbmm over all members whatever the activation size), and the
    per-member reference loop (common/algos/reference.py). Agent-updates/s = updates/s x members.
(b) MuJoCo size: 2 agents x 5 seeds, obs 6, act 3, hidden 256, batch 256, OMAR with CEM 2 x 20 (5 elites) and
    CQL's three proposal groups x 10.
(c) ``--members``: cells as members (common/running/grouping.py). R one-seed OMAR runs at particle-world size for 15, 150
    and 1,500 members (R = 5, 50, 500): ONE stacked learner (``ITD3.stack``; each run samples its own minibatch from
    its own stream) against a loop that updates the R learners alone one after the other. The batch is ``--batch``
    (default 64 on the CPU, where 1,500 members at OMAR's 1,024 need some 20 GB for the CQL activations; 1,024 on
    cuda).
``--sac``: M members of rlkit's SAC (2 x 256, batch 256, obs 17, act 6) batched against a loop of M one-member
learners.

``--device cuda`` runs the same variants on the GPU (clocks read after ``torch.cuda.synchronize()``); the peak is
then the GPU's fp32 peak at that shape. On the GPU the learner never chunks (common/networks/nets.py). The CI never needs a
GPU: the default is the CPU.
"""

from common.bench.cli import main  # noqa: E402  (after the modules it reads)
from common.bench.core import (  # noqa: F401 - the papers' benchmarks import these from common.bench
    MIN_PEAK_READINGS,
    Peak,
    count_flops,
    device_sync,
    interleaved_rates,
    machine_info,
    machine_slug,
    matmul_peak_gflops,
    paper_bench_args,
)
from common.bench.itd3 import (  # noqa: F401
    ALGOS,
    MEMBER_COUNTS,
    MEMBERS_SIZE,
    MPE,
    MPE_CFG,
    MUJOCO,
    MUJOCO_CFG,
    algo_cfg,
    compare,
    compare_members,
    members_suite,
    mpe_suite,
    mujoco_suite,
)
from common.bench.sac import SAC_SIZE, compare_sac  # noqa: F401

__all__ = [
    "ALGOS",
    "MEMBER_COUNTS",
    "MEMBERS_SIZE",
    "MIN_PEAK_READINGS",
    "MPE",
    "MPE_CFG",
    "MUJOCO",
    "MUJOCO_CFG",
    "Peak",
    "SAC_SIZE",
    "count_flops",
    "device_sync",
    "algo_cfg",
    "compare",
    "compare_members",
    "compare_sac",
    "interleaved_rates",
    "machine_info",
    "machine_slug",
    "main",
    "matmul_peak_gflops",
    "members_suite",
    "mpe_suite",
    "mujoco_suite",
    "paper_bench_args",
]
