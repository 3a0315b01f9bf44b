"""OMAR's datasets (paper §5.1, the D4RL-style protocol of common.behavior.collect) per profile.

The datasets (their protocol and scale per profile): papers/omar/data_protocol.py; the report:
papers/omar/dataset_report.py. This module is their command line (the dataset report is also written to
<results>/<profile>/omar/datasets.md: this machine's runs root, runs/ by default, or with --reference the committed
results/):

    python -m papers.omar.datasets --report --profile quick [--generate] [--env omar/spread ...]
    python -m papers.omar.datasets --generate --profile full --env omar/spread1d   # Tables 1-2's 2 agents
    python -m papers.omar.datasets --generate --profile full --env omar/spread1d --env-options '{"n_agents": 4}'
    python -m papers.omar.datasets --report --profile full --env omar/spread1d --n-agents 1 --n-agents 2 ...  # Figures 1-2
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

import numpy as np

from common.running.cli_args import add_common_options, results_root_of
from common.running.profiles import get_profile
from common.running.runtime import set_threads
from papers.omar.config import PROFILE_OVERRIDES
from papers.omar.data_protocol import VERSION, dataset_spec, default_env_options, load_spec
from papers.omar.dataset_report import REPORT_ENVS, write_report, write_spread1d_report

# envs the CLI accepts: the report's four plus the 1-D motivating task of Tables 1-2 / Figures 1-2
CLI_ENVS = (*REPORT_ENVS, "omar/spread1d")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m papers.omar.datasets",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--profile", default="quick", choices=sorted(VERSION), help="run profile (default quick)")
    ap.add_argument(
        "--env",
        action="append",
        choices=CLI_ENVS,
        help="env to include (repeatable; default: the four OMAR envs of Tables 3-6; omar/spread1d "
        "takes its n_agents from --env-options, default 2 as in Tables 1-2)",
    )
    ap.add_argument(
        "--env-options",
        default=None,
        help='JSON env options for every --env, e.g. \'{"prey": "v2"}\' (default: the options the '
        "OMAR items use per env, papers/omar/config.py ENV_OPTIONS)",
    )
    ap.add_argument(
        "--n-agents",
        type=int,
        action="append",
        metavar="N",
        help="with --env omar/spread1d alone: each of these n (repeatable), in one report, "
        "default --out <results>/<profile>/omar/datasets_spread1d.md (Figures 1-2's n = 1..5)",
    )
    ap.add_argument(
        "--generate", action="store_true", help="generate missing datasets first (else skip them)"
    )
    ap.add_argument("--report", action="store_true", help="print the report and write it to --out")
    ap.add_argument(
        "--out",
        default=None,
        help="report path (default <results>/<profile>/omar/datasets.md, "
        "<results> being this machine's runs root or, with --reference, results/)",
    )
    add_common_options(ap)
    a = ap.parse_args(argv)
    if not (a.report or a.generate):
        ap.error("nothing to do: pass --report and/or --generate")
    try:
        opts = None if a.env_options is None else json.loads(a.env_options)
    except ValueError as e:
        ap.error(f"--env-options {a.env_options!r} is not valid JSON ({e}); e.g. '{{\"n_agents\": 3}}'")
    if opts is not None and not isinstance(opts, dict):
        ap.error(f"--env-options must be a JSON object, got {a.env_options!r}")
    set_threads(a.threads)
    root = results_root_of(a)
    profile = get_profile(a.profile, PROFILE_OVERRIDES)
    envs_ = a.env or list(REPORT_ENVS)
    if a.n_agents:
        if envs_ != ["omar/spread1d"]:
            ap.error(f"--n-agents needs --env omar/spread1d alone, got --env {envs_}")
        if opts is not None and "n_agents" in opts:
            ap.error("give n_agents either in --env-options or with --n-agents, not both")
        bad = [n for n in a.n_agents if n < 1]
        if bad:
            ap.error(f"--n-agents must be >= 1, got {bad}")
        if a.generate and not a.report:
            for n in a.n_agents:
                load_spec(dataset_spec("omar/spread1d", profile, {**(opts or {}), "n_agents": n}), "expert")
            return 0
        text, path = write_spread1d_report(profile, a.n_agents, opts, a.generate, a.out, results_root=root)
        print(text)
        print(f"written to {path}", file=sys.stderr)
        return 0
    if a.generate and not a.report:
        for env in envs_:
            load_spec(
                dataset_spec(env, profile, default_env_options(env) if opts is None else opts), "expert"
            )
        return 0
    text, path = write_report(profile, envs_, opts, a.generate, a.out, results_root=root)
    print(text)
    print(f"written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    raise SystemExit(main())
